"""``offrl uav ...``: baseline comparison, offline datasets, plots.

    offrl uav baselines [--episodes 400 --seeds 0 1 2 3 --out DIR]    # table + JSON + PNGs
    offrl uav datasets  [--preset urban --episodes 100 --levels poor medium expert mixed --overwrite]
    offrl uav plot      [--result FILE]                                # re-plot a saved comparison

Results go to $OFFRL_RESULTS_DIR/uav (./results/uav without it) unless --out / --result say otherwise.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import tyro
from tqdm import tqdm

from offrl.envs.uav.params import PRESETS, make_params

Preset = Literal["urban", "suburban", "dense"]
assert set(PRESETS) == {"urban", "suburban", "dense"}


@dataclasses.dataclass
class Baselines:
    """Train/evaluate random, greedy, k-means, PSO, Q-learning and SARSA; write a table, JSON and PNGs."""

    preset: Preset = "urban"
    """Scenario preset."""
    episodes: int = 400
    """Training episodes of SARSA / Q-learning per seed (PSO gets the same episode budget)."""
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    """The seeds of every learned method (--seeds 0 1 2 3 runs four), as in offrl train."""
    eval_episodes: int = 32
    """Held-out layouts every method is evaluated on."""
    n_uavs: int = 4
    """Number of UAVs."""
    learner_reward: Literal["local", "shared"] = "local"
    """Reward the tabular agents learn from (every method is scored on the team count)."""
    out: Annotated[Path | None, tyro.conf.arg(metavar="DIR")] = None
    """Output directory (baselines.json, baselines.md, PNGs); default $OFFRL_RESULTS_DIR/uav, else results/uav."""
    plots: bool = True
    """Also write the PNG plots."""


@dataclasses.dataclass
class Datasets:
    """Collect the offline datasets (poor, medium, expert, mixed) as uav/<level>-v0 (urban preset) or
    uav/<preset>/<level>-v0 (other presets), in the same folders under the data root."""

    preset: Preset = "urban"
    """Scenario preset (part of the dataset id unless it is urban)."""
    episodes: int = 100
    """Episodes per level (mixed: this many from each of poor, medium, expert)."""
    levels: tuple[Literal["poor", "medium", "expert", "mixed"], ...] = ("poor", "medium", "expert", "mixed")
    """Levels to write."""
    train_episodes: int = 400
    """Training episodes of the SARSA behaviour policy."""
    seed: int = 0
    """Seed of behaviour training and collection."""
    root: Annotated[Path | None, tyro.conf.arg(metavar="DIR")] = None
    """Data root (default $OFFRL_DATA_DIR or ~/.offrl/data)."""
    overwrite: bool = False
    """Replace existing datasets."""


@dataclasses.dataclass
class Plot:
    """Re-draw the PNGs from a saved baselines.json."""

    result: Annotated[Path | None, tyro.conf.arg(metavar="FILE")] = None
    """A JSON written by offrl uav baselines; default $OFFRL_RESULTS_DIR/uav/baselines.json, else
    results/uav/baselines.json."""
    out: Annotated[Path | None, tyro.conf.arg(metavar="DIR")] = None
    """Output directory (default: next to the JSON)."""


def default_out_dir() -> Path:
    """Where ``offrl uav baselines`` writes without ``--out``: ``$OFFRL_RESULTS_DIR/uav``, else ``results/uav``
    (the results root that ``offrl train`` uses)."""
    from offrl.paths import results_root

    return results_root() / "uav"


def _to_json(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _to_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_to_json(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x


def _from_json(d: dict[str, Any]) -> dict[str, Any]:
    def arr(x):
        return {k: (np.asarray(v) if isinstance(v, list) else arr(v) if isinstance(v, dict) else v)
                for k, v in x.items()}

    d = dict(d)
    d["curves"] = {m: arr(c) for m, c in d["curves"].items()}
    d["policies"] = {m: arr(c) for m, c in d["policies"].items()}
    return d


def read_result(path: Path) -> dict[str, Any]:
    """The comparison saved by ``offrl uav baselines`` at ``path``, checked for what the plots read.

    Raises DataIntegrityError naming the file and what is wrong (not JSON, e.g. cut off while being
    written, or a missing part) instead of a JSONDecodeError or KeyError from deep in the plotting.
    """
    from offrl.errors import DataIntegrityError

    redo = "write it again with `offrl uav baselines`"
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError) as e:  # ValueError: JSONDecodeError, or bytes that are not UTF-8
        raise DataIntegrityError(f"result: {path} is not a readable JSON file ({e}); {redo}") from None
    if not isinstance(d, dict):
        raise DataIntegrityError(f"result: {path} holds a JSON {type(d).__name__}, not the object that "
                                 f"`offrl uav baselines` writes; {redo}")
    # what _from_json and the plots index, as dotted paths
    missing = [k for k in ("curves", "policies", "summary", "config") if not isinstance(d.get(k), dict)]
    if not missing:
        policy_keys = {"sarsa": ("q",), "qlearning": ("q",), "pso": ("targets",)}
        missing = [f"config.{k}" for k in ("preset", "n_uavs") if k not in d["config"]]
        for part, m, keys in ([("curves", m, ("eval", "episodes")) for m in d["curves"]]
                              + [("policies", m, policy_keys.get(m, ())) for m in d["policies"]]
                              + [("summary", m, ("mean",)) for m in d["summary"]]):
            v = d[part][m]
            missing += ([f"{part}.{m}.{k}" for k in keys if k not in v] if isinstance(v, dict)
                        else [f"{part}.{m} as an object"])
    if missing:
        raise DataIntegrityError(f"result: {path} is not a complete `offrl uav baselines` result: it lacks "
                                 f"{', '.join(missing)}; {redo}")
    return d


def run_baselines(a: Baselines) -> int:
    from offrl.envs.uav.baselines import ComparisonConfig, TabularConfig, run_comparison, summary_table
    from offrl.errors import ConfigError

    from offrl.cli import note_single_seed

    note_single_seed(a.seeds)
    if a.episodes < 10:
        raise ConfigError(f"episodes: need at least 10 training episodes (got {a.episodes})")
    params = make_params(a.preset, n_uavs=a.n_uavs)
    cfg = ComparisonConfig(seeds=a.seeds, eval_episodes=a.eval_episodes, learner_reward=a.learner_reward,
                           tabular=TabularConfig(episodes=a.episodes))
    total = 3 + 3 * a.episodes
    with tqdm(total=total, desc="uav baselines", unit="ep") as bar:
        def progress(name, n):
            bar.set_postfix_str(name)
            bar.update(n)

        res = run_comparison(params, cfg, progress=progress)
    out = a.out if a.out is not None else default_out_dir()
    out.mkdir(parents=True, exist_ok=True)
    table = summary_table(res)
    keep = {"sarsa": ("q", "eval_curve", "eval_episodes"), "qlearning": ("q", "eval_curve", "eval_episodes"),
            "pso": ("targets", "eval_curve", "episodes")}
    saved = dict(res, policies={m: {k: res["policies"][m][k] for k in ks} for m, ks in keep.items()},
                 config={"preset": a.preset, "n_uavs": a.n_uavs, **_to_json(dataclasses.asdict(cfg))})
    saved["curves"] = {m: {k: v for k, v in c.items() if k != "train"} | {"train_mean": np.asarray(c["train"]).mean(0)}
                       for m, c in res["curves"].items()}
    written = [out / "baselines.json", out / "baselines.md"]
    written[0].write_text(json.dumps(_to_json(saved)))
    written[1].write_text(table + "\n")
    print(table)
    for p in written:
        print(f"wrote {p}")
    if a.plots:
        from offrl.envs.uav.plots import plot_all

        for p in plot_all(res, params, out):
            print(f"wrote {p}")
    return 0


def run_datasets(a: Datasets) -> int:
    from offrl.envs.uav.baselines import TabularConfig
    from offrl.envs.uav.data import DatasetConfig, build_datasets, refuse_existing, save_datasets

    params = make_params(a.preset)
    cfg = DatasetConfig(episodes=a.episodes, seed=a.seed, tabular=TabularConfig(episodes=a.train_episodes))
    cfg.validate()
    # fail before the minutes of training and collection, not after them
    refuse_existing(tuple(a.levels), a.preset, root=a.root, overwrite=a.overwrite)
    steps = 2 + len({"poor", "medium", "expert"} & (set(a.levels) | ({"poor", "medium", "expert"} if "mixed" in a.levels else set())))
    with tqdm(total=steps, desc="uav datasets") as bar:
        def progress(msg):
            bar.set_postfix_str(msg)
            bar.update(1)

        built = build_datasets(params, cfg, levels=tuple(a.levels), preset=a.preset, progress=progress)
    paths = save_datasets(built["datasets"], root=a.root, overwrite=a.overwrite)
    print(f"reference returns: random {built['ref_min']:.1f}, expert (SARSA) {built['ref_max']:.1f}")
    print("| dataset | transitions | episodes | mean return | normalized score | path |")
    print("|---|---|---|---|---|---|")
    for lv, ds in built["datasets"].items():
        s = ds.stats()
        print(f"| {ds.spec.id} | {s['transitions']} | {s['episodes']} | {s['return']['mean']:.1f} | "
              f"{s['normalized_return']['mean']:.1f} | {paths[lv]} |")
    return 0


def run_plot(a: Plot) -> int:
    from offrl.envs.uav.plots import plot_all
    from offrl.errors import OffrlError

    result = a.result if a.result is not None else default_out_dir() / "baselines.json"
    if not result.is_file():
        raise OffrlError(f"result: {result} does not exist; run `offrl uav baselines` first")
    d = _from_json(read_result(result))
    cfg = d["config"]
    params = make_params(cfg["preset"], n_uavs=cfg["n_uavs"])
    for p in plot_all(d, params, a.out or result.parent):
        print(f"wrote {p}")
    return 0


def main(argv: list[str]) -> int:
    """Entry point of ``offrl uav``."""
    cmd = tyro.extras.subcommand_cli_from_dict(
        {"baselines": Baselines, "datasets": Datasets, "plot": Plot}, args=argv, prog="offrl uav",
        description=__doc__)
    if isinstance(cmd, Baselines):
        return run_baselines(cmd)
    if isinstance(cmd, Datasets):
        return run_datasets(cmd)
    return run_plot(cmd)
