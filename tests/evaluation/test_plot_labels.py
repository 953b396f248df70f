"""Learning-curve and score-distribution figures keep a usable data area whatever their labels' length:
a run label carrying hyper-parameter overrides (``modt [batch_size=32 ... warmup_steps=100]``) once put
a legend wider than the 6-inch figure inside the axes, which collapsed to a strip (and constrained
layout warned that it could not be applied)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from offrl.evaluation import plots, stats

OVERRIDES = "lr=0.0003 num_layers=1 num_regions=4 region_method=grid warmup_steps=100"
LONG = [f"modt [batch_size=32 embed_dim={d} {OVERRIDES}]" for d in (32, 64, 128)]
SHORT = ["bc", "iql", "td3_bc"]
LABELS = {
    "short": SHORT,
    "long": LONG,
    "mixed": ["iql", *LONG[:2]],
    "very long": [f"modt [{OVERRIDES} {OVERRIDES} {OVERRIDES}]", "bc"],
    "many long": [f"modt [batch_size={b} embed_dim={d} {OVERRIDES}]" for b in (16, 32, 64) for d in (32, 64, 128, 256)],
}


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions save, in order (still written to disk)."""
    saved = []
    real_save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: saved.append(fig) or real_save(fig, path))
    return saved


def _draw_both(labels, tmp_path):
    """Both figures as ``offrl report`` draws them (offrl/report.py): curves per dataset, profiles over
    the algorithms' score matrices."""
    rng = np.random.default_rng(0)
    curves = {a: (np.arange(1, 11) * 1000, stats.learning_curve(rng.normal(50, 10, (3, 10)), reps=50, seed=0))
              for a in labels}
    plots.plot_learning_curves(curves, tmp_path / "curves.png", title="d4rl/hopper-medium-v2",
                               ylabel="normalized score", ci=0.95)
    mats = {a: rng.normal(50, 10, (3, 2)) for a in labels}
    taus = np.linspace(0.0, 100.0 * 1.05, 101)
    prof, prof_ci = stats.performance_profile(mats, taus, reps=50, ci=0.95, seed=0)
    plots.plot_performance_profiles(taus, prof, prof_ci, tmp_path / "profiles.png")


def _legend(fig):
    legend = fig.axes[0].get_legend()
    return legend if legend is not None else fig.legends[0]


@pytest.mark.parametrize("kind", list(LABELS))
def test_curves_and_profiles_keep_their_axes_and_legend_in_view(kind, tmp_path, figures):
    labels = LABELS[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "constrained_layout not applied because axes sizes collapsed"
        _draw_both(labels, tmp_path)
        assert len(figures) == 2
        for fig in figures:
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            ax, = fig.axes
            data = ax.get_window_extent(renderer)
            assert data.width / fig.dpi >= 3.0 and data.height / fig.dpi >= 2.5, (kind, fig.get_size_inches())
            legend = _legend(fig)
            assert sorted(t.get_text() for t in legend.get_texts()) == sorted(labels)
            box = legend.get_window_extent(renderer)
            frame = fig.bbox
            assert frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1, (kind, box, frame)
            assert frame.y0 - 1 <= box.y0 and box.y1 <= frame.y1 + 1, (kind, box, frame)
            if kind == "short":  # as before: a 6x4 figure, the legend inside the axes
                assert tuple(fig.get_size_inches()) == (6.0, 4.0)
                assert legend is ax.get_legend() and data.contains(*box.p0) and data.contains(*box.p1)
            else:  # out of the data's way
                assert not box.overlaps(data), (kind, box, data)
    assert (tmp_path / "curves.png").exists() and (tmp_path / "profiles.png").exists()
