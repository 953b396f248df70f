"""``offrl sweep``: run a sweep file, plan it, or export it as a wandb sweep.

    offrl sweep FILE [--parallel K] [--backend ray --address auto] ...   run every run not finished yet
    offrl sweep plan FILE                                                 runs, states, missing data, time left
    offrl sweep export-wandb FILE [--method bayes] [--out F]              a wandb sweep config
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import tyro

from offrl.cli import progress_bar_drawn
from offrl.errors import EXIT_INTERRUPTED, ConfigError
from offrl.sweep.backends import (InProcessBackend, Outcome, ProcessBackend, RayBackend, gpu_groups, visible_gpus,
                                  without_progress)
from offrl.sweep.plan import clear_failure, format_plan, other_code_note, record_failure, run_dir, run_states
from offrl.sweep.spec import Sweep, _show, load_sweep

__all__ = ["STATUS_WORDS", "launch_wording", "main", "run_headline", "run_sweep", "summary"]

# how a run that did not finish ended (``"status"`` beside ``"error"`` in :func:`run_sweep`'s results),
# in the order and the words of the summary line
STATUS_WORDS = {"failed": "failed", "data missing": "skipped (data missing)",
                "locked": "not run (being trained elsewhere)", "not started": "not started (--start-within)"}


def run_sweep(sweep: Sweep, *, backend: str = "local", parallel: int = 1, gpus: str | None = None,
              address: str | None = None, retries: int = 1, gpu_fraction: float | None = None,
              cpus_per_run: float = 1.0, wait_locked: bool = True, datasets: tuple[str, ...] = (),
              out=None, devices_per_run: int = 1, compile_cache: bool = True,
              start_until: float | None = None, progress: bool | None = None) -> dict[str, Any]:
    """Run every run of ``sweep`` that is not finished; returns ``{run_id: final dict}``, with
    ``{"error": message, "status": why}`` for a run that did not finish: ``failed``, ``data missing`` (not
    started), ``locked`` (another process trains it and ``wait_locked`` is off) or ``not started`` (the
    local backend starts no run after ``start_until``, a :func:`time.monotonic` value); :func:`summary`
    counts them.

    ``compile_cache``: on the local backend, runs share their compiled programs through JAX's persistent
    cache (:mod:`offrl.compile_cache`; folder ``$OFFRL_COMPILE_CACHE`` or ``~/.cache/offrl/jax``).

    ``progress``: a progress bar over the runs (on stderr, for runs in child processes or Ray tasks; None:
    only where stderr is a terminal, :func:`offrl.cli.progress_bar_drawn`), and runs in this process with
    their own bars where their configs ask for them (theirs too by default only on a terminal). False:
    neither; every run then trains without its bar (child processes and Ray tasks always do), and the lines
    per run remain.

    Finished runs are returned from their ``final.json`` without starting anything; a run whose
    data is absent is reported in one line (what is missing, the command that gets it) and not
    started; the others go to the backend (module :mod:`offrl.sweep.backends`). A failure never stops
    the other runs. KeyboardInterrupt propagates after the runs in flight stopped cleanly.
    """
    out = out or sys.stdout
    sweep = sweep.select(datasets)
    states = run_states(sweep)
    results: dict[str, Any] = {}
    todo = []
    resuming = 0  # runs to run that go on from a checkpoint
    labels = {c.run_id: _label(sweep, c, p) for c, p in zip(sweep.runs, sweep.params)}
    folders = {c.run_id: run_dir(c) for c in sweep.runs}
    for config, st in zip(sweep.runs, states):
        if st.state == "finished":
            results[config.run_id] = st.final
        elif st.missing:
            results[config.run_id] = {"error": "data missing: " + "; ".join(st.missing), "status": "data missing"}
        else:
            # over what the file says: each backend passes a run's config on as it gets it here
            todo.append(config if progress is not False else without_progress(config))
            resuming += st.state == "partial"
    engine = _backend(backend, parallel, gpus, address, retries, gpu_fraction, cpus_per_run, wait_locked,
                      devices_per_run)
    if start_until is not None:
        if isinstance(engine, RayBackend):
            raise ConfigError("--start-within is an option of the local backend (Ray starts every run at once, "
                              "as its cluster has room)")
        engine.start_until = start_until
    from offrl.compile_cache import enable, wanted

    if compile_cache and todo and backend == "local" and wanted():
        _say(out, f"[{sweep.name}] compiled programs are kept in {enable()} (runs that share them skip "
                  "compiling; --no-compile-cache: off)")
    where = {"InProcessBackend": "in this process", "ProcessBackend": "in child processes",
             "RayBackend": "as Ray tasks"}[type(engine).__name__]  # launch_wording says the same for the plan
    notes = [f"{len(engine.slots)} at a time"] if isinstance(engine, ProcessBackend) else []
    if resuming:
        notes.append(f"{resuming} resume{'s' * (resuming == 1)} from {'its' if resuming == 1 else 'their'} "
                     f"checkpoint{'s' * (resuming != 1)}")
    _say(out, f"[{sweep.name}] {len(sweep.runs)} runs: {len(results) - _errors(results)} already finished, "
              f"{_errors(results)} without their data, {len(todo)} to run {where}"
         + (f" ({'; '.join(notes)})" if notes else ""))
    if note := other_code_note(states):
        _say(out, f"[{sweep.name}] {note}")
    for run_id, r in results.items():
        if "error" in (r or {}):
            _say(out, f"[{sweep.name}] SKIPPED {labels[run_id]}: {r['error']}")
    bar = None
    if progress_bar_drawn(progress) and todo and not isinstance(engine, InProcessBackend):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=sweep.name, unit="run", dynamic_ncols=True, file=sys.stderr)

    def report(o: Outcome) -> None:
        label = labels.get(o.run_id, o.run_id)
        # the run folder keeps a run's last failure for `offrl sweep plan` until the run finishes
        if o.status in ("failed", "retrying") and o.run_id in folders:
            record_failure(folders[o.run_id], o.error or "failed", unexpected=o.traceback is not None)
        elif o.status == "finished" and o.run_id in folders:
            clear_failure(folders[o.run_id])
        result = f": {headline}" if o.status == "finished" and (headline := run_headline(o.final)) else ""
        if o.status == "finished" and o.trained_elsewhere:
            _say(out, f"[{sweep.name}] finished elsewhere {label} (trained by another process){result}", bar)
        elif o.status == "finished":
            _say(out, f"[{sweep.name}] done {label}{result}", bar)
        elif o.status == "waiting":
            _say(out, f"[{sweep.name}] waiting for {label}: {o.error}", bar)
        elif o.status == "locked":
            _say(out, f"[{sweep.name}] NOT RUN {label}: {o.error}", bar)
        elif o.status == "retrying":
            _say(out, f"[{sweep.name}] retrying {label} (attempt {o.attempts} failed: {o.error})", bar)
        elif o.status == "interrupted":
            _say(out, f"[{sweep.name}] interrupted {label}" + (f": {o.error}" if o.error else
                                                                 "; its checkpoints are kept"), bar)
        elif o.status == "not started":
            _say(out, f"[{sweep.name}] NOT STARTED {label}: {o.error}", bar)
        else:
            _say(out, f"[{sweep.name}] FAILED {label}: {o.error}", bar)
            if o.traceback:
                _say(out, o.traceback.rstrip(), bar)
        if bar is not None and o.status in ("finished", "failed", "locked", "not started"):
            bar.update(1)

    try:
        outcomes = engine.run(sweep.kind, todo, report)
    finally:
        if bar is not None:
            bar.close()
    for run_id, o in outcomes.items():
        results[run_id] = (o.final if o.status == "finished" else
                           {"error": o.error or o.status,
                            "status": o.status if o.status in ("locked", "not started") else "failed"})
    return {c.run_id: results[c.run_id] for c in sweep.runs if c.run_id in results}


def summary(results: dict[str, Any]) -> str:
    """``2 finished, 1 failed, 3 skipped (data missing), 1 not run (being trained elsewhere)`` for
    :func:`run_sweep`'s results (finished and failed always, the others where there are any)."""
    counts = {why: 0 for why in STATUS_WORDS}
    for r in results.values():
        if "error" in (r or {}):
            why = (r or {}).get("status")
            counts[why if why in counts else "failed"] += 1
    finished = len(results) - sum(counts.values())
    return ", ".join([f"{finished} finished", *(f"{n} {STATUS_WORDS[why]}" for why, n in counts.items()
                                                 if n or why == "failed")])


