"""``offrl reproduce``: run a published table's rows through the sweep launcher and judge each row.

    offrl reproduce TARGET [--algos A ...] [--datasets D ...] [--quick] [--data-root DIR]
                           [--parallel K | --backend ray ...]
    offrl reproduce list                    the targets, their sources and how many reference rows each has

Order of work: the data root (``--data-root``, default ``$OFFRL_DATA_DIR`` or ``~/.offrl/data``) is
checked; the target's sweep specs are expanded and checked, every run reading that root; the data of every
selected run is looked for there (D4RL and other downloadable files are downloaded into it when the network
allows, ``local/*`` data are collected into it with ``--collect``), and anything still missing is named with
the command that gets it into that root before anything trains; the evaluation envs are made once; the runs
go to :func:`offrl.sweep.run_sweep` (finished runs are skipped, stopped runs resume); the rows are compared
(:mod:`offrl.reproduce.verdict`) and written side by side (:mod:`offrl.reproduce.report`); ``--record``
stores our own rows (:mod:`offrl.reproduce.record`). The exit code gates a regression check
(docs/reproduce.md).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import tyro

from offrl.cli import progress_bar_drawn
from offrl.errors import EXIT_INTERRUPTED, ConfigError, OffrlError
from offrl.process import interrupts_held
from offrl.reproduce.targets import (
    QUICK_DATASET,
    QUICK_DATASET_ID,
    QUICK_TRANSITIONS,
    TARGETS,
    Context,
    SweepSpec,
    Target,
    get_target,
    prepare_quick_data,
    select_runs,
)
from offrl.reproduce.verdict import EXIT_INCOMPLETE, EXIT_OK, Tolerance, exit_code

__all__ = ["ReproduceArgs", "main", "reproduce"]


@dataclasses.dataclass(frozen=True)
class ReproduceArgs:
    """Reproduce a published table: train its rows (through the sweep launcher, any backend; reruns skip
    finished runs and resume stopped ones), then write ours next to the reference with a verdict per row
    (consistent / higher / lower) and exit non-zero when a row is lower beyond the tolerance.
    `offrl reproduce list` shows the targets; docs/reproduce.md explains the rule."""

    target: tyro.conf.Positional[Annotated[str, tyro.conf.arg(metavar="TARGET")]]
    """offrl-local-v0 | corl-last | corl-best | dt-paper | neorl2 (`offrl reproduce list`)."""
    algos: tuple[str, ...] = ()
    """only the rows of these algorithms (e.g. bc td3bc)."""
    datasets: tuple[str, ...] = ()
    """only the rows of these datasets, with or without the source prefix (hopper-medium-v2)."""
    quick: bool = False
    """the target's quick CPU check instead (offrl-local-v0: a few short rows against recorded quick references)."""
    seeds: tuple[int, ...] = ()
    """train these seeds instead of the target's (e.g. a second, independent run of a table)."""
    backend: Literal["local", "ray"] = "local"
    """where runs execute (as `offrl sweep`): local (this process, or child processes with --parallel) or ray."""
    parallel: int = 1
    """runs sharing each GPU at once (on a machine without GPUs: runs at once)."""
    eval_workers: Annotated[int | None, tyro.conf.arg(metavar="N")] = None
    """processes stepping each run's evaluation envs (0: in the run's own process); default: as the
    target's sweep files say. Evaluation steps MuJoCo on the CPU, often most of a run's time."""
    address: Annotated[str | None, tyro.conf.arg(metavar="auto|HOST:PORT")] = None
    """ray: the cluster to join ("auto" or HOST:PORT); default: start a local one."""
    gpus: Annotated[str | None, tyro.conf.arg(metavar="IDS")] = None
    """GPU ids for the local backend, e.g. "0,1"; default: $CUDA_VISIBLE_DEVICES or all."""
    retries: int = 1
    """extra attempts of a run that failed unexpectedly."""
    results_dir: Annotated[str | None, tyro.conf.arg(metavar="DIR")] = None
    """parent of the run folders (default $OFFRL_RESULTS_DIR or ./results); with Ray, a path every node sees."""
    data_root: Annotated[str | None, tyro.conf.arg(metavar="DIR")] = None
    """data root the rows' datasets are read from, and --download, --collect and the quick check's data
    write to (default $OFFRL_DATA_DIR or ~/.offrl/data), as `offrl train --data-root`. It says where the
    data are, not what a run computes: the run ids, and so the finished runs found, stay the same."""
    out: Path = Path("reproduce")
    """folder of the report: <target>.md, <target>.png, <target>.json."""
    download: bool = True
    """download missing downloadable data (D4RL ...) before training; --no-download only names what is missing."""
    collect: bool = False
    """collect missing local/* datasets from the shipped policies before training (about 2 min per 1M
    transitions on one core)."""
    collect_workers: int = 0
    """datasets collected at once, each in its own process (0: one per CPU core)."""
    compile_cache: bool = True
    """local backend: runs share compiled programs on disk (as `offrl sweep --compile-cache`)."""
    start_within: Annotated[float | None, tyro.conf.arg(metavar="SECONDS")] = None
    """local backend: start no run later than SECONDS after this command began (data collection included),
    as `offrl sweep --start-within`; runs in flight go on, the rows of the others say "not started" and
    the same command starts them. For a job with a time limit: a run started just before it would be
    stopped midway."""
    skip_missing: bool = False
    """run the rows whose data are present and report the others as not run (default: stop before training)."""
    train: bool = True
    """--no-train: train nothing, report the runs already in the results folder."""
    dry_run: bool = False
    """print the runs, their states and missing data (as `offrl sweep plan`) and stop."""
    record: bool = False
    """our own tables only: write the finished rows into published_scores.csv (--csv) and the docs table (--docs)."""
    csv: Annotated[Path | None, tyro.conf.arg(metavar="PATH")] = None
    """--record: the published_scores.csv to write (default: the one shipped in the package)."""
    docs: Annotated[Path | None, tyro.conf.arg(metavar="PATH")] = None
    """--record: the page whose table is rewritten (default: docs/reproduce.md of the checkout, when there)."""
    card: Annotated[str | None, tyro.conf.arg(metavar="CARD")] = None
    """--record: the machine the runs ran on, in words (default: the one each run's final.json names, else
    detected here, e.g. 1x NVIDIA H200)."""
    reference_csv: Annotated[Path | None, tyro.conf.arg(metavar="PATH")] = None
    """published_scores.csv to compare with (default: $OFFRL_PUBLISHED_SCORES, else the shipped one)."""
    std_multiple: Annotated[float | None, tyro.conf.arg(metavar="FLOAT")] = None
    """tolerance: reference stds our mean may differ by and stay consistent (default: the target's: 2 for
    offrl-local-v0 and dt-paper, 1 for corl and neorl2; docs/reproduce.md says how often each flags a row by chance)."""
    min_points: Annotated[float | None, tyro.conf.arg(metavar="FLOAT")] = None
    """tolerance: smallest band in score points (default: the target's, usually 0)."""
    ci: float = 0.95
    """confidence level of our interval."""
    reps: int = 10_000
    """bootstrap replicates of our interval."""
    seed: int = 0
    """bootstrap seed."""
    plots: bool = True
    """write the PNG."""
    progress: Annotated[bool | None, tyro.conf.DisallowNone,
                        tyro.conf.arg(help_behavior_hint="(default: on a terminal only)")] = None
    """progress bars (of the runs, downloads and collections, as `offrl sweep`): --progress anywhere,
    --no-progress none; by default only where stderr is a terminal (a log file would keep every redraw)."""
    sweeps_dir: Annotated[Path | None, tyro.conf.arg(metavar="DIR")] = None
    """folder of the sweep files (default: sweeps/ of the offrl checkout)."""


