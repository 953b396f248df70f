"""The continual part of ``offrl report``: metrics table, score matrices, curves and a comparison.

``offrl report`` hands every run folder whose ``final.json``/``config.json`` says
``"kind": "continual"`` to :func:`continual_report`, which writes into the report folder:

* ``continual.md``: one row per (data, method) with PER, BWT, forgetting, forward transfer
  (Continual World's, against a from-scratch reference run, and GEM's, against the initial scores)
  and anytime average performance, each ``mean [lower, upper]`` over seeds with bootstrap CIs, or with fewer
  than 3 seeds the mean and its seed count ``mean (n=2)`` (*data*: a stream and its data quality,
  ``cheetah-vel/medium``; runs on other data are never pooled or compared);
* ``continual_summary.json``: the same numbers, machine-readable;
* per row ``continual_matrix_<data>_<method>.png`` (the score matrix p[k, i], mean over seeds) and
  ``continual_curves_<data>_<method>.png`` (every task's score over the stream), and
  ``continual_comparison.png`` (PER / BWT / forgetting of every row) when there are several rows.

Definitions and conventions: :mod:`offrl.evaluation.continual` and ``docs/continual.md``.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from offrl.atomic import atomic_file
from offrl.errors import ConfigError, OffrlError, UnknownIdError
from offrl.evaluation import stats
from offrl.evaluation.continual import (
    MIN_INTERVAL_SEEDS,
    CW_WINDOW,
    ContinualRun,
    Estimate,
    difference_interval,
    forward_transfer_interval,
    learner_lead,
    load_continual_run,
    per_seed_metrics,
    pooled_difference_interval,
    seed_interval,
    task_auc,
)
from offrl.evaluation.results import (
    RunResult,
    SeedConflict,
    _override_parts,
    _show,
    data_split_warning,
    distinct_prefix_length,
    run_labels,
    rows_without_seed_conflicts,
)
from offrl.logging import atomic_write_json
from offrl.provenance import code_versions

__all__ = ["DEFAULT_REFERENCE_METHODS", "ContinualGroup", "continual_data_keys", "continual_report",
           "group_continual_runs", "stream_digest"]

#: Methods whose runs train every task from scratch: the reference of Continual World's forward
#: transfer (its single-task runs).
DEFAULT_REFERENCE_METHODS: tuple[str, ...] = ("scratch", "single_task")

# Table columns: (metric key, header).
_COLUMNS: tuple[tuple[str, str], ...] = (
    ("per", "PER"),
    ("bwt", "BWT"),
    ("forgetting", "forgetting"),
    ("fwt", "FWT (CW)"),
    ("fwt_gem", "FWT (GEM)"),
    ("anytime", "anytime AP"),
)

# continual_config fields that say where or how a run computed or was recorded, not what it trained or how
# it was evaluated (the trainer leaves them out of run ids, offrl.continual.trainer.NOT_HASHED; checkpoints
# and concurrent kernels change no score): they never split runs of the same method into separate rows.
_BOOKKEEPING = frozenset({"seeds", "run_id", "out", "out_dir", "results_dir", "resume", "use_wandb",
                          "wandb", "project", "group", "name", "tags", "notes", "progress", "eval_workers",
                          "data_root", "eval_learner", "checkpoint", "concurrent_kernels", "deterministic"})
# ... and the fields a row's data names (its key), not its label
_DATA_FIELDS = frozenset({"stream", "quality"})


@dataclass(eq=False)  # compared by identity: the fields hold arrays
class ContinualGroup:
    """All seeds of one (data, method variant), possibly from several runs, stacked on a seed
    axis; ``curves`` columns are the union of the runs' eval steps (NaN where a run has none)."""

    stream: str
    data: str
    """the stream and its data quality (:attr:`ContinualRun.data`), with ``[stream=<digest prefix>]`` where runs
    on that data recorded different stream definitions (:func:`continual_data_keys`): the first half of the
    row's key."""
    label: str
    method: str
    runs: list[ContinualRun]
    tasks: list[str]
    task_boundaries: np.ndarray
    eval_steps: np.ndarray
    seeds: list[int]
    curves: np.ndarray
    matrix: np.ndarray
    initial: np.ndarray
    identity: str
    """the method and every override it was trained with, whatever the other rows: the name the
    bootstrap streams of this row derive from, so that a label shortened because other rows share a
    setting (or lengthened because a new row does not) leaves this row's intervals as they were."""
    learner_curves: np.ndarray | None = None
    """the learner's curves (``eval_learner`` runs) when every run of the group has them."""

    @property
    def complete(self) -> bool:
        return all(r.complete for r in self.runs)


def _label_view(run: ContinualRun, data: str | None = None) -> RunResult:
    """The run as :func:`offrl.evaluation.results.run_labels` sees runs: ``(dataset, algo)`` =
    ``(data, method)`` (``data``: the run's data key, :func:`continual_data_keys`; default
    :attr:`ContinualRun.data`) and as recorded settings everything that changes what was trained, so runs
    pool into one row only when those agree (an ablation never averages into its baseline), and with the
    run's data checksums, so that runs on data collected again are never pooled either."""
    cfg = run.config
    continual_config = cfg.get("continual_config") or {}
    settings: dict = {"algo": run.algo, "tasks": run.tasks}
    if "steps_per_task" not in continual_config:  # else the boundaries follow from it and the tasks: one token
        settings["task_boundaries"] = run.task_boundaries.tolist()
    settings.update({f"method.{k}": v for k, v in (cfg.get("method_config") or {}).items()})
    settings.update({f"{run.algo or 'algo'}.{k}": v for k, v in (cfg.get("algo_config") or {}).items()})
    settings.update(_trainer_settings(continual_config))
    # the label names the base learner's and the method's overrides alike (`oer [dual=false hidden=64,64]`);
    # the method's recorded config (method.*) still tells apart runs whose overrides read the same
    overrides = [*(continual_config.get("hp") or []), *(continual_config.get("method_hp") or [])]
    return RunResult(
        run_id=run.run_id, path=run.path, algo=run.method, dataset=data or run.data, seeds=run.seeds,
        complete=run.complete, scores={},
        config={"algo_config": settings, "train_config": {"hp": overrides},
                "dataset_checksums": list(cfg.get("dataset_checksums") or [])},
    )


