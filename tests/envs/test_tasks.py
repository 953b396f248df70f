"""Continual task families: rewards as their docstrings write them, task keywords, registration, the
Gymnasium env checker, and pools that mix tasks."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import offrl.envs  # noqa: F401  (registers the families)
from offrl.envs.pool import EnvPool, make_env
from offrl.envs.tasks import FAMILIES, WALKER_PARAM_BASES, walker_param_factors
from offrl.errors import ConfigError

KWARGS = {"offrl/CheetahVel-v0": {"target_velocity": 1.5}, "offrl/AntDir-v0": {"direction": 2.0},
          "offrl/WalkerParams-v0": {"task_seed": 3}, "offrl/PendulumGain-v0": {"gain": -1.0}}


@pytest.mark.parametrize("env_id", sorted(FAMILIES))
def test_family_passes_gymnasium_checker_and_has_200_step_episodes(env_id):
    env = gym.make(env_id, **KWARGS[env_id])
    assert env.spec.max_episode_steps == 200
    check_env(env.unwrapped, skip_render_check=True)
    env.reset(seed=0)
    for t in range(200):
        _, _, term, trunc, _ = env.step(np.zeros(env.action_space.shape, np.float32))
        if term or trunc:
            break
    assert trunc or term
    env.close()


def test_cheetah_vel_reward_is_minus_velocity_error_minus_control_cost():
    env = make_env("offrl/CheetahVel-v0", target_velocity=1.5)
    env.reset(seed=1)
    a = np.full(6, 0.3, np.float32)
    x0 = env.unwrapped.data.qpos[0]
    _, r, _, _, info = env.step(a)
    v = (env.unwrapped.data.qpos[0] - x0) / env.unwrapped.dt
    assert r == pytest.approx(-abs(v - 1.5) - 0.05 * np.sum(a.astype(np.float64) ** 2), rel=1e-6)
    assert info["target_velocity"] == 1.5


def test_ant_dir_reward_projects_the_planar_velocity_on_the_direction():
    env = make_env("offrl/AntDir-v0", direction=np.pi / 2)
    env.reset(seed=2)
    u = env.unwrapped
    a = np.full(8, 0.2, np.float32)
    xy0 = u.data.body(u._main_body).xpos[:2].copy()
    obs, r, term, _, info = env.step(a)
    vel = (u.data.body(u._main_body).xpos[:2] - xy0) / u.dt
    contact = 0.5e-3 * np.sum(np.square(np.clip(u.data.cfrc_ext, -1, 1)))
    assert r == pytest.approx(vel[1] + 1.0 - 0.5 * np.sum(a.astype(np.float64) ** 2) - contact, rel=1e-6, abs=1e-9)
    assert obs.shape == (27,) and not term


def test_walker_params_are_scaled_by_seeded_factors():
    base = make_env("Walker2d-v5").unwrapped.model
    env = make_env("offrl/WalkerParams-v0", task_seed=7).unwrapped
    shapes = {k: getattr(base, k).shape for k in WALKER_PARAM_BASES}
    factors = walker_param_factors(7, shapes)
    for name in WALKER_PARAM_BASES:
        np.testing.assert_allclose(getattr(env.model, name), getattr(base, name) * factors[name])
        lim = WALKER_PARAM_BASES[name] ** 3.0
        assert np.all(factors[name] <= lim + 1e-12) and np.all(factors[name] >= 1 / lim - 1e-12)
    other = make_env("offrl/WalkerParams-v0", task_seed=8).unwrapped
    assert not np.allclose(env.model.body_mass, other.model.body_mass)
    with pytest.raises(ConfigError):
        make_env("offrl/WalkerParams-v0", task_seed=-1)


def test_pendulum_gain_reverses_the_motor():
    a, b = make_env("offrl/PendulumGain-v0", gain=1.0), make_env("offrl/PendulumGain-v0", gain=-1.0)
    oa, _ = a.reset(seed=3)
    ob, _ = b.reset(seed=3)
    np.testing.assert_allclose(oa, ob)
    na = a.step(np.array([1.0], np.float32))[0]
    nb = b.step(np.array([-1.0], np.float32))[0]
    np.testing.assert_allclose(na, nb)  # +1 on one motor is -1 on the reversed one
    with pytest.raises(ConfigError):
        make_env("offrl/PendulumGain-v0", gain=0.0)


def test_mixed_pool_steps_different_tasks_and_pads_spaces():
    specs = [("offrl/PendulumGain-v0", {"gain": 1.0}), ("offrl/PendulumGain-v0", {"gain": -1.0})]
    with EnvPool.mixed(specs) as pool:
        obs = pool.reset([0, 0])
        np.testing.assert_allclose(obs[0], obs[1])
        nxt, r, *_ = pool.step(np.ones((2, 1), np.float32))
        assert not np.allclose(nxt[0], nxt[1])  # opposite torques
    with EnvPool.mixed(specs[:1] + [("offrl/CheetahVel-v0", {"target_velocity": 1.0})]) as pool:
        assert pool.observation_space.shape == (17,) and pool.action_space.shape == (6,)
        obs = pool.reset([0, 0])
        assert np.all(obs[0, 3:] == 0)  # the pendulum's 3-d observation, zero-padded
        nxt, *_ = pool.step(np.full((2, 6), 0.5, np.float32))
        assert nxt.shape == (2, 17)


def test_the_settotalmass_notice_is_dropped_and_other_mujoco_warnings_still_shown(capfd):
    """MuJoCo warns once per compiled HalfCheetah/Ant model about an attribute of Gymnasium's XML; that
    line is dropped (hundreds per evaluation), any other MuJoCo warning still reaches stderr."""
    import mujoco

    from offrl.envs.pool import make_env

    make_env("offrl/CheetahVel-v0", target_velocity=1.0).reset(seed=0)
    assert "settotalmass" not in capfd.readouterr().err
    handler = mujoco.get_mju_user_warning()
    handler("Nan, Inf or huge value in QACC at DOF 0. The simulation is unstable.")
    assert "WARNING: Nan, Inf or huge value in QACC" in capfd.readouterr().err


def test_pool_workers_leave_ctrl_c_to_the_parent(capfd):
    """Ctrl-C reaches every process of the group: a worker ignores it (no traceback of its own) and keeps
    serving until the parent, which handles the interrupt, closes the pool."""
    import os
    import signal
    import time

    with EnvPool("Pendulum-v1", 2, workers=2) as pool:
        pool.reset([0, 1])
        for p in pool._procs:
            os.kill(p.pid, signal.SIGINT)
        time.sleep(0.5)
        assert all(p.is_alive() for p in pool._procs)
        obs, *_ = pool.step(np.zeros((2, 1), np.float32))
        assert obs.shape == (2, 3)
        procs = list(pool._procs)
    for p in procs:
        p.join(timeout=5)
        assert not p.is_alive() and p.exitcode == 0
    assert "KeyboardInterrupt" not in capfd.readouterr().err