def _say(out, line: str) -> None:
    print(line, file=out, flush=True)


def build_sweeps(specs: Sequence[SweepSpec], *, seeds: Sequence[int] = (), results_dir=None,
                 data_root: str | None = None) -> list:
    """Expand and check each spec (with ``seeds`` replacing its seeds when given; with ``data_root``, every
    run reading its data from that root, as a sweep file's ``train: {data_root: DIR}`` says; the run ids
    do not depend on it)."""
    from offrl.sweep import parse_sweep

    sweeps = []
    for s in specs:
        spec = dict(s.spec)
        if seeds:
            spec["seeds"] = list(seeds)
        if data_root is not None:
            if spec.get("kind", "train") != "train":  # only the train kind reads its root from `train:`
                raise ConfigError(f"--data-root: the sweep {spec.get('name')!r} is of kind {spec['kind']!r}, "
                                  "whose runs do not read a train.data_root")
            train = {} if spec.get("train") is None else spec["train"]
            if isinstance(train, dict):  # anything else is left for parse_sweep to refuse in its own words
                spec["train"] = {**train, "data_root": data_root}
        sweeps.append(parse_sweep(spec, source=str(s.path or spec.get("name", "sweep")), results_dir=results_dir,
                                  path=s.path))
    return sweeps


def _env_id(config) -> str | None:
    """The env a run evaluates on, known without loading its data (None: left to the trainer)."""
    from offrl.datasets import registry as R
    from offrl.datasets.api import is_registry_id
    from offrl.datasets.native import is_native, read_manifest

    if config.env_id:
        return config.env_id
    if is_registry_id(config.dataset, config.data_root):
        return R.get_info(config.dataset).env_id
    if is_native(config.dataset):
        return (read_manifest(config.dataset).get("spec") or {}).get("env_id")
    return None