def stream_digest(config: dict) -> str | None:
    """The SHA-256 of the canonical JSON (sorted keys, no spaces) of the stream definition a run's
    ``config.json`` records (``stream_definition``: its tasks and their parameters as trained); None for a run
    that records none (older versions)."""
    definition = config.get("stream_definition")
    if definition is None:
        return None
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def continual_data_keys(runs: Sequence[ContinualRun]) -> dict[Path, str]:
    """The data each run's row is keyed by (keyed by run folder): :attr:`ContinualRun.data` (the stream and
    its quality), plus `` [stream=<digest prefix>]`` (:func:`stream_digest`, the shortest prefix of 8
    characters or more that tells them apart) on every run of a data whose runs recorded different stream
    definitions (a stream file edited between them: the same name, other tasks or task parameters).

    The definition goes into the data key, not only into the label, because the key decides what is compared
    as well as what is pooled: ``--versus`` sets a row against the other rows of its data, forward transfer
    takes its from-scratch reference on the same data, and runs of two definitions are different data. With
    a label token alone the rows of one definition would still meet the other's on one data key there. All
    the runs of such a data get the token, not only those of a method whose runs disagree: a method trained
    on the old definition only must not be compared with another trained on the new one only, while rows of
    one definition still compare with each other. A run that records no definition keeps the plain data: what
    it trained on is unknown, so it is pooled and compared only with runs that record none either."""
    digests = {r.path: stream_digest(r.config) for r in runs}
    by_data: dict[str, set[str]] = {}
    for r in runs:
        if digests[r.path] is not None:
            by_data.setdefault(r.data, set()).add(digests[r.path])
    sizes = {data: distinct_prefix_length(ds) for data, ds in by_data.items() if len(ds) > 1}
    return {r.path: r.data + (f" [stream={digests[r.path][:sizes[r.data]]}]"
                              if r.data in sizes and digests[r.path] is not None else "")
            for r in runs}


_STREAM_TOKEN = re.compile(r" \[stream=[0-9a-f]+\]$")


def stream_split_warning(keys: Iterable[tuple[str, str]]) -> str | None:
    """A sentence for a report whose rows (``(data, label)`` keys) include data split by the stream definition
    their runs recorded (:func:`continual_data_keys`), else None."""
    split: dict[str, list[str]] = {}
    for data, label in sorted(keys):
        if _STREAM_TOKEN.search(data):
            split.setdefault(data, []).append(label)
    if not split:
        return None
    rows = ", ".join(f"`{data}` ({', '.join(labels)})" for data, labels in split.items())
    return ("Runs on the same data recorded different stream definitions (the stream was edited between them: "
            "the same name, other tasks or task parameters), so they are neither pooled nor compared: each "
            f"definition's data is named by a digest prefix of its definition (stream=...): {rows}. Runs that "
            "record no definition keep the plain data name and are pooled and compared only with each other.")


def _bracketed(label: str) -> tuple[str, list[str]]:
    """``"oer [a=1 b=2]"`` -> ``("oer", ["a=1", "b=2"])``."""
    head, sep, rest = label.partition(" [")
    return (head, rest.removesuffix("]").split(" ")) if sep else (label, [])


def continual_labels(runs: Sequence[ContinualRun]) -> tuple[dict[Path, str], list[str], dict[str, list[str]]]:
    """A row label per run (keyed by run folder), the settings every run shares, and per method the
    method's own options every run of it shares.

    Labels are :func:`offrl.evaluation.results.run_labels`'s (the method plus its and the base learner's
    overrides), less the overrides that every run of the report has (a comparison of eight selection
    rules reads ``oer [selection=max_reward]``; the report names the shared settings once) and less the
    method's own options (``method_hp``) that every run of that method has (OER's CPU-sized ensemble
    beside ER rows without one); the base learner's overrides stay in a label unless every run shares
    them, since they tell methods apart, and a method with one row keeps its whole label. Dropping what
    a whole set of runs shares never makes two different rows one: runs of one method that differ keep
    a token that tells them apart."""
    data_keys = continual_data_keys(runs)
    labels = run_labels([_label_view(r, data_keys[r.path]) for r in runs])
    parts = [_bracketed(label)[1] for label in labels.values()]
    if any("=" not in t for p in parts for t in p):  # a value with a space in it: keep the labels whole
        return labels, [], {}
    shared = sorted(set.intersection(*(set(p) for p in parts))) if parts else []
    own: dict[str, set[str]] = {}  # per method: its method_hp tokens that all of its runs have, less `shared`
    rows_of: dict[str, set[str]] = {}
    for r in runs:
        tokens = {f"{k}={v}" for k, v in _override_parts((r.config.get("continual_config") or {})
                                                        .get("method_hp") or []).items()} - set(shared)
        own[r.method] = own[r.method] & tokens if r.method in own else tokens
        rows_of.setdefault(r.method, set()).add(labels[r.path])
    # only for a method with several rows: a lone row keeps its whole label
    method_shared = {m: sorted(t) for m, t in own.items() if t and len(rows_of[m]) > 1}
    out = {}
    for r in runs:
        head, tokens = _bracketed(labels[r.path])
        drop = set(shared) | set(method_shared.get(r.method, ()))
        kept = [t for t in tokens if t not in drop]
        out[r.path] = head + (" [" + " ".join(kept) + "]" if kept else "")
    return _name_row_differences(runs, out, data_keys), shared, method_shared


def _trainer_settings(continual_config: dict) -> dict:
    """A recorded ``continual_config`` less bookkeeping, data fields and the option strings (``hp``,
    ``method_hp``, which the label names from the parsed configs): the trainer's own settings."""
    return {k: v for k, v in continual_config.items()
            if k not in _BOOKKEEPING and k not in _DATA_FIELDS and k not in ("hp", "method_hp")}