def launch_wording(backend: str = "local", parallel: int = 1, gpus: str | None = None, address: str | None = None,
                   gpu_fraction: float | None = None, cpus_per_run: float = 1.0, devices_per_run: int = 1) -> str:
    """How :func:`run_sweep` would run the runs with these options, for ``offrl sweep plan``: ``one after
    another in one process``, ``each in a process of its own, 4 at a time on the CPU``, ``each as a Ray
    task``. Raises as :func:`run_sweep` does for options that do not go together."""
    engine = _backend(backend, parallel, gpus, address, 1, gpu_fraction, cpus_per_run, True, devices_per_run)
    if isinstance(engine, InProcessBackend):
        return "one after another in one process"
    if isinstance(engine, RayBackend):
        return "each as a Ray task"
    slots = engine.slots
    if not engine.gpus:
        return f"each in a process of its own, {len(slots)} at a time on the CPU"
    places = list(dict.fromkeys(slots))
    where = (f"GPU{'s' * (len(places) != 1)} {', '.join(places)}" if engine.devices_per_run == 1 else
             f"GPU groups {'; '.join(places)}")
    return (f"each in a process of its own, {len(slots)} at a time ({engine.per_gpu} per "
            f"{'GPU' if engine.devices_per_run == 1 else 'group'} on {where})")