def env_problems(runs: Sequence, hint: str = "") -> list[str]:
    """One line per evaluation env that cannot be made here (each env is made once)."""
    from offrl.envs.pool import make_env

    lines = []
    for env_id in dict.fromkeys(e for e in map(_env_id, runs) if e):
        module = env_id.split(":", 1)[0] if ":" in env_id else None
        if module and importlib.util.find_spec(module) is None:  # gymnasium's "module:Env" imports module first
            lines.append(f"{env_id}: the package {module!r} that registers this env is not installed"
                         + (f"; {hint}" if hint else ""))
            continue
        try:
            make_env(env_id).close()
        except Exception as e:  # noqa: BLE001  (any failure to build the env stops the rows that need it)
            lines.append(f"{env_id}: cannot make the evaluation env ({type(e).__name__}: {e})"
                         + (f"; {hint}" if hint else ""))
    return lines


def _tolerance(a: ReproduceArgs, target: Target) -> Tolerance:
    return Tolerance(std_multiple=target.tolerance.std_multiple if a.std_multiple is None else a.std_multiple,
                     min_points=target.tolerance.min_points if a.min_points is None else a.min_points)


def other_local_data(runs: Sequence, root: str | None = None) -> list[str]:
    """One line per ``local/*`` dataset of ``runs`` that is saved in the data root ``root`` (default
    ``$OFFRL_DATA_DIR`` or ``~/.offrl/data``) but was not collected with ``offrl collect``'s defaults (e.g.
    ``--steps 5000``): a target's local rows are defined on the default data, so such a dataset would stand
    in for it unnoticed (no recorded checksum to differ from yet)."""
    from offrl.collection import collected_otherwise, parse_name
    from offrl.datasets.registry import data_root_option

    lines = []
    for dataset in dict.fromkeys(c.dataset for c in runs):
        if not str(dataset).startswith("local/"):
            continue
        why = collected_otherwise(dataset, root)
        if why:
            env, level = parse_name(dataset)
            lines.append(f"{dataset}: {why}; collect it again with `offrl collect {env}-{level} --overwrite"
                         f"{data_root_option(root)}`, or keep it and pass another data root (--data-root DIR)")
    return lines


