"""PNG figures of continual runs: the score matrix p[k, i], per-task curves, a methods comparison.

Built like :mod:`offrl.evaluation.plots` (whose ``_save`` and ``_colors`` they use): a
:class:`matplotlib.figure.Figure` on the Agg canvas, no ``pyplot`` state, headless. Each function
takes already-computed numbers (:mod:`offrl.evaluation.continual`, :mod:`offrl.evaluation.stats`)
and writes one PNG, returning its path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory

from offrl.evaluation.continual import MIN_INTERVAL_SEEDS, Estimate
from offrl.evaluation.plots import _colors, _save
from offrl.evaluation.stats import CurveEstimate

__all__ = ["COMPARISON_METRICS", "plot_method_comparison", "plot_task_curves", "plot_task_matrix"]

#: Metrics of the comparison figure: (key in the estimates, panel title).
COMPARISON_METRICS: tuple[tuple[str, str], ...] = (
    ("per", "PER (higher is better)"),
    ("bwt", "BWT (higher is better)"),
    ("forgetting", "Forgetting (lower is better)"),
)


def _short(name: str, width: int = 18) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def plot_task_matrix(matrix: np.ndarray, tasks: Sequence[str], path: Path, *, title: str = "",
                     label: str = "normalized score") -> Path:
    """Heatmap of the score matrix, each cell annotated with its value.

    Args:
      matrix: ``(N, N)``, ``matrix[k, i]`` = score of task ``i`` after training task ``k`` (usually
        the mean over seeds); NaN cells (not evaluated) are left blank and marked ``–``.
      tasks: the ``N`` task names, in stream order.
    """
    m = np.asarray(matrix, dtype=np.float64)
    n = len(tasks)
    if m.shape != (n, n):
        raise ValueError(f"matrix shape {m.shape} does not match {n} tasks")
    side = 1.2 + 0.75 * n
    fig = Figure(figsize=(side + 1.4, side), layout="constrained")
    ax = fig.add_subplot()
    finite = m[np.isfinite(m)]
    vmin = min(0.0, float(finite.min())) if finite.size else 0.0
    vmax = max(100.0, float(finite.max())) if finite.size else 100.0
    image = ax.imshow(np.ma.masked_invalid(m), cmap=colormaps["viridis"].with_extremes(bad="0.92"),
                      vmin=vmin, vmax=vmax)
    for k in range(n):
        for i in range(n):
            v = m[k, i]
            if np.isnan(v):
                ax.text(i, k, "–", ha="center", va="center", color="0.4")
                continue
            # dark text on the light (yellow) end of viridis, white on the dark end
            shade = (v - vmin) / (vmax - vmin) if vmax > vmin else 0.0
            ax.text(i, k, f"{v:.0f}" if abs(v) >= 10 else f"{v:.1f}", ha="center", va="center",
                    color="black" if shade > 0.6 else "white", fontsize=9)
    ax.set_xticks(range(n))
    ax.set_xticklabels([f"{i}: {_short(t)}" for i, t in enumerate(tasks)], rotation=35, ha="right")
    ax.set_yticks(range(n))
    ax.set_yticklabels([f"after {k}: {_short(t)}" for k, t in enumerate(tasks)])
    ax.set_xlabel("task i (evaluated)")
    ax.set_ylabel("after training task k")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8, label=label)
    return _save(fig, path)


def plot_task_curves(
    eval_steps: np.ndarray,
    curves: Sequence[CurveEstimate],
    tasks: Sequence[str],
    task_boundaries: Sequence[int],
    path: Path,
    *,
    title: str = "",
    ylabel: str = "normalized score",
    ci: float = 0.95,
) -> Path:
    """Score of every task over global steps: one line per task (mean over seeds) with its CI band,
    dashed lines at the task boundaries and each training window shaded in the colour of the task
    being trained, its name written above the window. As in the tables, a step that fewer than
    :data:`~offrl.evaluation.continual.MIN_INTERVAL_SEEDS` seeds reached has no band (a bootstrap of two
    seeds spans just their values), and the axis label says so.

    Args:
      curves: one :func:`offrl.evaluation.stats.learning_curve` estimate per task, in stream order.
    """
    steps = np.asarray(eval_steps, dtype=np.float64)
    bounds = np.asarray(task_boundaries, dtype=np.float64)
    if len(curves) != len(tasks) or len(bounds) != len(tasks) + 1:
        raise ValueError(f"{len(curves)} curves and {len(bounds)} boundaries for {len(tasks)} tasks")
    colors = _colors(list(tasks))
    fig = Figure(figsize=(max(6.0, 1.6 * len(tasks) + 3.0), 4.2), layout="constrained")
    ax = fig.add_subplot()
    top = blended_transform_factory(ax.transData, ax.transAxes)
    for k, name in enumerate(tasks):
        ax.axvspan(bounds[k], bounds[k + 1], color=colors[name], alpha=0.08, lw=0)
        ax.text((bounds[k] + bounds[k + 1]) / 2, 1.01, _short(name, 14), transform=top, ha="center",
                va="bottom", fontsize=8, color=colors[name])
    for b in bounds:
        ax.axvline(b, color="0.35", ls="--", lw=0.8)
    banded = unbanded = False  # whether some step has a band, and whether some step has a mean without one
    for name, est in zip(tasks, curves):
        ok = ~np.isnan(est.mean)
        ax.plot(steps[ok], est.mean[ok], color=colors[name], lw=1.8, label=name,
                marker="." if ok.sum() < 30 else None)
        enough = np.asarray(est.num_seeds) >= MIN_INTERVAL_SEEDS
        band = ok & enough & ~np.isnan(est.lower) & ~np.isnan(est.upper)
        banded, unbanded = banded or bool(band.any()), unbanded or bool((ok & ~enough).any())
        if band.any():
            # `where`, not the masked steps: a band never bridges the steps between two banded stretches
            ax.fill_between(steps, np.where(band, est.lower, est.mean), np.where(band, est.upper, est.mean),
                            where=band, color=colors[name], alpha=0.2, lw=0)
    ax.set_xlim(min(bounds[0], steps.min(initial=bounds[0])), max(bounds[-1], steps.max(initial=bounds[-1])))
    ax.set_xlabel("global training step (shaded: task being trained)")
    if not unbanded:
        ax.set_ylabel(f"{ylabel} (mean, {ci:.0%} CI)")
    elif banded:
        ax.set_ylabel(f"{ylabel} (mean; {ci:.0%} CI from {MIN_INTERVAL_SEEDS} seeds on)")
    else:
        ax.set_ylabel(f"{ylabel} (mean; no interval under {MIN_INTERVAL_SEEDS} seeds)")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_method_comparison(
    estimates: Mapping[tuple[str, str], Mapping[str, Estimate]],
    path: Path,
    *,
    metrics: Sequence[tuple[str, str]] = COMPARISON_METRICS,
    ci: float = 0.95,
) -> Path:
    """Bar chart of PER, BWT and forgetting per method, one panel per metric, with CI error bars (a bar of
    fewer than :data:`~offrl.evaluation.continual.MIN_INTERVAL_SEEDS` seeds is hatched, without one); the
    panels side by side, or one under another when side by side they would be wider than a page.

    Args:
      estimates: ``(stream, method label)`` -> metric key -> :class:`Estimate`. Bars are grouped by
        stream along the x axis, one colour per method; an undefined metric leaves a gap.
    """
    streams = sorted({s for s, _ in estimates})
    methods = sorted({m for _, m in estimates})
    colors = _colors(methods)
    width = 0.8 / max(1, len(methods))
    panel_width = max(3.2, 0.35 * len(streams) * len(methods) + 1.5)
    # side by side while that stays a page wide; else one panel under the other (a report of 4 data x 9
    # methods side by side was 58 inches wide, its labels unreadable at any screen's width)
    stacked = panel_width * len(metrics) > 16
    if stacked:
        panel_width = min(panel_width, 18.0)
        fig = Figure(figsize=(panel_width, 2.9 * len(metrics) + 0.4 * (1 + len(methods) // 5)), layout="constrained")
        axes = fig.subplots(len(metrics), 1, squeeze=False)[:, 0]
    else:
        fig = Figure(figsize=(panel_width * len(metrics), 3.8), layout="constrained")
        axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    few_seeds = False
    for ax, (key, panel) in zip(axes, metrics):
        for j, method in enumerate(methods):
            xs, ys, bars = [], [], []
            for x, stream in enumerate(streams):
                est = estimates.get((stream, method), {}).get(key)
                if est is None or not est.defined:
                    continue
                xs.append(x - 0.4 + width * (j + 0.5))
                ys.append(est.point)
                # fewer than MIN_INTERVAL_SEEDS seeds: no error bar (as the tables show no interval), and the
                # bar is hatched so that it does not read as one with a tight interval
                bars.append(est if est.shows_interval else None)
            if xs:
                drawn = ax.bar(xs, ys, width=width * 0.95, color=colors[method], alpha=0.85,
                               label=method if ax is axes[0] else None)
                for patch, est in zip(drawn, bars):
                    if est is None:
                        patch.set_hatch("//")
                        few_seeds = True
                with_bars = [(x, e) for x, e in zip(xs, bars) if e is not None]
                if with_bars:
                    ax.errorbar([x for x, _ in with_bars], [e.point for _, e in with_bars],
                                yerr=np.array([[e.point - e.lower for _, e in with_bars],
                                               [e.upper - e.point for _, e in with_bars]]),
                                fmt="none", ecolor="k", elinewidth=1.2, capsize=3)
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_xticks(range(len(streams)))
        ax.set_xticklabels([_short(s, 40 if stacked else 22) for s in streams],
                           rotation=20 if len(streams) > 2 and not stacked else 0)
        ax.set_title(panel)
        ax.grid(axis="y", alpha=0.3)
        if stacked or ax is axes[0]:
            ax.set_ylabel(f"score points (mean, {ci:.0%} CI)")
    handles, labels = axes[0].get_legend_handles_labels()
    if few_seeds:
        handles.append(Patch(facecolor="none", edgecolor="0.4", hatch="//"))
        labels.append(f"hatched: under {MIN_INTERVAL_SEEDS} seeds, the mean alone (no interval)")
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5 if stacked else 4),
               frameon=False)
    return _save(fig, path)