def _backend(backend: str, parallel: int, gpus: str | None, address: str | None, retries: int,
             gpu_fraction: float | None, cpus_per_run: float, wait_locked: bool, devices_per_run: int = 1):
    if parallel < 1:
        raise ConfigError(f"--parallel {parallel}: need at least 1 run per device")
    if retries < 0:
        raise ConfigError(f"--retries {retries} must be >= 0")
    if gpu_fraction is not None and not 0 <= gpu_fraction:
        raise ConfigError(f"--gpu-fraction {gpu_fraction} must be >= 0")
    if devices_per_run != 1 and backend != "local":
        raise ConfigError("--devices-per-run is an option of the local backend")
    # an option of the other backend would be ignored without a word: a run would get other resources than
    # asked for (--parallel means something to both: child processes here, the GPU fraction's default on Ray)
    if gpus is not None and backend == "ray":
        raise ConfigError("--gpus is an option of the local backend; Ray places runs on its cluster's GPUs "
                          "(each asks for --gpu-fraction, default 1/--parallel)")
    if backend == "local" and gpu_fraction is not None:
        raise ConfigError("--gpu-fraction is an option of the ray backend (add --backend ray); locally, "
                          "--parallel K runs share each GPU, each capped at 0.95/K of its memory")
    if backend == "local" and cpus_per_run != 1.0:
        raise ConfigError("--cpus-per-run is an option of the ray backend (add --backend ray); locally, "
                          "--parallel K sets how many runs share the machine")
    if backend == "ray":
        return RayBackend(address=address, retries=retries, gpu_fraction=gpu_fraction, cpus=cpus_per_run,
                          wait_locked=wait_locked, per_gpu=parallel)
    if backend != "local":
        raise ConfigError(f"unknown backend {backend!r}; choose local or ray")
    if address is not None:
        raise ConfigError("--address is for the ray backend (add --backend ray)")
    devices = visible_gpus(gpus)
    if devices_per_run != 1:
        gpu_groups(devices, devices_per_run)  # raises when the GPUs do not split into such groups
        return ProcessBackend(per_gpu=parallel, gpus=devices, retries=retries, wait_locked=wait_locked,
                              devices_per_run=devices_per_run)
    if parallel == 1 and len(devices) <= 1:
        return InProcessBackend(retries=retries, wait_locked=wait_locked)
    return ProcessBackend(per_gpu=parallel, gpus=devices, retries=retries, wait_locked=wait_locked)