def _ready_to_train(a: ReproduceArgs, target: Target, sweeps: Sequence, root: str | None = None) -> bool:
    """Get the missing data that can be got into the data root ``root``, then name what is still missing
    (data, envs) on stderr, each with the command that gets it there. False: stop before anything trains;
    True: go on (with --skip-missing, the runs without data are reported by the launcher and left out).

    Raises:
      OffrlError: something is to be got but ``root`` cannot be written to, said before anything is got
        (:func:`offrl.datasets.registry.check_data_root`)."""
    from offrl.datasets import download_datasets, is_present
    from offrl.datasets.registry import check_data_root
    from offrl.reproduce.missing import downloadable, missing_data
    from offrl.sweep.plan import data_to_get, get_missing_data, run_states

    todo = [c for s in sweeps for c, st in zip(s.runs, run_states(s, check_data=False)) if st.state != "finished"]
    sources = list(dict.fromkeys(c.dataset for c in todo))
    # the downloadable ones here rather than through get_missing_data: their failures are listed with the
    # two ways to get each file (missing_data), not as get_missing_data's one line per dataset
    to_download = [s for s in sources if downloadable(s) and not is_present(s, root)]
    others = [s for s in sources if not downloadable(s)]
    to_get = data_to_get(others, download=a.download, collect=a.collect, root=root)
    # a root that only holds data need not be writable (a shared read-only copy); one that takes data must be,
    # found before the first download rather than after it
    if (a.download and to_download) or to_get[1] or to_get[2]:
        check_data_root(root)
    bars = progress_bar_drawn(a.progress)  # by default only on a terminal
    downloads = download_datasets(to_download, root=root, out=sys.stdout, progress=bars) if a.download else None
    lines = get_missing_data(others, download=a.download, collect=a.collect, workers=a.collect_workers,
                             progress=bars, root=root, to_get=to_get)
    data = missing_data(sources, downloads, others=lines, root=root)
    envs = env_problems(todo, target.env_hint)
    other = other_local_data(todo, root)
    if not data.count and not envs and not other:
        return True
    stop = not a.skip_missing or bool(envs) or bool(other)
    lines = [f"offrl reproduce {target.name}: " + ("nothing was trained:" if stop else
                                                   "these rows are not run (--skip-missing):")]
    if data.count:
        lines += [*(downloads.notes() if downloads else []),
                  f"data missing for {data.count} dataset(s):", *data.lines]
    if envs:
        lines += ["evaluation envs that cannot be made:", *(f"  {line}" for line in envs)]
    if other:
        lines += [f"data collected with other settings than the table's rows are defined on ({len(other)}); "
                  "they would train and be judged (or recorded) as the table's rows:",
                  *(f"  {line}" for line in other)]
    if stop:
        lines.append("Get them and run the same command again (finished runs are kept)"
                     + (", or pass --skip-missing to run the rows whose data are present"
                        if data.count and not envs and not other else "")
                     + ".")
    print("\n".join(lines), file=sys.stderr, flush=True)
    return not stop


MISSING_LISTED_BELOW = "(which, and how to get them: listed once, after the last sweep)"
"""What each sweep's plan says of its missing data in a dry run: the sweeps of a target share their
datasets, so the list is written once for all of them (:func:`dry_run_missing_data`)."""


def _missing_listed_below(states: Sequence) -> list:
    """``states`` with each run's missing-data lines replaced by :data:`MISSING_LISTED_BELOW` (the plan
    still marks those runs DATA MISSING)."""
    return [dataclasses.replace(st, missing=[MISSING_LISTED_BELOW]) if st.missing else st for st in states]


def dry_run_missing_data(runs: Sequence, *, skip: str | None = None, download: bool = True,
                         collect: bool = False, root: str | None = None) -> list[str]:
    """The lines a dry run ends its missing data with: every dataset that ``runs`` need and the data root
    ``root`` (default ``$OFFRL_DATA_DIR`` or ``~/.offrl/data``) lacks, once, with how to get it there
    (``skip``: a dataset the command makes itself, the quick check's; ``download``, ``collect``: what the
    command would get before training, as its options say)."""
    from offrl.reproduce.missing import downloadable, missing_data

    runs = [c for c in runs if c.dataset != skip]
    data = missing_data([c.dataset for c in runs], root=root)
    if not data.count:
        return []
    would = []
    if download and any(downloadable(c.dataset) for c in runs):
        would.append("downloads what it can")
    if any(str(c.dataset).startswith("local/") for c in runs):
        would.append("collects the local/* data" if collect else "collects the local/* data with --collect")
    return [f"WARNING: data missing for {data.count} dataset(s), needed by {len(runs)} run(s) above"
            + (f"; before training, the command {' and '.join(would)}" if would else "") + ":", *data.lines]


