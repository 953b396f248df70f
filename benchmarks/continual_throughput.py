"""Wall time of a whole continual stream, evaluations included, against the ordinary per-task trainer.

One process trains every seed through the stream with ``offrl.continual.train_stream`` (every task of
the stream evaluated every ``--eval-every`` steps), once per method of ``--methods`` (one after another,
in the same run, so that their wall times compare: e.g. OER against ER with random selection); the
in-run baseline trains the same tasks one after another with ``offrl.train.train`` (one run per task,
each evaluating its own task at the same cadence), with the same base learner, batch and seeds. Every
total includes compilation and evaluation. The datasets are collected first if missing (one process
per task).

    python benchmarks/continual_throughput.py --stream cheetah-vel --methods er oer --out continual_throughput.json
    python benchmarks/continual_throughput.py --quick          # a CPU check on the cheap stream

A method is ``NAME`` or ``NAME:k=v,k=v`` (its options, e.g. ``er:replay=rl``); ``--method-hp`` adds
options to every method.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

try:
    import offrl  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def ensure_data(stream_name: str, quality: str, steps: int | None, processes: int) -> None:
    """Collect every missing task dataset of the stream, ``processes`` at a time (0: one per CPU core)."""
    from offrl.continual.streams import load_stream
    from offrl.sweep.plan import get_missing_data

    stream = load_stream(stream_name)
    t0 = time.time()
    missing = get_missing_data(stream.dataset_ids(quality), collect=True, workers=processes, steps=steps,
                               progress=False)
    if missing:
        raise SystemExit("data missing:\n  " + "\n  ".join(missing))
    print(f"data: {time.time() - t0:.1f} s", flush=True)


# tiny options per method for --quick (CPU check): small buffers, a short dynamics fit
QUICK_METHOD_HP = {"er": ("buffer_size=100",), "oer": ("buffer_size=100", "dynamics_steps=100",
                                                       "dynamics_hidden=32,32", "dynamics_batch_size=64")}


def parse_method(text: str, common: tuple[str, ...] | list[str], quick: bool = False) -> tuple[str, tuple[str, ...]]:
    """``NAME`` or ``NAME:k=v,k=v`` -> (name, options); ``common`` options apply to every method."""
    name, _, opts = text.partition(":")
    own = tuple(o for o in re.split(r",(?=[A-Za-z_]\w*=)", opts) if o)  # dynamics_hidden=64,64 stays whole
    base = QUICK_METHOD_HP.get(name, ()) if quick else ()
    return name, (*base, *common, *own)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stream", default="cheetah-vel")
    p.add_argument("--methods", nargs="+", default=["er"], metavar="NAME[:K=V,...]",
                   help="continual methods, each timed through the whole stream (default: er)")
    p.add_argument("--method-hp", nargs="*", default=(), help="options given to every method, name=value")
    p.add_argument("--algo", default="td3bc")
    p.add_argument("--quality", default="medium")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps-per-task", type=int, default=150_000)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--eval-every", type=int, default=10_000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--eval-workers", type=int, default=0)
    p.add_argument("--data-steps", type=int, default=None, help="transitions per task dataset (default 100k)")
    p.add_argument("--hp", nargs="*", default=(), help="base-learner overrides name=value")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--quick", action="store_true", help="the cheap stream, tiny sizes (a CPU check)")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    if a.quick:
        a.stream, a.seeds, a.steps_per_task, a.batch_size, a.eval_every = "pendulum-gain", 2, 200, 64, 100
        a.eval_episodes, a.data_steps, a.hp = 2, a.data_steps or 2000, (*a.hp, "hidden=32,32")
    methods = [parse_method(m, a.method_hp, quick=a.quick) for m in a.methods]
    import jax

    from offrl.continual.streams import load_stream
    from offrl.continual.trainer import ContinualConfig, train_stream
    from offrl.train import TrainConfig, train

    ensure_data(a.stream, a.quality, a.data_steps, processes=0)  # one collection process per CPU core
    stream = load_stream(a.stream)
    seeds = tuple(range(a.seeds))
    chunk = min(1000, a.eval_every)
    results_dir = tempfile.mkdtemp(prefix="continual-throughput-")
    record = {"command": "python benchmarks/continual_throughput.py " + " ".join(argv if argv is not None
                                                                             else sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d"), "device": str(jax.devices()[0]),
              "device_kind": jax.devices()[0].device_kind, "jax": jax.__version__, "host": platform.node(),
              "stream": stream.name, "tasks": len(stream.tasks), "algo": a.algo, "quality": a.quality,
              "seeds": a.seeds, "steps_per_task": a.steps_per_task, "batch_size": a.batch_size,
              "eval_every": a.eval_every, "eval_episodes": a.eval_episodes, "eval_workers": a.eval_workers,
              "hp": list(a.hp), "methods": []}

    def write() -> None:  # after every part: a measurement cut short keeps what finished
        if a.out:
            Path(a.out).write_text(json.dumps(record, indent=1))

    for name, method_hp in methods:
        cc = ContinualConfig(stream=a.stream, method=name, algo=a.algo, quality=a.quality, seeds=seeds,
                             steps_per_task=a.steps_per_task, batch_size=a.batch_size, eval_every=a.eval_every,
                             eval_episodes=a.eval_episodes, chunk=chunk, hp=tuple(a.hp), method_hp=method_hp,
                             results_dir=results_dir, checkpoint=False, wandb=False, eval_workers=a.eval_workers,
                             progress=False, run_id=f"{name}-{len(record['methods'])}")
        t0 = time.time()
        final = train_stream(cc)
        wall = time.time() - t0
        record["methods"].append({"method": name, "method_hp": list(method_hp), "wall_s": wall,
                                  "time_s": final.get("time_s"), "summary": final["summary"],
                                  "per_seed": final["metrics"]})
        print(f"continual {name} through {stream.name}: {wall:.1f} s ({len(stream.tasks)} tasks x "
              f"{a.steps_per_task:,} steps x {a.seeds} seeds, every task evaluated every {a.eval_every:,} steps; "
              + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in (final.get("time_s") or {}).items()) + ")",
              flush=True)
        write()

    if not a.no_baseline:
        t0 = time.time()
        per_task = []
        for t in stream.tasks:
            t1 = time.time()
            hp = (f"batch_size={a.batch_size}", *a.hp)
            train(TrainConfig(algo=a.algo, dataset=t.dataset_id(stream.name, a.quality), seeds=seeds,
                              steps=a.steps_per_task, eval_every=a.eval_every, eval_episodes=a.eval_episodes,
                              chunk=chunk, hp=hp, results_dir=results_dir, checkpoint=False, wandb=False,
                              eval_workers=a.eval_workers, progress=False, run_id=f"baseline-{t.name}"))
            per_task.append(time.time() - t1)
        record["baseline_s"] = time.time() - t0
        record["baseline_per_task_s"] = per_task
        write()
        print(f"baseline: offrl train on each task in turn: {record['baseline_s']:.1f} s "
              f"(each run evaluates its own task only)", flush=True)
    first = record["methods"][0]
    for m in record["methods"]:
        m["x_first_method"] = m["wall_s"] / first["wall_s"]
    print(f"\n| run | wall time (s) | x {first['method']} |" + (" speed-up over baseline |" if "baseline_s" in record
                                                              else "") + "\n|---|---:|---:|" +
          ("---:|" if "baseline_s" in record else ""))
    base = record.get("baseline_s")
    for m in record["methods"]:
        label = m["method"] + (f" ({', '.join(m['method_hp'])})" if m["method_hp"] else "")
        print(f"| continual {label}, every task evaluated | {m['wall_s']:.1f} | {m['x_first_method']:.2f} |"
              + (f" {base / m['wall_s']:.2f} |" if base else ""))
    if base:
        print(f"| offrl train per task, one after another (baseline) | {base:.1f} | {base / first['wall_s']:.2f} |"
              " 1.00 |")
    if a.out:
        write()
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