def _label(sweep: Sweep, config, params: dict) -> str:
    cols = sweep.kind.columns(config)
    extra = {k: v for k, v in params.items() if k not in cols}
    return f"{config.run_id} ({' on '.join(cols.values())}" + (f", {_show(extra)}" if extra else "") + ")"


def run_headline(final: dict | None) -> str:
    """A finished run's result in one phrase, read from its ``final.json`` (``final``), for the launcher's
    ``done`` line; each number is the mean over the run's seeds.

    A training run: its normalized score (else its return) at the last evaluation and the best one,
    ``normalized score last 61.20, best 70.05 (mean of 3 seeds)``; ``no evaluation recorded`` where it
    never evaluated. A continual run: ``PER 48.10, BWT -12.30 (mean of 2 seeds)``. A number ``final``
    lacks (or holds in another form) is left out; "" where none of these is there.
    """
    if not isinstance(final, dict):
        return ""
    seeds = final.get("seeds") if isinstance(final.get("seeds"), list) else []
    over = f" (mean of {len(seeds)} seeds)" if len(seeds) > 1 else " (1 seed)" if seeds else ""
    continual = _continual_headline(final)
    if continual:
        return continual + over
    scores = {"normalized_score": "normalized score", "return": "return"}
    for key, name in scores.items():
        block = final.get(key)
        if not isinstance(block, dict):
            continue
        parts = [f"{stat} {value:.2f}" for stat in ("last", "best")
                 if (value := _seed_mean(block.get(stat))) is not None]
        if parts:
            return f"{name} {', '.join(parts)}{over}"
    # a training run's final.json holds both keys, None where the run had no evaluation (no env to run)
    if any(key in final for key in scores) and all(final.get(key) is None for key in scores):
        return "no evaluation recorded"
    return ""


def _continual_headline(final: dict) -> str:
    """``PER 48.10, BWT -12.30`` from a continual run's ``final.json``: its ``summary`` (means over seeds),
    else the mean of its per-seed ``metrics``; "" where it holds neither."""
    summary = final.get("summary") if isinstance(final.get("summary"), dict) else {}
    metrics = final.get("metrics") if isinstance(final.get("metrics"), dict) else {}
    parts = []
    for key, name in (("per", "PER"), ("bwt", "BWT")):
        value = _seed_mean(summary.get(key))
        if value is None:
            value = _seed_mean(metrics.get(key))
        if value is not None:
            parts.append(f"{name} {value:.2f}")
    return ", ".join(parts)


def _seed_mean(values) -> float | None:
    """The mean of a number or per-seed numbers, NaNs left out; None for anything else (absent, empty,
    none finite, not numbers): a headline leaves such a number out rather than fail the report of a run."""
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if a.size == 0 or not np.isfinite(a).any():
        return None
    return float(a[np.isfinite(a)].mean())


def _errors(results: dict) -> int:
    return sum("error" in (r or {}) for r in results.values())


def _say(out, line: str, bar=None) -> None:
    if bar is not None:
        bar.write(line, file=out)
    else:
        print(line, file=out, flush=True)


# ---------------------------------------------------------------------------- commands
# `--set KEY=VALUE ...` of every sweep command (offrl.sweep.spec.apply_overrides)
SweepOverrides = Annotated[tuple[str, ...], tyro.conf.arg(
    name="set", metavar="KEY=VALUE",
    help="change the file's settings for this command, e.g. --set continual.steps_per_task=30000 seeds=[0,1] "
         "(VALUE is YAML). A setting that changes what a run computes (hyperparameters, steps, seeds, datasets) "
         "gives it another run id; one that only says how it runs or records (eval_workers, checkpoint, wandb, "
         "progress, devices, data_root) keeps its id and its finished results (docs/sweeps.md, Expansion).")]


