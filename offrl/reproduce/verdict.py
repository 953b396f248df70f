"""The verdict of one row: our scores over seeds against a reference mean and std.

The rule (:func:`compare`), stated in every report by :meth:`Tolerance.rule`:

* our row is the mean over seeds with its stratified-bootstrap confidence interval
  (:func:`mean_ci`, through :func:`offrl.evaluation.stats.interval_estimates`);
* **consistent** when the reference mean lies inside our interval, or our mean lies within the
  tolerance band of the reference mean: ``|ours - reference| <= max(k * reference std, m)``
  (``k`` = :attr:`Tolerance.std_multiple`, ``m`` = :attr:`Tolerance.min_points`; a reference
  without a std has the band ``m`` only);
* otherwise **higher** or **lower** by the sign of ``ours - reference``.

A row that is lower fails a regression check (:func:`exit_code`).

A rule calls some rows of an unchanged install not consistent by seed noise alone: how often is
:func:`chance_rates` (with 5 seeds on each side, k = 1 flags about 17% of rows, k = 2 about 4%).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable, Sequence

import numpy as np

from offrl.errors import ConfigError

__all__ = ["EXIT_INCOMPLETE", "EXIT_LOWER", "EXIT_OK", "VERDICTS", "Comparison", "Tolerance", "chance_rates",
           "compare", "exit_code", "mean_ci"]

VERDICTS = ("consistent", "higher", "lower")
EXIT_OK = 0
"""every row was compared and none is lower."""
EXIT_LOWER = 1
"""at least one row is lower than its reference beyond the tolerance (a regression)."""
EXIT_INCOMPLETE = 2
"""no row is lower, but some rows could not be compared (no result or no reference)."""


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """How far our mean may sit from the reference mean and still be consistent with it."""

    std_multiple: float = 1.0
    """k: the band is k reference standard deviations wide on each side."""
    min_points: float = 0.0
    """m: the band is at least this many score points (for references with a tiny or no std)."""

    def __post_init__(self):
        for name in ("std_multiple", "min_points"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"tolerance {name}={v!r} must be a finite number >= 0")

    def band(self, ref_std: float | None) -> float:
        """Half-width of the band around the reference mean, in score points."""
        s = ref_std if ref_std is not None and math.isfinite(ref_std) else 0.0
        return max(self.std_multiple * s, self.min_points)

    def rule(self, ci: float = 0.95) -> str:
        """The rule in words, as the report states it."""
        band = f"{self.std_multiple:g} x its std" if self.std_multiple else ""
        if self.min_points:
            band = f"max({band}, {self.min_points:g} points)" if band else f"{self.min_points:g} points"
        within = f", or our mean lies within {band} of it" if band else ""
        no_std = (f" A reference without a std uses the {self.min_points:g}-point band" if self.min_points
                  else " A reference without a std is judged by our interval alone")
        return (f"consistent when the reference mean lies inside our {ci:.0%} bootstrap CI of the mean over "
                f"seeds{within}; otherwise higher or lower by the sign of ours - reference." + no_std + ".")


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One row compared: our mean and interval, the reference, the verdict and why."""

    mean: float
    ci_low: float
    ci_high: float
    ref_mean: float
    ref_std: float
    """NaN when the reference publishes none."""
    band: float
    """the tolerance band used (score points)."""
    verdict: str
    """``consistent`` | ``higher`` | ``lower``."""
    by: tuple[str, ...]
    """what made a row consistent: ``("ci",)``, ``("std",)`` (the band), both, or () otherwise."""

    @property
    def diff(self) -> float:
        """ours - reference."""
        return self.mean - self.ref_mean

    def reason(self) -> str:
        """A short account of the verdict, e.g. ``reference in our CI``."""
        if self.verdict == "consistent":
            parts = []
            if "ci" in self.by:
                parts.append("reference in our CI")
            if "std" in self.by:
                parts.append(f"within ±{self.band:.2f} of the reference")
            return "; ".join(parts)
        side = "above" if self.verdict == "higher" else "below"
        return f"{abs(self.diff):.2f} {side}, band {self.band:.2f}, CI excludes the reference"


