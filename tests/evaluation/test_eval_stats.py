"""Statistics: hand-checked numerics and cross-checks against rliable on the same arrays."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from offrl.errors import ConfigError
from offrl.evaluation import stats


def _scores(seed=0, runs=5, tasks=4, scale=30.0, loc=50.0):
    return np.random.default_rng(seed).normal(loc, scale, size=(runs, tasks))


# ---------------------------------------------------------------- hand-checked tiny inputs


def test_point_estimates_by_hand():
    s = np.array([[0.0, 10.0], [20.0, 30.0], [40.0, 200.0]])  # 3 runs x 2 tasks
    np.testing.assert_allclose(stats.per_task_mean(s), [20.0, 80.0])
    np.testing.assert_allclose(stats.per_task_std(s), [np.std([0, 20, 40]), np.std([10, 30, 200])])
    assert stats.aggregate_mean(s) == 50.0
    assert stats.aggregate_median(s) == 50.0
    # 6 pooled scores, int(1.5) = 1 cut each end: mean of 10, 20, 30, 40
    assert stats.aggregate_iqm(s) == 25.0
    # min(s, 100) = [0,10,20,30,40,100] -> mean 200/6
    assert stats.aggregate_optimality_gap(s) == pytest.approx(100 - 200 / 6)
    assert stats.aggregate_optimality_gap(s / 100, gamma=1.0) == pytest.approx(1 - 2 / 6)
    np.testing.assert_allclose(stats.aggregate_metrics(s), [50.0, 50.0, 25.0, 100 - 200 / 6])


def test_probability_of_improvement_by_hand():
    x = np.array([[1.0], [3.0]])
    y = np.array([[2.0], [3.0], [0.0]])
    # pairs: 1>2 no, 1>3 no, 1>0 yes, 3>2 yes, 3=3 half, 3>0 yes -> 3.5 / 6
    assert stats.probability_of_improvement(x, y) == pytest.approx(3.5 / 6)
    same = _scores(1)
    assert stats.probability_of_improvement(same, same) == 0.5
    with pytest.raises(ConfigError):
        stats.probability_of_improvement(np.zeros((3, 2)), np.zeros((3, 3)))


def test_score_distribution_by_hand():
    s = np.array([[0.0, 50.0], [100.0, 150.0]])
    np.testing.assert_allclose(stats.score_distribution(s, [-1, 0, 50, 120, 200]), [1, 0.75, 0.5, 0.25, 0])
    # task means 50, 100
    np.testing.assert_allclose(stats.average_score_distribution(s, [0, 50, 99, 100]), [1, 0.5, 0.5, 0])


def test_batched_metrics_match_unbatched():
    batch = np.random.default_rng(3).normal(size=(7, 5, 3))
    for f in (stats.aggregate_mean, stats.aggregate_median, stats.aggregate_iqm, stats.aggregate_optimality_gap):
        np.testing.assert_allclose(f(batch), [f(b) for b in batch])
    np.testing.assert_allclose(
        stats.probability_of_improvement(batch, batch[::-1]),
        [stats.probability_of_improvement(a, b) for a, b in zip(batch, batch[::-1])],
    )


def test_iqm_matches_scipy_trim_mean_for_all_sizes():
    rng = np.random.default_rng(0)
    for runs in range(1, 8):
        for tasks in (1, 2, 3):
            s = rng.normal(size=(runs, tasks))
            assert stats.aggregate_iqm(s) == pytest.approx(scipy.stats.trim_mean(s, 0.25, axis=None), rel=1e-13)


def test_bad_inputs_raise_config_error():
    with pytest.raises(ConfigError):
        stats.aggregate_mean(np.zeros(3))
    with pytest.raises(ConfigError):
        stats.interval_estimates({"a": np.zeros((3, 2))}, stats.aggregate_mean, reps=10, ci=1.5)
    with pytest.raises(ConfigError):
        stats.interval_estimates({"a": np.zeros((3, 2))}, stats.aggregate_mean, reps=0)


# ---------------------------------------------------------------- bootstrap behaviour


def test_bootstrap_is_deterministic_and_key_stable():
    a, b = _scores(0), _scores(1)
    p1, ci1 = stats.interval_estimates({"a": a}, stats.aggregate_iqm, reps=500, seed=3)
    p2, ci2 = stats.interval_estimates({"b": b, "a": a}, stats.aggregate_iqm, reps=500, seed=3)
    np.testing.assert_array_equal(ci1["a"], ci2["a"])  # adding a key does not move the others
    assert ci1["a"].shape == (2,)
    assert ci1["a"][0] <= p1["a"] <= ci1["a"][1]


def test_bootstrap_chunking_does_not_change_results(monkeypatch):
    a = _scores(0)
    _, full = stats.interval_estimates({"a": a}, stats.aggregate_metrics, reps=300, seed=1)
    monkeypatch.setattr(stats, "_CHUNK_ELEMENTS", 7)  # forces tiny chunks; same draws in sequence
    _, chunked = stats.interval_estimates({"a": a}, stats.aggregate_metrics, reps=300, seed=1)
    full, chunked = full["a"], chunked["a"]
    assert full.shape == (2, 4)
    # integers() draws in chunks differ from one big draw only through the stream layout, so
    # compare the statistical result, not bit patterns
    width = full[1] - full[0]
    assert np.all(width > 0)
    assert np.all(np.abs(full - chunked) <= 0.3 * width)


def test_single_run_gives_degenerate_interval():
    a = _scores(0, runs=1)
    p, ci = stats.interval_estimates({"a": a}, stats.aggregate_mean, reps=50)
    np.testing.assert_allclose(ci["a"], [p["a"], p["a"]])


def test_stratified_resampling_keeps_task_columns():
    # task 0 always 0, task 1 always 100: any within-task resample keeps per-task means exactly
    s = np.column_stack([np.zeros(4), np.full(4, 100.0)])
    _, ci = stats.interval_estimates({"a": s}, stats.per_task_mean, reps=200)
    np.testing.assert_array_equal(ci["a"], [[0.0, 100.0], [0.0, 100.0]])
    # with task bootstrap the columns themselves get resampled, so the mean moves
    _, ci_t = stats.interval_estimates({"a": s}, stats.aggregate_mean, reps=200, task_bootstrap=True)
    assert ci_t["a"][0] == 0.0 and ci_t["a"][1] == 100.0


def test_learning_curve_mean_ci_and_incomplete_seeds():
    rng = np.random.default_rng(0)
    curves = np.cumsum(rng.normal(1.0, 0.5, size=(5, 6)), axis=1)
    est = stats.learning_curve(curves, reps=400)
    np.testing.assert_allclose(est.mean, curves.mean(axis=0))
    assert np.all(est.lower <= est.mean + 1e-12) and np.all(est.mean <= est.upper + 1e-12)
    assert est.num_seeds.tolist() == [5] * 6
    # seed 4 stopped after 3 evals; the last step nobody reached
    c = curves.copy()
    c[4, 3:] = np.nan
    c[:, 5] = np.nan
    est = stats.learning_curve(c, reps=200)
    np.testing.assert_allclose(est.mean[:5], np.nanmean(c[:, :5], axis=0))
    assert np.isnan(est.mean[5]) and np.isnan(est.lower[5]) and np.isnan(est.upper[5])
    assert est.num_seeds.tolist() == [5, 5, 5, 4, 4, 0]
    # multi-task curves: per-task mean over seeds, then mean over tasks
    mt = rng.normal(size=(4, 3, 5))
    np.testing.assert_allclose(stats.learning_curve(mt, reps=50).mean, mt.mean(axis=0).mean(axis=0))


def test_aggregate_curves_matches_per_step_point_estimates():
    rng = np.random.default_rng(1)
    curves = rng.normal(50, 20, size=(5, 3, 4))
    p, ci = stats.aggregate_curves({"a": curves}, stats.aggregate_iqm, reps=300)
    np.testing.assert_allclose(p["a"], [stats.aggregate_iqm(curves[..., k]) for k in range(4)])
    assert ci["a"].shape == (2, 4)
    assert np.all(ci["a"][0] <= p["a"] + 1e-9) and np.all(p["a"] <= ci["a"][1] + 1e-9)


# ---------------------------------------------------------------- cross-checks against rliable


@pytest.mark.parametrize("seed", [0, 1])
def test_point_estimates_equal_rliable(rliable, seed):
    _, metrics = rliable
    s = _scores(seed, runs=7, tasks=5)
    assert stats.aggregate_mean(s) == metrics.aggregate_mean(s)
    assert stats.aggregate_median(s) == metrics.aggregate_median(s)
    assert stats.aggregate_iqm(s) == pytest.approx(metrics.aggregate_iqm(s), rel=1e-14, abs=1e-12)
    assert stats.aggregate_optimality_gap(s, 100) == metrics.aggregate_optimality_gap(s, 100)
    y = _scores(seed + 10, runs=6, tasks=5)
    y[:, 0] = s[:6, 0]  # a tied column
    assert stats.probability_of_improvement(s, y) == pytest.approx(
        metrics.probability_of_improvement(s, y), rel=1e-14
    )
    assert stats.probability_of_improvement(s, s) == metrics.probability_of_improvement(s, s) == 0.5


def _close_intervals(ours, theirs, width_frac=0.12):
    ours, theirs = np.asarray(ours), np.asarray(theirs).reshape(np.shape(ours))
    width = np.maximum(theirs[1] - theirs[0], 1e-9)
    assert np.all(np.abs(ours - theirs) <= width_frac * width + 1e-9), (ours, theirs)


def test_aggregate_intervals_close_to_rliable(rliable):
    library, metrics = rliable
    score_dict = {"x": _scores(0, runs=6, tasks=4), "y": _scores(1, runs=6, tasks=4, scale=10)}

    def rl_func(s):
        return np.array(
            [
                metrics.aggregate_mean(s),
                metrics.aggregate_median(s),
                metrics.aggregate_iqm(s),
                metrics.aggregate_optimality_gap(s, 100),
            ]
        )

    np.random.seed(0)  # rliable draws its indices from the global NumPy stream
    rl_points, rl_cis = library.get_interval_estimates(score_dict, rl_func, reps=3000)
    points, cis = stats.interval_estimates(score_dict, stats.aggregate_metrics, reps=20000, seed=0)
    for k in score_dict:
        np.testing.assert_allclose(points[k], rl_points[k], rtol=1e-13)
        assert cis[k].shape == rl_cis[k].shape == (2, 4)
        _close_intervals(cis[k], rl_cis[k])


def test_probability_of_improvement_interval_close_to_rliable(rliable):
    library, metrics = rliable
    x, y = _scores(2, runs=5, tasks=3), _scores(3, runs=4, tasks=3, loc=40)
    np.random.seed(1)
    rl_p, rl_ci = library.get_interval_estimates(
        {"x,y": (x, y)}, metrics.probability_of_improvement, reps=1500
    )
    p, ci = stats.interval_estimates({"x,y": (x, y)}, stats.probability_of_improvement, reps=20000, seed=0)
    assert p["x,y"] == pytest.approx(rl_p["x,y"], rel=1e-13)
    _close_intervals(ci["x,y"], rl_ci["x,y"], width_frac=0.15)


def test_performance_profile_close_to_rliable(rliable):
    library, _ = rliable
    score_dict = {"x": _scores(4, runs=5, tasks=4)}
    taus = np.linspace(0, 120, 13)
    np.random.seed(2)
    rl_prof, rl_ci = library.create_performance_profile(score_dict, taus, reps=1500)
    prof, ci = stats.performance_profile(score_dict, taus, reps=4000, seed=0)
    np.testing.assert_allclose(prof["x"], rl_prof["x"], rtol=0, atol=1e-15)
    assert ci["x"].shape == rl_ci["x"].shape == (2, 13)
    # profile CIs live on a grid of 1/(runs*tasks): allow one grid step of Monte-Carlo wobble
    np.testing.assert_allclose(ci["x"], rl_ci["x"], atol=1.0 / 20 + 1e-9)