@dataclasses.dataclass(frozen=True)
class SweepArgs:
    """Run a sweep file: every run it expands to that is not finished yet (finished runs are kept,
    failures reported, an interrupted sweep resumes when the same command runs again). See also
    `offrl sweep plan FILE` and `offrl sweep export-wandb FILE`; the file format is in docs/sweeps.md."""

    file: tyro.conf.Positional[Path]
    """a sweep YAML, e.g. sweeps/dt_corl.yaml."""
    backend: Literal["local", "ray"] = "local"
    """local: this machine (in this process, or child processes with --parallel or several GPUs);
    ray: one Ray task per run on a Ray cluster."""
    parallel: int = 1
    """runs sharing each GPU at once (each in its own process); on a machine without GPUs, runs at once.
    With 1 and at most one GPU, runs go one after another in this process."""
    gpus: Annotated[str | None, tyro.conf.arg(metavar="IDS")] = None
    """GPU ids for the local backend, e.g. "0,1" ("" = none); default: $CUDA_VISIBLE_DEVICES or all."""
    devices_per_run: int = 1
    """local backend: GPUs each run takes, its seeds sharded over them (the run's devices option); the
    GPUs are split into groups of this size and --parallel runs share each group."""
    address: Annotated[str | None, tyro.conf.arg(metavar="auto|HOST:PORT")] = None
    """ray: the cluster to join ("auto", or HOST:PORT of its head); default: start a local one."""
    retries: int = 1
    """extra attempts of a run that failed unexpectedly (crash, lost worker; not a bad config)."""
    gpu_fraction: Annotated[float | None, tyro.conf.arg(metavar="FLOAT")] = None
    """ray: GPUs each run asks for; default 1/--parallel when the cluster has GPUs, else 0."""
    cpus_per_run: float = 1.0
    """ray: CPUs each run asks for."""
    wait_locked: bool = True
    """wait for runs another launcher is training and finish them (False: report them and stop)."""
    progress: Annotated[bool | None, tyro.conf.DisallowNone,
                        tyro.conf.arg(help_behavior_hint="(default: on a terminal only)")] = None
    """progress bars: the launcher's over the runs, those of --collect and --download, and those of runs
    trained in this process (runs in child processes or Ray tasks never show theirs). By default only where
    stderr is a terminal (a log file would keep every redraw); --progress: anywhere; --no-progress: none. The
    lines per run and the summary remain either way; run ids stay the same."""
    datasets: tuple[str, ...] = ()
    """only the runs on these datasets: ids as the file gives them, or without their source prefix
    (hopper-medium-v2 for d4rl/hopper-medium-v2) where that names one dataset of the sweep."""
    overrides: SweepOverrides = ()
    eval_workers: Annotated[int | None, tyro.conf.arg(metavar="N")] = None
    """processes stepping each run's evaluation envs (0: in the run's own process); default: as the file
    says. Evaluation steps MuJoCo on the CPU, often most of a run's time; run ids stay the same."""
    dry_run: bool = False
    """print the plan (as `offrl sweep plan`) and run nothing."""
    results_dir: Annotated[str | None, tyro.conf.arg(metavar="DIR")] = None
    """parent of the run folders (default $OFFRL_RESULTS_DIR or ./results); with Ray, a path every
    node sees."""
    collect: bool = False
    """first collect the missing local/* datasets of the runs left to do, from the shipped policies, into the
    data root each run reads (train.data_root of training runs, continual.data_root of continual runs; else
    $OFFRL_DATA_DIR or ~/.offrl/data)."""
    download: bool = False
    """first download the missing downloadable datasets (D4RL, Minari, ...) of the runs left to do, into the
    data root each run reads."""
    collect_workers: int = 0
    """with --collect: datasets collected at once, each in its own process (0: one per CPU core)."""
    start_within: Annotated[float | None, tyro.conf.arg(metavar="SECONDS")] = None
    """local backend: start no run later than SECONDS after this command began (data collection
    included); runs in flight go on, the others are reported not started and start when the same command
    runs again. For a job with a time limit: a run started just before it would be stopped midway."""
    compile_cache: bool = True
    """local backend: keep compiled programs on disk ($OFFRL_COMPILE_CACHE, else ~/.cache/offrl/jax;
    OFFRL_COMPILE_CACHE=off also turns it off) so that runs compiling the same programs (other seeds,
    values or datasets of the same shape) skip it."""


