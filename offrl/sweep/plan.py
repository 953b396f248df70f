"""What a sweep would do: each run's state on disk, missing data, and an estimate of the time left.

``offrl sweep plan FILE`` (and ``offrl sweep FILE --dry-run``) prints :func:`format_plan`. States come
from the run folders alone (``final.json``: finished; a held lock: running, with its owner's pid;
``checkpoints/<step>``: partial, resumes there; ``config.json`` only: started, restarts from step 0),
so they are the same whichever backend ran the runs. A run that failed keeps its last failure in its
folder (:data:`FAILURE_NAME`, written by the launcher, :func:`record_failure`) until it finishes, and
the plan shows it as ``failed (attempt N): ErrorType: message``. A finished run whose ``config.json`` records
other code than this package's is marked (:mod:`offrl.provenance`): its id, a digest of its
configuration, does not change with the code.

Time estimates are for one accelerator running the runs one after another: the rate of each kind
of run (:class:`Work`: the algorithm and its batch size; for continual runs the method too) is
measured from the sweep's own finished runs of that kind where there are any (``final.json``: seeds x
steps / the run's wall time over all its attempts, which includes compilation and evaluation), else
read from :data:`RECORDED_SEED_STEPS_PER_S` (training alone), slowed down for a batch larger than the
one it was measured at (never sped up for a smaller one); the plan says which. Runs sharing one
accelerator (``--parallel``) do not make it much shorter: the GPU runs their kernels in turn, so only
their CPU-side work overlaps (benchmarks/RESULTS.md, "Sweep packing"). For the same reason a run
measured while it shared its GPU counts its wall time times its share of the GPU
(:data:`DEVICE_SHARE_NAME`, which the local launcher writes; 1/2 for one of two all along), not the
wall time itself, which would halve the rate.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from offrl.datasets.api import missing_data_lines
from offrl.provenance import run_code, source_digest
from offrl.sweep.spec import Sweep, _short

__all__ = ["DEVICE_SHARE_NAME", "FAILURE_NAME", "RECORDED_SEED_STEPS_PER_S", "RunState", "Work", "batch_label",
           "checkpoint_step", "clear_failure", "data_to_get", "device_share", "estimate", "format_plan",
           "get_missing_data", "jax_runs_on_cpu", "last_failure", "other_code_note", "record_device_share",
           "record_failure", "recorded_rate", "run_dir", "run_states"]

# Training throughput on one H100 80GB (jax 0.11.2, 2026-11-26), float32 defaults with concurrent
# kernels, 2x256 MLPs / DT's 3x128 transformer, batch 256 (DT 64), compile and evaluation excluded:
# benchmarks/notes/2026-11-throughput.md, 4e ("Throughput, float32 defaults", 5 seeds; CQL and BC at 5 seeds)
# and benchmarks/notes/2026-11-dt.md, 5d (DT, 8 seeds). More seeds per process run faster per seed, fewer slower.
RECORDED_SEED_STEPS_PER_S: dict[str, tuple[float, str]] = {
    "td3bc": (47_903, "H100, 5 seeds, float32 (benchmarks/notes/2026-11-throughput.md, 4e)"),
    "iql": (44_475, "H100, 5 seeds, float32 (benchmarks/notes/2026-11-throughput.md, 4e)"),
    "cql": (4_826, "H100, 5 seeds, float32 (benchmarks/notes/2026-11-throughput.md, 4e)"),
    "bc": (113_391, "H100, 5 seeds, float32 (benchmarks/notes/2026-11-throughput.md, 4e)"),
    "dt": (3_222, "H100, 8 seeds, float32 (benchmarks/notes/2026-11-dt.md, 5d)"),
    # MO-DT was measured in bf16 only: DT's float32 rate times MO-DT's bf16 ratio to DT (4,449 / 4,876)
    "modt": (2_940, "H100, DT's float32 rate x MO-DT/DT in bf16 at 32 seeds (benchmarks/notes/2026-11-dt.md, 5e)"),
}


# the batch the recorded rates were measured at; a run at a larger batch is scaled by the ratio
RECORDED_BATCH: dict[str, int] = {"dt": 64, "modt": 64}
DEFAULT_RECORDED_BATCH = 256


class Work(NamedTuple):
    """What a run costs, for estimates (:attr:`offrl.sweep.kinds.RunKind.work`)."""

    key: str
    """runs of comparable speed: measured rates are pooled by it (e.g. ``td3bc, batch 1024``)."""
    steps: int
    """gradient steps per seed."""
    algo: str
    """the key of :data:`RECORDED_SEED_STEPS_PER_S` used while no run of ``key`` has finished."""
    batch: int | None = None
    """the run's batch size: a larger batch than the recorded rate's scales that rate by recorded batch /
    batch (an upper estimate of the time: small networks on a GPU slow down less than their batch grows);
    a smaller one keeps the rate (such steps are bound by launching kernels, not by the batch: no
    faster per step), so the estimate stays an upper one."""


def _recorded_batch(algo: str) -> int:
    return RECORDED_BATCH.get(algo, DEFAULT_RECORDED_BATCH)


def batch_label(prefix: str, batch: int | None, algo: str | None = None) -> str:
    """A :attr:`Work.key`: ``prefix``, plus the batch size where it is not the recorded rate's (that of
    ``algo``, default ``prefix``)."""
    return prefix if not batch or batch == _recorded_batch(algo or prefix) else f"{prefix}, batch {batch}"


def recorded_rate(work: Work) -> tuple[float, str] | None:
    """The recorded seed-steps/s for ``work`` with its source: scaled by recorded batch / batch for a
    larger batch than the one it was measured at, kept as it is for a smaller one (a step of a small
    batch is bound by launching its kernels, so it is no faster; scaling it up would promise a sweep
    many times sooner than it ends)."""
    rec = RECORDED_SEED_STEPS_PER_S.get(work.algo)
    if rec is None:
        return None
    base = _recorded_batch(work.algo)
    if not work.batch or work.batch == base:
        return rec
    if work.batch < base:
        return rec[0], f"{rec[1]}, at batch {base}: not scaled up for batch {work.batch} (assumed no faster per step)"
    return rec[0] * base / work.batch, f"{rec[1]}, at batch {base}: x {base}/{work.batch} for batch {work.batch}"


def as_work(value) -> Work:
    """A kind's ``work`` result as :class:`Work` (a plain ``(key, steps)`` pair: the key is the algorithm)."""
    return value if isinstance(value, Work) else Work(value[0], value[1], value[0])


