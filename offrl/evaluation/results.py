"""Reading ``results/<run_id>/`` folders back into arrays for statistics and reports.

The layout (written by the trainer through :class:`offrl.logging.RunLogger`):

* ``config.json``: ``run_id``, ``algo``, ``dataset``, ``seeds``, ``algo_config``, ``train_config``,
  ``dataset_spec`` (its ``checksum`` names the data; a continual run records ``dataset_checksums``),
  ``offrl_version``, ``code`` (:mod:`offrl.provenance`; absent in runs of older versions).
* ``metrics.jsonl``: append-only lines ``{"kind", "step", "seed", "time", ...}``; eval lines carry
  ``return_mean``, ``return_std``, ``normalized_score`` (absent without reference scores) and
  ``episodes``. A resumed run drops the lines after its checkpoint before logging those steps
  again (:class:`offrl.logging.RunLogger`); should a file still hold the same ``(kind, seed, step)``
  twice (written by an older offrl), the LAST occurrence wins.
* ``final.json``: written once at the end, with per-seed ``last``/``best``/``curve`` of
  ``normalized_score`` (null without reference scores) and ``return``.

A run without ``final.json`` (still running or killed) is read from its ``metrics.jsonl`` and marked
incomplete. Published reference scores (``published_scores.csv``) are read here too.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from offrl.errors import ConfigError, DataIntegrityError, OffrlError, UnknownIdError

__all__ = [
    "Group",
    "RunResult",
    "SeedConflict",
    "SeedScores",
    "data_checksums",
    "data_split_warning",
    "distinct_prefix_length",
    "find_published_scores",
    "find_runs",
    "group_runs",
    "load_reference",
    "load_references",
    "load_run",
    "load_runs",
    "match_key",
    "PUBLISHED_COLUMNS",
    "published_rows",
    "read_metrics",
    "run_labels",
    "rows_without_seed_conflicts",
    "seed_conflict",
]

SCORE_KINDS = ("normalized_score", "return")


@dataclass
class SeedScores:
    """One score kind of a run, per seed: ``curve`` has shape ``(n_seeds, n_steps)`` (NaN where a
    seed has no eval at that step), ``last`` and ``best`` shape ``(n_seeds,)``."""

    eval_steps: np.ndarray
    curve: np.ndarray
    last: np.ndarray
    best: np.ndarray


@dataclass
class RunResult:
    """One run folder, read back.

    ``scores`` maps ``"normalized_score"`` and/or ``"return"`` to :class:`SeedScores`; a run has the
    normalized score only when its dataset has reference scores.
    """

    run_id: str
    path: Path
    algo: str
    dataset: str
    seeds: list[int]
    complete: bool
    scores: dict[str, SeedScores]
    config: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float | None = None
    steps: int | None = None
    machine: str = ""
    """the machine that finished the run, in words (final.json's ``machine``; empty if not named)."""
    finished_at: str = ""
    """when the run finished, UTC ISO 8601 (final.json's ``finished_at``; empty for runs made before it)."""

    @property
    def score_kind(self) -> str | None:
        """The score the report uses: ``normalized_score`` when present, else ``return``."""
        for kind in SCORE_KINDS:
            if kind in self.scores:
                return kind
        return None

    @property
    def budget(self) -> int | None:
        """Gradient steps the run was planned for (``train_config.steps``, else ``final.json``'s
        ``steps``); None when neither records it. Runs of different budgets are not comparable."""
        planned = (self.config.get("train_config") or {}).get("steps")
        for value in (planned, self.steps):
            try:
                return int(value)
            except (TypeError, ValueError):
                continue
        return None

    @property
    def last_step(self) -> int | None:
        """The latest eval step of any seed (progress of an incomplete run)."""
        kind = self.score_kind
        if kind is None or not len(self.scores[kind].eval_steps):
            return None
        return int(self.scores[kind].eval_steps[-1])


def _float(x: Any) -> float:
    if x is None:
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _read_json(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataIntegrityError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise DataIntegrityError(f"{path}: expected a JSON object")
    return obj


def read_metrics(path: Path, kind: str | None = None) -> list[dict]:
    """The records of a ``metrics.jsonl``, de-duplicated on ``(kind, seed, step)`` keeping the LAST
    occurrence (runs resumed by an older offrl re-logged the steps after their last checkpoint),
    sorted by kind, seed and step. With ``kind`` only records of that kind are returned.

    Lines that are not JSON objects with ``kind``/``step``/``seed`` (e.g. a line cut off when the run
    was killed) are skipped with a warning.
    """
    path = Path(path)
    latest: dict[tuple[str, int, int], dict] = {}
    bad = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                key = (str(rec["kind"]), int(rec["seed"]), int(rec["step"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                bad += 1
                continue
            if kind is not None and key[0] != kind:
                continue
            latest[key] = rec  # later lines overwrite earlier ones
    if bad:
        warnings.warn(f"{path}: skipped {bad} malformed line(s)", stacklevel=2)
    return [latest[k] for k in sorted(latest)]


def _scores_from_curves(eval_steps, curves: list, n_seeds: int) -> SeedScores:
    if eval_steps is None:  # a writer that left the steps out: index the evals instead
        eval_steps = np.arange(max((len(c) for c in curves if isinstance(c, list)), default=0))
    steps = np.asarray(eval_steps, dtype=np.int64).reshape(-1)
    curve = np.full((n_seeds, len(steps)), np.nan)
    for i, c in enumerate(curves[:n_seeds] if isinstance(curves, list) else []):
        vals = [_float(v) for v in (c if isinstance(c, list) else [])][: len(steps)]
        curve[i, : len(vals)] = vals
    last = np.full(n_seeds, np.nan)
    best = np.full(n_seeds, np.nan)
    return SeedScores(steps, curve, last, best)


def _seed_scores_from_final(block: Any, eval_steps, n_seeds: int) -> SeedScores | None:
    if not isinstance(block, dict):
        return None
    s = _scores_from_curves(eval_steps, block.get("curve") or [], n_seeds)
    for name in ("last", "best"):
        values = block.get(name)
        if isinstance(values, list) and len(values) == n_seeds:
            getattr(s, name)[:] = [_float(v) for v in values]
        elif s.curve.shape[1]:
            # fall back on the curve when a writer left the summary out
            getattr(s, name)[:] = _last_valid(s.curve) if name == "last" else _nanmax(s.curve)
    return s


def _last_valid(curve: np.ndarray) -> np.ndarray:
    out = np.full(curve.shape[0], np.nan)
    for i, row in enumerate(curve):
        ok = np.flatnonzero(~np.isnan(row))
        if len(ok):
            out[i] = row[ok[-1]]
    return out


def _nanmax(curve: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: a seed with no eval yet
        return np.nanmax(curve, axis=1) if curve.shape[1] else np.full(curve.shape[0], np.nan)


def _seed_scores_from_metrics(records: list[dict], seeds: list[int]) -> dict[str, SeedScores]:
    evals = [r for r in records if r.get("kind") == "eval"]
    out: dict[str, SeedScores] = {}
    steps = np.array(sorted({int(r["step"]) for r in evals}), dtype=np.int64)
    col = {int(s): j for j, s in enumerate(steps)}
    row = {s: i for i, s in enumerate(seeds)}
    for kind, field_name in (("normalized_score", "normalized_score"), ("return", "return_mean")):
        if not any(r.get(field_name) is not None for r in evals):
            continue
        curve = np.full((len(seeds), len(steps)), np.nan)
        for r in evals:
            if int(r["seed"]) in row:
                curve[row[int(r["seed"])], col[int(r["step"])]] = _float(r.get(field_name))
        out[kind] = SeedScores(steps, curve, _last_valid(curve), _nanmax(curve))
    return out


def is_run_dir(path: Path) -> bool:
    """A run folder holds ``config.json`` or ``final.json``."""
    return (path / "config.json").is_file() or (path / "final.json").is_file()


def load_run(path: Path) -> RunResult:
    """Read one run folder (complete from ``final.json``, else incomplete from ``metrics.jsonl``)."""
    path = Path(path)
    if not is_run_dir(path):
        raise OffrlError(f"{path} is not a run folder (no config.json or final.json)")
    config = _read_json(path / "config.json") if (path / "config.json").is_file() else {}
    final = _read_json(path / "final.json") if (path / "final.json").is_file() else None
    info = {**config, **(final or {})}
    missing = [k for k in ("algo", "dataset") if not info.get(k)]
    if missing:
        raise DataIntegrityError(f"{path}: config.json/final.json lack {missing}")
    metrics_path = path / "metrics.jsonl"
    records = read_metrics(metrics_path) if metrics_path.is_file() else []
    seeds = [int(s) for s in (info.get("seeds") or sorted({int(r["seed"]) for r in records}))]
    if final is not None:
        scores = {}
        for kind in SCORE_KINDS:
            s = _seed_scores_from_final(final.get(kind), final.get("eval_steps"), len(seeds))
            if s is not None:
                scores[kind] = s
        if not scores:  # a final.json without score blocks: fall back on the eval lines
            scores = _seed_scores_from_metrics(records, seeds)
    else:
        scores = _seed_scores_from_metrics(records, seeds)
    return RunResult(
        run_id=str(info.get("run_id") or path.name),
        path=path,
        algo=str(info["algo"]),
        dataset=str(info["dataset"]),
        seeds=seeds,
        complete=final is not None,
        scores=scores,
        config=config,
        wall_time_s=_float(final.get("wall_time_s")) if final else None,
        steps=int(final["steps"]) if final and final.get("steps") is not None else None,
        machine=str((final or {}).get("machine") or ""),
        finished_at=str((final or {}).get("finished_at") or ""),
    )


def find_runs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Run folders among ``paths``: each path is a run folder or a folder searched recursively for
    run folders (not descending into a run folder, skipping hidden folders such as ``.wandb``). Links to
    folders are followed (a folder of links to runs kept elsewhere is a report's input like any other),
    each real folder searched once, so a link loop ends."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise OffrlError(f"{p}: no such file or directory")
        if is_run_dir(p):
            found.append(p)
            continue
        searched: set[str] = set()
        for root, dirs, _files in os.walk(p, followlinks=True):
            if (real := os.path.realpath(root)) in searched:
                dirs[:] = []
                continue
            searched.add(real)
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            r = Path(root)
            if r != p and is_run_dir(r):
                found.append(r)
                dirs[:] = []
    out: list[Path] = []
    seen: set[Path] = set()
    for f in found:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            out.append(f)
    _refuse_copies(out)
    return out


def _run_id_of(path: Path) -> str:
    for name in ("config.json", "final.json"):
        try:
            run_id = json.loads((path / name).read_text()).get("run_id")
        except (OSError, ValueError, AttributeError):
            continue
        if run_id:
            return str(run_id)
    return path.name


def _refuse_copies(run_dirs: list[Path]) -> None:
    """Two folders of one run id (a copy of a run kept beside its rerun, an archive unpacked twice) would
    pool the same seeds twice into one row, narrowing every interval: refused, naming the folders."""
    by_id: dict[str, list[Path]] = {}
    for d in run_dirs:
        by_id.setdefault(_run_id_of(d), []).append(d)
    copies = {k: v for k, v in by_id.items() if len(v) > 1}
    if copies:
        lines = [f"  {k}: " + ", ".join(str(p) for p in v) for k, v in sorted(copies.items())]
        raise ConfigError("the same run id is in more than one folder, so its seeds would count twice; give "
                          "the folders of one copy only (or links to the runs to report):\n" + "\n".join(lines))


@dataclass
class SeedConflict:
    """A report row left out because two of its runs trained a seed in common.

    ``key`` is the row (``(dataset, label)``, or a continual report's ``(data, label)``), ``runs`` the run ids
    it would have pooled and ``twice`` each pair of run folders with the seeds both trained."""

    key: tuple[str, str]
    runs: list[str]
    twice: list[tuple[str, str, list[int]]]

    def message(self) -> str:
        """One line for a report's warnings and stderr, naming the folders and seeds."""
        pairs = "; ".join(f"{a} and {b}: seed(s) {', '.join(map(str, seeds))}" for a, b, seeds in self.twice)
        return (f"{self.key[1]} on `{self.key[0]}` is left out: runs of the same settings trained the same seeds, "
                f"which would count twice ({pairs}); report one of them (give the folders to report, or move the "
                "other out)")

    def as_dict(self) -> dict[str, Any]:
        """The conflict for a summary JSON."""
        return {"dataset": self.key[0], "label": self.key[1], "runs": self.runs,
                "seeds_twice": [{"runs": [a, b], "seeds": seeds} for a, b, seeds in self.twice]}


def seed_conflict(key: tuple[str, str], members: Sequence[Any]) -> SeedConflict | None:
    """The seeds that two runs pooled into one report row (``members``, each with ``seeds``, ``run_id`` and
    ``path``) both trained, or None when every seed comes from one run only. The same configuration under two
    run ids (e.g. one with ``--run-id``, or one from a sweep and one from the command line) would count those
    seeds twice and narrow every interval."""
    owner: dict[int, Any] = {}
    twice: dict[tuple[str, str], list[int]] = {}
    for r in members:
        for seed in r.seeds:
            if int(seed) in owner and owner[int(seed)] is not r:
                first = owner[int(seed)]
                twice.setdefault((str(first.path), str(r.path)), []).append(int(seed))
            owner.setdefault(int(seed), r)
    if not twice:
        return None
    return SeedConflict(key, [str(r.run_id) for r in members], [(a, b, seeds) for (a, b), seeds in twice.items()])


def rows_without_seed_conflicts(by_key: Mapping[tuple[str, str], Sequence[Any]],
                                left_out: list[SeedConflict] | None) -> Iterable[tuple[tuple[str, str], list]]:
    """``(key, runs sorted by run id)`` of each report row, in key order, less the rows two of whose runs
    trained a seed in common (:func:`seed_conflict`): those are appended to ``left_out`` when given (a report
    names them), else issued as a warning. The one rule of the single-task and the continual report."""
    for key in sorted(by_key):
        members = sorted(by_key[key], key=lambda r: r.run_id)
        if (conflict := seed_conflict(key, members)) is not None:
            if left_out is None:
                warnings.warn(conflict.message(), stacklevel=3)
            else:
                left_out.append(conflict)
            continue
        yield key, members


def load_runs(paths: Iterable[str | os.PathLike]) -> list[RunResult]:
    """:func:`find_runs` then :func:`load_run` on each; a folder that cannot be read is skipped
    with a warning so one broken run does not hide the others. Raises if nothing is found."""
    paths = list(paths)
    dirs = find_runs(paths)
    runs = []
    for d in dirs:
        try:
            runs.append(load_run(d))
        except OffrlError as e:
            warnings.warn(f"skipping {d}: {e}", stacklevel=2)
    if not runs:
        raise OffrlError("no runs found under " + ", ".join(map(str, paths)))
    return runs


@dataclass
class Group:
    """All seeds of one (dataset, algorithm variant), possibly from several runs.

    ``algo`` is the registered algorithm, ``label`` the variant (:func:`run_labels`): the algorithm
    plus the hyperparameters its runs changed. ``score_kind`` is ``normalized_score`` only when every
    run has it (scores of different kinds do not mix). ``curve`` rows are seeds, columns the union of
    the runs' eval steps.
    """

    dataset: str
    algo: str
    runs: list[RunResult]
    score_kind: str | None
    seeds: list[int]
    eval_steps: np.ndarray
    curve: np.ndarray
    last: np.ndarray
    best: np.ndarray
    label: str = ""

    def __post_init__(self):
        self.label = self.label or self.algo

    @property
    def complete(self) -> bool:
        return all(r.complete for r in self.runs)

    @property
    def budget(self) -> int | None:
        """The training budget (gradient steps) shared by the group's runs; None when unknown.
        :func:`run_labels` keeps runs of different known budgets in different groups."""
        known = {r.budget for r in self.runs} - {None}
        return known.pop() if len(known) == 1 else None


def _override_parts(pairs: Sequence[str]) -> dict[str, str]:
    """``["lr=3e-4", "hidden=256,256"]`` -> {name: value}, numbers and booleans in one spelling
    (``3e-4`` and ``0.0003`` agree), anything else as written; the last of a repeated name wins.
    Not :func:`offrl.train.parse_overrides`: a report reads runs of any offrl version, whose names the
    algorithm registry may no longer know, and needs only a spelling to compare, not typed values."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, _, raw = str(pair).partition("=")
        raw = raw.strip()
        for number in (int, float):
            try:
                raw = repr(number(raw))
                break
            except ValueError:
                pass
        else:
            raw = raw.lower() if raw.lower() in ("true", "false") else raw
        out[name.strip()] = raw
    return out


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _recorded_values(run: RunResult, name: str) -> tuple[tuple[str, str], ...]:
    """The run's recorded config values an override ``name`` sets: the field ``name`` itself, or a
    prefixed ``<part>.name`` (a continual run records its method's and base learner's fields so);
    empty when the run records none."""
    settings = run.config.get("algo_config") or {}
    return tuple(sorted((k, _show(v)) for k, v in settings.items() if k == name or k.endswith("." + name)))


def data_checksums(config: dict[str, Any]) -> tuple[str, ...]:
    """The checksums of the data a run trained on, as its ``config.json`` records them: a continual run's
    ``dataset_checksums`` (one per task, empty where the source gives none), else ``dataset_spec.checksum``.
    Empty when the run records none (runs of older versions)."""
    if "dataset_checksums" in config:
        recorded = tuple(str(c or "") for c in config.get("dataset_checksums") or [])
    else:
        recorded = (str((config.get("dataset_spec") or {}).get("checksum") or ""),)
    return recorded if any(recorded) else ()


# shortest checksum prefix a label shows: enough to tell regenerated data apart at a glance
_CHECKSUM_PREFIX = 8


def distinct_prefix_length(values: Iterable[str], minimum: int = _CHECKSUM_PREFIX) -> int:
    """The shortest prefix length, ``minimum`` or more in steps of 4, at which the hex digests ``values`` all
    differ: a label shows that prefix, long enough to tell them apart, short enough to read."""
    values = set(values)
    size = minimum
    while len({v[:size] for v in values}) < len(values):
        size += 4
    return size


def _data_tokens(members: Sequence[RunResult]) -> dict[Path, str]:
    """Per run of one would-be row, the ``data=`` value naming its data when the runs that record their data
    checksums (:func:`data_checksums`) trained on different data; empty when they agree. The value is the
    shortest prefix (8 characters or more) that tells the checksums apart, of the tasks whose data differ
    (joined by commas for a continual stream), ``none`` for a task without one. Runs that record no checksum
    get none: what they trained on is unknown, so they keep the plain label."""
    recorded = {r.path: data_checksums(r.config) for r in members}
    recorded = {path: sums for path, sums in recorded.items() if sums}
    if len(set(recorded.values())) < 2:
        return {}
    lengths = {len(sums) for sums in recorded.values()}
    if len(lengths) == 1:
        n = lengths.pop()
        where = [i for i in range(n) if len({sums[i] for sums in recorded.values()}) > 1]
    else:  # other task counts: every task's data names the run
        where = None
    size = distinct_prefix_length({v for sums in recorded.values() for v in sums if v})
    out = {}
    for path, sums in recorded.items():
        picked = sums if where is None else [sums[i] for i in where]
        out[path] = ",".join(v[:size] if v else "none" for v in picked)
    return out


_DATA_TOKEN = re.compile(r"[\[ ]data=([^ \]]+)")


def data_split_warning(keys: Iterable[tuple[str, str]]) -> str | None:
    """A sentence for a report whose rows (``(dataset, label)`` keys) include runs of one setting split by
    the data they trained on (a ``data=`` token in the label, :func:`run_labels`), else None."""
    split = sorted({(d, label) for d, label in keys if _DATA_TOKEN.search(label)})
    if not split:
        return None
    rows = ", ".join(f"{label} on `{d}`" for d, label in split)
    return ("Runs of the same setting trained on data with different checksums (the data were collected or "
            "converted again in between), so they are not pooled: each such row's label names its data by a "
            f"checksum prefix (data=...): {rows}. Runs that record no checksum keep the plain label.")


def run_labels(runs: Sequence[RunResult]) -> dict[Path, str]:
    """A report label per run (keyed by run folder): the algorithm, plus in brackets the
    hyperparameter overrides it was trained with (``dt [compute_dtype=bfloat16]``), less an override
    that only writes out a default (another run without it recorded the same value). Runs pool into
    one report row only when dataset and label agree, so an ablation never averages into its
    baseline. Where runs of one label were trained for different budgets (:attr:`RunResult.budget`),
    each gets ``steps=<budget>`` in its label, on every dataset alike, so that no row or aggregate
    pools runs of different lengths. Runs that would pool but recorded checksums of different data
    (:func:`data_checksums`: the data were collected or converted again between them) get ``data=<checksum
    prefix>`` so that no row mixes two data sets; a run that records none keeps its label. As a safety net,
    runs that would still pool but whose recorded algorithm config differs get the differing fields added
    too (fields every one of them records: a field that a newer offrl version added is not a difference)."""
    parts: dict[Path, dict[str, str]] = {}
    for r in runs:
        hp = (r.config.get("train_config") or {}).get("hp") or []
        parts[r.path] = _override_parts(hp)
    # an override that names what the run would have had anyway (a default written out: another run of the
    # algorithm, without that override, recorded the same value) is the same configuration, not a row of
    # its own; recorded values decide, so a default that changed between offrl versions still splits
    for r in runs:
        for name in list(parts[r.path]):
            mine = _recorded_values(r, name)
            if mine and any(o.algo == r.algo and name not in parts[o.path] and _recorded_values(o, name) == mine
                            for o in runs if o is not r):
                del parts[r.path][name]

    def label(r: RunResult) -> str:
        p = parts[r.path]
        return r.algo + (" [" + " ".join(f"{k}={v}" for k, v in sorted(p.items())) + "]" if p else "")

    by_label: dict[str, list[RunResult]] = {}
    for r in runs:
        by_label.setdefault(label(r), []).append(r)
    for members in by_label.values():
        if len({r.budget for r in members} - {None}) > 1:
            for r in members:
                if r.budget is not None:
                    parts[r.path]["steps"] = str(r.budget)  # the recorded budget wins over an override's

    pools: dict[tuple[str, str], list[RunResult]] = {}
    for r in runs:
        pools.setdefault((r.dataset, label(r)), []).append(r)
    for members in pools.values():
        for path, token in _data_tokens(members).items():
            parts[path]["data"] = token

    pools = {}
    for r in runs:
        pools.setdefault((r.dataset, label(r)), []).append(r)
    for members in pools.values():
        if len(members) < 2:
            continue
        settings = [r.config.get("algo_config") or {} for r in members]
        for k in sorted(set.intersection(*(set(s) for s in settings))):
            values = [_show(s[k]) for s in settings]
            if len(set(values)) > 1:
                for r, v in zip(members, values):
                    parts[r.path][k] = v  # the recorded value wins over an override's spelling
    return {r.path: label(r) for r in runs}


def group_runs(runs: Sequence[RunResult], left_out: list[SeedConflict] | None = None
               ) -> dict[tuple[str, str], Group]:
    """Group runs by ``(dataset, label)`` (:func:`run_labels`) and stack their seeds, sorted by
    dataset then label.

    A seed never counts twice: a group two of whose runs trained a seed in common (:func:`seed_conflict`)
    is left out, and the other groups are returned as usual. Each such conflict is appended to
    ``left_out`` when given (a report names them), else issued as a warning."""
    labels = run_labels(runs)
    by_key: dict[tuple[str, str], list[RunResult]] = {}
    for r in runs:
        by_key.setdefault((r.dataset, labels[r.path]), []).append(r)
    groups: dict[tuple[str, str], Group] = {}
    for key, members in rows_without_seed_conflicts(by_key, left_out):
        algo = members[0].algo
        kind = next((k for k in SCORE_KINDS if all(k in r.scores for r in members)), None)
        if kind is None:
            steps = np.zeros(0, dtype=np.int64)
            seeds = [s for r in members for s in r.seeds]
            n = len(seeds)
            groups[key] = Group(key[0], algo, members, None, seeds, steps, np.zeros((n, 0)),
                                np.full(n, np.nan), np.full(n, np.nan), label=key[1])
            continue
        steps = np.array(sorted({int(s) for r in members for s in r.scores[kind].eval_steps}), dtype=np.int64)
        col = {int(s): j for j, s in enumerate(steps)}
        curves, lasts, bests, seeds = [], [], [], []
        for r in members:
            sc = r.scores[kind]
            c = np.full((sc.curve.shape[0], len(steps)), np.nan)
            for j, s in enumerate(sc.eval_steps):
                c[:, col[int(s)]] = sc.curve[:, j]
            curves.append(c)
            lasts.append(sc.last)
            bests.append(sc.best)
            seeds += r.seeds[: sc.curve.shape[0]]
        groups[key] = Group(
            key[0], algo, members, kind, seeds, steps,
            np.concatenate(curves, axis=0), np.concatenate(lasts), np.concatenate(bests), label=key[1],
        )
    return groups


# --------------------------------------------------------------------------------------------------
# Published reference scores
# --------------------------------------------------------------------------------------------------


def match_key(algo: str, dataset: str) -> tuple[str, str]:
    """Key under which our runs and published rows are matched: the algorithm without punctuation
    (``td3_bc`` == ``td3bc``) and the dataset id without its source prefix
    (``d4rl/hopper-medium-v2`` == ``hopper-medium-v2``), both lower-case.

    Data made on this machine (``local/...``) keep their whole id: they are other data than a
    published table's even when named alike (``local/hopper-medium-v2`` is not D4RL's), so they
    match only rows recorded on local data (``offrl-local-v0``)."""
    dataset = dataset.lower()
    return (re.sub(r"[^a-z0-9]", "", algo.lower()),
            dataset if dataset.startswith("local/") else dataset.rsplit("/", 1)[-1])


def find_published_scores(path: str | os.PathLike | None = None) -> Path:
    """Locate ``published_scores.csv``: ``path``, else ``$OFFRL_PUBLISHED_SCORES``, else the copy
    shipped in the package assets, else ``shared/reference/published_scores.csv`` in the current
    folder, the package's checkout or any of their parents."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise OffrlError(f"reference scores file {p} not found")
        return p
    env = os.environ.get("OFFRL_PUBLISHED_SCORES")
    candidates = [Path(env).expanduser()] if env else []
    assets = Path(__file__).resolve().parents[1] / "assets"
    candidates += [assets / "reference" / "published_scores.csv", assets / "published_scores.csv"]
    for start in (Path.cwd().resolve(), Path(__file__).resolve().parent):
        for d in (start, *start.parents):
            candidates.append(d / "shared" / "reference" / "published_scores.csv")
    for c in candidates:
        if c.is_file():
            return c
    raise OffrlError(
        "published_scores.csv not found; pass its path (--reference-csv) or set OFFRL_PUBLISHED_SCORES"
    )


PUBLISHED_COLUMNS = ("source", "algo", "dataset", "mean", "std", "score", "ci_low", "ci_high", "seeds", "steps",
                     "code_version", "card", "date", "data_checksum", "command")
"""Columns of ``published_scores.csv``. The first five are required; the rest are optional (older rows
leave them empty): ``score`` says which per-seed score a row reports (``last`` or ``best``; empty: the
source's one convention, given in the file's header comments), the others describe rows we measured
ourselves (95% CI of the mean, seed count, gradient steps, offrl version, machine, date, checksum of
the dataset, the command)."""


def published_rows(path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Every row of ``published_scores.csv`` (:func:`find_published_scores`) as a dict of
    :data:`PUBLISHED_COLUMNS`, ``mean`` and ``std`` as floats (``std`` NaN when empty), missing
    optional columns as empty strings. Comment lines (``#``) and blank lines are skipped."""
    csv_path = find_published_scores(path)
    out = []
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(line for line in f if line.strip() and not line.startswith("#"))
        for row in reader:
            try:
                entry = {k: (row.get(k) or "").strip() for k in PUBLISHED_COLUMNS}
                entry.update(mean=float(row["mean"]), std=_float(row.get("std") or None))
                if not entry["source"] or not entry["algo"] or not entry["dataset"]:
                    raise ValueError("empty key")
                # a reference must be a number to compare with (a NaN mean would fail only after training);
                # an empty std stays NaN (no std published), a given one is finite and >= 0
                if not math.isfinite(entry["mean"]) or not (math.isnan(entry["std"]) or
                                                            (math.isfinite(entry["std"]) and entry["std"] >= 0)):
                    raise ValueError("mean not finite or std negative / infinite")
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise DataIntegrityError(f"{csv_path}: malformed row {row} ({e})") from None
            out.append(entry)
    return out


def load_reference(source: str, path: str | os.PathLike | None = None, *,
                   score: str | None = None) -> dict[tuple[str, str], tuple[float, float]]:
    """Published ``(mean, std)`` of one source id (e.g. ``corl-last``), keyed by :func:`match_key`.

    A source that records both scores (rows with ``score`` = ``last`` and ``best``) gives the rows
    of ``score`` (default ``last``); rows without a ``score`` are the source's only convention.
    Raises :class:`~offrl.errors.UnknownIdError` (with close matches) for an unknown source.
    """
    return _reference_table(published_rows(path), source, score or "last")


def load_references(source: str, path: str | os.PathLike | None = None
                    ) -> dict[str, dict[tuple[str, str], tuple[float, float]]]:
    """Every score convention of one source, from one read of the file: ``{"last": ..., "best": ...}``
    (as :func:`load_reference` gives each) for a source that records both, else ``{"last": ...}``."""
    rows = published_rows(path)
    recorded = {row["score"] for row in rows if row["source"] == source}
    scores = ("last", "best") if {"last", "best"} <= recorded else ("last",)
    return {score: _reference_table(rows, source, score) for score in scores}


def _reference_table(rows: list[dict[str, Any]], source: str, want: str) -> dict[tuple[str, str], tuple[float, float]]:
    tables: dict[str, dict[tuple[str, str], tuple[float, float]]] = {}
    for row in rows:
        table = tables.setdefault(row["source"], {})
        if row["score"] and row["score"] != want:
            continue
        table[match_key(row["algo"], row["dataset"])] = (row["mean"], row["std"])
    if source not in tables:
        from offrl.reproduce.targets import TARGETS

        if any(t.source == source for _, t in TARGETS.items()):  # a table of our own not recorded yet
            raise OffrlError(f"reference source {source!r} has no rows in the published scores yet: "
                             f"`offrl reproduce {source} --record` runs and records them (docs/reproduce.md)")
        raise UnknownIdError("reference source", source, tables)
    return tables[source]
