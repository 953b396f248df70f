"""The dynamics ensemble (offrl.algos.dynamics): d3rlpy's loss by hand, prediction shapes and variance,
spectral normalisation, and training on a small linear system."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offrl.algos import dynamics
from offrl.errors import ConfigError


def test_gaussian_nll_matches_a_hand_computation():
    x = jnp.array([[1.0, -2.0, 0.5]])
    mean = jnp.array([[0.0, -1.0, 0.5]])
    log_std = jnp.array([[0.0, jnp.log(2.0), -1.0]])
    # 0.5 * [(1-0)^2/1 + (-2+1)^2/4 + 0/e^-2] + (0 + log 2 - 1)
    want = 0.5 * (1.0 + 0.25 + 0.0) + (np.log(2.0) - 1.0)
    np.testing.assert_allclose(dynamics.gaussian_nll(x, mean, log_std), [want], rtol=1e-6)
    # the proper negative log density (the Gaussian's formula in float64) differs from it only by
    # 0.5 * log(2 pi) per dimension
    xs, ms, sd = np.asarray(x, np.float64), np.asarray(mean, np.float64), np.exp(np.asarray(log_std, np.float64))
    density = np.exp(-0.5 * ((xs - ms) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
    exact = -np.log(density).sum()
    np.testing.assert_allclose(float(dynamics.gaussian_nll(x, mean, log_std)[0]), exact - 1.5 * np.log(2 * np.pi),
                               rtol=1e-5)


def test_ensemble_variance_is_d3rlpys_data_variance():
    pred = jnp.array([[[1.0, 0.0]], [[3.0, 2.0]], [[5.0, 4.0]]])  # 3 members, 1 row, 2 outputs
    # unbiased variance over members: 4 and 4 -> summed 8
    np.testing.assert_allclose(dynamics.ensemble_variance(pred), [8.0])


def _small_cfg(**kw):
    return dynamics.DynamicsConfig(**{"hidden": (32, 32), "batch_size": 128, "lr": 1e-3, "steps": 600,
                                      "chunk": 200, "progress": False, **kw})


def test_predict_shapes_members_logstd_bounds_and_samples():
    cfg = _small_cfg(members=3)
    state = dynamics.init(jax.random.PRNGKey(0), 4, 2, cfg)
    obs, act = jnp.ones((7, 4)), jnp.zeros((7, 2))
    nxt, rew, var = dynamics.predict(state, obs, act)
    assert nxt.shape == (3, 7, 4) and rew.shape == (3, 7) and var.shape == (7,)
    one, one_r, one_var = dynamics.predict(state, obs, act, member=1)
    np.testing.assert_array_equal(one, nxt[1])
    np.testing.assert_array_equal(one_r, rew[1])
    np.testing.assert_array_equal(one_var, var)
    mean, log_std = dynamics.member_stats(state, obs, act)
    assert mean.shape == log_std.shape == (3, 7, 5)
    # soft bounds: within [min, max + log(1 + exp(min - max))]
    assert (log_std <= cfg.max_logstd_init + 1e-4).all() and (log_std >= cfg.min_logstd_init).all()
    np.testing.assert_allclose(var, np.var(np.asarray(mean), axis=0, ddof=1).sum(-1), rtol=1e-5)
    s1 = dynamics.predict(state, obs, act, key=jax.random.PRNGKey(1))[0]
    s2 = dynamics.predict(state, obs, act, key=jax.random.PRNGKey(2))[0]
    assert not np.allclose(s1, s2) and not np.allclose(s1, nxt)  # draws from each member's Gaussian


def _linear_system(n=3000, seed=0):
    """Samples of one fixed linear system (``seed`` draws the samples, not the system)."""
    sys_rng, rng = np.random.default_rng(123), np.random.default_rng(seed)
    obs_dim, act_dim = 3, 2
    a_mat = 0.9 * np.eye(obs_dim) + 0.05 * sys_rng.normal(size=(obs_dim, obs_dim))
    b_mat = 0.3 * sys_rng.normal(size=(act_dim, obs_dim))
    obs = rng.normal(size=(n, obs_dim)).astype(np.float32)
    act = rng.uniform(-1, 1, size=(n, act_dim)).astype(np.float32)
    nxt = (obs @ a_mat + act @ b_mat + 0.01 * rng.normal(size=(n, obs_dim))).astype(np.float32)
    rew = (obs @ np.array([0.5, -0.3, 0.2]) + act @ np.array([0.4, 0.1])).astype(np.float32)
    return {"observations": obs, "actions": act, "rewards": rew, "next_observations": nxt}


def test_training_lowers_held_out_loss_and_predicts_a_linear_system():
    """Two seeds (vmapped) train on s' = A s + B a + noise, r = c.s + d.a: the held-out NLL falls, the
    ensemble mean predicts held-out-like data well, and the spectral norm keeps each normalised layer's
    largest singular value at about 1."""
    data = _linear_system()
    cfg = _small_cfg(steps=1200)
    state = dynamics.init(jax.random.split(jax.random.PRNGKey(0), 2), 3, 2, cfg)
    state, log = dynamics.train(state, data, jax.random.PRNGKey(1), cfg)
    assert log["val/nll"].shape == (6, 2) and (log["step"][:, 0] == np.arange(200, 1201, 200)).all()
    assert (log["val/nll"][-1] < log["val/nll"][0] - 2.0).all()
    assert (log["stopped_step"] == 1200).all()

    test = _linear_system(n=500, seed=1)
    for seed in range(2):
        one = jax.tree_util.tree_map(lambda x: x[seed], state)
        nxt, rew, _ = dynamics.predict(one, test["observations"], test["actions"])
        nxt_err = np.mean((np.asarray(nxt.mean(0)) - test["next_observations"]) ** 2)
        rew_err = np.mean((np.asarray(rew.mean(0)) - test["rewards"]) ** 2)
        assert nxt_err < 0.02 * test["next_observations"].var(), nxt_err
        assert rew_err < 0.05 * test["rewards"].var(), rew_err
        # spectral normalisation: W / sigma with the tracked vectors has largest singular value ~ 1
        kernel = np.asarray(one.net.params["members"]["fc1"]["kernel"][0])
        u, v = (np.asarray(x[0]) for x in one.sn["fc1"])
        sigma = u @ (v @ kernel)
        assert abs(np.linalg.svd(kernel / sigma, compute_uv=False)[0] - 1.0) < 0.05


def test_early_stopping_keeps_the_best_parameters():
    """With patience the run stops once the held-out NLL has not improved for that many evaluations and
    returns the parameters of the best evaluation (40 transitions: the model soon overfits its 36)."""
    data = _linear_system(n=40)
    cfg = _small_cfg(steps=6000, chunk=100, patience=2)
    state = dynamics.init(jax.random.PRNGKey(3), 3, 2, cfg)
    state, log = dynamics.train(state, data, jax.random.PRNGKey(4), cfg)
    stop, best = int(log["stopped_step"]), int(log["best_step"])
    assert stop < 6000 and stop - best == 200
    assert int(state.net.step) == best  # the optimiser step count of the kept parameters


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ConfigError, match="multiple of chunk"):
        dynamics.DynamicsConfig(steps=1500, chunk=1000)
    with pytest.raises(ConfigError, match="lr"):
        dynamics.DynamicsConfig(lr=0.0)
    cfg = _small_cfg()
    state = dynamics.init(jax.random.PRNGKey(0), 3, 2, cfg)
    data = _linear_system(n=50)
    with pytest.raises(ConfigError, match="actions has shape"):
        dynamics.train(state, {**data, "actions": data["actions"][:, :1]}, jax.random.PRNGKey(0), cfg)
    with pytest.raises(ConfigError, match="lacks"):
        dynamics.train(state, {k: v for k, v in data.items() if k != "rewards"}, jax.random.PRNGKey(0), cfg)
    bad = {**data, "observations": data["observations"].copy()}
    bad["observations"][3, 0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        dynamics.train(state, bad, jax.random.PRNGKey(0), cfg)
    with pytest.raises(ConfigError, match="too few"):
        dynamics.train(state, {k: v[:1] for k, v in data.items()}, jax.random.PRNGKey(0), cfg)