@dataclasses.dataclass
class RunState:
    """One run's state on disk."""

    run_id: str
    state: str
    """``finished`` | ``running`` | ``partial`` | ``started`` | ``pending``."""
    step: int = 0
    """gradient steps done that a restart keeps (the last checkpoint's step)."""
    owner: dict | None = None
    """the lock owner (pid, host) of a running run."""
    final: dict | None = None
    missing: list[str] = dataclasses.field(default_factory=list)
    """one line per absent dataset: what is missing and the command that gets it."""
    other_code: bool = False
    """a finished run whose ``config.json`` records other code than this package's
    (:mod:`offrl.provenance`): a sweep keeps it, as it keeps every finished run."""
    failure: dict | None = None
    """the last failure of a run that is neither finished nor running (:func:`last_failure`), else None."""
    device_share: float | None = None
    """a finished run's share of the GPU it ran on (:func:`device_share`), where its folder records it."""

    def describe(self) -> str:
        if self.state == "finished" and self.other_code:
            return "finished, other code"
        if self.failure is not None and self.state in ("partial", "started", "pending"):
            attempt = f"attempt {self.failure.get('attempts') or 1}"
            if self.state == "partial":
                attempt += f", resumes at step {self.step:,}"
            return (f"failed ({attempt}): {_shorten(str(self.failure.get('error') or 'unknown error'))}"
                    + (", DATA MISSING" if self.missing else ""))
        if self.state == "running":
            pid = (self.owner or {}).get("pid")
            return f"running (pid {pid})" if pid else "running"
        if self.state == "partial":
            return f"partial, resumes at step {self.step:,}"
        if self.state == "started":
            return "started, no checkpoint"
        if self.state == "pending" and self.missing:
            return "pending, DATA MISSING"
        return self.state


def run_dir(config) -> Path:
    """The run folder of ``config``: ``<results_dir>/<run_id>``."""
    return Path(config.results_dir) / config.run_id


#: a run folder's record of the run's last failure (:func:`record_failure`)
FAILURE_NAME = "last_failure.json"
FAILURE_SHOWN_CHARS = 100  # of a failure's message in the plan's table