def total_estimate(sweeps: Sequence, states: Sequence[Sequence]) -> str | None:
    """One line: the training time left in all ``sweeps`` (``states``: their runs' states), the sum of
    their plans' estimates and on the same terms (one accelerator, the runs one after another, the rates
    each plan names); None when nothing is left to train."""
    from offrl.sweep.plan import _duration, estimate, jax_runs_on_cpu  # the per-sweep lines' duration format

    known, unknown, sources = 0.0, 0, []
    for sweep, sweep_states in zip(sweeps, states):
        seconds, used = estimate(sweep, sweep_states)
        left = [sec for sec, st in zip(seconds, sweep_states) if st.state != "finished"]
        known += sum(sec for sec in left if sec is not None)
        unknown += sum(sec is None for sec in left)
        sources += [source for rate, source in used.values() if rate == rate]
    if not known and not unknown:
        return None
    measured = [s.startswith("measured") for s in sources]
    terms = ["the sum of the sweeps' estimates above"]
    if unknown:
        terms.append(f"{unknown} run(s) without a rate not counted")
    if measured and all(measured):
        terms.append("measured rates, which include compilation and evaluation")
    elif any(measured):
        terms.append("measured rates include compilation and evaluation, recorded ones are training alone")
    else:
        terms.append("training alone at recorded rates, compilation and evaluation not included")
    if not all(measured) and jax_runs_on_cpu():
        terms.append("the recorded rates are H100 rates and JAX runs on the CPU here, so expect far longer")
    return (f"estimated time left, all {len(sweeps)} sweeps: {_duration(known)} of training on one accelerator, "
            f"the runs one after another ({'; '.join(terms)})")


def _default_docs() -> Path | None:
    p = Path(__file__).resolve().parents[2] / "docs" / "reproduce.md"
    return p if p.is_file() else None


