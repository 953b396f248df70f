"""Benchmark statistics: per-task summaries, robust aggregates and stratified-bootstrap CIs.

This is a NumPy reimplementation of the metrics of ``rliable`` (Agarwal et al., NeurIPS 2021, "Deep RL
at the Edge of the Statistical Precipice"); the test suite checks it against ``rliable`` on the same
arrays. The bootstrap is vectorised: every replicate is drawn as one block of index arrays and the
metric is evaluated on a batch of resampled score matrices at once, so there is no Python loop over
replicates (only over memory-bounded chunks of them).

Conventions shared by every function here:

* A score matrix has shape ``(num_runs, num_tasks)``: one row per run (seed), one column per task
  (dataset). Metric functions reduce the last two axes and accept any leading batch axes, so
  ``aggregate_iqm(x)`` works on ``x.shape == (reps, num_runs, num_tasks)`` too.
* A "score dict" maps a name (usually an algorithm) to such a matrix, or to a tuple of matrices for
  metrics of several arguments (probability of improvement takes ``(scores_x, scores_y)``).
* Interval estimates have shape ``(2, *point.shape)``: lower bound first, upper bound second.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from offrl.errors import ConfigError

__all__ = [
    "AGGREGATE_NAMES",
    "CurveEstimate",
    "aggregate_curves",
    "aggregate_iqm",
    "aggregate_mean",
    "aggregate_median",
    "aggregate_metrics",
    "aggregate_optimality_gap",
    "average_score_distribution",
    "interval_estimates",
    "learning_curve",
    "per_task_mean",
    "per_task_std",
    "performance_profile",
    "probability_of_improvement",
    "score_distribution",
]

#: Names of the columns returned by :func:`aggregate_metrics`, in order.
AGGREGATE_NAMES: tuple[str, ...] = ("Mean", "Median", "IQM", "Optimality Gap")

# Resampled score entries held in memory per bootstrap chunk. Metrics build intermediates a few
# times larger than the resample (profiles: x num_taus, probability of improvement: x num_runs),
# so this keeps peak memory in the tens of MB whatever `reps` is.
_CHUNK_ELEMENTS = 1 << 18


def _as_scores(scores, name: str = "scores") -> np.ndarray:
    a = np.asarray(scores, dtype=np.float64)
    if a.ndim < 2:
        raise ConfigError(f"{name} must have shape (num_runs, num_tasks), got shape {a.shape}")
    if a.shape[-2] == 0 or a.shape[-1] == 0:
        raise ConfigError(f"{name} is empty (shape {a.shape})")
    return a


# --------------------------------------------------------------------------------------------------
# Point estimates
# --------------------------------------------------------------------------------------------------


def per_task_mean(scores) -> np.ndarray:
    """Mean over runs of each task: shape ``(..., num_tasks)``."""
    return np.mean(_as_scores(scores), axis=-2)


def per_task_std(scores, ddof: int = 0) -> np.ndarray:
    """Standard deviation over runs of each task, shape ``(..., num_tasks)``.

    ``ddof=0`` (population std) by default because that is what CORL and most published offline-RL
    tables report next to their means, so our numbers are comparable side by side.
    """
    a = _as_scores(scores)
    if a.shape[-2] <= ddof:
        return np.full(a.shape[:-2] + a.shape[-1:], np.nan)
    return np.std(a, axis=-2, ddof=ddof)


def aggregate_mean(scores) -> np.ndarray:
    """Mean over tasks of the per-task mean scores (``rliable.metrics.aggregate_mean``)."""
    return np.mean(np.mean(_as_scores(scores), axis=-2), axis=-1)


def aggregate_median(scores) -> np.ndarray:
    """Median over tasks of the per-task mean scores (``rliable.metrics.aggregate_median``)."""
    return np.median(np.mean(_as_scores(scores), axis=-2), axis=-1)


def aggregate_iqm(scores) -> np.ndarray:
    """Interquartile mean of all run x task scores pooled together.

    Same semantics as ``scipy.stats.trim_mean(scores, 0.25, axis=None)``: with ``n`` pooled scores,
    ``int(0.25 * n)`` are cut from each end of the sorted scores and the rest are averaged.
    """
    a = _as_scores(scores)
    flat = np.sort(a.reshape(a.shape[:-2] + (-1,)), axis=-1)
    n = flat.shape[-1]
    cut = int(0.25 * n)
    return np.mean(flat[..., cut : n - cut], axis=-1)


def aggregate_optimality_gap(scores, gamma: float = 100.0) -> np.ndarray:
    """``gamma - mean(min(score, gamma))`` over all run x task scores (lower is better).

    ``gamma`` is the score beyond which improvements stop counting; the default 100 suits normalized
    scores on the x100 scale (D4RL, Minari, NeoRL-2). ``rliable`` defaults to 1 for fractions.
    """
    a = _as_scores(scores)
    return gamma - np.mean(np.minimum(a, gamma), axis=(-2, -1))


def aggregate_metrics(scores, gamma: float = 100.0) -> np.ndarray:
    """Mean, median, IQM and optimality gap stacked on a last axis of size 4 (:data:`AGGREGATE_NAMES`).

    Pass this as ``func`` to :func:`interval_estimates` to bootstrap all four with the same resamples.
    """
    a = _as_scores(scores)
    return np.stack(
        [aggregate_mean(a), aggregate_median(a), aggregate_iqm(a), aggregate_optimality_gap(a, gamma)],
        axis=-1,
    )


def probability_of_improvement(scores_x, scores_y) -> np.ndarray:
    """P(X > Y): per task, the Mann-Whitney U statistic of X over Y divided by ``n_x * n_y``, averaged
    over tasks.

    Per task this counts, over all pairs of a run of X and a run of Y, 1 when X scores higher and 1/2
    on a tie, which is exactly ``scipy.stats.mannwhitneyu(x, y).statistic / (n_x * n_y)``; identical
    columns therefore give 0.5 as in ``rliable``, and P(Y > X) is 1 - P(X > Y) (up to rounding). Both inputs
    may carry the same leading batch axes.
    """
    x = _as_scores(scores_x, "scores_x")
    y = _as_scores(scores_y, "scores_y")
    if x.shape[-1] != y.shape[-1]:
        raise ConfigError(
            f"probability of improvement needs the same tasks for X and Y, got {x.shape[-1]} and "
            f"{y.shape[-1]} tasks"
        )
    xx = x[..., :, None, :]
    yy = y[..., None, :, :]
    wins = (xx > yy).astype(np.float64) + 0.5 * (xx == yy)
    per_task = np.mean(wins, axis=(-3, -2))
    return np.mean(per_task, axis=-1)


def score_distribution(scores, taus) -> np.ndarray:
    """Run-score distribution: fraction of all run x task scores strictly above each ``tau``.

    Returns shape ``(..., len(taus))``.
    """
    a = _as_scores(scores)
    taus = np.asarray(taus, dtype=np.float64).reshape(-1)
    flat = a.reshape(a.shape[:-2] + (-1, 1))
    return np.mean(flat > taus, axis=-2)


def average_score_distribution(scores, taus) -> np.ndarray:
    """Fraction of tasks whose mean score over runs is strictly above each ``tau``."""
    means = per_task_mean(scores)[..., :, None]
    return np.mean(means > np.asarray(taus, dtype=np.float64).reshape(-1), axis=-2)


# --------------------------------------------------------------------------------------------------
# Stratified bootstrap
# --------------------------------------------------------------------------------------------------


def _key_rng(seed: int | None, key: str) -> np.random.Generator:
    # One stream per key, derived from the key's name rather than its position, so adding another
    # algorithm to a report does not change the intervals of the ones already there.
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng([int(seed), zlib.crc32(key.encode())])


def _resample(a: np.ndarray, rng: np.random.Generator, n: int, task_bootstrap: bool) -> np.ndarray:
    """``n`` stratified resamples of ``a`` (shape ``(runs, tasks, *rest)``) -> ``(n, runs, tasks, *rest)``.

    Runs are drawn with replacement independently within each task (each column), as rliable's
    ``StratifiedBootstrap`` does; with ``task_bootstrap`` the task columns are resampled as well.
    Any trailing axes (e.g. eval steps of a learning curve) travel with their run.
    """
    runs, tasks = a.shape[0], a.shape[1]
    run_idx = rng.integers(0, runs, size=(n, runs, tasks))
    if task_bootstrap:
        task_idx = rng.integers(0, tasks, size=(n, 1, tasks))
    else:
        task_idx = np.arange(tasks)
    return a[run_idx, task_idx]


def _percentile_interval(samples: np.ndarray, ci: float) -> np.ndarray:
    alpha = (1.0 - ci) / 2.0
    return np.percentile(samples, [100.0 * alpha, 100.0 * (1.0 - alpha)], axis=0)


def _check_ci(ci: float, reps: int) -> None:
    if not 0.0 < ci < 1.0:
        raise ConfigError(f"ci must be in (0, 1), got {ci}")
    if int(reps) < 1:
        raise ConfigError(f"reps must be >= 1, got {reps}")


def interval_estimates(
    score_dict: Mapping[str, np.ndarray | Sequence[np.ndarray]],
    func: Callable[..., np.ndarray],
    reps: int = 50_000,
    ci: float = 0.95,
    seed: int | None = 0,
    *,
    task_bootstrap: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Point estimates and stratified-bootstrap percentile confidence intervals of ``func``.

    Same method as ``rliable.library.get_interval_estimates(method="percentile")``: each replicate
    resamples runs with replacement independently within each task; for a tuple value (several
    score matrices, e.g. ``(scores_x, scores_y)`` for :func:`probability_of_improvement`) each matrix
    is resampled independently (rliable's ``StratifiedIndependentBootstrap``).

    Args:
      score_dict: name -> score matrix ``(num_runs, num_tasks)`` or tuple of such matrices.
      func: the metric; it must accept leading batch axes (every metric in this module does), i.e.
        map ``(B, num_runs, num_tasks)`` inputs to ``(B, ...)`` outputs.
      reps: bootstrap replicates (rliable recommends 50,000 for aggregates, 2,000 for profiles).
      ci: confidence level of the two-sided interval.
      seed: base seed; each key draws from its own stream derived from ``(seed, key)``. ``None``
        draws fresh entropy.
      task_bootstrap: also resample tasks (only for single-matrix values).

    Returns:
      ``(points, intervals)``: ``points[k] = func(*score_dict[k])`` and ``intervals[k]`` of shape
      ``(2, *points[k].shape)`` holding the lower and upper bounds.
    """
    _check_ci(ci, reps)
    reps = int(reps)
    points: dict[str, np.ndarray] = {}
    intervals: dict[str, np.ndarray] = {}
    for key, value in score_dict.items():
        arrays = (
            tuple(_as_scores(v, f"{key}[{i}]") for i, v in enumerate(value))
            if isinstance(value, tuple | list)
            else (_as_scores(value, str(key)),)
        )
        if any(a.ndim != 2 for a in arrays):
            raise ConfigError(f"{key}: score matrices must be 2-D (num_runs, num_tasks)")
        if task_bootstrap and len(arrays) > 1:
            raise ConfigError("task_bootstrap is only supported for single score matrices")
        points[key] = np.asarray(func(*arrays))
        rng = _key_rng(seed, str(key))
        per_rep = sum(a.size for a in arrays) * max(a.shape[0] for a in arrays)
        chunk = max(1, min(reps, _CHUNK_ELEMENTS // per_rep))
        samples = np.empty((reps, *points[key].shape))
        for start in range(0, reps, chunk):
            n = min(chunk, reps - start)
            resampled = [_resample(a, rng, n, task_bootstrap) for a in arrays]
            samples[start : start + n] = func(*resampled)
        intervals[key] = _percentile_interval(samples, ci)
    return points, intervals


def performance_profile(
    score_dict: Mapping[str, np.ndarray],
    taus,
    reps: int = 2_000,
    ci: float = 0.95,
    seed: int | None = 0,
    *,
    use_score_distribution: bool = True,
    task_bootstrap: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Performance profiles with stratified-bootstrap CIs (``rliable.library.create_performance_profile``).

    With ``use_score_distribution`` (default) the profile at ``tau`` is the fraction of all run x task
    scores above ``tau`` (:func:`score_distribution`); otherwise the fraction of tasks whose mean
    score is above ``tau`` (:func:`average_score_distribution`).

    Returns ``(profiles, intervals)``: ``profiles[k]`` has shape ``(len(taus),)`` and
    ``intervals[k]`` shape ``(2, len(taus))``.
    """
    taus = np.asarray(taus, dtype=np.float64).reshape(-1)
    profile = score_distribution if use_score_distribution else average_score_distribution
    return interval_estimates(
        score_dict,
        lambda s: profile(s, taus),
        reps=reps,
        ci=ci,
        seed=seed,
        task_bootstrap=task_bootstrap,
    )


@dataclass(frozen=True)
class CurveEstimate:
    """A learning curve summarised over seeds: ``mean``, ``lower``, ``upper`` have one entry per step."""

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    num_seeds: np.ndarray  # seeds that reached each step (an incomplete run stops early)


def learning_curve(curves, reps: int = 2_000, ci: float = 0.95, seed: int | None = 0) -> CurveEstimate:
    """Mean over seeds and stratified-bootstrap CI at every eval step of a learning curve.

    Args:
      curves: ``(num_seeds, num_steps)`` for one task, or ``(num_seeds, num_tasks, num_steps)`` to
        average over tasks (per-task mean over seeds, then mean over tasks). NaN marks a step that a
        seed has not reached (incomplete run); such entries are left out of the mean.
      reps, ci, seed: as in :func:`interval_estimates`. A seed's whole curve is resampled as a unit,
        so the band reflects seed-to-seed variation, not step-to-step noise.
    """
    _check_ci(ci, reps)
    a = np.asarray(curves, dtype=np.float64)
    if a.ndim == 2:
        a = a[:, None, :]
    if a.ndim != 3 or a.shape[0] == 0 or a.shape[-1] == 0:
        raise ConfigError(f"curves must have shape (num_seeds, [num_tasks,] num_steps), got {np.shape(curves)}")

    def mean_over(x: np.ndarray) -> np.ndarray:
        # x: (..., seeds, tasks, steps) -> (..., steps); nan-aware because seeds of an incomplete
        # run stop early, and a step nobody reached stays NaN.
        with np.errstate(invalid="ignore", divide="ignore"):
            counts = np.sum(~np.isnan(x), axis=-3)
            sums = np.nansum(x, axis=-3)
            per_task = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return np.mean(per_task, axis=-2)

    mean = mean_over(a)
    rng = _key_rng(seed, "learning_curve")
    reps = int(reps)
    chunk = max(1, min(reps, _CHUNK_ELEMENTS // a.size))
    samples = np.empty((reps, a.shape[-1]))
    for start in range(0, reps, chunk):
        n = min(chunk, reps - start)
        samples[start : start + n] = mean_over(_resample(a, rng, n, False))
    alpha = (1.0 - ci) / 2.0
    with warnings.catch_warnings():
        # A step no seed reached is all-NaN in every replicate; its bounds stay NaN by design.
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(samples, [100 * alpha, 100 * (1 - alpha)], axis=0)
    lo = np.where(np.isnan(mean), np.nan, lo)
    hi = np.where(np.isnan(mean), np.nan, hi)
    num_seeds = np.sum(np.any(~np.isnan(a), axis=1), axis=0)
    return CurveEstimate(mean=mean, lower=lo, upper=hi, num_seeds=num_seeds)


def aggregate_curves(
    curve_dict: Mapping[str, np.ndarray],
    func: Callable[[np.ndarray], np.ndarray] = aggregate_iqm,
    reps: int = 2_000,
    ci: float = 0.95,
    seed: int | None = 0,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """An aggregate metric over tasks at every eval step, with stratified-bootstrap CIs.

    The analogue of rliable's sample-efficiency curves: ``curve_dict[k]`` has shape
    ``(num_runs, num_tasks, num_steps)`` and ``func`` (e.g. :func:`aggregate_iqm`) is applied to the
    ``(num_runs, num_tasks)`` scores of each step. Whole run curves are resampled within each task.
    Returns ``(points, intervals)`` with shapes ``(num_steps,)`` and ``(2, num_steps)``.
    """
    _check_ci(ci, reps)
    reps = int(reps)
    points: dict[str, np.ndarray] = {}
    intervals: dict[str, np.ndarray] = {}
    for key, value in curve_dict.items():
        a = np.asarray(value, dtype=np.float64)
        if a.ndim != 3:
            raise ConfigError(f"{key}: curves must have shape (num_runs, num_tasks, num_steps), got {a.shape}")
        points[key] = np.asarray(func(np.moveaxis(a, -1, 0)))
        rng = _key_rng(seed, str(key))
        chunk = max(1, min(reps, _CHUNK_ELEMENTS // a.size))
        samples = np.empty((reps, a.shape[-1]))
        for start in range(0, reps, chunk):
            n = min(chunk, reps - start)
            res = _resample(a, rng, n, False)  # (n, runs, tasks, steps)
            samples[start : start + n] = func(np.moveaxis(res, -1, 1))
        intervals[key] = _percentile_interval(samples, ci)
    return points, intervals
