"""Wall time of one training run evaluating in line against evaluating beside training.

The same run twice in one process (`offrl train` with ``overlap_eval`` False, then True: same data,
seeds and evaluation protocol), each with its ``time_s`` (where the wall time went: training, the
first chunk with compilation, time spent waiting for evaluations, checkpoints) and, beside training,
how long the evaluations themselves took. The same states are evaluated either way: on a CPU the
scores are identical (the script checks it); with an accelerator the evaluation beside training runs
the policy on the host CPU, whose float rounding differs, and the scores differ within the noise.

    python benchmarks/eval_overlap.py --out eval_overlap.json        # TD3+BC, 5 seeds, 100k steps
    python benchmarks/eval_overlap.py --quick                        # a CPU check
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

try:
    import offrl  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", default="td3bc")
    p.add_argument("--transitions", type=int, default=50_000, help="size of the collected hopper-medium data")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--eval-every", type=int, default=5_000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--eval-workers", type=int, default=0)
    p.add_argument("--hp", nargs="*", default=())
    p.add_argument("--quick", action="store_true", help="tiny sizes (a CPU check)")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    if a.quick:
        a.transitions, a.seeds, a.steps, a.eval_every, a.eval_episodes = 5_000, 2, 400, 100, 2
        a.hp = (*a.hp, "hidden=32,32")
    import jax

    from offrl.quickstart import dataset_id, quickstart_dataset
    from offrl.train import TrainConfig, train

    ds, _ = quickstart_dataset(a.transitions, progress=False)
    results = tempfile.mkdtemp(prefix="eval-overlap-")
    record = {"command": "python benchmarks/eval_overlap.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d"), "device_kind": jax.devices()[0].device_kind,
              "jax": jax.__version__, "host": platform.node(), "algo": a.algo, "seeds": a.seeds, "steps": a.steps,
              "eval_every": a.eval_every, "eval_episodes": a.eval_episodes, "eval_workers": a.eval_workers,
              "runs": {}}
    base = TrainConfig(algo=a.algo, dataset=dataset_id(a.transitions), seeds=tuple(range(a.seeds)), steps=a.steps,
                       eval_every=a.eval_every, eval_episodes=a.eval_episodes, eval_workers=a.eval_workers,
                       hp=tuple(a.hp), wandb=False, progress=False)
    # a short warm-up run first: imports and first-use costs (orbax, the env pool) go to neither side
    train(dataclasses.replace(base, steps=a.eval_every, eval_episodes=1, results_dir=f"{results}/warm-up"), dataset=ds)
    scores = {}
    for overlap in (False, True):
        name = "beside training" if overlap else "in line"
        tc = dataclasses.replace(base, overlap_eval=overlap, results_dir=f"{results}/{int(overlap)}")
        t0 = time.time()
        final = train(tc, dataset=ds)
        wall = time.time() - t0
        scores[name] = final["normalized_score"]
        record["runs"][name] = {"wall_s": wall, "time_s": final["time_s"],
                                "eval_background_s": final.get("eval_background_s")}
        print(f"{name}: {wall:.1f} s (" + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in final["time_s"].items())
              + (f"; the evaluations took {final['eval_background_s']:.1f} s beside it" if overlap else "") + ")",
              flush=True)
    record["same_scores"] = scores["in line"] == scores["beside training"]
    record["speedup"] = record["runs"]["in line"]["wall_s"] / record["runs"]["beside training"]["wall_s"]
    print(f"speed-up {record['speedup']:.2f}x; same scores: {record['same_scores']}")
    if a.out:
        Path(a.out).write_text(json.dumps(record, indent=1))
    return 0 if record["same_scores"] or jax.default_backend() != "cpu" else 1


if __name__ == "__main__":
    sys.exit(main())
