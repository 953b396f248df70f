"""Continual-learning metrics on the score matrix and curves of a continual run, with bootstrap CIs.

Pure NumPy (no JAX). Notation, as in the continual results contract (``docs/continual.md``):

* ``matrix[..., k, i]`` (``p[k, i]``): normalized score (0-100) of task ``i`` evaluated at the end of
  training task ``k``; shape ``(..., N, N)`` for a stream of ``N`` tasks.
* ``initial[..., i]``: score of task ``i`` before any training (step 0); shape ``(..., N)``.
* ``curves[..., t, i]``: score of task ``i`` at global step ``eval_steps[t]``; shape ``(..., T, N)``.
* ``task_boundaries``: ``[b_0, ..., b_N]`` global steps; task ``k`` trains during ``(b_k, b_{k+1}]``.
  An evaluation at step ``t`` belongs to the window of task ``k`` when ``b_k < t <= b_{k+1}``: the
  evaluation at a boundary ``b_{k+1}`` is the one at the end of task ``k``, the one at ``b_0`` (the
  initial evaluation) belongs to no window.

Every metric function accepts any leading axes (a seed axis, a bootstrap axis) and reduces only the
task and time axes, so ``average_performance(m)`` with ``m.shape == (seeds, N, N)`` gives one value
per seed. Missing evaluations are NaN, with one rule throughout: averages over *time* (the
evaluations of a window, the points of the anytime average) skip NaNs, averages over *tasks* do not
(a seed missing one task's score has no value for a metric over all tasks, since averaging over
fewer tasks would change what is measured). :func:`seed_interval` then leaves such seeds out and
reports how many seeds it used.

Sources of the definitions: GEM (Lopez-Paz & Ranzato, NeurIPS 2017) for average performance,
backward transfer and forward transfer against the initial scores, as Avalanche implements them
(``avalanche/evaluation/metrics/forgetting_bwt.py``, ``forward_transfer.py``); Continual World
(Wołczyk et al., NeurIPS 2021; ``continualworld/results_processing/tables.py`` at commit 73f63bb4)
for forgetting and normalised forward transfer; "Continual evaluation for lifelong learning"
(De Lange et al., ICLR 2023) for the anytime average.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from offrl.errors import ConfigError, DataIntegrityError, OffrlError
from offrl.evaluation import stats
from offrl.evaluation.results import _float, _read_json, read_metrics

__all__ = [
    "CW_WINDOW",
    "ContinualRun",
    "Estimate",
    "anytime_average_performance",
    "average_performance",
    "backward_transfer",
    "difference_interval",
    "pooled_difference_interval",
    "finished_windows",
    "forgetting",
    "forgetting_per_task",
    "forward_transfer",
    "forward_transfer_gem",
    "forward_transfer_interval",
    "forward_transfer_per_task",
    "is_continual_run",
    "learner_lead",
    "load_continual_run",
    "per_seed_metrics",
    "seed_interval",
    "task_auc",
    "task_of_eval",
    "window_matrix",
]

#: Evaluations averaged at each end of a forgetting measurement: Continual World's ``tail(5)``.
CW_WINDOW = 5


# --------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------


def _array(x, name: str) -> np.ndarray:
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:  # ragged nested lists, strings
        raise ConfigError(f"{name} is not a numeric array ({e})") from None


def _as_matrix(matrix) -> np.ndarray:
    p = _array(matrix, "matrix")
    if p.ndim < 2 or p.shape[-1] != p.shape[-2] or p.shape[-1] == 0:
        raise ConfigError(
            "matrix must have shape (..., num_tasks, num_tasks), matrix[k, i] = score of task i after "
            f"training task k; got shape {p.shape}"
        )
    return p


def _as_initial(initial, p: np.ndarray) -> np.ndarray:
    a = _array(initial, "initial")
    if a.shape != p.shape[:-1]:
        raise ConfigError(
            f"initial must have shape {p.shape[:-1]} (the matrix's leading axes, then one score per task); "
            f"got shape {a.shape}"
        )
    return a


def _as_steps(eval_steps, task_boundaries) -> tuple[np.ndarray, np.ndarray]:
    steps = _array(eval_steps, "eval_steps")
    bounds = _array(task_boundaries, "task_boundaries")
    if steps.ndim != 1 or (len(steps) > 1 and np.any(np.diff(steps) <= 0)):
        raise ConfigError(f"eval_steps must be a strictly increasing 1-D sequence of global steps, got {steps}")
    if bounds.ndim != 1 or len(bounds) < 2 or np.any(np.diff(bounds) <= 0):
        raise ConfigError(
            "task_boundaries must be [b_0, ..., b_N], strictly increasing, for N >= 1 tasks; "
            f"got {bounds}"
        )
    return steps, bounds


def _as_curves(curves, eval_steps, task_boundaries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps, bounds = _as_steps(eval_steps, task_boundaries)
    c = _array(curves, "curves")
    n = len(bounds) - 1
    if c.ndim < 2 or c.shape[-2:] != (len(steps), n):
        raise ConfigError(
            f"curves must have shape (..., num_eval_steps, num_tasks) = (..., {len(steps)}, {n}) for "
            f"{len(steps)} eval steps and {n} tasks; got shape {c.shape}"
        )
    return c, steps, bounds


def _check_window(last_n: int) -> int:
    if isinstance(last_n, bool) or int(last_n) != last_n or last_n < 1:
        raise ConfigError(f"last_n must be a positive integer, got {last_n!r}")
    return int(last_n)


def _nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    """Mean skipping NaNs; NaN (without a warning) where every entry is NaN."""
    counts = np.sum(~np.isnan(x), axis=axis)
    sums = np.nansum(x, axis=axis)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


# --------------------------------------------------------------------------------------------------
# Metrics on the matrix p[k, i]
# --------------------------------------------------------------------------------------------------


def average_performance(matrix) -> np.ndarray:
    """Average performance at the end of the stream (PER in OER, ACC in GEM and Avalanche).

    ``PER = (1/N) sum_i p[N-1, i]``: the mean score over all tasks at the end of the stream.
    Source: Lopez-Paz & Ranzato 2017 (GEM), eq. "ACC"; Avalanche's stream accuracy after the last
    experience (equal-sized experiences).
    """
    p = _as_matrix(matrix)
    return np.mean(p[..., -1, :], axis=-1)


def backward_transfer(matrix) -> np.ndarray:
    """Backward transfer ``BWT = 1/(N-1) sum_{i<N-1} (p[N-1, i] - p[i, i])``.

    Negative when earlier tasks are forgotten. Source: GEM (Lopez-Paz & Ranzato 2017); equals
    Avalanche's ``StreamBWT`` after the last experience (``forgetting_bwt.py``), which is minus the
    mean over the experiences trained before the last one of (score right after training it minus
    last score). Undefined for a one-task stream (no earlier task): NaN.
    """
    p = _as_matrix(matrix)
    n = p.shape[-1]
    if n < 2:
        return np.full(p.shape[:-2], np.nan)
    diag = np.diagonal(p, axis1=-2, axis2=-1)
    return np.mean(p[..., -1, :-1] - diag[..., :-1], axis=-1)


def forgetting_per_task(matrix) -> np.ndarray:
    """Per-task forgetting ``F_i = p[i, i] - p[N-1, i]`` for ``i < N-1``: shape ``(..., N-1)``.

    Continual World defines ``F_i`` as the score of task ``i`` at the end of its own training minus
    its score at the end of the stream. Pass :func:`window_matrix` of the curves to average each
    side over the last few evaluations as Continual World's code does (``tail(5)`` in
    ``calculate_forgetting_individual``); the plain matrix is the one-evaluation case.
    """
    p = _as_matrix(matrix)
    diag = np.diagonal(p, axis1=-2, axis2=-1)
    return diag[..., :-1] - p[..., -1, :-1]


def forgetting(matrix, *, include_last_task: bool = False) -> np.ndarray:
    """Average forgetting ``F = 1/(N-1) sum_{i<N-1} (p[i, i] - p[N-1, i])``.

    Forgetting as Continual World defines it (per-task drop from the end of the task's own training
    to the end of the stream; positive = forgotten), averaged over the ``N-1`` tasks that can be
    forgotten, which makes it ``-BWT`` on the same matrix, as in Avalanche's ``StreamForgetting``.
    Give :func:`window_matrix` of the curves (``last_n=5``) to measure each side as Continual World
    does. NaN for a one-task stream.

    ``include_last_task=True`` reproduces the number of Continual World's ``calculate_metrics``,
    which averages over all ``N`` task columns, the last one contributing its forgetting of exactly
    0 (both sides are the same evaluations): ``N-1``/``N`` times the default value.
    """
    p = _as_matrix(matrix)
    n = p.shape[-1]
    diag = np.diagonal(p, axis1=-2, axis2=-1)
    per_task = diag - p[..., -1, :]  # the last entry is 0 by construction
    if include_last_task:
        return np.mean(per_task, axis=-1)
    if n < 2:
        return np.full(p.shape[:-2], np.nan)
    return np.mean(per_task[..., :-1], axis=-1)


def forward_transfer_gem(matrix, initial) -> np.ndarray:
    """Forward transfer against the initial scores ``1/(N-1) sum_{i>=1} (p[i-1, i] - initial[i])``.

    The score on task ``i`` after training the task before it, minus its score before any training
    (zero-shot transfer). Source: GEM (Lopez-Paz & Ranzato 2017, their ``b_i`` = our ``initial``);
    Avalanche's ``StreamForwardTransfer`` (``forward_transfer.py``: the value recorded when the
    training experience is ``k-1`` minus the value at initialisation). NaN for a one-task stream.
    """
    p = _as_matrix(matrix)
    b = _as_initial(initial, p)
    n = p.shape[-1]
    if n < 2:
        return np.full(p.shape[:-2], np.nan)
    previous = np.diagonal(p[..., :-1, 1:], axis1=-2, axis2=-1)  # p[i-1, i] for i = 1..N-1
    return np.mean(previous - b[..., 1:], axis=-1)


# --------------------------------------------------------------------------------------------------
# Metrics on the curves
# --------------------------------------------------------------------------------------------------


def task_of_eval(eval_steps, task_boundaries) -> np.ndarray:
    """The task trained at each evaluation: ``k`` where ``b_k < step <= b_{k+1}``, else ``-1``.

    An evaluation at ``b_{k+1}`` is the end of task ``k``; one at or before ``b_0`` (the initial
    evaluation) or after ``b_N`` belongs to no task.
    """
    steps, bounds = _as_steps(eval_steps, task_boundaries)
    k = np.searchsorted(bounds, steps, side="left") - 1
    k[(steps <= bounds[0]) | (steps > bounds[-1])] = -1
    return k.astype(np.int64)


def learner_lead(curves, learner_curves, eval_steps, task_boundaries) -> np.ndarray:
    """How far a method's learner is ahead of the policy it deploys (OER's clone) on the task it has just
    learned: ``1/N sum_k (learner[b_{k+1}, k] - deployed[b_{k+1}, k])``, the two scores of task ``k`` at
    the end of its training, per seed (shape ``curves.shape[:-2]``). Positive: the deployed policy trails
    the learner (p[k, k] loses what the learner reached); NaN where an end-of-task evaluation is missing."""
    c, steps, bounds = _as_curves(curves, eval_steps, task_boundaries)
    lc, _, _ = _as_curves(learner_curves, eval_steps, task_boundaries)
    if lc.shape != c.shape:
        raise ConfigError(f"learner_curves {lc.shape} and curves {c.shape} must have the same shape")
    at = {int(st): t for t, st in enumerate(steps)}
    n = c.shape[-1]
    gaps = np.full((*c.shape[:-2], n), np.nan)
    for k in range(n):
        t = at.get(int(bounds[k + 1]))
        if t is not None:
            gaps[..., k] = lc[..., t, k] - c[..., t, k]
    return np.mean(gaps, axis=-1)


def finished_windows(curves, eval_steps, task_boundaries) -> np.ndarray:
    """``[..., k]``: whether the seed's record reaches the end of task ``k``'s window, i.e. it has a score
    at step ``b_{k+1}`` or later. A run stopped inside a window (killed, or still running) has not finished
    it, and the metrics over windows leave it out instead of taking a part of a window for the whole; a
    single missing evaluation inside a window the run went past does not count. Shape ``(..., N)``."""
    c, steps, bounds = _as_curves(curves, eval_steps, task_boundaries)
    seen = np.any(~np.isnan(c), axis=-1)  # (..., T)
    last = np.where(seen, steps, -1).max(axis=-1, initial=-1)  # the seed's last evaluated step
    return last[..., None] >= bounds[1:]


def window_matrix(curves, eval_steps, task_boundaries, last_n: int = CW_WINDOW) -> np.ndarray:
    """Matrix of window means: ``[..., k, i]`` = mean score of task ``i`` over the last ``last_n``
    evaluations of task ``k``'s window ``(b_k, b_{k+1}]``.

    This is how Continual World measures both ends of forgetting (``groupby(...).tail(5).mean()`` in
    ``calculate_forgetting_individual``), smoothing out evaluation noise. A window with fewer
    evaluations uses all it has; NaNs (missing evaluations) are skipped; a window without any
    evaluation, or one the seed's record stops inside (:func:`finished_windows`), gives a NaN row.
    With ``last_n=1`` and an evaluation at every task boundary this is the run's ``matrix``. Shape
    ``(..., N, N)``.
    """
    c, steps, bounds = _as_curves(curves, eval_steps, task_boundaries)
    last_n = _check_window(last_n)
    n = len(bounds) - 1
    k_of = task_of_eval(steps, bounds)
    done = finished_windows(c, steps, bounds)
    out = np.full(c.shape[:-2] + (n, n), np.nan)
    for k in range(n):
        idx = np.flatnonzero(k_of == k)[-last_n:]
        if len(idx):
            out[..., k, :] = np.where(done[..., k, None], _nanmean(c[..., idx, :], axis=-2), np.nan)
    return out


def task_auc(curves, eval_steps, task_boundaries, scale: float = 100.0) -> np.ndarray:
    """Area under each task's own training curve: ``[..., i]`` = mean over the evaluations in task
    ``i``'s window of task ``i``'s score, divided by ``scale`` (100: normalized scores to [0, 1]).

    Continual World's ``AUC_i`` (``calculate_forward_transfer``: the mean of ``current_success`` over
    the rows where ``train/active_env == i``); its success rates are already in [0, 1]. NaNs are
    skipped; a window without evaluations, or one the seed's record stops inside
    (:func:`finished_windows`), gives NaN. Shape ``(..., N)``.
    """
    c, steps, bounds = _as_curves(curves, eval_steps, task_boundaries)
    n = len(bounds) - 1
    k_of = task_of_eval(steps, bounds)
    done = finished_windows(c, steps, bounds)
    out = np.full(c.shape[:-2] + (n,), np.nan)
    for i in range(n):
        idx = np.flatnonzero(k_of == i)
        if len(idx):
            out[..., i] = np.where(done[..., i], _nanmean(c[..., idx, i], axis=-1), np.nan)
    return out / float(scale)


def forward_transfer_per_task(auc, reference_auc) -> np.ndarray:
    """Continual World's normalised forward transfer per task,
    ``FT_i = (AUC_i - AUC_i^b) / (1 - AUC_i^b)``.

    ``auc`` (``(..., seeds, N)``) is :func:`task_auc` of the continual run, ``reference_auc``
    (``(..., reference_seeds, N)``) that of a reference run that trains each task from scratch, both
    on the [0, 1] scale. As in Continual World's ``normalized_ft`` both are first averaged over their
    own seeds (the two runs' seeds are not paired), so the seed axis is reduced: the result has shape
    ``(..., N)``. 1-D inputs are one seed. ``FT_i`` is NaN where ``AUC_i^b >= 1`` (a reference at or
    above the expert score over its whole window leaves nothing to transfer; Continual World's
    success rates never reach it).
    """
    x = _array(auc, "auc")
    y = _array(reference_auc, "reference_auc")
    x = x[None] if x.ndim == 1 else x
    y = y[None] if y.ndim == 1 else y
    if x.ndim < 2 or y.ndim < 2 or x.shape[-1] != y.shape[-1] or 0 in (x.shape[-2], y.shape[-2]):
        raise ConfigError(
            "auc and reference_auc must have shapes (..., seeds, num_tasks) with the same tasks; got "
            f"{x.shape} and {y.shape}"
        )
    mx = np.mean(x, axis=-2)
    my = np.mean(y, axis=-2)
    room = 1.0 - my
    ok = room > 0
    return np.where(ok, (mx - my) / np.where(ok, room, 1.0), np.nan)


def forward_transfer(auc, reference_auc) -> np.ndarray:
    """Continual World's forward transfer of the stream: the mean over tasks of
    :func:`forward_transfer_per_task` (``total_normalized_ft`` in ``tables.py``)."""
    return np.mean(forward_transfer_per_task(auc, reference_auc), axis=-1)


def anytime_average_performance(curves, eval_steps, task_boundaries) -> np.ndarray:
    """Anytime average performance: the mean over evaluation points ``t`` of the average score over
    the tasks seen so far, the current one included:
    ``AP = (1/|P|) sum_{t in P} (1/(k_t+1)) sum_{i<=k_t} curves[t, i]``.

    ``P`` are the evaluations inside the training windows (``b_0 < t <= b_N``; the initial
    evaluation is not one) and ``k_t`` the task trained at ``t`` (:func:`task_of_eval`). It rewards
    keeping earlier tasks *throughout* the stream, not only at its end. This is the "average anytime
    accuracy" of De Lange et al. (ICLR 2023, "Continual evaluation for lifelong learning") on
    evaluation points instead of iterations. A point where a seen task's score is missing is
    skipped; NaN when no point is left, and for a seed whose record stops before the end of the stream
    (:func:`finished_windows`): the mean over a part of the stream is another quantity.
    """
    c, steps, bounds = _as_curves(curves, eval_steps, task_boundaries)
    n = len(bounds) - 1
    k_of = task_of_eval(steps, bounds)
    points = np.flatnonzero(k_of >= 0)
    if not len(points):
        return np.full(c.shape[:-2], np.nan)
    seen = np.arange(n)[None, :] <= k_of[points][:, None]  # (P, N)
    vals = np.where(seen, c[..., points, :], 0.0)  # unseen tasks' NaNs do not matter, seen ones do
    per_point = np.sum(vals, axis=-1) / np.sum(seen, axis=-1)
    return np.where(finished_windows(c, steps, bounds)[..., -1], _nanmean(per_point, axis=-1), np.nan)


def per_seed_metrics(
    matrix,
    *,
    initial=None,
    curves=None,
    eval_steps=None,
    task_boundaries=None,
    last_n: int = CW_WINDOW,
) -> dict[str, np.ndarray]:
    """Every per-seed metric of one run: name -> values with the matrix's leading (seed) axes.

    ``per``, ``bwt`` from the matrix; ``forgetting`` from :func:`window_matrix` of the curves with
    ``last_n`` (from the matrix without curves); ``fwt_gem`` with ``initial``; ``anytime`` with the
    curves. Forward transfer against a reference run pairs no seeds: see :func:`forward_transfer`.
    """
    p = _as_matrix(matrix)
    out = {"per": average_performance(p), "bwt": backward_transfer(p)}
    if curves is not None:
        if eval_steps is None or task_boundaries is None:
            raise ConfigError("curves need eval_steps and task_boundaries")
        c, steps, bounds = _as_curves(curves, eval_steps, task_boundaries)
        if c.shape[:-2] != p.shape[:-2] or c.shape[-1] != p.shape[-1]:
            raise ConfigError(f"curves {c.shape} and matrix {p.shape} disagree on seeds or tasks")
        out["forgetting"] = forgetting(window_matrix(c, steps, bounds, last_n))
        out["anytime"] = anytime_average_performance(c, steps, bounds)
    else:
        out["forgetting"] = forgetting(p)
    if initial is not None:
        out["fwt_gem"] = forward_transfer_gem(p, initial)
    return out


# --------------------------------------------------------------------------------------------------
# Confidence intervals over seeds
# --------------------------------------------------------------------------------------------------


# seeds a metric needs for its interval to be shown (tables, figures): a bootstrap of one seed only repeats
# it, and of two spans just their two values, which would read as a 95% interval
MIN_INTERVAL_SEEDS = 3


@dataclass(frozen=True)
class Estimate:
    """A metric over seeds: ``point`` (mean over seeds), the bootstrap interval ``[lower, upper]``,
    the number of seeds used (``n_seeds``; seeds with an undefined value are left out) and, for
    forward transfer, the reference run's seeds."""

    point: float
    lower: float
    upper: float
    n_seeds: int
    n_reference_seeds: int | None = None
    paired: bool | None = None
    """for a difference of two runs: whether it was taken seed by seed (:func:`difference_interval`)."""

    @property
    def defined(self) -> bool:
        return not math.isnan(self.point)

    @property
    def shows_interval(self) -> bool:
        """Whether tables and figures show the interval: a defined one from at least
        :data:`MIN_INTERVAL_SEEDS` seeds."""
        return (self.defined and self.n_seeds >= MIN_INTERVAL_SEEDS
                and not (math.isnan(self.lower) or math.isnan(self.upper)))

    def format(self, digits: int = 2) -> str:
        """``"mean [lower, upper]"``; the value alone with one seed (no interval), ``–`` if undefined, and
        ``"mean [–]"`` when the value is defined but some resamples are not (so the interval is not:
        :func:`forward_transfer_interval`)."""
        if not self.defined:
            return "–"
        if self.n_seeds < 2:
            return f"{self.point:.{digits}f}"
        if math.isnan(self.lower) or math.isnan(self.upper):
            return f"{self.point:.{digits}f} [–]"
        return f"{self.point:.{digits}f} [{self.lower:.{digits}f}, {self.upper:.{digits}f}]"

    def as_dict(self) -> dict[str, Any]:
        d = {"point": self.point, "lower": self.lower, "upper": self.upper, "n_seeds": self.n_seeds}
        if self.n_reference_seeds is not None:
            d["n_reference_seeds"] = self.n_reference_seeds
        if self.paired is not None:
            d["paired"] = self.paired
        return d


_UNDEFINED = Estimate(math.nan, math.nan, math.nan, 0)


def _bootstrap_seeds(
    arrays: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    key: str,
    reps: int,
    ci: float,
    seed: int | None,
) -> tuple[float, float, float]:
    """Point and percentile interval of ``statistic(*arrays)`` resampling whole seeds (rows).

    Reuses :func:`offrl.evaluation.stats.interval_estimates` on a one-column matrix of seed indices
    per array: a stratified bootstrap with one stratum resamples seeds with replacement, and the
    statistic then gathers each resampled seed's whole row (all tasks, all steps), so what one seed
    measured on different tasks stays together. Several arrays (a run and its reference) are
    resampled independently, as Continual World's ``BootstrapCI`` does.
    """
    index_columns = tuple(np.arange(len(a), dtype=np.float64)[:, None] for a in arrays)

    def on_indices(*columns: np.ndarray) -> np.ndarray:
        return statistic(*(a[c[..., 0].astype(np.intp)] for a, c in zip(arrays, columns)))

    points, intervals = stats.interval_estimates({key: index_columns}, on_indices, reps=reps, ci=ci, seed=seed)
    lo, hi = np.asarray(intervals[key], dtype=np.float64).reshape(2)
    return float(points[key]), float(lo), float(hi)


def seed_interval(values, *, key: str = "metric", reps: int = 50_000, ci: float = 0.95,
                  seed: int | None = 0) -> Estimate:
    """Mean over seeds of per-seed metric ``values`` (shape ``(seeds,)``) with a bootstrap CI.

    Seeds whose value is NaN (undefined, e.g. a missing evaluation) are left out and
    ``n_seeds`` says how many were used; without any, the estimate is undefined (NaN). ``key``
    names the random stream (see :func:`offrl.evaluation.stats.interval_estimates`), so each metric
    of each run gets its own reproducible resamples.
    """
    v = _array(values, "values").reshape(-1)
    v = v[~np.isnan(v)]
    if not len(v):
        return _UNDEFINED
    point, lo, hi = _bootstrap_seeds((v,), lambda x: np.mean(x, axis=-1), key, reps, ci, seed)
    return Estimate(point, lo, hi, len(v))


def difference_interval(values, other_values, *, seeds: Sequence[int] | None = None,
                        other_seeds: Sequence[int] | None = None, key: str = "difference",
                        reps: int = 50_000, ci: float = 0.95, seed: int | None = 0) -> Estimate:
    """Difference of two runs' means over seeds, ``mean(values) - mean(other_values)``, with a
    bootstrap CI over seeds.

    With ``seeds`` and ``other_seeds`` (the seed of each value) and the same seeds defined in both
    runs, the difference is *paired*: taken seed by seed and the seeds resampled together (a seed of
    the suite starts every method from the same parameters and meets the same evaluation episodes, so
    two rows' values of one seed are not independent draws, and their correlation may have either
    sign). Otherwise (no seeds given, different seed sets, a seed repeated within a run) each run's
    seeds are resampled independently. ``paired`` on the estimate says which was done.

    Seeds whose value is NaN are left out of their run; ``n_seeds`` and ``n_reference_seeds`` count
    the seeds kept of ``values`` and ``other_values``. Undefined (NaN) when either has none.
    """
    # one data set of the pooled form: one implementation of the pairing and the resampling
    return pooled_difference_interval([(values, other_values, seeds, other_seeds)], key=key, reps=reps, ci=ci,
                                      seed=seed)


def pooled_difference_interval(comparisons: Sequence[tuple], *, key: str = "difference", reps: int = 50_000,
                               ci: float = 0.95, seed: int | None = 0) -> Estimate:
    """The mean over several data sets of two rows' differences, with a stratified bootstrap CI.

    ``comparisons`` holds one ``(values, other_values, seeds, other_seeds)`` per data set, as
    :func:`difference_interval` takes them (``seeds`` None: not paired). The point is the mean over data
    sets of each one's difference of means (scores on the normalized scale, so data sets weigh alike);
    each replicate resamples every data set's seeds within that data set, paired by seed where its two
    rows have the same seeds, as :func:`difference_interval` would. ``paired`` is True when every data
    set was paired, False when none or only some were, None when no data set's seeds were given (pairing
    not asked for); ``n_seeds`` and ``n_reference_seeds`` total the seeds kept. Undefined when a data set
    has no defined seed on either side, or none is given.
    """
    arrays: list[np.ndarray] = []
    slices: list[slice] = []  # per data set: its one paired array, or its two unpaired ones
    n_x = n_y = 0
    paired_sets = 0
    asked = False  # some data set's seeds were given
    for values, other_values, seeds, other_seeds in comparisons:
        asked = asked or (seeds is not None and other_seeds is not None)
        x = _array(values, "values").reshape(-1)
        y = _array(other_values, "other_values").reshape(-1)
        keep_x, keep_y = ~np.isnan(x), ~np.isnan(y)
        if not keep_x.any() or not keep_y.any():
            return Estimate(math.nan, math.nan, math.nan, n_x + int(keep_x.sum()), n_y + int(keep_y.sum()))
        pairs = _seed_pairs(x, y, keep_x, keep_y, seeds, other_seeds)
        start = len(arrays)
        if pairs is not None:
            i, j = pairs
            arrays.append(x[i] - y[j])
            n_x, n_y, paired_sets = n_x + len(i), n_y + len(j), paired_sets + 1
        else:
            arrays += [x[keep_x], y[keep_y]]
            n_x, n_y = n_x + int(keep_x.sum()), n_y + int(keep_y.sum())
        slices.append(slice(start, len(arrays)))
    if not slices:
        return Estimate(math.nan, math.nan, math.nan, 0, 0)

    def mean_difference(*resampled: np.ndarray) -> np.ndarray:
        per_set = [np.mean(resampled[sl.start], axis=-1) if sl.stop - sl.start == 1 else
                   np.mean(resampled[sl.start], axis=-1) - np.mean(resampled[sl.start + 1], axis=-1) for sl in slices]
        return np.mean(per_set, axis=0)

    point, lo, hi = _bootstrap_seeds(tuple(arrays), mean_difference, key, reps, ci, seed)
    return Estimate(point, lo, hi, n_x, n_y, paired=(paired_sets == len(slices)) if asked else None)


def _seed_pairs(x, y, keep_x, keep_y, seeds, other_seeds) -> tuple[np.ndarray, np.ndarray] | None:
    """Indices into ``x`` and ``y`` of the same seeds, in one order, when both runs define exactly the
    same seeds (each once); else None."""
    if seeds is None or other_seeds is None:
        return None
    if len(seeds) != len(x) or len(other_seeds) != len(y):
        raise ConfigError(f"{len(seeds)} seeds for {len(x)} values, {len(other_seeds)} for {len(y)}")
    mine = {int(s): i for i, (s, k) in enumerate(zip(seeds, keep_x)) if k}
    theirs = {int(s): j for j, (s, k) in enumerate(zip(other_seeds, keep_y)) if k}
    repeated = len(set(map(int, seeds))) < len(seeds) or len(set(map(int, other_seeds))) < len(other_seeds)
    if repeated or set(mine) != set(theirs):
        return None
    order = sorted(mine)
    return np.array([mine[s] for s in order]), np.array([theirs[s] for s in order])


def forward_transfer_interval(auc, reference_auc, *, key: str = "fwt", reps: int = 50_000,
                              ci: float = 0.95, seed: int | None = 0) -> Estimate:
    """:func:`forward_transfer` of ``auc`` (``(seeds, N)``) against ``reference_auc``
    (``(reference_seeds, N)``) with a bootstrap CI that resamples the seeds of both runs
    independently (Continual World's ``BootstrapCI`` over X and Y).

    Seeds with a NaN AUC on any task are left out of their run. Undefined (NaN) when either run has
    no seed left or a task's reference AUC reaches 1. When the value is defined but some resamples'
    reference AUC reaches 1 (scores above the expert's), those resamples have no value and neither has
    the interval: its bounds are NaN (printed ``[–]``) rather than a percentile of the resamples that
    happen to stay below 1.
    """
    x = _array(auc, "auc")
    y = _array(reference_auc, "reference_auc")
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ConfigError(
            f"auc and reference_auc must be (seeds, num_tasks) on the same tasks; got {x.shape}, {y.shape}"
        )
    x = x[~np.any(np.isnan(x), axis=1)]
    y = y[~np.any(np.isnan(y), axis=1)]
    if not len(x) or not len(y):
        return Estimate(math.nan, math.nan, math.nan, len(x), len(y))
    if np.isnan(forward_transfer(x, y)):
        return Estimate(math.nan, math.nan, math.nan, len(x), len(y))
    point, lo, hi = _bootstrap_seeds((x, y), forward_transfer, key, reps, ci, seed)
    return Estimate(point, lo, hi, len(x), len(y))


# --------------------------------------------------------------------------------------------------
# Continual run folders
# --------------------------------------------------------------------------------------------------


@dataclass(eq=False)  # compared by identity: the fields hold arrays
class ContinualRun:
    """One continual run folder (``results/<run_id>/``) read back into arrays.

    Scores are normalized (0-100). ``curves`` is ``(seeds, T, N)`` over ``eval_steps``, ``matrix``
    ``(seeds, N, N)``, ``initial`` ``(seeds, N)``; NaN marks what was not evaluated (an incomplete
    run, read from ``metrics.jsonl``, has NaN rows for the tasks it has not finished).
    """

    run_id: str
    path: Path
    stream: str
    method: str
    algo: str
    tasks: list[str]
    seeds: list[int]
    task_boundaries: np.ndarray
    eval_steps: np.ndarray
    curves: np.ndarray
    matrix: np.ndarray
    initial: np.ndarray
    complete: bool
    config: dict[str, Any] = field(default_factory=dict)
    learner_curves: np.ndarray | None = None
    """``(seeds, T, N)`` scores of the learner where the method deploys another policy and the run was
    trained with ``eval_learner`` (final.json's ``learner_curves``); else None."""

    @property
    def data(self) -> str:
        """The stream and its data quality (``cheetah-vel/medium``, the run's recorded ``dataset``): a report
        compares runs on the same data only. The stream alone for a record without it."""
        quality = self.config.get("quality")
        return str(self.config.get("dataset") or (f"{self.stream}/{quality}" if quality else self.stream))

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    @property
    def tasks_finished(self) -> int:
        """Tasks whose end-of-task evaluation every seed has (all of them for a complete run)."""
        done = ~np.all(np.isnan(self.matrix), axis=-1)  # (seeds, N)
        return int(np.sum(np.all(done, axis=0)))

    @property
    def last_step(self) -> int | None:
        seen = np.flatnonzero(np.any(~np.isnan(self.curves), axis=(0, 2)))
        return int(self.eval_steps[seen[-1]]) if len(seen) else None


def _info(path: Path) -> tuple[dict, dict | None]:
    config = _read_json(path / "config.json") if (path / "config.json").is_file() else {}
    final = _read_json(path / "final.json") if (path / "final.json").is_file() else None
    return config, final


def is_continual_run(path) -> bool:
    """Whether a run folder holds a continual run (``"kind": "continual"`` in final.json or
    config.json). A folder whose JSON cannot be read is not one (the ordinary reader reports it)."""
    path = Path(path)
    try:
        config, final = _info(path)
    except (OffrlError, OSError):
        return False
    return "continual" in (config.get("kind"), (final or {}).get("kind"))


def _field_array(value, shape: tuple[int, ...], what: str, path: Path) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)  # JSON null (a non-finite value) becomes NaN
    except (TypeError, ValueError):
        raise DataIntegrityError(f"{path}: final.json {what} is not a numeric array of shape {shape}") from None
    if a.shape != shape:
        raise DataIntegrityError(f"{path}: final.json {what} has shape {a.shape}, expected {shape}")
    return a


