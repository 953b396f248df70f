"""PNG plots of benchmark statistics (learning curves, aggregates, profiles, P(improvement)).

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas directly, not through
``pyplot``, so plotting works headless, never switches the caller's backend, and leaks no global
figure state. Every function takes already-computed statistics (see :mod:`offrl.evaluation.stats`)
and writes one PNG, returning its path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from offrl.evaluation.stats import AGGREGATE_NAMES, CurveEstimate

__all__ = [
    "plot_interval_estimates",
    "plot_learning_curves",
    "plot_performance_profiles",
    "plot_probability_of_improvement",
]


def _label_inches(labels) -> float:
    """Extra figure width for y tick labels longer than a plain algorithm name (variant labels
    such as ``dt [compute_dtype=bfloat16]``), so the axes keep their size."""
    return 0.075 * max(0, max((len(str(x)) for x in labels), default=0) - 12)


#: Beyond this much extra label width (:func:`_label_inches`: labels of more than 28 characters) a
#: legend inside the axes would cover the data, and goes below them instead.
_INSIDE_LEGEND_INCHES = 1.2


def _legend(fig: Figure, ax) -> None:
    """The axes' legend: inside the axes while its labels are short (plain algorithm names); for long
    ones (variant labels with hyper-parameter overrides such as ``modt [batch_size=32 embed_dim=32
    lr=0.0003 ...]``) below the axes, one entry a row, the figure heightened by the legend's height
    and widened to its width where needed, so that the axes keep their size."""
    handles, labels = ax.get_legend_handles_labels()
    if _label_inches(labels) <= _INSIDE_LEGEND_INCHES:
        ax.legend(frameon=False)
        return
    legend = fig.legend(handles, labels, frameon=False, loc="outside lower center")
    box = legend.get_window_extent()  # display units: pixels at fig.dpi
    width, height = fig.get_size_inches()
    fig.set_size_inches(max(width, box.width / fig.dpi + 0.3), height + box.height / fig.dpi)


def _colors(names: Sequence[str]) -> dict[str, tuple]:
    # Fixed colour per algorithm across all figures of a report (sorted names -> colour slots); every name
    # its own colour: tab10 up to 10 names, tab20 up to 20 (a selection-rule ablation has 15 rows), then
    # evenly spaced hues
    from matplotlib import colormaps

    names = sorted(set(names))
    if len(names) <= 20:
        cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
        return {n: cmap(i) for i, n in enumerate(names)}
    cmap = colormaps["hsv"]
    return {n: cmap(i / len(names)) for i, n in enumerate(names)}


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def plot_learning_curves(
    curves: Mapping[str, tuple[np.ndarray, CurveEstimate]],
    path: Path,
    *,
    title: str = "",
    xlabel: str = "training step",
    ylabel: str = "normalized score",
    ci: float | None = 0.95,
    references: Mapping[str, float] | None = None,
    seed_curves: Mapping[str, np.ndarray] | None = None,
    ylim: tuple[float | None, float | None] | None = None,
) -> Path:
    """One line per algorithm (mean over seeds) with its shaded bootstrap CI.

    Args:
      curves: algorithm -> ``(eval_steps, estimate)`` from :func:`offrl.evaluation.stats.learning_curve`.
      ci: the level of the estimates' band; None draws no band (e.g. when ``seed_curves`` shows each
        of a few seeds, between which a band of two or three seeds would only be drawn again).
      references: label -> score drawn as a dashed horizontal line, e.g. the behaviour data's score,
        so that a curve can be read against what the data itself achieves.
      seed_curves: algorithm -> ``(seeds, evals)`` scores of each seed, drawn thin under the mean; with
        few seeds they show the spread more plainly than a bootstrap band.
      ylim: y-axis limits (None keeps matplotlib's), e.g. ``(0, None)`` to keep the random policy's
        normalized score in view.
    """
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    colors = _colors(list(curves))
    for i, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, color="0.35", ls=("--", ":", "-.")[i % 3], lw=1.2, label=f"{label} ({value:.1f})")
    labelled = False
    for name, per_seed in (seed_curves or {}).items():
        steps = np.asarray(curves[name][0])
        for row in np.asarray(per_seed, dtype=float):
            ax.plot(steps, row, color=colors[name], lw=0.7, alpha=0.45, label=None if labelled else "single seeds")
            labelled = True
    for name, (steps, est) in curves.items():
        steps = np.asarray(steps)
        ok = ~np.isnan(est.mean)
        ax.plot(steps[ok], est.mean[ok], label=name, color=colors[name], lw=1.8, marker="." if ok.sum() < 30 else None)
        if ci is not None:
            band = ok & ~np.isnan(est.lower) & ~np.isnan(est.upper)
            ax.fill_between(steps[band], est.lower[band], est.upper[band], color=colors[name], alpha=0.2, lw=0)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{ylabel} (mean, {ci:.0%} CI)" if ci is not None else f"{ylabel}, mean over seeds")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    if curves or references:
        _legend(fig, ax)
    return _save(fig, path)


def plot_interval_estimates(
    points: Mapping[str, np.ndarray],
    intervals: Mapping[str, np.ndarray],
    path: Path,
    *,
    metric_names: Sequence[str] = AGGREGATE_NAMES,
    xlabel: str = "normalized score",
) -> Path:
    """rliable-style aggregate plot: one panel per metric, one horizontal CI bar per algorithm with a
    tick at the point estimate.

    Args:
      points: algorithm -> values of shape ``(len(metric_names),)``.
      intervals: algorithm -> ``(2, len(metric_names))`` lower/upper bounds.
    """
    algos = list(points)
    colors = _colors(algos)
    m = len(metric_names)
    fig = Figure(figsize=(2.6 * m + _label_inches(algos), 0.45 * len(algos) + 1.2), layout="constrained")
    axes = fig.subplots(1, m, sharey=True, squeeze=False)[0]
    for j, (ax, metric) in enumerate(zip(axes, metric_names)):
        for i, a in enumerate(algos):
            lo, hi = np.asarray(intervals[a])[:, j]
            ax.barh(i, hi - lo, left=lo, height=0.6, color=colors[a], alpha=0.75)
            ax.vlines(np.asarray(points[a])[j], i - 0.3, i + 0.3, color="k", lw=1.5)
        ax.set_title(metric)
        ax.grid(axis="x", alpha=0.3)
        ax.set_yticks(range(len(algos)))
        ax.set_yticklabels(algos)
    fig.supxlabel(xlabel)
    return _save(fig, path)


def plot_performance_profiles(
    taus: np.ndarray,
    profiles: Mapping[str, np.ndarray],
    intervals: Mapping[str, np.ndarray],
    path: Path,
    *,
    xlabel: str = r"normalized score $\tau$",
) -> Path:
    """Score-distribution curves: fraction of runs with score > tau, with shaded bootstrap CIs."""
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    colors = _colors(list(profiles))
    for name, prof in profiles.items():
        ax.plot(taus, prof, label=name, color=colors[name], lw=1.8)
        lo, hi = np.asarray(intervals[name])
        ax.fill_between(taus, lo, hi, color=colors[name], alpha=0.2, lw=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"fraction of runs with score $> \tau$")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if profiles:
        _legend(fig, ax)
    return _save(fig, path)


def plot_probability_of_improvement(
    points: Mapping[tuple[str, str] | str, float],
    intervals: Mapping[tuple[str, str] | str, np.ndarray],
    path: Path,
) -> Path:
    """One horizontal CI bar per pair showing P(X > Y), with the 0.5 line of no difference, top to bottom
    in the order of ``points`` (that of a report's table).

    Args:
      points: pair -> P(X > Y); a pair is ``(X, Y)``, or the string ``"X,Y"`` where neither name holds a
        comma (a variant label such as ``bc [hidden=[32,32]]`` does).
      intervals: pair -> ``(2,)`` lower/upper bounds.
    """
    pairs = list(points)
    labels = [" > ".join(p) if isinstance(p, tuple) else p.replace(",", " > ") for p in pairs]
    fig = Figure(figsize=(6.0 + _label_inches(labels), 0.45 * len(pairs) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    for i, pair in enumerate(pairs):
        lo, hi = np.asarray(intervals[pair]).reshape(2)
        color = "tab:green" if lo > 0.5 else ("tab:red" if hi < 0.5 else "tab:gray")
        ax.barh(i, hi - lo, left=lo, height=0.6, color=color, alpha=0.7)
        ax.vlines(float(points[pair]), i - 0.3, i + 0.3, color="k", lw=1.5)
    ax.axvline(0.5, color="k", ls="--", lw=1)
    ax.set_yticks(range(len(pairs)))
    ax.set_yticklabels(labels)
    ax.invert_yaxis()  # the first pair on top, as in the table
    ax.set_xlim(0, 1)
    ax.set_xlabel("P(X > Y)")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)