def reproduce(a: ReproduceArgs, *, command: str = "", out=None) -> int:
    """Run ``offrl reproduce`` as ``a`` says; returns the exit code (docs/reproduce.md)."""
    from offrl.datasets import registry as R
    from offrl.evaluation.results import published_rows
    from offrl.paths import results_root
    from offrl.provenance import checkout_version
    from offrl.reproduce.report import build_rows, format_summary, row_verdicts, write_report
    from offrl.sweep import run_sweep
    from offrl.sweep.plan import format_plan, run_states

    began = time.monotonic()  # --start-within counts from here, data collection included
    out = out or sys.stdout
    target = get_target(a.target, quick=a.quick)
    # the code that trains is the code as the command starts (outside git: the source's digest)
    git = checkout_version() if a.record else ""
    if a.record and not target.recordable:
        mine = ", ".join(t.name for _, t in TARGETS.items() if t.recordable)
        raise ConfigError(f"--record writes our own measured rows; {target.name}'s rows are {target.source}'s "
                          f"published numbers (targets that record: {mine})")
    if a.record and target.check_seeds and (not a.seeds or set(a.seeds) & set(target.check_seeds)):
        both = sorted(set(a.seeds or target.check_seeds) & set(target.check_seeds))
        raise ConfigError(f"--record: {target.name}'s references must come from other seeds than the check trains "
                          f"({', '.join(map(str, target.check_seeds))}), or the check would compare runs with "
                          f"themselves ({', '.join(map(str, both))} among the seeds to record). Record on "
                          "others, e.g. --seeds $(seq 100 119) (docs/reproduce.md)")
    if not 0 < a.ci < 1 or a.reps < 1:
        raise ConfigError(f"--ci {a.ci} must be in (0, 1) and --reps {a.reps} >= 1")
    if a.start_within is not None and a.start_within < 0:
        raise ConfigError(f"--start-within {a.start_within}: give the seconds after the start (>= 0)")
    # written out whole: the runs may read it from other working directories (child processes, Ray workers)
    data_root = None if a.data_root is None else str(R.data_root(a.data_root).absolute())
    # something other than a folder in its place is found before anything is collected or looked for; whether
    # it must also be writable is known once the missing data are (_ready_to_train)
    R.check_data_root(data_root, write=False)
    tolerance = _tolerance(a, target)
    published = published_rows(a.reference_csv)  # a broken reference file fails before anything runs
    quick_dataset = None
    if target.needs_quick_data:  # collected only when something may train (a dry run writes nothing)
        quick_dataset = prepare_quick_data(data_root, make=a.train and not a.dry_run, out=out,
                                           progress=progress_bar_drawn(a.progress))
    specs = target.specs(Context(sweeps_dir=a.sweeps_dir))
    sweeps = select_runs(build_sweeps(specs, seeds=a.seeds, results_dir=a.results_dir, data_root=data_root),
                         algos=a.algos, datasets=a.datasets)
    runs = [c for s in sweeps for c in s.runs]
    root = results_root(a.results_dir).absolute()
    _say(out, f"offrl reproduce {target.name}: {len(runs)} run(s) in {len(sweeps)} sweep(s), "
              f"{len(runs) * len(target.scores)} row(s) against `{target.source}`; results in {root}")
    if a.dry_run:
        from offrl.sweep.cli import launch_wording

        # how the runs would be launched with these options (and the options the run would refuse, refused)
        launch = launch_wording(backend=a.backend, parallel=a.parallel, gpus=a.gpus, address=a.address)
        states = [run_states(s) for s in sweeps]
        for s, st in zip(sweeps, states):
            _say(out, format_plan(s, _missing_listed_below(st), processes=a.parallel, launch=launch))
        needed = [c for s, st in zip(sweeps, states) for c, x in zip(s.runs, st) if x.missing]
        missing = dry_run_missing_data(needed, skip=QUICK_DATASET_ID if quick_dataset is not None else None,
                                       download=a.download, collect=a.collect, root=data_root)
        if missing:
            _say(out, "\n".join(missing))
        if quick_dataset is not None and not quick_dataset.exists():
            _say(out, f"note: the quick check's data ({QUICK_DATASET_ID}: {QUICK_TRANSITIONS:,} transitions of "
                      f"`offrl collect {QUICK_DATASET}`, about 10 s) are collected into {quick_dataset.parent.parent} "
                      "when the check first runs: the DATA MISSING above needs nothing from you")
        other = other_local_data(runs, data_root)
        if other:
            _say(out, "\n".join(["WARNING: data collected with other settings than the table's rows are defined "
                                  "on; the command would stop before training them:", *(f"  {x}" for x in other)]))
        if len(sweeps) > 1 and (total := total_estimate(sweeps, states)):
            _say(out, total)
        return EXIT_OK

    outcomes: dict[str, dict] = {}
    interrupted = False
    if a.train:
        if not _ready_to_train(a, target, sweeps, data_root):
            return EXIT_INCOMPLETE
        try:
            for s in sweeps:
                outcomes.update(run_sweep(s.with_eval_workers(a.eval_workers), backend=a.backend, parallel=a.parallel,
                                          gpus=a.gpus, address=a.address, retries=a.retries, out=out,
                                          compile_cache=a.compile_cache, progress=a.progress,
                                          start_until=None if a.start_within is None else began + a.start_within))
        except KeyboardInterrupt:
            # the runs finished before the interrupt are results: they are reported (and recorded) as in a
            # complete call, so that a job stopped by its time limit loses none of them
            interrupted = True
            _say(out, f"offrl reproduce {target.name}: interrupted; finished runs are kept and stopped runs keep "
                      "their checkpoints: run the same command again to resume. The report below has the runs "
                      "finished so far")

    # an interrupt from here on (a job's time limit reached as the last run finished) waits for the report
    # and the records: cut midway they would lose finished runs, as interrupting the training does not
    with interrupts_held("the report is written and the finished runs recorded", out) as held:
        rows = build_rows(runs, outcomes, published, source=target.source, scores=target.scores,
                          tolerance=tolerance, ci=a.ci, reps=a.reps, seed=a.seed)
        header = [f"Command: `{command}`" if command else "", f"Results: {root}"]
        paths = write_report(rows, a.out, target=target, tolerance=tolerance, ci=a.ci, reps=a.reps,
                             header=[h for h in header if h], plots=a.plots)
        _say(out, "")
        for r in rows:
            if r.comparison is not None:
                c = r.comparison
                _say(out, f"  {c.verdict:<10} {r.algo:<6} {r.dataset:<34} {r.score:<4}  ours {c.mean:6.2f} "
                          f"[{c.ci_low:6.2f}, {c.ci_high:6.2f}]  reference {c.ref_mean:6.2f}"
                          + (f" ± {c.ref_std:.2f}" if c.ref_std == c.ref_std else ""))
            else:
                _say(out, f"  {'-':<10} {r.algo:<6} {r.dataset:<34} {r.score:<4}  {r.status}")
        _say(out, f"offrl reproduce {target.name}: {format_summary(rows)}; report {paths['md']}"
                  + (f", {paths['png']}" if "png" in paths else ""))
        verdicts = row_verdicts(rows, recording=a.record)
        if a.record:
            _record(a, target, rows, command, git, out)
    if interrupted or held.received:
        return EXIT_INTERRUPTED
    if a.record and rows and not verdicts:  # every row recorded, none had a reference yet
        return EXIT_OK
    return exit_code(verdicts)