def _from_metrics(path: Path, tasks: list[str], seeds: list[int], bounds: np.ndarray):
    """Curves, matrix and initial scores from the eval lines of ``metrics.jsonl`` (incomplete run)."""
    n = len(tasks)
    records = read_metrics(path / "metrics.jsonl", kind="eval") if (path / "metrics.jsonl").is_file() else []
    row = {s: j for j, s in enumerate(seeds)}
    records = [r for r in records if int(r["seed"]) in row]
    steps = np.array(sorted({int(r["step"]) for r in records}), dtype=np.int64)
    col = {int(s): t for t, s in enumerate(steps)}
    curves = np.full((len(seeds), len(steps), n), np.nan)
    for r in records:
        curves[row[int(r["seed"])], col[int(r["step"])]] = [_float(r.get(f"score/{name}")) for name in tasks]
    return steps, curves, *_matrix_and_initial(curves, steps, bounds)


def _matrix_and_initial(curves: np.ndarray, steps: np.ndarray, bounds: np.ndarray):
    # Only an evaluation exactly at the end of task k fills matrix row k: a partly trained task of a
    # killed run is not "after task k".
    seeds, n = curves.shape[0], curves.shape[-1]
    at = {int(s): t for t, s in enumerate(steps)}
    matrix = np.full((seeds, n, n), np.nan)
    for k in range(n):
        t = at.get(int(bounds[k + 1]))
        if t is not None:
            matrix[:, k] = curves[:, t]
    t0 = at.get(int(bounds[0]))
    initial = curves[:, t0].copy() if t0 is not None else np.full((seeds, n), np.nan)
    return matrix, initial


