"""Hand-checked channel numerics: Al-Hourani golden values (notes section 1.4) and known unit bugs."""

import jax.numpy as jnp
import numpy as np
import pytest

from offrl.envs.uav.channel import elevation_deg, p_los, path_loss_db
from offrl.envs.uav.params import SCENES
from offrl.envs.uav.reference import np_path_loss_db

R = np.array([0.0, 100.0, 300.0, 500.0, 1000.0])
GOLDEN_PLOS = {
    "urban": [1.0000, 0.9677, 0.2993, 0.1202, 0.0528],
    "suburban": [1.0000, 1.0000, 0.9858, 0.7649, 0.2265],
    "dense_urban": [0.9977, 0.7558, 0.1428, 0.0707, 0.0395],
    "highrise_urban": [0.8478, 0.1321, 0.0178, 0.0102, 0.0065],
}
GOLDEN_URBAN_PL = [79.46, 83.09, 102.78, 110.33, 117.50]


@pytest.mark.parametrize("scene", sorted(GOLDEN_PLOS))
def test_plos_golden(scene):
    a, b, _, _ = SCENES[scene]
    got = np.asarray(p_los(elevation_deg(jnp.asarray(R), 100.0), a, b))
    np.testing.assert_allclose(got, GOLDEN_PLOS[scene], atol=1e-3)


def test_issue_golden_urban_100m():
    a, b, _, _ = SCENES["urban"]
    got = np.asarray(p_los(elevation_deg(jnp.array([0.0, 300.0, 500.0]), 100.0), a, b))
    np.testing.assert_allclose(got, [1.0, 0.2993, 0.1202], atol=1e-3)


def test_urban_path_loss_golden_both_implementations():
    a, b, el, en = SCENES["urban"]
    jx = np.asarray(path_loss_db(jnp.asarray(R), 100.0, 2e9, a, b, el, en))
    nx = np_path_loss_db(R, 100.0, 2e9, a, b, el, en)
    # the notes' table uses c = 3e8; we use the exact c (0.003 dB lower FSPL) -> 0.02 dB tolerance
    np.testing.assert_allclose(jx, GOLDEN_URBAN_PL, atol=0.02)
    np.testing.assert_allclose(nx, jx, atol=1e-3)


def test_angle_in_degrees_not_radians():
    a, b, _, _ = SCENES["urban"]
    # the radian bug gives ~0.028 at r = 0 in urban
    assert float(p_los(elevation_deg(0.0, 100.0), a, b)) > 0.99
    assert abs(float(elevation_deg(100.0, 100.0)) - 45.0) < 1e-4


def test_plos_increases_with_elevation():
    a, b, _, _ = SCENES["dense_urban"]
    th = jnp.linspace(0.0, 90.0, 91)
    assert bool(jnp.all(jnp.diff(p_los(th, a, b)) > 0))


def test_eta_added_in_db():
    # with P_LoS = 1 exactly the excess loss must be eta_LoS dB on top of free space
    fs = float(path_loss_db(0.0, 100.0, 2e9, 1e-12, 1.0, 0.0, 0.0))
    with_eta = float(path_loss_db(0.0, 100.0, 2e9, 1e-12, 1.0, 3.0, 50.0))
    assert with_eta - fs == pytest.approx(3.0, abs=1e-3)