def _row_settings(run: ContinualRun) -> dict[str, str]:
    """The trainer's own settings of a run that a row label may name (``steps_per_task``, ``eval_episodes``,
    ``batch_size``, ``heads``, ...: its recorded ``continual_config`` less bookkeeping, data and option
    strings) and its base learner, each as a label spells it. The batch size is the one the learner trained
    with (``algo_config``): records made before ``--hp batch_size=N`` also set ``continual_config``'s. The
    budget and the heads fall back on the record's top level (``steps_per_task``, ``heads``), which every
    continual record carries."""
    cfg = run.config
    out = {k: _show(v) for k, v in _trainer_settings(cfg.get("continual_config") or {}).items() if k != "method"}
    for k in ("steps_per_task", "heads"):
        if k not in out and cfg.get(k) is not None:
            out[k] = _show(cfg[k])
    trained = (cfg.get("algo_config") or {}).get("batch_size")
    if "batch_size" in out and trained is not None:
        out["batch_size"] = _show(trained)
    if run.algo:
        out["algo"] = run.algo
    return out


def _name_row_differences(runs: Sequence[ContinualRun], labels: dict[Path, str],
                          data_keys: dict[Path, str]) -> dict[Path, str]:
    """``labels`` with every trainer setting (:func:`_row_settings`) in which rows on one data differ, whatever
    their methods, named in each of those rows' labels where the label does not name it yet
    (``finetune [eval_episodes=2 steps_per_task=200]`` beside ``finetune [eval_episodes=3 hidden=32,32
    steps_per_task=400]``, and ``er [steps_per_task=1000]`` beside ``l2 [steps_per_task=2000]``): the option
    strings alone would hide them, and the report's header says the rows name what differs. A setting differs
    when the rows that record it recorded two or more values; a row that does not record it (a record older
    than the setting) names nothing for it. Rows on a data whose settings agree keep their short labels;
    adding what the runs' settings say never joins two rows or splits one (runs of one row that differ in a
    setting are already told apart by :func:`offrl.evaluation.results.run_labels`)."""
    rows: dict[str, dict[str, list[ContinualRun]]] = {}
    for r in runs:
        rows.setdefault(data_keys[r.path], {}).setdefault(labels[r.path], []).append(r)
    out = dict(labels)
    for by_label in rows.values():
        if len(by_label) < 2:
            continue
        settings = {label: [_row_settings(r) for r in members] for label, members in by_label.items()}
        values: dict[str, set[str]] = {}
        for ss in settings.values():
            for s in ss:
                for k, v in s.items():
                    values.setdefault(k, set()).add(v)
        differ = sorted(k for k, vs in values.items() if len(vs) > 1)
        for label, members in by_label.items():
            head, tokens = _bracketed(label)
            named = {t.partition("=")[0] for t in tokens}
            extra = []
            for k in differ:
                mine = next((s[k] for s in settings[label] if k in s), None)
                if k not in named and mine is not None:
                    extra.append(f"{k}={mine}")
            if extra:
                tokens = sorted([*tokens, *extra], key=lambda t: t.partition("=")[0])
                for r in members:
                    out[r.path] = f"{head} [{' '.join(tokens)}]"
    return out


def group_continual_runs(runs: Sequence[ContinualRun], labels: dict[Path, str] | None = None,
                         left_out: list[SeedConflict] | None = None) -> dict[tuple[str, str], ContinualGroup]:
    """Group runs by ``(data, label)`` (data: :func:`continual_data_keys`, the stream and its data quality, and
    the stream definition where runs of the same stream name recorded different ones;
    ``labels``, default :func:`continual_labels`: the method plus the settings its runs differ in, and the
    data's checksums where runs of one setting trained on different data, as
    :func:`offrl.evaluation.results.run_labels` labels single-task runs) and stack their seeds; sorted by
    data then label.

    A seed never counts twice: a group two of whose runs trained a seed in common is left out
    (:func:`offrl.evaluation.results.seed_conflict`), appended to ``left_out`` when given, else issued as a
    warning."""
    if labels is None:
        labels = continual_labels(runs)[0]
    data_keys = continual_data_keys(runs)
    by_key: dict[tuple[str, str], list[ContinualRun]] = {}
    for r in runs:
        by_key.setdefault((data_keys[r.path], labels[r.path]), []).append(r)
    groups: dict[tuple[str, str], ContinualGroup] = {}
    for key, members in rows_without_seed_conflicts(by_key, left_out):
        first = members[0]
        steps = np.array(sorted({int(s) for r in members for s in r.eval_steps}), dtype=np.int64)
        col = {int(s): t for t, s in enumerate(steps)}
        def on_steps(r, values):
            c = np.full((len(r.seeds), len(steps), first.num_tasks), np.nan)
            c[:, [col[int(s)] for s in r.eval_steps], :] = values
            return c

        curves = [on_steps(r, r.curves) for r in members]
        with_learner = all(r.learner_curves is not None for r in members)
        groups[key] = ContinualGroup(
            identity=run_labels([_label_view(first)])[first.path],
            stream=first.stream, data=key[0], label=key[1], method=first.method, runs=members, tasks=list(first.tasks),
            task_boundaries=first.task_boundaries, eval_steps=steps,
            seeds=[s for r in members for s in r.seeds],
            curves=np.concatenate(curves), matrix=np.concatenate([r.matrix for r in members]),
            initial=np.concatenate([r.initial for r in members]),
            learner_curves=(np.concatenate([on_steps(r, r.learner_curves) for r in members])
                            if with_learner else None),
        )
    return groups


# The trainer settings two rows on one data must share for a number that sets one against the other to
# measure the method alone: the budget (steps per task), the base learner and its configuration, the batch
# size, the task heads, the observation normalisation and the evaluation protocol. One rule for the
# from-scratch reference of FWT (CW) and for the differences of `--versus`. The method's own options are not
# among them: they are what a comparison of rows compares.
_COMPARED_SETTINGS = ("algo", "steps_per_task", "batch_size", "heads", "normalize", "eval_every", "eval_episodes",
                      "eval_seed")
_NOT_RECORDED = "not recorded"


def _learner_settings(run: ContinualRun) -> dict[str, str]:
    """The base learner as configured: its recorded ``algo_config``, plus each ``--hp`` override whose field
    the record does not hold (records of older versions, which kept the option string alone); an override
    that the recorded config holds is read from the config, so that one written out at its default is no
    difference."""
    cfg = run.config
    recorded = cfg.get("algo_config") or {}
    out = {k: _show(v) for k, v in recorded.items()}
    overrides = _override_parts((cfg.get("continual_config") or {}).get("hp") or [])
    out.update({k: v for k, v in overrides.items() if k not in recorded})
    return out