@dataclasses.dataclass(frozen=True)
class PlanArgs:
    """Show what a sweep file expands to: every run with its searched values, which runs are
    finished, running, partly done or pending, which lack their data, and the training time left.
    Every run's config is checked first; nothing runs."""

    file: tyro.conf.Positional[Path]
    """a sweep YAML."""
    datasets: tuple[str, ...] = ()
    """only the runs on these datasets: ids as the file gives them, or without their source prefix
    (hopper-medium-v2 for d4rl/hopper-medium-v2) where that names one dataset of the sweep."""
    backend: Literal["local", "ray"] = "local"
    """the backend you intend to use (only changes the wording: how the runs would be run)."""
    parallel: int = 1
    """runs per GPU you intend to use (only changes the wording: how the runs would be run, the estimate)."""
    gpus: Annotated[str | None, tyro.conf.arg(metavar="IDS")] = None
    """GPU ids you intend to give the local backend (only changes the wording); default as `offrl sweep`."""
    overrides: SweepOverrides = ()
    results_dir: Annotated[str | None, tyro.conf.arg(metavar="DIR")] = None
    """parent of the run folders (default $OFFRL_RESULTS_DIR or ./results)."""


@dataclasses.dataclass(frozen=True)
class ExportArgs:
    """Write a wandb sweep config for a sweep file, to use with `wandb sweep CONFIG` and `wandb agent`:
    each agent run is an ordinary `offrl train` run (all seeds in one process)."""

    file: tyro.conf.Positional[Path]
    """a sweep YAML."""
    out: Annotated[Path | None, tyro.conf.arg(metavar="PATH")] = None
    """where to write the YAML (default: print it)."""
    method: Annotated[Literal["grid", "random", "bayes"] | None, tyro.conf.arg(metavar="grid|random|bayes")] = None
    """wandb's search method; default grid, or random when the file has random:."""
    metric: str = "eval/normalized_score"
    """the metric wandb optimises (under `wandb agent` the trainer logs its mean over seeds)."""
    goal: Literal["maximize", "minimize"] = "maximize"
    """maximise or minimise the metric."""
    project: Annotated[str | None, tyro.conf.arg(metavar="PROJECT")] = None
    """wandb project (default: the file's wandb.project)."""
    overrides: SweepOverrides = ()


def _plan(sweep: Sweep, parallel: int = 1, out=None, **options) -> int:
    """Print the plan, saying how ``offrl sweep`` with ``parallel`` and ``options`` (:func:`launch_wording`'s)
    would run the runs."""
    out = out or sys.stdout
    launch = launch_wording(parallel=parallel, **options)
    print(format_plan(sweep, run_states(sweep), processes=parallel, launch=launch), file=out, flush=True)
    return 0


