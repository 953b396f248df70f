"""``offrl quickstart``: the whole pipeline on a laptop CPU, with no download.

1. collect a small ``local/hopper-medium-v0`` dataset from the shipped SAC policy (Gymnasium
   MuJoCo ``Hopper-v5``), 2. train IQL for 10k steps on 2 seeds (one vmapped jit),
3. evaluate by the standard protocol (fixed evaluation seeds, normalized score), 4. print the
normalized-score table and write a learning-curve PNG with :mod:`offrl.report`.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from offrl.errors import OffrlError


@dataclasses.dataclass(frozen=True)
class QuickstartArgs:
    """Collect, train, evaluate and report, all on the CPU in a few minutes."""

    out: Path = Path("quickstart")
    """folder for the run results and the report."""
    algo: str = "iql"
    """algorithm (iql, td3bc, bc, cql, dt, ...); IQL is the steadier on a 50k-transition dataset."""
    transitions: int = 50_000
    """size of the collected hopper-medium dataset."""
    steps: int = 10_000
    """gradient steps per seed."""
    seeds: tuple[int, ...] = (0, 1)
    """training seeds (trained together)."""
    eval_every: int = 2_000
    """steps between evaluations."""
    eval_episodes: int = 10
    """evaluation episodes per seed (the protocol's 10)."""


def run(args: QuickstartArgs) -> dict:
    """Run the quickstart; returns the trainer's final results."""
    from offrl.collection import collect
    from offrl.datasets import load
    from offrl.report import ReportArgs, make_report
    from offrl.train import TrainConfig, train

    t0 = time.time()
    out = args.out.resolve()
    data_root = out / "data"
    name = "hopper-medium"
    try:
        ds = load(f"local/{name}-v0", root=data_root)
        if len(ds) != args.transitions:
            raise OffrlError(f"collected with {len(ds)} transitions")
        print(f"[1/4] using {ds.spec.id} already collected under {data_root}")
    except OffrlError:  # not collected yet, or with another size: collect it now
        print(f"[1/4] collecting {args.transitions:,} transitions of local/{name}-v0 from the shipped SAC policy")
        ds = collect(name, steps=args.transitions, root=data_root, minari=False, overwrite=True)
    st = ds.stats()
    print(f"      {len(ds):,} transitions, {st['episodes']} episodes, behaviour normalized score "
          f"{st['normalized_return']['mean']:.1f}  ({time.time() - t0:.0f} s)")
    print(f"[2/4] training {args.algo} for {args.steps:,} steps x {len(args.seeds)} seeds (one vmapped jit)")
    tc = TrainConfig(algo=args.algo, dataset=ds.spec.id, seeds=args.seeds, steps=args.steps,
                     eval_every=args.eval_every, chunk=min(1000, args.eval_every), eval_episodes=args.eval_episodes,
                     results_dir=str(out / "results"), checkpoint=False, wandb=False)
    final = train(tc, dataset=ds)
    print(f"[3/4] evaluated every {args.eval_every} steps on Hopper-v5 ({args.eval_episodes} episodes per seed, "
          f"fixed evaluation seeds)  ({time.time() - t0:.0f} s)")
    report_md = make_report(ReportArgs(paths=(out / "results" / final["run_id"],), out=out / "report", reps=2000,
                                        profile_reps=500))
    ns = final["normalized_score"]
    last, best = np.asarray(ns["last"]), np.asarray(ns["best"])
    print("[4/4] normalized scores (100 = expert SAC policy, 0 = uniform random)\n")
    print("| dataset | algorithm | seeds | last | best | behaviour data |")
    print("|---|---|---|---|---|---|")
    print(f"| {ds.spec.id} | {args.algo} | {len(last)} | {last.mean():.1f} ± {last.std():.1f} | "
          f"{best.mean():.1f} ± {best.std():.1f} | {st['normalized_return']['mean']:.1f} |")
    pngs = sorted(Path(report_md).parent.glob("curves_*.png"))
    print(f"\nlearning curve: {pngs[0] if pngs else '(not written)'}\nreport: {report_md}"
          f"\ntotal time: {time.time() - t0:.0f} s")
    return final


def main(argv: list[str]) -> int:
    import tyro

    run(tyro.cli(QuickstartArgs, args=argv, prog="offrl quickstart"))
    return 0