def _compared_settings(g: ContinualGroup) -> dict[str, str]:
    run = g.runs[0]  # the runs of one row agree in what a row label or the pooling tells apart
    row = _row_settings(run)
    out = {k: row.get(k, _NOT_RECORDED) for k in _COMPARED_SETTINGS}
    if out["batch_size"] == _NOT_RECORDED and "batch_size" in (run.config.get("algo_config") or {}):
        out["batch_size"] = _show(run.config["algo_config"]["batch_size"])
    return out


def _setting_differences(a: ContinualGroup, b: ContinualGroup) -> list[tuple[str, str, str]]:
    """The trainer settings in which two rows differ beyond their method and its options, as ``(setting,
    a's value, b's value)``: the budget (``steps_per_task``, else the task boundaries), the tasks, the base
    learner (``algo``, then the fields of its configuration and its ``--hp`` overrides: only when both rows
    use the same one), the batch size, ``heads``, ``normalize`` and the evaluation protocol (``eval_every``,
    ``eval_episodes``, ``eval_seed``). A setting only one of the rows records reads ``not recorded`` and
    differs: what the other row used is unknown. Empty when a number that sets one row against the other
    measures the method alone: the rule of Continual World's forward-transfer reference and of ``--versus``."""
    mine, theirs = _compared_settings(a), _compared_settings(b)
    out = [(k, mine[k], theirs[k]) for k in _COMPARED_SETTINGS if mine[k] != theirs[k]]
    if mine["algo"] == theirs["algo"]:
        la, lb = _learner_settings(a.runs[0]), _learner_settings(b.runs[0])
        out += [(k, la.get(k, _NOT_RECORDED), lb.get(k, _NOT_RECORDED)) for k in sorted(set(la) | set(lb))
                if k != "batch_size" and la.get(k) != lb.get(k)]
    if not any(k == "steps_per_task" for k, _, _ in out) and not np.array_equal(a.task_boundaries, b.task_boundaries):
        out.append(("task_boundaries", _show(a.task_boundaries.tolist()), _show(b.task_boundaries.tolist())))
    if a.tasks != b.tasks:
        out.append(("tasks", ",".join(a.tasks), ",".join(b.tasks)))
    return out


def _differences_text(differences: Sequence[tuple[str, str, str]]) -> str:
    """``steps_per_task 100 vs 200, eval_every 50 vs 100``."""
    return ", ".join(f"{k} {x} vs {y}" for k, x, y in differences)


def _pick_reference(g: ContinualGroup, references: list[ContinualGroup]) -> ContinualGroup | None:
    """The from-scratch run that Continual World's forward transfer of ``g`` is measured against: same data,
    and no trainer setting that differs (:func:`_setting_differences`: tasks and budget, base learner and
    evaluation protocol)."""
    same = [r for r in references if r.data == g.data and not _setting_differences(g, r)]
    # the reference without hyperparameter overrides first, then by label
    same.sort(key=lambda r: (r.label != r.method, r.label))
    return same[0] if same else None


def _status(g: ContinualGroup) -> str:
    if g.complete:
        return "complete"
    finished = min(r.tasks_finished for r in g.runs)
    steps = [r.last_step for r in g.runs if not r.complete and r.last_step is not None]
    where = f", step {max(steps)}" if steps else ", no eval yet"
    return f"incomplete ({finished}/{len(g.tasks)} tasks{where})"


def _cell(est: Estimate | None, total_seeds: int) -> str:
    """A metric's table cell: ``mean [lower, upper]``; with fewer than :data:`MIN_INTERVAL_SEEDS` seeds the
    mean alone, with its seed count ``(n=k)`` where a row has two or more seeds (a one-seed row's value stands
    alone, as before); ``(n=k)`` also marks a metric that only k of a row's seeds define."""
    if est is None:
        return "–"
    if est.defined and est.n_seeds < MIN_INTERVAL_SEEDS:
        text = f"{est.point:.2f}"
        if est.n_seeds < total_seeds or est.n_seeds > 1:
            text += f" (n={est.n_seeds})"
        return text
    text = est.format()
    if est.defined and est.n_seeds < total_seeds:
        text += f" (n={est.n_seeds})"
    if est.defined and est.n_seeds > 1 and est.n_reference_seeds is not None and est.n_reference_seeds < 2:
        text += " (reference: 1 seed)"  # the interval then holds this row's spread only, not the reference's
    return text


def _slug(s: str) -> str:
    from offrl.report import _slug as report_slug  # one file-name rule for every report figure

    return report_slug(s)