def _get_data(sweep: Sweep, *, collect: bool, download: bool, workers: int, progress: bool = True) -> None:
    """Get the missing data of the runs not finished yet, each into the data root it reads from (what cannot
    be got is reported per run). A root that cannot take data (a file in its place) is refused before anything
    is got into any root."""
    from offrl.datasets.registry import check_data_root, data_root
    from offrl.sweep.plan import data_to_get, get_missing_data

    todo = [c for c, st in zip(sweep.runs, run_states(sweep, check_data=False)) if st.state != "finished"]
    by_root: dict[str | None, list[str]] = {}  # runs of one root get their data together
    for c in todo:
        by_root.setdefault(sweep.kind.data_root(c), []).extend(sweep.kind.data_ids(c))
    # each root's data looked for once (a look reads every dataset's files): the check and the getting both use it
    found = {root: data_to_get(sources, collect=collect, download=download, root=root)
             for root, sources in by_root.items()}
    for root, (_, local, remote) in found.items():
        if local or remote:  # a root with nothing to get is only read: it need not be writable
            check_data_root(root, fix="set OFFRL_DATA_DIR to a folder you can write to" if root is None else
                            "give the runs a data root you can write to in the sweep file (or --set)")
    got_into = set()
    for root, sources in by_root.items():
        folder = data_root(root).resolve()
        # two spellings of one folder (the default root as None and written out): what the first got is there
        # now, so the second looks again rather than getting it twice
        get_missing_data(sources, collect=collect, download=download, workers=workers, progress=progress, root=root,
                         to_get=None if folder in got_into else found[root])
        if found[root][1] or found[root][2]:
            got_into.add(folder)


def main(argv: list[str]) -> int:
    """``offrl sweep [run|plan|export-wandb] ...``."""
    if argv and argv[0] == "plan":
        a = tyro.cli(PlanArgs, args=argv[1:], prog="offrl sweep plan")
        return _plan(load_sweep(a.file, results_dir=a.results_dir, overrides=a.overrides).select(a.datasets),
                     a.parallel, backend=a.backend, gpus=a.gpus)
    if argv and argv[0] == "export-wandb":
        import yaml

        from offrl.sweep.wandb_export import export_wandb

        e = tyro.cli(ExportArgs, args=argv[1:], prog="offrl sweep export-wandb")
        config = export_wandb(load_sweep(e.file, overrides=e.overrides), method=e.method, metric=e.metric,
                              goal=e.goal, project=e.project)
        text = yaml.safe_dump(config, sort_keys=False)
        if e.out is None:
            print(text, end="")
        else:
            from offrl.atomic import atomic_file

            with atomic_file(e.out) as tmp:
                tmp.write_text(text)
            print(f"wrote {e.out}; start it with `wandb sweep {e.out}` and `wandb agent <sweep id>`")
        return 0
    if argv and argv[0] == "run":
        argv = argv[1:]
    began = time.monotonic()
    a = tyro.cli(SweepArgs, args=argv, prog="offrl sweep")
    if a.start_within is not None and a.start_within < 0:
        raise ConfigError(f"--start-within {a.start_within}: give the seconds after the start (>= 0)")
    sweep = load_sweep(a.file, results_dir=a.results_dir, overrides=a.overrides).with_eval_workers(a.eval_workers)
    if a.dry_run:
        return _plan(sweep.select(a.datasets), a.parallel, backend=a.backend, gpus=a.gpus, address=a.address,
                     gpu_fraction=a.gpu_fraction, cpus_per_run=a.cpus_per_run, devices_per_run=a.devices_per_run)
    if a.collect or a.download:
        _get_data(sweep.select(a.datasets), collect=a.collect, download=a.download, workers=a.collect_workers,
                  progress=progress_bar_drawn(a.progress))
    try:
        results = run_sweep(sweep, backend=a.backend, parallel=a.parallel, gpus=a.gpus, address=a.address,
                            retries=a.retries, gpu_fraction=a.gpu_fraction, cpus_per_run=a.cpus_per_run,
                            wait_locked=a.wait_locked, datasets=a.datasets, devices_per_run=a.devices_per_run,
                            compile_cache=a.compile_cache, progress=a.progress,
                            start_until=None if a.start_within is None else began + a.start_within)
    except KeyboardInterrupt:
        print(f"[{sweep.name}] interrupted: finished runs are kept and stopped runs keep their checkpoints; "
              "run the same command again to resume", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    # exit status 0: every run (of those --datasets chose) is finished; 1: some run is not (failed, skipped
    # for missing data, or left to another process), as the summary says (docs/sweeps.md, "Exit status")
    print(f"{sweep.name}: {summary(results)}")
    return 1 if any("error" in (v or {}) for v in results.values()) else 0