def _record(a: ReproduceArgs, target: Target, rows, command: str, git: str, out) -> None:
    from offrl.evaluation.results import published_rows
    from offrl.provenance import machine_card
    from offrl.reproduce.record import docs_table, record_rows, shipped_csv, write_docs_table

    csv_path = a.csv or shipped_csv()
    n = record_rows(rows, source=target.source, csv_path=csv_path, command=command, card=a.card or machine_card(),
                    description=f"{target.description} ({target.provenance})", git=git, card_of_runs=a.card is None)
    _say(out, f"recorded {n} row(s) of {target.source} in {csv_path}")
    docs = a.docs or _default_docs()
    if docs is None:
        _say(out, "docs table not written: no docs/reproduce.md beside the package (pass --docs PAGE)")
        return
    write_docs_table(docs, target.source, docs_table(published_rows(csv_path), target.source))
    _say(out, f"rewrote the {target.source} table in {docs}")


def list_targets(out=None) -> int:
    """``offrl reproduce list``."""
    from offrl.evaluation.results import published_rows

    out = out or sys.stdout
    try:
        rows = published_rows()
    except OffrlError:
        rows = []
    for name, t in TARGETS.items():
        n = sum(r["source"] == t.source for r in rows)
        _say(out, f"{name:<22} {t.description}")
        _say(out, f"{'':<22} reference: {t.source} ({n} row(s) in published_scores.csv), compares "
                  f"{'/'.join(t.scores)}" + (f"; --quick: {t.quick}" if t.quick else ""))
    return EXIT_OK


def main(argv: Sequence[str]) -> int:
    """``offrl reproduce TARGET ...`` and ``offrl reproduce list``."""
    argv = list(argv)
    if argv and argv[0] == "list":
        return list_targets()
    try:
        a = tyro.cli(ReproduceArgs, args=argv, prog="offrl reproduce")
    except SystemExit as e:
        # the parser's own exit for a mistyped option is 2, which here means "nothing lower, some row not
        # compared": a regression gate must not read a typo as that (--help exits 0 as before)
        if e.code in (0, None):
            raise
        return 1
    return reproduce(a, command=shlex.join(["offrl", "reproduce", *argv]))
