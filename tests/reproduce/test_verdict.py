"""The verdict rule on hand-made numbers: every outcome, the tolerance band, the exit code."""

import math

import numpy as np
import pytest

from offrl.errors import ConfigError
from offrl.evaluation import stats
from offrl.reproduce.verdict import (
    EXIT_INCOMPLETE,
    EXIT_LOWER,
    EXIT_OK,
    Tolerance,
    chance_rates,
    compare,
    exit_code,
    mean_ci,
)


def test_consistent_because_the_reference_lies_in_our_ci():
    # |diff| = 3 is far beyond the reference std 0.5, but 58 lies inside [50, 60]
    c = compare(55.0, 50.0, 60.0, 58.0, 0.5)
    assert c.verdict == "consistent" and c.by == ("ci",)
    assert c.diff == pytest.approx(-3.0) and c.band == pytest.approx(0.5)
    assert c.reason() == "reference in our CI"


def test_consistent_because_our_mean_is_within_one_reference_std():
    # the reference 58 is outside our narrow CI [54, 56], but 55 is within 4 (one std) of it
    c = compare(55.0, 54.0, 56.0, 58.0, 4.0)
    assert c.verdict == "consistent" and c.by == ("std",)
    assert c.reason() == "within ±4.00 of the reference"        # no "|": the reason goes into markdown tables


def test_consistent_by_both():
    c = compare(55.0, 50.0, 60.0, 56.0, 2.0)
    assert c.verdict == "consistent" and c.by == ("ci", "std")


def test_higher():
    c = compare(70.0, 68.0, 72.0, 58.0, 4.0)
    assert c.verdict == "higher" and c.by == ()
    assert c.diff == pytest.approx(12.0)
    assert "12.00 above" in c.reason()


def test_lower():
    c = compare(40.0, 38.0, 42.0, 58.0, 4.0)
    assert c.verdict == "lower" and c.by == ()
    assert "18.00 below" in c.reason()


def test_the_band_edge_counts_as_consistent():
    assert compare(54.0, 53.5, 54.5, 58.0, 4.0).verdict == "consistent"   # |diff| == std exactly
    assert compare(53.99, 53.5, 54.49, 58.0, 4.0).verdict == "lower"


@pytest.mark.parametrize("std", [math.nan, None])
def test_a_reference_without_std_is_judged_by_our_ci_alone(std):
    # inside the CI: consistent; outside: the band is 0, so even 0.5 points below is lower
    inside = compare(55.0, 54.0, 56.0, 55.5, std)
    assert inside.verdict == "consistent" and inside.by == ("ci",) and math.isnan(inside.ref_std)
    outside = compare(55.0, 54.0, 56.0, 56.5, std)
    assert outside.verdict == "lower" and outside.band == 0.0
    assert compare(57.0, 56.5, 57.5, 56.0, std).verdict == "higher"


def test_min_points_widen_the_band_for_tiny_or_missing_stds():
    tol = Tolerance(std_multiple=2.0, min_points=3.0)           # dt-paper's guidance
    assert tol.band(0.2) == 3.0 and tol.band(7.0) == 14.0 and tol.band(math.nan) == 3.0
    assert compare(40.0, 39.0, 41.0, 42.6, 0.1, tol).verdict == "consistent"   # 2.6 <= 3 points
    assert compare(60.0, 58.0, 62.0, 82.7, 7.0, tol).verdict == "lower"        # 22.7 > 14
    assert compare(55.0, 54.0, 56.0, 57.5, None, tol).by == ("std",)


def test_rule_text_states_the_tolerance():
    assert "within 1 x its std" in Tolerance().rule()
    assert "judged by our interval alone" in Tolerance().rule()
    text = Tolerance(2.0, 3.0).rule(0.9)
    assert "90% bootstrap CI" in text and "max(2 x its std, 3 points)" in text and "3-point band" in text


@pytest.mark.parametrize("bad", [dict(std_multiple=-1.0), dict(min_points=math.nan), dict(std_multiple=math.inf)])
def test_bad_tolerances_are_refused(bad):
    with pytest.raises(ConfigError, match="tolerance"):
        Tolerance(**bad)


def test_compare_refuses_nonsense():
    with pytest.raises(ConfigError, match="finite"):
        compare(math.nan, 0.0, 1.0, 1.0, 1.0)
    with pytest.raises(ConfigError, match="above its upper"):
        compare(1.0, 2.0, 1.0, 1.0, 1.0)


def test_exit_code():
    assert exit_code(["consistent", "higher", "consistent"]) == EXIT_OK == 0
    assert exit_code(["consistent", "lower", None]) == EXIT_LOWER == 1     # a regression wins over a gap
    assert exit_code(["consistent", None]) == EXIT_INCOMPLETE == 2         # a row not compared
    assert exit_code([]) == EXIT_INCOMPLETE                                # nothing compared is not a pass


def test_mean_ci_is_the_stratified_bootstrap_of_the_mean():
    x = np.array([50.0, 52.0, 58.0, 61.0, 49.0])
    mean, lo, hi = mean_ci(x, reps=4000, seed=3, key="bc/hopper")
    points, intervals = stats.interval_estimates({"bc/hopper": x[:, None]}, stats.aggregate_mean, reps=4000, seed=3)
    assert mean == pytest.approx(x.mean())
    assert (lo, hi) == pytest.approx(tuple(np.asarray(intervals["bc/hopper"]).reshape(2)))
    assert x.min() <= lo < mean < hi <= x.max()
    # a seed without an evaluation (NaN) is left out; identical seeds give a point interval
    assert mean_ci([5.0, math.nan, 5.0], reps=100) == (5.0, 5.0, 5.0)
    with pytest.raises(ConfigError, match="no scores"):
        mean_ci([math.nan])


def test_chance_rates_of_seed_noise_alone():
    # 5 seeds against 5 from the same distribution: an independent simulation (numpy's own percentile
    # bootstrap, 20,000 trials) gives 16.2% not consistent / 8.1% lower at k = 1 and 4.0% / 2.0% at k = 2
    one = chance_rates(5, 5, Tolerance(std_multiple=1.0))
    two = chance_rates(5, 5, Tolerance(std_multiple=2.0))
    assert 0.14 <= one[0] <= 0.19 and 0.06 <= one[1] <= 0.10
    assert 0.03 <= two[0] <= 0.055 and 0.012 <= two[1] <= 0.03
    assert one[1] <= one[0] and two[1] <= two[0]
    # the band only narrows what is flagged; min_points is left out (the rates are an upper bound then)
    assert chance_rates(5, 5, Tolerance(std_multiple=2.0, min_points=3.0)) == two
    assert chance_rates(5, 5, Tolerance(std_multiple=50.0), trials=500) == (0.0, 0.0)


def test_chance_rates_with_one_seed_each_flag_every_row():
    # one seed each: our CI is the one value and the reference std 0, so no row is consistent; half are lower
    flagged, lower = chance_rates(1, 1, Tolerance(), trials=2000)
    assert flagged == 1.0 and 0.45 <= lower <= 0.55


def test_chance_rates_are_deterministic_and_check_their_arguments():
    assert chance_rates(4, 6, Tolerance(), trials=300, seed=3) == chance_rates(4, 6, Tolerance(), trials=300, seed=3)
    for bad in [(0, 5), (5, 0)]:
        with pytest.raises(ConfigError, match="n_ours, n_ref and trials >= 1"):
            chance_rates(*bad)