def mean_ci(scores: Sequence[float] | np.ndarray, *, ci: float = 0.95, reps: int = 10_000, seed: int = 0,
            key: str = "row") -> tuple[float, float, float]:
    """Mean over seeds and its stratified-bootstrap percentile interval.

    One row is one task, so the stratified bootstrap resamples the seeds; ``key`` names the
    row's random stream (:func:`offrl.evaluation.stats.interval_estimates`), so adding rows never
    changes the interval of another. NaN scores (a seed without an evaluation) are left out.
    """
    from offrl.evaluation import stats

    x = np.asarray(scores, dtype=np.float64).reshape(-1)
    x = x[~np.isnan(x)]
    if not len(x):
        raise ConfigError(f"{key}: no scores to summarise")
    points, intervals = stats.interval_estimates({key: x[:, None]}, stats.aggregate_mean, reps=reps, ci=ci,
                                                 seed=seed)
    lo, hi = np.asarray(intervals[key]).reshape(2)
    return float(points[key]), float(lo), float(hi)


def compare(mean: float, ci_low: float, ci_high: float, ref_mean: float, ref_std: float | None,
            tolerance: Tolerance = Tolerance()) -> Comparison:
    """The verdict of our ``mean`` with interval ``[ci_low, ci_high]`` against a reference."""
    if not all(math.isfinite(v) for v in (mean, ci_low, ci_high, ref_mean)):
        raise ConfigError(f"compare needs finite numbers, got mean={mean}, CI=[{ci_low}, {ci_high}], "
                          f"reference={ref_mean}")
    if ci_low > ci_high:
        raise ConfigError(f"CI lower bound {ci_low} above its upper bound {ci_high}")
    std = float(ref_std) if ref_std is not None and math.isfinite(ref_std) else math.nan
    band = tolerance.band(std)
    by = tuple(name for name, ok in (("ci", ci_low <= ref_mean <= ci_high), ("std", abs(mean - ref_mean) <= band))
               if ok)
    verdict = "consistent" if by else ("higher" if mean > ref_mean else "lower")
    return Comparison(float(mean), float(ci_low), float(ci_high), float(ref_mean), std, band, verdict, by)


@functools.lru_cache(maxsize=64)
def chance_rates(n_ours: int, n_ref: int, tolerance: Tolerance = Tolerance(), *, ci: float = 0.95,
                 trials: int = 4000, reps: int = 2000, seed: int = 0) -> tuple[float, float]:
    """How often the rule judges a row *not consistent*, and how often *lower*, by seed noise alone.

    Simulated: in each of ``trials`` trials our ``n_ours`` seeds and the reference's ``n_ref`` seeds are
    drawn from one normal distribution, our mean and bootstrap interval come from :func:`mean_ci` (``reps``
    replicates) and the reference is their mean and population std, judged by :func:`compare`. The rule
    scales with the scores' spread, so one distribution stands for all; a band's ``min_points`` is left out,
    which can only narrow the band: with it the rates are at most these. Returns ``(not_consistent, lower)``
    as fractions of the trials. The verdicts of a reproduction of the same code and data are expected to
    show these rates; a regression check over many rows should choose its band (``std_multiple``) by them.
    """
    if n_ours < 1 or n_ref < 1 or trials < 1:
        raise ConfigError(f"chance_rates needs n_ours, n_ref and trials >= 1 (got {n_ours}, {n_ref}, {trials})")
    band = Tolerance(std_multiple=tolerance.std_multiple)
    rng = np.random.default_rng(seed)
    flagged = lower = 0
    for t in range(trials):
        ours, ref = rng.standard_normal(n_ours), rng.standard_normal(n_ref)
        mean, lo, hi = mean_ci(ours, ci=ci, reps=reps, seed=seed, key=f"chance{t}")
        verdict = compare(mean, lo, hi, float(ref.mean()), float(ref.std()), band).verdict
        flagged += verdict != "consistent"
        lower += verdict == "lower"
    return flagged / trials, lower / trials


def exit_code(verdicts: Iterable[str | None]) -> int:
    """:data:`EXIT_LOWER` when any verdict is ``lower``, else :data:`EXIT_INCOMPLETE` when any row
    has none (None: not compared), else :data:`EXIT_OK`."""
    verdicts = list(verdicts)
    if any(v == "lower" for v in verdicts):
        return EXIT_LOWER
    if not verdicts or any(v not in VERDICTS for v in verdicts):
        return EXIT_INCOMPLETE
    return EXIT_OK
