"""Sweeps: YAML run specs (``sweeps/*.yaml``) expanded into trainer runs, run locally one by one.

Schema::

    name: dt-corl
    algo: dt
    datasets: [d4rl/hopper-medium-v2, ...]
    seeds: [0, 1, 2, 3]            # one run per dataset trains all seeds together (vmapped)
    train: {steps: 100000, eval_every: 5000, ...}   # TrainConfig fields
    hp: {batch_size: 4096, lr: 8.0e-4, ...}          # algorithm config fields

Runs already finished are returned from their ``final.json`` and never rerun; a run that fails is
reported and the sweep goes on, so a failure never loses finished runs; a killed run resumes from its
checkpoint when the sweep is started again.
"""

from __future__ import annotations

import dataclasses
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import tyro

from offrl.errors import ConfigError, OffrlError

REQUIRED = ("name", "algo", "datasets", "seeds")


@dataclasses.dataclass
class Sweep:
    """A parsed sweep file: its name, the algorithm config shared by all runs, and the runs."""

    name: str
    algo: str
    algo_config: Any
    runs: list  # list[TrainConfig]


def load_sweep(path: str | Path, *, results_dir: str | None = None) -> Sweep:
    """Parse and validate a sweep YAML (every field checked before anything runs)."""
    import yaml

    from offrl import algos
    from offrl.train import TrainConfig

    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read sweep {path}: {e}") from None
    if not isinstance(spec, dict) or any(k not in spec for k in REQUIRED):
        raise ConfigError(f"sweep {path} needs the keys {list(REQUIRED)} (optional: train, hp)")
    algo = algos.get(spec["algo"])
    hp = {k: tuple(v) if isinstance(v, list) else v for k, v in (spec.get("hp") or {}).items()}
    acfg = algo.make_config(**hp)
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    extra = set(spec.get("train") or {}) - train_fields
    if extra:
        raise ConfigError(f"sweep {path}: unknown train field(s) {sorted(extra)}")
    train_kw = dict(spec.get("train") or {})
    if results_dir is not None:
        train_kw["results_dir"] = results_dir
    runs = [TrainConfig(algo=spec["algo"], dataset=d, seeds=tuple(spec["seeds"]), **train_kw)
            for d in spec["datasets"]]
    return Sweep(spec["name"], spec["algo"], acfg, runs)


def run_sweep(sweep: Sweep, *, datasets: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run the sweep's runs in order; returns {dataset: final dict or {"error": message}}."""
    from offrl.train import train

    out: dict[str, Any] = {}
    for tc in sweep.runs:
        if datasets and tc.dataset not in datasets:
            continue
        print(f"[{sweep.name}] {tc.algo} on {tc.dataset} ({len(tc.seeds)} seeds, {tc.steps} steps)", flush=True)
        try:
            out[tc.dataset] = train(tc, algo_config=sweep.algo_config)
        except (OffrlError, ValueError, RuntimeError, OSError) as e:  # keep going: later runs still count
            out[tc.dataset] = {"error": f"{type(e).__name__}: {e}"}
            print(f"[{sweep.name}] FAILED {tc.dataset}: {e}", flush=True)
            traceback.print_exc()
    return out


@dataclasses.dataclass(frozen=True)
class SweepArgs:
    """Run a sweep file locally (runs one after another, each training all its seeds at once)."""

    file: tyro.conf.Positional[Path]
    """a sweep YAML, e.g. sweeps/dt_corl.yaml."""
    datasets: tuple[str, ...] = ()
    """only these datasets of the sweep."""
    dry_run: bool = False
    """validate and list the runs without training."""
    results_dir: str | None = None
    """parent of the run folders (default $OFFRL_RESULTS_DIR or ./results)."""


def main(argv: list[str]) -> int:
    a = tyro.cli(SweepArgs, args=argv, prog="offrl sweep")
    sw = load_sweep(a.file, results_dir=a.results_dir)
    if a.dry_run:
        for tc in sw.runs:
            print(f"{sw.name}: {tc.algo} on {tc.dataset}, seeds {list(tc.seeds)}, {tc.steps} steps")
        return 0
    results = run_sweep(sw, datasets=a.datasets)
    failed = [d for d, r in results.items() if "error" in r]
    for d, r in results.items():
        if "error" in r:
            print(f"  {d}: {r['error']}")
            continue
        ns = r.get("normalized_score") or r.get("return")
        print(f"  {d}: last {np.mean(ns['last']):.2f} (best {np.mean(ns['best']):.2f})" if ns else f"  {d}: done")
    print(f"{sw.name}: {len(results) - len(failed)} finished, {len(failed)} failed")
    return 1 if failed else 0
