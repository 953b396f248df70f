"""Wall time of one sweep run one run at a time vs packed ``--parallel K`` runs per GPU, in one call.

The sweep (default): TD3+BC, alpha in {1, 2, 2.5, 4} x 4 datasets = 16 runs of 5 seeds each, every run
one process training its seeds vmapped (``--algo``, ``--grid`` and ``--datasets`` change it). Both
phases run the user-facing command on the same GPU (the first visible one) into separate results roots:

1. one at a time: ``offrl sweep FILE`` (runs one after another in one process, today's default);
2. packed: ``offrl sweep FILE --parallel K --gpus G`` (K child processes share the GPU, each with
   ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` and a 1/K memory fraction).

Both produce the same runs (same configs and seeds); the JSON records both wall times, their ratio,
and how far apart the two phases' final losses are (packing must not change results). Datasets:
synthetic halfcheetah-shaped data written by the script (no env, so no evaluation rollouts), or
``--datasets`` registered ids (evaluated every ``--eval-every`` steps with ``--eval-episodes``).

Usage: python benchmarks/sweep_packing.py [--quick] [--parallel 4] [--steps 50000] [--out packing.json]
       [--datasets d4rl/hopper-medium-v2 ...] [--grid hp.alpha=1,2,2.5,4] [--seeds 5] [--give-up-factor 2]
A packed phase slower than twice the one-at-a-time phase is stopped (exit 1); the JSON then records,
per run, where JAX ran and how far it got (``packed_runs``), as it does after a normal finish.
``--quick`` is the CPU check the test suite runs: BC, 2 runs of 2 seeds, tiny networks, 100 steps.
Both phases include what a user waits for besides training: process start, data loading and
compilation of every run (and evaluation with ``--datasets``); the step count sets how much of the
total is training (at the default 50k steps a TD3+BC run of 5 seeds trains ~5 s on an H100 at the
recorded 48k seed-steps/s, so start-up and compilation weigh as much; a CORL-length sweep uses
``--steps 1000000``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def write_synthetic(names: list[str], rows: int, root: Path) -> None:
    """Random halfcheetah-shaped datasets (obs 17, act 6) saved as ``local/<name>`` under ``root``."""
    from offrl.datasets import DatasetSpec, OfflineDataset, save

    for i, name in enumerate(names):
        rng = np.random.default_rng(i)
        obs = rng.standard_normal((rows, 17), dtype=np.float32)
        spec = DatasetSpec(f"local/{name}", None, (17,), "float32", (6,), "float32")
        ds = OfflineDataset(obs, rng.uniform(-1, 1, (rows, 6)).astype(np.float32),
                            rng.standard_normal(rows).astype(np.float32), np.roll(obs, -1, 0), rng.random(rows) < 1e-3,
                            np.zeros(rows, bool), spec=spec, validate=False)
        save(ds, f"local/{name}", root=root, overwrite=True)


def sweep_spec(args, datasets: list[str]) -> dict:
    key, _, values = args.grid.partition("=")
    train = {"steps": args.steps, "chunk": args.chunk, "eval_every": args.eval_every,
             "eval_episodes": max(args.eval_episodes, 1), "wandb": False, "progress": False}
    spec = {"name": "packing", "algo": args.algo, "datasets": datasets, "seeds": list(range(args.seeds)),
            "train": train, "grid": {key: [_yaml_value(v) for v in values.split(",")]}}
    if args.hp:
        spec["hp"] = {k: _yaml_value(v) for k, v in (p.split("=", 1) for p in args.hp)}
    return spec


def _yaml_value(raw: str):
    """``"256,256"`` -> ``[256, 256]``; ``"0.5"`` -> ``0.5``; ``"true"`` -> ``True``."""
    import yaml

    return [yaml.safe_load(x) for x in raw.split(",")] if "," in raw else yaml.safe_load(raw)


def gpu_name() -> str | None:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0].strip() if out.strip() else None


def run_phase(name: str, sweep_file: Path, results: Path, extra: list[str], env: dict,
              limit_s: float | None = None) -> float | None:
    """Wall seconds of ``offrl sweep sweep_file --results-dir results EXTRA`` (its output to a log), or
    None when it was still running after ``limit_s``: it is then stopped as Ctrl-C stops a sweep (the
    launcher stops its runs), so that a phase gone wrong costs a bounded time and says so."""
    log = results.parent / f"{name}.log"
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "offrl.cli", "sweep", str(sweep_file), "--results-dir",
                                 str(results), *extra], env=env, stdout=f, stderr=subprocess.STDOUT)
        try:
            code = proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            print(f"{name}: stopped after {limit_s:.0f} s; launcher output:\n{log.read_text()[-2000:]}", flush=True)
            return None
    seconds = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"{name} phase failed (exit {code}); see {log}:\n{log.read_text()[-3000:]}")
    return seconds


def run_report(results: Path) -> dict[str, dict]:
    """Per run folder: where JAX ran (the worker's first line in ``sweep.log``), whether it finished, and
    the wall time from its first to its last metrics row. What tells a slow packed phase's cause apart:
    runs on the CPU fallback, runs waiting on each other, or runs that are merely slow."""
    out = {}
    for run in sorted(p for p in results.iterdir() if p.is_dir()):
        log = run / "sweep.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        device = next((line for line in text.splitlines() if line.startswith("jax ")), None)
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()] \
            if (run / "metrics.jsonl").exists() else []
        stamps = [r["time"] for r in rows if isinstance(r.get("time"), (int, float))]
        out[run.name] = {"device": device, "finished": (run / "final.json").exists(),
                         "rows": len(rows), "span_s": (max(stamps) - min(stamps)) if stamps else None,
                         "log_tail": text.splitlines()[-3:] if not (run / "final.json").exists() else []}
    return out


def final_losses(results: Path) -> dict[str, list[float]]:
    """Per run: the last train row's first loss metric for every seed."""
    out = {}
    for run in sorted(p for p in results.iterdir() if (p / "metrics.jsonl").exists()):
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
        train = [r for r in rows if r["kind"] == "train"]
        last = max(r["step"] for r in train)
        key = sorted(k for k in train[-1] if k.endswith("loss"))[0]
        out[run.name] = [r[key] for r in sorted(train, key=lambda r: r["seed"]) if r["step"] == last]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny CPU run (2 runs, 2 seeds, 200 steps)")
    p.add_argument("--algo", default="td3bc")
    p.add_argument("--grid", default="hp.alpha=1,2,2.5,4", help="the searched key and its values")
    p.add_argument("--datasets", nargs="*", default=None,
                   help="registered dataset ids (default: 4 synthetic halfcheetah-shaped datasets, no evaluation)")
    p.add_argument("--rows", type=int, default=200_000, help="rows of each synthetic dataset")
    p.add_argument("--seeds", type=int, default=5, help="seeds per run (vmapped)")
    p.add_argument("--steps", type=int, default=50_000, help="gradient steps per run")
    p.add_argument("--chunk", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=None, help="default: --steps (one checkpoint at the end)")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--parallel", type=int, default=4, help="runs sharing the GPU in the packed phase")
    p.add_argument("--gpu", default=None, help="GPU id for both phases (default: the first visible one)")
    p.add_argument("--hp", nargs="*", default=[], help="algorithm overrides name=value for every run")
    p.add_argument("--workdir", default=None, help="where data and results go (default: a temporary folder)")
    p.add_argument("--give-up-factor", type=float, default=2.0,
                   help="stop the packed phase after this many times the one-at-a-time wall time (at least 120 s)")
    p.add_argument("--out", default="sweep_packing.json")
    args = p.parse_args(argv)
    if args.quick:
        args.algo, args.grid, args.seeds, args.steps, args.chunk = "bc", "hp.lr=0.001,0.0003", 2, 100, 50
        args.parallel = 2
        args.rows = 2000
        args.hp = args.hp or ["hidden=16,16", "batch_size=16"]
    args.eval_every = args.eval_every or args.steps

    import yaml

    work = Path(args.workdir or tempfile.mkdtemp(prefix="offrl-packing-"))
    work.mkdir(parents=True, exist_ok=True)
    for phase in ("one", "packed"):  # a reused work folder: finished runs there would be skipped, not timed
        shutil.rmtree(work / phase, ignore_errors=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    if args.datasets is None:
        names = [f"packing-{i}-v0" for i in range(1 if args.quick else 4)]
        env["OFFRL_DATA_DIR"] = str(work / "data")
        write_synthetic(names, args.rows, work / "data")
        datasets = [f"local/{n}" for n in names]
    else:
        datasets = args.datasets
    sweep_file = work / "packing.yaml"
    sweep_file.write_text(yaml.safe_dump(sweep_spec(args, datasets), sort_keys=False))

    from offrl.sweep import load_sweep
    from offrl.sweep.backends import visible_gpus

    sweep = load_sweep(sweep_file, results_dir=work / "one")
    gpus = visible_gpus()
    gpu = args.gpu if args.gpu is not None else (gpus[0] if gpus else None)
    pin = ["--gpus", gpu if gpu is not None else ""]
    one_env = {**env, **({"CUDA_VISIBLE_DEVICES": gpu} if gpu is not None else {})}
    print(f"{len(sweep.runs)} runs x {args.seeds} seeds, {args.steps} steps each, on "
          f"{'GPU ' + gpu if gpu is not None else 'the CPU'}; work folder {work}", flush=True)
    one = run_phase("one_at_a_time", sweep_file, work / "one", [], one_env)
    print(f"one at a time: {one:.1f} s", flush=True)
    # packing that is slower than running one at a time has gone wrong (e.g. runs on a CPU fallback):
    # stop it at a bounded multiple and report what each run was doing
    limit = max(args.give_up_factor * one, 120.0)
    packed = run_phase("packed", sweep_file, work / "packed", ["--parallel", str(args.parallel), *pin], env,
                       limit_s=limit)
    if packed is not None:
        print(f"--parallel {args.parallel}: {packed:.1f} s ({one / packed:.2f}x)", flush=True)
    report = run_report(work / "packed")
    for run, r in report.items():
        print(f"  packed {run}: {'finished' if r['finished'] else 'NOT finished'}, {r['device'] or 'device ?'}"
              + (f"; {' | '.join(r['log_tail'])}" if r["log_tail"] else ""), flush=True)

    a, b = final_losses(work / "one"), final_losses(work / "packed")
    diffs = [float(np.max(np.abs(np.subtract(a[k], b[k])))) for k in a if k in b]
    import jax

    record = {
        "benchmark": "sweep_packing",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": " ".join([Path(sys.executable).name, "benchmarks/sweep_packing.py", *(argv or sys.argv[1:])]),
        "machine": {"gpu": gpu_name() if gpu is not None else None, "gpu_id": gpu, "host": platform.node(),
                    "cpus": os.cpu_count(), "jax": jax.__version__},
        "runs": len(sweep.runs), "seeds": args.seeds, "steps": args.steps, "algo": args.algo,
        "grid": args.grid, "datasets": datasets, "parallel": args.parallel,
        "one_at_a_time_s": one, "packed_s": packed, "speedup": one / packed if packed else None,
        "packed_stopped_after_s": None if packed is not None else limit,
        "seed_steps_per_s": {"one_at_a_time": len(sweep.runs) * args.seeds * args.steps / one,
                             "packed": len(sweep.runs) * args.seeds * args.steps / packed if packed else None},
        "runs_compared": len(diffs), "max_final_loss_diff": max(diffs) if diffs else None,
        "packed_runs": report, "workdir": str(work),
    }
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: record[k] for k in ("one_at_a_time_s", "packed_s", "speedup", "max_final_loss_diff")}))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    if packed is None:
        print(f"the packed phase did not finish within {limit:.0f} s ({args.give_up_factor:g}x one at a time)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