def record_failure(folder: Path, error: str, *, unexpected: bool = False) -> None:
    """Keep a run's last failure in its folder (``error``: one line, ``ErrorType: message``; ``unexpected``:
    not an :class:`~offrl.errors.OffrlError`), with ``attempts``, the failed attempts counted over every
    launcher run since the run last finished (one more than the record kept), so that ``offrl sweep
    plan`` can say the run failed, how often and why. Written atomically; :func:`clear_failure` removes
    it once the run finishes. A folder that cannot be written is left as it is: the launcher has
    reported the failure already, and the record only repeats it."""
    import time

    from offrl.logging import atomic_write_json

    before = last_failure(folder)
    attempts = int((before or {}).get("attempts") or 0) + 1
    record = {"error": error, "attempts": attempts, "unexpected": bool(unexpected),
              "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / FAILURE_NAME, record)
    except OSError:
        pass


def clear_failure(folder: Path) -> None:
    """Forget a run's last failure (:func:`record_failure`): the run has finished."""
    try:
        (folder / FAILURE_NAME).unlink(missing_ok=True)
    except OSError:
        pass


#: a finished run's folder: the share of its GPU the run had (:func:`record_device_share`)
DEVICE_SHARE_NAME = "device_share.json"


def record_device_share(folder: Path, *, gpu: str, runs_per_gpu: int, attempt: int, wall_s: float,
                        alone_s: float) -> None:
    """Keep in a finished run's folder the share of its GPU it had: ``alone_s`` is its ``wall_s`` with each
    second divided by the runs then on that GPU (the local launcher counts them). Runs sharing a GPU take
    turns on it, so one of two takes about twice as long as alone; :func:`measured_rates` scales the
    run's wall time by this share, so that a rate measured two at once is not taken for half the speed."""
    from offrl.logging import atomic_write_json

    if wall_s <= 0:
        return
    try:
        atomic_write_json(folder / DEVICE_SHARE_NAME, {
            "gpu": gpu, "runs_per_gpu": runs_per_gpu, "attempt": attempt, "wall_s": round(wall_s, 2),
            "alone_s": round(alone_s, 2), "share": round(min(alone_s / wall_s, 1.0), 4)})
    except OSError:  # a note for time estimates only: the finished run itself is not affected
        pass


def device_share(folder: Path) -> float | None:
    """The share of its GPU a finished run had (:func:`record_device_share`; in (0, 1]), or None where the
    run's folder has no readable record (a run on the CPU, another backend, an older launcher)."""
    try:
        share = json.loads((folder / DEVICE_SHARE_NAME).read_text()).get("share")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    return float(share) if isinstance(share, (int, float)) and 0 < share <= 1 else None


def last_failure(folder: Path) -> dict | None:
    """The failure :func:`record_failure` kept in ``folder`` (None if there is none or it is unreadable).
    Ignored by callers once the run has its ``final.json``."""
    try:
        record = json.loads((folder / FAILURE_NAME).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) and record.get("error") else None


def _shorten(text: str, limit: int = FAILURE_SHOWN_CHARS) -> str:
    """``text``'s first line, cut to ``limit`` characters (ending ``...`` where it was cut)."""
    lines = text.strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= limit and len(lines) <= 1 else line[:limit - 3].rstrip() + "..."


def checkpoint_step(path: Path) -> int | None:
    """The newest complete orbax checkpoint step under ``path/checkpoints`` (None if there is none)."""
    ckpt = path / "checkpoints"
    if not ckpt.is_dir():
        return None
    steps = [int(p.name) for p in ckpt.iterdir() if p.is_dir() and p.name.isdigit()]
    return max(steps) if steps else None


def _read_config(d: Path) -> dict:
    try:
        config = json.loads((d / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return config if isinstance(config, dict) else {}


def other_code_note(states: Sequence[RunState]) -> str | None:
    """A line about finished runs made by other code than this package's (None: there are none)."""
    n = sum(st.other_code for st in states)
    if not n:
        return None
    return (f"{n} finished run(s) were trained by other code than this package's (source {source_digest()}): "
            "the sweep keeps them; delete a run's folder to train it again with this code")


def run_states(sweep: Sweep, *, check_data: bool = True) -> list[RunState]:
    """The state of every run of ``sweep``, read from its folder (and, with ``check_data``, which
    of its datasets are absent from its data root, :attr:`~offrl.sweep.kinds.RunKind.data_root`)."""
    from offrl.runlock import holder

    out = []
    for config in sweep.runs:
        d = run_dir(config)
        final = d / "final.json"
        if final.exists():
            try:
                fin = json.loads(final.read_text())
            except (OSError, json.JSONDecodeError):
                fin = None
            made_by = run_code(_read_config(d))
            out.append(RunState(config.run_id, "finished", final=fin, device_share=device_share(d),
                                other_code=made_by is not None and made_by != source_digest()))
            continue
        owner = holder(d)
        step = checkpoint_step(d)
        if owner is not None:
            st = RunState(config.run_id, "running", step=step or 0, owner=owner)
        elif step is not None:
            st = RunState(config.run_id, "partial", step=step)
        elif (d / "config.json").exists():
            st = RunState(config.run_id, "started")
        else:
            st = RunState(config.run_id, "pending")
        if st.state != "running":
            st.failure = last_failure(d)
            if check_data:  # where the run reads them: its kind says (None: the default root)
                st.missing = missing_data_lines(sweep.kind.data_ids(config), root=sweep.kind.data_root(config))
        out.append(st)
    return out


def _collect_local(name: str, steps: int | None = None, progress: bool = False, root: str | None = None) -> str:
    """One ``offrl collect NAME`` (in this process or a worker of :func:`get_missing_data`) into the data
    root ``root``; returns NAME."""
    from offrl.collection import collect

    collect(name, steps=steps, minari=False, progress=progress, root=root)
    return name


def data_to_get(sources: Sequence[str], *, download: bool = False, collect: bool = False,
                root: str | None = None) -> tuple[list[str], list[str], list[str]]:
    """What :func:`get_missing_data` would do for ``sources`` read from the data root ``root``: ``(missing,
    to collect, to download)``, each without repeats (a ``local/*`` dataset is collected with ``collect``, a
    downloadable one downloaded with ``download``; the others stay missing)."""
    from offrl.datasets import registry as R
    from offrl.datasets.api import is_registry_id

    missing = [s for s in dict.fromkeys(sources) if missing_data_lines([s], root=root)]
    local, remote = [], []
    for source in missing:
        if not is_registry_id(source, root):
            continue
        info = R.get_info(source)
        if info.source == "local" and collect and source in R.DATASETS:
            local.append(source)
        elif info.source != "local" and download:
            remote.append(source)
    return missing, local, remote


def get_missing_data(sources: Sequence[str], *, download: bool = False, collect: bool = False, workers: int = 1,
                     steps: int | None = None, progress: bool = True, out=None, root: str | None = None,
                     to_get: tuple[list[str], list[str], list[str]] | None = None) -> list[str]:
    """Get the absent datasets that can be got, then name what is still missing.

    ``download``: datasets with a download source (D4RL, Minari, ...) are downloaded
    (:func:`offrl.datasets.download_datasets`: an unreachable host is asked once and said once on
    ``out``); ``collect``: ``local/*`` datasets are collected from the shipped policies, ``workers`` at a
    time in their own processes (0: one per CPU core; collection is single-core work); composites such as
    ``medium-expert``, which reuse their parts, come after the parts (an absent part is collected and saved
    with the others); ``steps``: transitions per collected
    dataset, default each dataset's own. ``root``: the data root looked in and written to (default
    ``$OFFRL_DATA_DIR`` or ``~/.offrl/data``). ``to_get``: what :func:`data_to_get` just returned for these
    ``sources``, ``download``, ``collect`` and ``root``, which are then not looked for again (default: look).
    Returns :func:`~offrl.datasets.api.missing_data_lines`'s lines for what is still absent, why an attempt
    failed appended.

    Raises:
      OffrlError: something is to be got but ``root`` cannot hold it (a file in its place): said before
        anything is collected or downloaded (:func:`offrl.datasets.registry.check_data_root`).
    """
    import sys

    from offrl.datasets import download_datasets
    from offrl.datasets import registry as R

    out = out or sys.stdout
    workers = workers or os.cpu_count() or 1
    missing, local, remote = (to_get if to_get is not None else
                              data_to_get(sources, download=download, collect=collect, root=root))
    notes: dict[str, str] = {}
    if local or remote:
        R.check_data_root(root)
    if remote:
        downloads = download_datasets(remote, root=root, progress=progress, out=out)
        for line in downloads.notes():  # an unreachable host: once, not once per file
            print(line, file=out, flush=True)
        notes.update({source: f" (download failed: {why})" for source, why in downloads.failed.items()})
        notes.update({source: f" (not downloaded: {why})" for source, why in downloads.not_got().items()
                      if source not in downloads.failed})
    parts, composites, part_of = _collection_groups(local, root)
    for group in (parts, composites):
        names = {R.parse_id(s)[1].removesuffix("-v0"): s for s in group}
        for name in names:
            why = f", a part of {part_of[names[name]]}" if names[name] in part_of else ""
            print(f"collecting {names[name]} (`offrl collect {name}{R.data_root_option(root)}`{why})", file=out,
                  flush=True)
        for name, error in _run_collections(list(names), workers, steps, progress, out, root).items():
            notes[names[name]] = f" (collection failed: {error})"
    lines = []
    for source in missing:
        lines += [line + notes.get(source, "") for line in missing_data_lines([source], root=root)]
    return lines


def _collection_groups(local: Sequence[str], root: str | None = None
                       ) -> tuple[list[str], list[str], dict[str, str]]:
    """``local`` ids in two groups collected one after the other: the datasets collected from the policies,
    then the composites (medium-expert), which join their saved parts; and {part added: its composite}. A
    composite's part that is absent joins the first group (and is saved, as `offrl collect` would save it),
    so that it is collected beside the others instead of alone inside the composite's collection, after
    them (a part saved with other settings stays as it is: the composite collects its own copy)."""
    from offrl.collection import COMPOSITE_LEVELS, parse_name, source
    from offrl.datasets import registry as R

    composites = [s for s in local if parse_name(s)[1] in COMPOSITE_LEVELS]
    parts = [s for s in local if s not in composites]
    part_of: dict[str, str] = {}
    for s in composites:
        env, level = parse_name(s)
        for part in (source(env).dataset_id(lv) for lv in COMPOSITE_LEVELS[level]):
            if part not in parts and part in R.DATASETS and missing_data_lines([part], root=root):
                parts.append(part)
                part_of[part] = s
    return parts, composites, part_of


def _run_collections(names: list[str], workers: int, steps: int | None, progress: bool, out,
                     root: str | None = None) -> dict[str, str]:
    """Collect ``names`` into the data root ``root`` (in this process, or ``workers`` processes); returns
    {name: error} of failures."""
    from offrl.errors import OffrlError

    errors: dict[str, str] = {}
    if workers <= 1 or len(names) <= 1:
        for name in names:
            try:
                _collect_local(name, steps, progress, root)
            except OffrlError as e:
                errors[name] = str(e)
        return errors
    import concurrent.futures as cf
    import multiprocessing as mp

    # spawn: the parent may hold JAX's threads, which a fork would copy in an unknown state
    with cf.ProcessPoolExecutor(min(workers, len(names)), mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(_collect_local, name, steps, False, root): name for name in names}
        for done, f in enumerate(cf.as_completed(futures), 1):
            try:
                f.result()
                print(f"collected {futures[f]} ({done}/{len(names)})", file=out, flush=True)
            except Exception as e:  # noqa: BLE001  (an OffrlError pickled back, or a worker that died)
                errors[futures[f]] = f"{type(e).__name__}: {e}" if not isinstance(e, OffrlError) else str(e)
                print(f"could not collect {futures[f]} ({done}/{len(names)}): {errors[futures[f]]}", file=out,
                      flush=True)
    return errors


def measured_rates(sweep: Sweep, states: list[RunState]) -> dict[str, tuple[float, str]]:
    """Seed-steps/s per throughput key from the sweep's finished runs (their ``final.json``)."""
    # key -> (seed-steps, wall s, machine, whether it shared its GPU) per run
    runs: dict[str, list[tuple[float, float, str, bool]]] = {}
    for config, st in zip(sweep.runs, states):
        fin = st.final or {}
        work = as_work(sweep.kind.work(config))
        wall, steps, seeds = fin.get("wall_time_s"), work.steps, fin.get("seeds")
        if st.state != "finished" or not wall or not steps or not seeds:
            continue
        # a run that shared its GPU counts the time it would have taken alone (its share of the GPU):
        # the estimates are for runs one after another, and runs sharing a GPU take turns on it
        share = st.device_share or 1.0
        # "shared" in the rate's wording: below 0.95, so that a run alone but for another's few seconds of
        # start-up or shutdown is not said to have shared its GPU
        # runs made before final.json named its machine; their folders may come from any machine
        runs.setdefault(work.key, []).append((float(steps) * len(seeds), float(wall) * share,
                                              fin.get("machine") or "machine not recorded", share < 0.95))
    rates = {}
    for key, done in runs.items():
        wall = sum(w for _, w, _, _ in done)
        if wall > 0:
            machines = "; ".join(sorted({m for _, _, m, _ in done}))
            shared = sum(s for *_, s in done)
            rates[key] = (sum(n for n, _, _, _ in done) / wall,
                          f"measured: {len(done)} finished run{'s' * (len(done) != 1)} of this sweep ({machines})"
                          + (f"; {shared} of them shared the GPU, counted by their share of it" if shared else ""))
    return rates


def estimate(sweep: Sweep, states: list[RunState]) -> tuple[list[float | None], dict[str, tuple[float, str]]]:
    """Seconds of training left per run (None where no rate is known) and the rate used per key."""
    measured = measured_rates(sweep, states)
    used: dict[str, tuple[float, str]] = {}
    seconds: list[float | None] = []
    for config, st in zip(sweep.runs, states):
        if st.state == "finished":
            seconds.append(0.0)
            continue
        work = as_work(sweep.kind.work(config))
        rate = measured.get(work.key) or recorded_rate(work)
        if rate is None:
            seconds.append(None)
            used.setdefault(work.key, (float("nan"), "no recorded rate"))
            continue
        used[work.key] = rate
        seconds.append(max(work.steps - st.step, 0) * len(config.seeds) / rate[0])
    return seconds, used


def jax_runs_on_cpu() -> bool | None:
    """Whether JAX's default backend in this process is (or would be) the CPU, told without starting a GPU
    backend (seconds, and most of a GPU's memory where JAX preallocates): JAX's own answer where its
    backends are up; else the first of ``JAX_PLATFORMS``; else whether JAX would find an accelerator plugin
    (where it looks: the ``jax_plugins`` namespace and entry points, and ``libtpu``): with none it runs on
    the CPU, with CUDA ones only where no GPU is visible (:func:`offrl.sweep.backends.visible_gpus`).
    None where this cannot be told (a ROCm or TPU plugin whose device was not looked for)."""
    try:
        import jax
        from jax._src import xla_bridge

        if xla_bridge.backends_are_initialized():
            return jax.default_backend() == "cpu"
        platforms = _jax_platforms()
    except Exception:  # noqa: BLE001  (a JAX without these internals: say nothing rather than guess)
        return None
    if platforms:
        return platforms.split(",")[0].strip().lower() == "cpu"
    import importlib.metadata
    import importlib.util
    import pkgutil

    plugins = {ep.name for ep in importlib.metadata.entry_points(group="jax_plugins")}
    try:
        import jax_plugins

        plugins |= {m.name for m in pkgutil.iter_modules(jax_plugins.__path__)}
    except ImportError:
        pass
    if importlib.util.find_spec("libtpu") is not None:
        plugins.add("libtpu")
    if not plugins:
        return True
    if all("cuda" in name for name in plugins):
        from offrl.sweep.backends import visible_gpus

        return not visible_gpus()
    return None


def _jax_platforms() -> str:
    """JAX's ``jax_platforms`` setting (``JAX_PLATFORMS``), "" when unset."""
    import jax

    return str(jax.config.jax_platforms or "").strip()


def _duration(s: float | None) -> str:
    if s is None:
        return "?"
    if 0 < s < 0.5:  # work left that rounds to nothing: "0 s" would read as none left
        return "<1 s"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


TIME_LEFT_HEAD = "est. left"  # the plan's time-left column
# said of an estimate from a recorded rate where JAX runs on the CPU: the column's name where all its
# estimates are such, else the mark of such a cell
AT_RECORDED_RATE = "(H100 rate)"


def _time_left(seconds: float | None) -> str:
    """A run's cell in the time-left column: a run that is not finished has work left (if only writing its
    ``final.json``), so never ``0 s``."""
    return "<1 s" if seconds == 0 else _duration(seconds)


def format_plan(sweep: Sweep, states: list[RunState], *, processes: int = 1, launch: str | None = None,
                cpu: bool | None = None) -> str:
    """The plan as text: a table of runs, a summary line, missing data, the estimate and its sources.

    ``launch``: how the launcher would run them with the options given (``one after another in one
    process``; :func:`offrl.sweep.cli.launch_wording`), default: the local backend's with ``processes``
    runs per GPU. ``cpu``: whether JAX runs on the CPU here (default: :func:`jax_runs_on_cpu`); the table
    and the estimate line then say which estimates come from recorded (H100) rates: the column is named
    ``est. left (H100 rate)`` where all of its estimates do, else those cells end in ``(H100 rate)``."""
    if launch is None:
        from offrl.sweep.cli import launch_wording

        launch = launch_wording(parallel=processes)
    seconds, used = estimate(sweep, states)
    recorded = {key for key, (rate, source) in used.items() if rate == rate and not source.startswith("measured")}
    if recorded and cpu is None:
        cpu = jax_runs_on_cpu()
    # the runs whose estimate is an H100 rate's on a machine that trains on the CPU: far too short there
    at_h100 = [bool(cpu) and st.state != "finished" and sec is not None
               and as_work(sweep.kind.work(config)).key in recorded
               for config, st, sec in zip(sweep.runs, states, seconds)]
    estimated = [sec is not None and st.state != "finished" for st, sec in zip(states, seconds)]
    whole_column = any(at_h100) and at_h100 == estimated
    time_head = f"{TIME_LEFT_HEAD} {AT_RECORDED_RATE}" if whole_column else TIME_LEFT_HEAD
    searched = sweep.searched
    columns = list(sweep.kind.columns(sweep.runs[0])) if sweep.runs else []
    head = ["#", "run id", *columns, *[k for k in searched if k not in columns], "seeds", "status", time_head]
    rows = []
    for i, (config, p, st, sec, h100) in enumerate(zip(sweep.runs, sweep.params, states, seconds, at_h100), start=1):
        cols = sweep.kind.columns(config)
        left = "-" if st.state == "finished" else _time_left(sec)
        if h100 and not whole_column:
            left += f" {AT_RECORDED_RATE}"
        row = [str(i), config.run_id, *cols.values(),
               *[_short(p[k]) if k in p else "" for k in searched if k not in cols],
               str(len(config.seeds)), st.describe(), left]
        rows.append(row)
    widths = [max(len(str(r[j])) for r in [head, *rows]) for j in range(len(head))]
    n = len(sweep.runs)
    if n == 1:
        launch = launch.removeprefix("one after another ")
    lines = [f"sweep {sweep.name!r}" + (f" ({sweep.path})" if sweep.path else "")
             + f": {n} run{'s' * (n != 1)}, {launch}, each training its "
             f"{len(sweep.runs[0].seeds) if sweep.runs else 0} seeds at once; results in {sweep.results_dir}"]
    if sweep.duplicates:
        lines.append(f"  ({sweep.duplicates} repeated configurations of the search run once)")
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    counts = {s: sum(st.state == s for st in states) for s in ("finished", "running", "partial", "started", "pending")}
    counted = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no runs"
    failed = sum(st.failure is not None and st.state in ("partial", "started", "pending") for st in states)
    if failed:
        counted += f"; {failed} failed when last run (the status column says why)"
    lines.append(counted)
    if note := other_code_note(states):
        lines.append(note)
    missing = [(c.run_id, m) for c, st in zip(sweep.runs, states) for m in st.missing]
    if missing:
        lines.append(f"WARNING: data missing for {len({r for r, _ in missing})} run(s); they are skipped until it is "
                     "there:")
        for line in dict.fromkeys(m for _, m in missing):
            lines.append(f"  {line}")
    left = [s for s, st in zip(seconds, states) if st.state != "finished"]
    if left:
        known = sum(s for s in left if s is not None)
        unknown = sum(s is None for s in left)
        text = f"estimated time left: {_duration(known)} on one accelerator, the runs one after another"
        if processes > 1:
            text += (f" ({processes} runs at once share it: its kernels run in turn, so only their "
                     "CPU-side work overlaps)")
        if unknown:
            text += f"; {unknown} run(s) without a rate"
        if any(source.startswith("measured") for _, source in used.values()):
            text += "; measured rates include compilation and evaluation, recorded ones are training alone"
        else:
            text += "; training alone (recorded rates), compilation and evaluation not included"
        if recorded and cpu:
            text += ("; recorded rates are H100 rates and this machine has no GPU (JAX runs on the CPU), "
                     "so expect far longer")
        lines.append(text)
        for key, (rate, source) in sorted(used.items()):
            lines.append(f"  {key}: " + (f"{rate:,.0f} seed-steps/s, {source}" if rate == rate else source))
    return "\n".join(lines)

