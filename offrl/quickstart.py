"""``offrl quickstart``: the whole pipeline on a laptop CPU, with no download.

1. collect a small hopper-medium dataset from the shipped SAC policy (Gymnasium MuJoCo ``Hopper-v5``)
   and save it in the data root (``--data-root DIR``, default ``$OFFRL_DATA_DIR`` or ``~/.offrl/data``) as
   ``local/hopper-medium-<size>-v0`` (e.g. ``local/hopper-medium-50k-v0``), where ``offrl train``,
   ``offrl datasets`` and ``offrl.datasets.load`` find it (in another root than the default, with
   ``--data-root DIR``, ``--root DIR`` and ``root=``); the full D4RL-sized ``local/hopper-medium-v0``
   stays what ``offrl collect hopper-medium`` makes;
2. train IQL for 2,000 steps on 2 seeds (one vmapped jit);
3. evaluate by the standard protocol (fixed evaluation seeds, normalized score) every 200 steps;
4. print the normalized-score table, write the learning curve (with the behaviour data's own score as a
   line) and the markdown report.

A rerun reuses the saved dataset and the finished run and says so. A data root that cannot hold the
dataset (a file in its place, a folder that cannot be written while the dataset is still to be collected) is
refused before anything is done, as ``offrl collect --data-root`` refuses it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import tyro

from offrl.errors import ConfigError

ENV_LEVEL = "hopper-medium"


@dataclasses.dataclass(frozen=True)
class QuickstartArgs:
    """Collect, train, evaluate and report, all on the CPU in a few minutes."""

    out: Path = Path("quickstart")
    """folder for the run results, the learning curve and the report (the dataset goes to the data root)."""
    algo: str = "iql"
    """algorithm (iql, td3bc, bc, cql, dt, ...)."""
    transitions: int = 50_000
    """size of the collected hopper-medium dataset."""
    steps: int = 2_000
    """gradient steps per seed: on 50k transitions IQL reaches its level within a few hundred steps,
    and much longer runs on so little data drift back down towards the behaviour score."""
    seeds: tuple[int, ...] = (0, 1)
    """the training seeds (trained together)."""
    eval_every: int = 200
    """steps between evaluations (often enough that the curve shows the learning)."""
    eval_episodes: int = 10
    """evaluation episodes per seed (the protocol's 10)."""
    data_root: Annotated[str | None, tyro.conf.arg(metavar="DIR")] = None
    """data root the dataset is saved to and read from (default $OFFRL_DATA_DIR or ~/.offrl/data), as
    `offrl collect --data-root`; one that already holds the dataset is only read."""


def dataset_id(transitions: int) -> str:
    """The id the quickstart saves its data under: ``local/hopper-medium-50k-v0`` for 50,000 transitions.

    The size is part of the name so that the small dataset never stands in for, or overwrites, the
    D4RL-sized ``local/hopper-medium-v0``.
    """
    size = f"{transitions // 1000}k" if transitions % 1000 == 0 else str(transitions)
    return f"local/{ENV_LEVEL}-{size}-v0"


def quickstart_dataset(transitions: int, *, root=None, progress: bool = True):
    """Load the quickstart's dataset from the data root, collecting and saving it first if it is absent.

    Returns ``(dataset, collected)``.
    """
    from offrl.collection import collect
    from offrl.datasets import load, local_dataset_dir

    ds_id = dataset_id(transitions)
    if local_dataset_dir(ds_id, root).exists():
        ds = load(ds_id, root=root)
        if len(ds) != transitions:  # someone saved other data under this name: never overwrite it
            raise ConfigError(f"{ds_id} at {local_dataset_dir(ds_id, root)} holds {len(ds):,} transitions, not "
                              f"{transitions:,}; move it away or pick another --transitions")
        return ds, False
    # saved under its sized id (the progress bar names it): never the 1M-transition local/hopper-medium-v0
    ds = collect(ENV_LEVEL, steps=transitions, dataset_id=ds_id, root=root, minari=False, progress=progress)
    return ds, True


def check_quickstart_root(root, transitions: int) -> Path:
    """The data root ``root`` (None: the default one) for the quickstart's dataset of ``transitions``,
    refused up front by :func:`offrl.datasets.registry.check_data_root` (one
    :class:`~offrl.errors.OffrlError`, worded as ``offrl collect --data-root`` words it) when it cannot serve:
    something other than a folder in its place, or, while the dataset is still to be collected, a folder
    that cannot be written. A root that already holds the dataset is only read."""
    import os

    from offrl.datasets import local_dataset_dir
    from offrl.datasets.registry import check_data_root

    # os.path.exists, not Path.exists: below a file or in a folder that cannot be searched it is False (the
    # data are then to be collected, so the root is checked for writing) instead of raising
    collecting = not os.path.exists(local_dataset_dir(dataset_id(transitions), root))
    return check_data_root(root, write=collecting)  # found before minutes of collecting


def train_command(args: QuickstartArgs, algo: str) -> str:
    """The ``offrl train`` command line that trains ``algo`` on the quickstart's data and budget (``args``);
    for data in another root than the default, with ``--data-root DIR``, so that the same dataset id resolves
    to the data the quickstart saved."""
    from offrl.datasets.registry import data_root_option

    return (f"offrl train --algo {algo} --dataset {dataset_id(args.transitions)} "
            f"--seeds {' '.join(map(str, args.seeds))} --steps {args.steps} --eval-every {args.eval_every}"
            f"{data_root_option(args.data_root)}")


def plot_learning_curve(final: dict, behaviour_score: float, path: Path, *, title: str) -> Path:
    """The quickstart's figure: each seed's curve, their mean, and the behaviour data's score as a
    dashed line, on an axis from 0 (the uniform random policy) so that what training added over the
    data is read at its true size."""
    from offrl.evaluation import plots, stats

    curve = np.asarray(final["normalized_score"]["curve"], dtype=float)  # (seeds, evals)
    steps = np.asarray(final["eval_steps"])
    top = max(float(np.nanmax(curve)), behaviour_score)
    return plots.plot_learning_curves({final["algo"]: (steps, stats.learning_curve(curve, reps=1))}, path,
                                      title=title, xlabel="gradient steps", ci=None,
                                      ylabel="normalized score (0 random, 100 expert)",
                                      references={"behaviour data": behaviour_score},
                                      seed_curves={final["algo"]: curve}, ylim=(0, top * 1.15 + 1))


def run(args: QuickstartArgs) -> dict:
    """Run the quickstart; returns the trainer's final results."""
    from offrl.datasets import local_dataset_dir
    from offrl.paths import results_root
    from offrl.report import ReportArgs, make_report
    from offrl.train import TrainConfig, finished_results, run_dir_for, train

    t0 = time.time()
    root = args.data_root
    check_quickstart_root(root, args.transitions)  # before any output or work
    out = args.out.resolve()
    ds_id = dataset_id(args.transitions)
    print(f"[1/4] {ds_id}: {args.transitions:,} transitions of Hopper-v5 from the shipped medium SAC policy")
    ds, collected = quickstart_dataset(args.transitions, root=root)
    st = ds.stats()
    behaviour = st["normalized_return"]["mean"]
    print(f"      {'collected and saved' if collected else 'already collected, reused'}: "
          f"{local_dataset_dir(ds_id, root)}\n      {st['episodes']} episodes, behaviour normalized score "
          f"{behaviour:.1f}  ({time.time() - t0:.0f} s)")

    tc = TrainConfig(algo=args.algo, dataset=ds_id, seeds=args.seeds, steps=args.steps,
                     eval_every=args.eval_every, eval_episodes=args.eval_episodes,
                     results_dir=str(out / "results"), checkpoint=False, wandb=False, data_root=root)
    run_dir = run_dir_for(tc, ds.spec)
    if finished_results(run_dir) is not None:
        print(f"[2/4] already trained: {run_dir} holds this finished run (delete it to train again)")
    else:
        print(f"[2/4] training {args.algo} for {args.steps:,} steps x {len(args.seeds)} seeds (one vmapped jit), "
              f"evaluating every {args.eval_every:,} steps on Hopper-v5 ({args.eval_episodes} episodes per seed, "
              "fixed evaluation seeds)")
    final = train(tc, dataset=ds)  # a finished run comes back as it is
    figure = plot_learning_curve(final, behaviour, out / "learning_curve.png",
                                 title=f"{args.algo} on {ds_id}, {len(args.seeds)} seeds")
    report_md = make_report(ReportArgs(paths=(run_dir,), out=out / "report", reps=2000, profile_reps=500,
                                       plots=False))
    print(f"[3/4] learning curve: {figure}\n      report: {report_md}  ({time.time() - t0:.0f} s)")
    ns = final["normalized_score"]
    last, best = np.asarray(ns["last"]), np.asarray(ns["best"])
    print("[4/4] normalized scores (0 = uniform random, 100 = the expert SAC policy)\n")
    print("| dataset | algorithm | seeds | last | best | behaviour data |")
    print("|---|---|---|---|---|---|")
    print(f"| {ds_id} | {args.algo} | {len(last)} | {last.mean():.1f} ± {last.std():.1f} | "
          f"{best.mean():.1f} ± {best.std():.1f} | {behaviour:.1f} |")
    print(f"\nrun: {run_dir}\ntotal time: {time.time() - t0:.0f} s")
    other = "bc" if args.algo != "bc" else "iql"
    print(f"\nnext, {other} on the same data and budget, then both side by side:\n"
          f"  {train_command(args, other)}\n  offrl report {out / 'results'} {results_root()} --out report")
    return final


def main(argv: list[str]) -> int:
    """Entry point of ``offrl quickstart``."""
    from offrl.cli import note_single_seed

    args = tyro.cli(QuickstartArgs, args=argv, prog="offrl quickstart")
    note_single_seed(args.seeds)
    run(args)
    return 0