def load_continual_run(path) -> ContinualRun:
    """Read a continual run folder: from ``final.json`` when the run finished, else (incomplete)
    from the eval lines of ``metrics.jsonl``. Raises :class:`~offrl.errors.DataIntegrityError` for a
    folder that breaks the continual results contract (missing fields, arrays of the wrong shape)."""
    path = Path(path)
    config, final = _info(path)
    info = {**config, **(final or {})}
    if info.get("kind") != "continual":
        raise OffrlError(f"{path} is not a continual run (no \"kind\": \"continual\" in config.json/final.json)")
    missing = [k for k in ("stream", "method", "tasks", "seeds") if not info.get(k)]
    if missing:
        raise DataIntegrityError(f"{path}: config.json/final.json lack {missing}")
    try:
        tasks = [str(t) for t in info["tasks"]]
        seeds = [int(s) for s in info["seeds"]]
        n = len(tasks)
        if info.get("task_boundaries") is not None:
            bounds = _field_array(info["task_boundaries"], (n + 1,), "task_boundaries", path)
        elif info.get("steps_per_task"):
            bounds = np.arange(n + 1, dtype=np.float64) * float(info["steps_per_task"])
        else:
            raise DataIntegrityError(f"{path}: neither task_boundaries nor steps_per_task is recorded")
        _as_steps([], bounds)
    except (TypeError, ValueError) as e:  # ConfigError included: a bad boundary list
        raise DataIntegrityError(f"{path}: malformed tasks, seeds or task boundaries ({e})") from None
    if len(set(tasks)) != n:
        raise DataIntegrityError(f"{path}: task names repeat in {tasks}")
    if final is not None and final.get("curves") is not None:
        raw_steps = final.get("eval_steps")
        if not isinstance(raw_steps, list):
            raise DataIntegrityError(f"{path}: final.json has curves but no eval_steps list")
        steps = _field_array(raw_steps, (len(raw_steps),), "eval_steps", path)
        if len(steps) > 1 and np.any(np.diff(steps) <= 0):
            raise DataIntegrityError(f"{path}: final.json eval_steps are not strictly increasing")
        curves = _field_array(final["curves"], (len(seeds), len(steps), n), "curves", path)
        fallback_matrix, fallback_initial = _matrix_and_initial(curves, steps, bounds)
        matrix = (_field_array(final["matrix"], (len(seeds), n, n), "matrix", path)
                  if final.get("matrix") is not None else fallback_matrix)
        initial = (_field_array(final["initial"], (len(seeds), n), "initial", path)
                   if final.get("initial") is not None else fallback_initial)
        learner_curves = (_field_array(final["learner_curves"], (len(seeds), len(steps), n), "learner_curves", path)
                          if final.get("learner_curves") is not None else None)
    else:
        learner_curves = None
        steps, curves, matrix, initial = _from_metrics(path, tasks, seeds, bounds)
    return ContinualRun(
        run_id=str(info.get("run_id") or path.name),
        path=path,
        stream=str(info["stream"]),
        method=str(info["method"]),
        algo=str(info.get("algo") or ""),
        tasks=tasks,
        seeds=seeds,
        task_boundaries=bounds.astype(np.int64),
        eval_steps=np.asarray(steps, dtype=np.int64),
        curves=curves,
        matrix=matrix,
        initial=initial,
        complete=final is not None,
        config=config,
        learner_curves=learner_curves,
    )