def _seed_mean(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a cell no seed has stays NaN
        return np.nanmean(a, axis=0)


# the metrics a comparison against one row reports (higher is better for both)
_VERSUS_METRICS: tuple[tuple[str, str], ...] = (("per", "PER"), ("bwt", "BWT"))


def _versus_groups(groups: dict[tuple[str, str], ContinualGroup], wanted: str,
                   left_out: Sequence[SeedConflict] = (),
                   ambiguous: dict[str, list[ContinualGroup]] | None = None) -> dict[str, ContinualGroup]:
    """The row ``wanted`` names on each data (stream and quality): a row label as the table prints it
    (``oer [dual=false]``), else a method's row without overrides (its label is the method's name), else the
    method's one row on that data whatever its label (``er [steps_per_task=1000]`` where the rows of that data
    differ in their budget): each data on its own, since a label names what differs among the rows of its
    data. A data where the method has several rows and none is named is left out, appended to ``ambiguous``
    when given. Raises when no data has it (saying so, with the folders and seeds, where the row was left out
    because two of its runs trained the same seeds: ``left_out``), or when the method has several rows on a
    data and no data has one to take (the message lists their labels to choose from)."""
    by_data: dict[str, ContinualGroup] = {}
    several: dict[str, list[ContinualGroup]] = {}
    for data in sorted({d for d, _ in groups}):
        rows = [g for (d, _), g in groups.items() if d == data]
        named = ([g for g in rows if g.label == wanted]
                 or [g for g in rows if g.method == wanted and g.label == g.method]
                 or [g for g in rows if g.method == wanted])
        if len(named) == 1:
            by_data[data] = named[0]
        elif named:
            several[data] = named
    if several and not by_data:
        data, rs = sorted(several.items())[0]
        raise ConfigError(f"--versus {wanted!r}: {wanted} has {len(rs)} rows on {data} ("
                          + ", ".join(repr(g.label) for g in rs) + "); name one as the table prints it")
    if ambiguous is not None:
        ambiguous.update(several)
    if not by_data:
        # the row exists but was left out: say so and why, rather than call it unknown (the report, which would
        # carry the warning, is not written)
        dropped = [c for c in left_out if wanted in (c.key[1], _bracketed(c.key[1])[0])]
        if dropped:
            raise ConfigError(f"--versus {wanted!r}: no row to compare against; "
                              + "; ".join(c.message() for c in dropped))
        raise UnknownIdError("row to compare against (--versus)", wanted, {label for _, label in groups})
    return by_data


# seeds each side needs for a verdict: with 2, a bootstrap interval is the span of the two seeds' values (or
# differences), so any two seeds that agree in sign would read as a difference "at 95%"; the rule of the
# intervals the tables show
MIN_VERDICT_SEEDS = MIN_INTERVAL_SEEDS
# marks a difference between rows trained with other settings than the method's (_setting_differences)
_OTHER_SETTINGS = "‡"
_OTHER_SETTINGS_VERDICT = "no verdict (other settings)"


def _verdict(est: Estimate, pct: str, comparable: bool = True) -> str:
    if not est.defined:
        return "–"
    if not comparable:
        return _OTHER_SETTINGS_VERDICT
    if est.n_seeds < MIN_VERDICT_SEEDS or (est.n_reference_seeds or 0) < MIN_VERDICT_SEEDS:
        return f"no verdict (fewer than {MIN_VERDICT_SEEDS} seeds)"
    if est.lower > 0:
        return "higher"
    if est.upper < 0:
        return "lower"
    return f"no difference at {pct}"


def _versus_cell(est: Estimate, pct: str, fewest_seeds: int | None = None,
                 comparable: bool = True) -> tuple[str, dict, str]:
    """A difference's table cell (``† `` where its rows were not paired, ``‡`` where they were trained with
    other settings, :func:`_setting_differences`: no verdict then), its JSON and its verdict.

    ``fewest_seeds``: the fewest seeds either side has on one data set (default: the estimate's own counts).
    As in the metrics table, the interval is shown from :data:`MIN_INTERVAL_SEEDS` seeds a side on; with fewer
    the cell gives the difference and that count, ``(n=2)``, or ``(1 seed)`` for one: a bootstrap of one seed
    only repeats it (its interval would look certain), and of two spans just their two values."""
    verdict = _verdict(est, pct, comparable)
    mark = (" †" if est.paired is False else "") + ("" if comparable else f" {_OTHER_SETTINGS}")
    if fewest_seeds is None:
        fewest_seeds = min(est.n_seeds, est.n_reference_seeds if est.n_reference_seeds is not None else est.n_seeds)
    if fewest_seeds < 2:
        spread = " (1 seed)"
    elif not est.shows_interval or fewest_seeds < MIN_INTERVAL_SEEDS:
        spread = f" (n={fewest_seeds})"
    else:
        spread = f" [{est.lower:.2f}, {est.upper:.2f}]"
    cell = "–" if not est.defined else f"{est.point:+.2f}{spread}{mark} {verdict}".rstrip(" –")
    return cell, {**est.as_dict(), "verdict": verdict}, verdict


def _differences_json(differences: Sequence[tuple[str, str, str]]) -> dict[str, list[str]]:
    return {k: [x, y] for k, x, y in differences}


def _versus_section(groups, values, wanted: str, *, reps: int, ci: float, seed: int,
                    paired: bool = True) -> tuple[list[str], list[dict], list[dict]]:
    """Markdown and JSON rows: ``wanted`` minus every other row on the same data, per metric (paired by
    seed where the rows' seeds allow it, unless ``paired`` is False), then the JSON rows of the same
    differences averaged across data sets. A row trained with other settings than ``wanted``'s beyond the
    method and its options (:func:`_setting_differences`) keeps its difference, marked ``‡`` and without a
    verdict, and a note names each such setting with both values: that difference is not the method's."""
    pct = f"{ci:.0%}"
    md = [f"## {wanted} against every other row", "",
          f"Each cell: `{wanted}` minus the row on the same data (stream and quality), mean over seeds, with a "
          f"{pct} bootstrap interval over seeds, "
          + ("paired: where both rows have the same seeds the difference is taken seed by seed and the seeds "
             "resampled together (a seed starts from the same parameters and meets the same evaluation episodes "
             "in every row, so two rows' values of one seed are not independent); a cell marked † compares rows "
             "with different seeds, whose seeds are resampled independently" if paired else
             "resampling each row's seeds independently (pairing by seed turned off)")
          + f"; with fewer than {MIN_INTERVAL_SEEDS} seeds a side the difference stands alone with the fewest "
          "seeds a side has, `(n=2)` (`(1 seed)`), as in the metrics table; *higher* / *lower* when the interval "
          "excludes 0. Higher is better for both (BWT below 0 is forgetting). A cell marked "
          f"{_OTHER_SETTINGS} compares rows trained with other settings (budget, base learner, batch size, heads, "
          "normalization or evaluation protocol; the notes below name them): its difference is not the "
          "method's alone, and it gets no verdict.", ""]
    header = ["data", "row", *(f"{h}: {wanted} - row" for _, h in _VERSUS_METRICS)]
    md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out: list[dict] = []
    lines: list[str] = []
    notes: list[str] = []
    ambiguous: dict[str, list[ContinualGroup]] = {}
    mine = _versus_groups(groups, wanted, ambiguous=ambiguous)
    for data, rs in sorted(ambiguous.items()):
        lines.append(f"`{data}`: {wanted} has {len(rs)} rows here (" + ", ".join(g.label for g in rs)
                     + "); name one as the table prints it to compare them.")
    for data, v in sorted(mine.items()):
        others = [(key, g) for key, g in groups.items() if key[0] == data and g is not v]
        worse_on_per: list[str] = []
        unjudged: list[str] = []
        for key, g in others:
            differences = _setting_differences(v, g)
            cells = [f"`{data}`", g.label]
            entry: dict = {"versus": v.label, "data": data, "stream": v.stream, "row": g.label,
                           "comparable": not differences, "differs": _differences_json(differences),
                           "metrics": {}}
            for k, _ in _VERSUS_METRICS:
                # bootstrap streams named by the stream (not the data), as they were before rows were keyed by data
                est = difference_interval(values[(data, v.label)][k], values[key][k],
                                          seeds=v.seeds if paired else None, other_seeds=g.seeds if paired else None,
                                          key=f"{v.stream}|{v.identity}-{g.identity}|{k}", reps=reps, ci=ci, seed=seed)
                cell, entry["metrics"][k], verdict = _versus_cell(est, pct, comparable=not differences)
                cells.append(cell)
                if k == "per" and differences:
                    unjudged.append(g.label)
                elif k == "per" and verdict != "higher":
                    worse_on_per.append(f"{g.label} ({verdict})")
            md.append("| " + " | ".join(cells) + " |")
            out.append(entry)
            if differences:
                notes.append(f"{_OTHER_SETTINGS} `{data}`: {v.label} against {g.label} sets apart rows trained with "
                             f"other settings: {_differences_text(differences)}.")
        judged = len(others) - len(unjudged)
        if not others:
            lines.append(f"`{data}`: no other row to compare with.")
        elif not judged:
            lines.append(f"`{data}`: no other row trained with the same settings as {v.label} to compare with.")
        elif not worse_on_per:
            of = " of those trained with the same settings" if unjudged else ""
            lines.append(f"`{data}`: {v.label} has the highest PER, above every other row{of} (each interval at "
                         f"{pct}, not adjusted for the {judged} comparisons).")
        else:
            lines.append(f"`{data}`: {v.label} is not above every row on PER; not above: " + ", ".join(worse_on_per) + ".")
        if unjudged:
            lines[-1] += (f" Not judged, trained with other settings ({_OTHER_SETTINGS}): " + ", ".join(unjudged)
                          + ".")
    md += ["", *[f"- {x}" for x in lines + notes], ""]
    across, across_md = _versus_across_data(groups, values, wanted, mine, reps=reps, ci=ci, seed=seed,
                                            paired=paired)
    return md + across_md, out, across


def _versus_across_data(groups, values, wanted: str, mine: dict[str, ContinualGroup], *, reps: int, ci: float,
                        seed: int, paired: bool) -> tuple[list[dict], list[str]]:
    """``wanted`` (its row on each data: ``mine``) minus each row that shares two or more data sets with it,
    averaged over those data sets (:func:`offrl.evaluation.continual.pooled_difference_interval`): one
    answer per row where the per-data intervals each hold 0 or disagree. A row trained with other settings
    than ``wanted``'s on some of those data sets is marked ``‡``, without a verdict, as in the per-data table."""
    pct = f"{ci:.0%}"
    shared: dict[str, list[str]] = {}
    for (data, label), g in groups.items():
        if data in mine and g is not mine[data]:
            shared.setdefault(label, []).append(data)
    rows = {label: sorted(ds) for label, ds in shared.items() if len(ds) >= 2}
    if not rows:
        return [], []
    header = ["row", "data sets", *(f"{h}: {wanted} - row" for _, h in _VERSUS_METRICS)]
    md = [f"### {wanted} against every other row, across data sets", "",
          f"Each cell: the mean over the data sets both rows have (each weighs alike, on the normalized scale) of "
          f"`{wanted}` minus the row, with a {pct} bootstrap interval that resamples every data set's seeds "
          "within it" + (", paired by seed as above" if paired else "") + ".", "",
          "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out: list[dict] = []
    notes: list[str] = []
    for label, datas in sorted(rows.items()):
        differs = {data: _setting_differences(mine[data], groups[(data, label)]) for data in datas}
        differs = {data: d for data, d in differs.items() if d}
        entry: dict = {"versus": wanted, "data": datas, "row": label, "comparable": not differs,
                       "differs": {data: _differences_json(d) for data, d in differs.items()}, "metrics": {}}
        cells = [label, str(len(datas))]
        for k, _ in _VERSUS_METRICS:
            comparisons = []
            for data in datas:
                v, g = mine[data], groups[(data, label)]
                comparisons.append((values[(data, v.label)][k], values[(data, label)][k],
                                    v.seeds if paired else None, g.seeds if paired else None))
            v0 = mine[datas[0]]
            est = pooled_difference_interval(comparisons, key=f"across|{v0.identity}-{label}|{k}",
                                             reps=reps, ci=ci, seed=seed)
            # the seeds total over data sets, but each data set is resampled on its own: its fewest count
            fewest = min(int(np.sum(~np.isnan(np.asarray(side, dtype=np.float64)))) for c in comparisons
                         for side in c[:2])
            cell, entry["metrics"][k], _ = _versus_cell(est, pct, fewest, comparable=not differs)
            cells.append(cell)
        md.append("| " + " | ".join(cells) + " |")
        out.append(entry)
        for data, d in differs.items():
            notes.append(f"{_OTHER_SETTINGS} {label}: on `{data}`, {mine[data].label} against {label} sets apart rows "
                         f"trained with other settings: {_differences_text(d)}.")
    md += ["", f"Data sets: {', '.join(f'`{d}`' for d in sorted({d for ds in rows.values() for d in ds}))}; a row on "
           "fewer of them than the others averages over its own (the *data sets* column)." +
           (" † marks a row some of whose data sets were not paired." if paired else ""), "",
           *[f"- {n}" for n in notes], *([""] if notes else [])]
    return out, md


def continual_report(
    runs: Sequence[ContinualRun | str | Path],
    out_dir: str | Path,
    *,
    reference_methods: Sequence[str] = DEFAULT_REFERENCE_METHODS,
    last_n: int = CW_WINDOW,
    reps: int = 50_000,
    curve_reps: int = 2_000,
    ci: float = 0.95,
    seed: int = 0,
    plots: bool = True,
    row_plots: bool = True,
    versus: Sequence[str] = (),
    versus_paired: bool = True,
    left_out: list[SeedConflict] | None = None,
) -> Path:
    """Write the continual report for ``runs`` (loaded runs or run folders) into ``out_dir``.

    Args:
      reference_methods: methods whose runs train each task from scratch; a run of one of them on
        the same data, trained with the same settings (:func:`_setting_differences`: tasks and budget, base
        learner, batch size, heads, normalization and evaluation protocol), is the reference of Continual
        World's forward transfer (``FWT (CW)``); without one that column is ``–``.
      last_n: evaluations averaged at each end of forgetting (Continual World: 5).
      reps: bootstrap replicates of the metric CIs; curve_reps: of the curve bands.
      ci: confidence level; seed: bootstrap seed (each metric of each row has its own stream).
      plots: write the PNGs.
      row_plots: with ``plots``, also each row's matrix and curves (two PNGs a row); off, the comparison
        figure alone, e.g. for a report kept in version control.
      versus: rows to compare against every other row on the same data (a method, or a row label as
        the table prints it): differences of PER and BWT with bootstrap CIs and a verdict each; a difference
        with a row trained with other settings than the method's (the rule of the FWT (CW) reference) is
        marked ``‡``, without a verdict, and a note names those settings with both values.
      versus_paired: take those differences seed by seed where both rows have the same seeds
        (:func:`offrl.evaluation.continual.difference_interval`); False resamples each row independently.
      left_out: rows left out because two of their runs trained the same seed are appended here (they are
        named in a warning, in ``continual.md`` and on stderr, and every other row is reported).

    Returns the path of ``continual.md``.
    """
    if not 0 < ci < 1:
        raise ConfigError(f"ci must be in (0, 1), got {ci}")
    if reps < 1 or curve_reps < 1:
        raise ConfigError("reps and curve_reps must be >= 1")
    loaded: list[ContinualRun] = []
    for r in runs:
        if isinstance(r, ContinualRun):
            loaded.append(r)
            continue
        try:
            loaded.append(load_continual_run(r))
        except OffrlError as e:  # one broken run does not hide the others
            warnings.warn(f"skipping {r}: {e}", stacklevel=2)
    if not loaded:
        raise OffrlError("no readable continual runs")
    labels, shared, method_shared = continual_labels(loaded)
    conflicts: list[SeedConflict] = []
    groups = group_continual_runs(loaded, labels, conflicts)
    if left_out is not None:
        left_out += conflicts
    references = [g for g in groups.values() if g.method in set(reference_methods)]
    out = Path(out_dir)
    from offrl.report import check_report_folder, remove_stale_figures, report_figures

    check_report_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    pct = f"{ci:.0%}"

    rows: list[dict] = []
    estimates: dict[tuple[str, str], dict[str, Estimate]] = {}
    per_seed: dict[tuple[str, str], dict[str, np.ndarray]] = {}  # per-seed metric values per row
    for wanted in versus:  # a misspelt row, or one left out, fails before any bootstrap
        _versus_groups(groups, wanted, conflicts)
    from offrl.cli import progress_bars_shown

    # a bar only for enough rows to wait on, and only on a terminal (in a log its redraws stay as stray
    # lines); never disable=False: it overrides TQDM_DISABLE
    quiet = {"disable": True} if len(groups) < 4 or not progress_bars_shown() else {}
    for key, g in tqdm(groups.items(), desc="continual metrics", leave=False, **quiet):
        values = per_seed_metrics(g.matrix, initial=g.initial, curves=g.curves, eval_steps=g.eval_steps,
                                  task_boundaries=g.task_boundaries, last_n=last_n)
        per_seed[key] = values
        if g.learner_curves is not None:
            values["learner_lead"] = learner_lead(g.curves, g.learner_curves, g.eval_steps, g.task_boundaries)
        est = {k: seed_interval(v, key=f"{g.stream}|{g.identity}|{k}", reps=reps, ci=ci, seed=seed)
               for k, v in values.items()}
        ref = None if g in references else _pick_reference(g, references)
        if ref is not None:
            est["fwt"] = forward_transfer_interval(
                task_auc(g.curves, g.eval_steps, g.task_boundaries),
                task_auc(ref.curves, ref.eval_steps, ref.task_boundaries),
                key=f"{g.stream}|{g.identity}|fwt", reps=reps, ci=ci, seed=seed,
            )
        estimates[key] = est
        rows.append({"group": g, "reference": ref, "estimates": est})

    # ------------------------------------------------------------------ markdown
    md = ["# offrl continual report", ""]
    n_runs = len(loaded)
    md.append(
        (f"Every run was trained with {' '.join(f'`{t}`' for t in shared)}; the rows name what else differs. "
         if shared else "") +
        "".join(f"Every `{m}` row was also trained with {' '.join(f'`{t}`' for t in tokens)}. "
                for m, tokens in sorted(method_shared.items())) +
        f"{n_runs} continual run(s), {len(groups)} data x method row(s) (data: a stream and its data quality; "
        "runs on other data are never pooled or compared). Scores are normalized (0 = "
        "random, 100 = expert on each task). Each cell is the mean over seeds with a "
        f"{pct} bootstrap percentile interval ({reps} replicates resampling whole seeds); with fewer than "
        f"{MIN_INTERVAL_SEEDS} seeds the mean stands alone, `(n=2)` giving its seed count (a one-seed row's value "
        "is that seed's): a bootstrap of one seed only repeats it, and of two spans just their two values; "
        "`(n=k)` also marks a metric that only k of a row's seeds define."
    )
    code_summary, code_warning = code_versions({r.run_id: r.config for r in loaded})
    for warning in (*(c.message() + "." for c in conflicts), stream_split_warning(groups), data_split_warning(groups),
                    code_warning):
        if warning:
            print(f"offrl report: warning: {warning}", file=sys.stderr)
            md += ["", f"> **Warning**: {warning}"]
    md += [
        "",
        "- **PER**: mean final score over all tasks, `1/N sum_i p[N-1,i]`.",
        "- **BWT**: `1/(N-1) sum_{i<N-1} (p[N-1,i] - p[i,i])`, negative when earlier tasks are forgotten (GEM).",
        f"- **forgetting**: Continual World's, `1/(N-1) sum_{{i<N-1}} (p_i(end of task i) - p_i(end))`, "
        f"each side the mean of the last {last_n} evaluations of that task's window.",
        "- **FWT (CW)**: Continual World's normalised forward transfer, `mean_i (AUC_i - AUC_i^b) / (1 - AUC_i^b)` "
        "over each task's own training window on the [0, 1] scale, against a run that trains each task from "
        f"scratch (method {', '.join(f'`{m}`' for m in reference_methods)} on the same data, trained with the same "
        "budget, base learner, batch size, heads, normalization and evaluation protocol).",
        "- **FWT (GEM)**: `1/(N-1) sum_{i>=1} (p[i-1,i] - initial[i])`, the zero-shot score gained before "
        "training a task.",
        "- **anytime AP**: mean over evaluation points of the mean score over the tasks seen so far.",
        "",
        "## Metrics",
        "",
    ]
    header = ["data", "method", "seeds", *(h for _, h in _COLUMNS), "status"]
    md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        g, ref, est = row["group"], row["reference"], row["estimates"]
        cells = [f"`{g.data}`", g.label, str(len(g.seeds))]
        for k, _ in _COLUMNS:
            if k == "fwt" and g in references:
                cells.append("reference")
            else:
                cells.append(_cell(est.get(k), len(g.seeds)))
        cells.append(_status(g))
        md.append("| " + " | ".join(cells) + " |")
    md.append("")
    notes = []
    if any(len(r["group"].tasks) == 1 for r in rows):
        notes.append("A one-task stream has no earlier task: BWT, forgetting and FWT (GEM) are undefined (–).")
    no_ref = [r["group"] for r in rows if r["reference"] is None and r["group"] not in references]
    if no_ref:
        # name the rows, not only their data: on data where other rows have a reference, the data alone misleads
        with_ref = {r["group"].data for r in rows if r["reference"] is not None}
        named = dict.fromkeys(f"`{g.data}`" if g.data not in with_ref else f"`{g.data}` / {g.label}"
                              for g in sorted(no_ref, key=lambda g: (g.data, g.label)))
        notes.append("FWT (CW) needs a from-scratch reference run on the same data and tasks, with the same budget, "
                     "base learner, batch size, heads, normalization and evaluation protocol; none for "
                     + ", ".join(named) + ".")
    for row in rows:
        if row["reference"] is not None:
            ref = row["reference"]
            notes.append(f"`{row['group'].data}` / {row['group'].label}: FWT (CW) against {ref.label} "
                         f"({len(ref.seeds)} seed(s): {', '.join(r.run_id for r in ref.runs)}).")
    md += [f"- {n}" for n in notes]
    if notes:
        md.append("")
    with_learner = [r for r in rows if "learner_lead" in r["estimates"]]
    if with_learner:
        md += ["## The learner against the deployed policy", "",
               "Runs trained with `eval_learner` scored the learner beside the policy they deploy (OER's clone). "
               "*Learner lead*: the learner's score minus the deployed policy's on the task just trained, at "
               f"the end of its training, averaged over tasks (mean over seeds, {pct} interval); above 0 the "
               "deployed policy trails what the learner reached on the new task.", "",
               "| data | method | seeds | learner lead |", "|---|---|---|---|"]
        md += [f"| `{r['group'].data}` | {r['group'].label} | {len(r['group'].seeds)} | "
               f"{_cell(r['estimates']['learner_lead'], len(r['group'].seeds))} |" for r in with_learner]
        md.append("")
    versus_rows: list[dict] = []
    versus_across: list[dict] = []
    for wanted in versus:
        section, entries, across = _versus_section(groups, per_seed, wanted, reps=reps, ci=ci, seed=seed,
                                                   paired=versus_paired)
        md += section
        versus_rows += entries
        versus_across += across

    # ------------------------------------------------------------------ figures
    figures: list[tuple[str, str]] = []
    if plots:
        from offrl.evaluation import continual_plots

        if len(rows) > 1:
            continual_plots.plot_method_comparison(estimates, out / "continual_comparison.png", ci=ci)
            figures.append(("PER, BWT and forgetting of every row", "continual_comparison.png"))
        for row in rows if row_plots else ():
            g = row["group"]
            stem = f"{_slug(g.data)}_{_slug(g.label)}"
            title = f"{g.data} / {g.label} ({len(g.seeds)} seed(s))"
            name = f"continual_matrix_{stem}.png"
            continual_plots.plot_task_matrix(_seed_mean(g.matrix), g.tasks, out / name, title=title)
            figures.append((f"`{g.data}` / {g.label}: score of task i after training task k (mean over seeds)", name))
            if len(g.eval_steps):
                curves = [stats.learning_curve(g.curves[:, :, i], reps=curve_reps, ci=ci, seed=seed)
                          for i in range(len(g.tasks))]
                name = f"continual_curves_{stem}.png"
                continual_plots.plot_task_curves(g.eval_steps, curves, g.tasks, g.task_boundaries, out / name,
                                                 title=title, ci=ci)
                figures.append((f"`{g.data}` / {g.label}: every task's score over the stream", name))
        md += ["## Plots", ""] if figures else []
        for title, name in figures:
            md += [f"### {title}", "", f"![{title}]({name})", ""]

    path = out / "continual.md"
    earlier_figures = report_figures(path, ("continual_",))
    with atomic_file(path) as tmp:
        tmp.write_text("\n".join(md), encoding="utf-8")
    remove_stale_figures(out, earlier_figures, [name for _, name in figures])
    atomic_write_json(out / "continual_summary.json", {
        "settings": {"forgetting_window": last_n, "reps": reps, "ci": ci, "seed": seed,
                     "reference_methods": list(reference_methods), "shared_by_every_run": shared,
                     "shared_by_every_row_of_method": method_shared},
        "rows": [
            {
                "stream": r["group"].stream, "data": r["group"].data, "method": r["group"].method, "label": r["group"].label,
                "tasks": r["group"].tasks, "seeds": r["group"].seeds, "complete": r["group"].complete,
                "runs": [x.run_id for x in r["group"].runs],
                "reference": r["reference"].label if r["reference"] is not None else None,
                "metrics": {k: e.as_dict() for k, e in r["estimates"].items()},
                "matrix_mean": _seed_mean(r["group"].matrix),
            }
            for r in rows
        ],
        "versus": versus_rows,
        "versus_across_data": versus_across,
        "code_versions": code_summary,
        "left_out": [c.as_dict() for c in conflicts],
    })
    return path
