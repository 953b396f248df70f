"""Bad input is rejected with the parameter's name; PettingZoo API and seed tests pass."""

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from offrl.envs.uav import InvalidActionError, UAVOffload, make_params, parallel_env
from offrl.errors import ConfigError, OffrlError


@pytest.mark.parametrize("kw,name", [
    ({"n_uavs": 0}, "n_uavs"),
    ({"uav_capacity": 0}, "uav_capacity"),
    ({"users_xy": [(10.0, 10.0), (1200.0, 50.0)]}, "users_xy"),
    ({"users_xy": [(10.0, -1.0)]}, "users_xy"),
    ({"hotspots": [(2000.0, 10.0)]}, "hotspots"),
    ({"n_users": 0}, "n_users"),
    ({"cell_m": 300.0}, "cell_m"),
    ({"uav_alt_m": -5.0}, "uav_alt_m"),
    ({"scene": "moon"}, "scene"),
    ({"obs_mode": "pixels"}, "obs_mode"),
    ({"n_uavs": 20}, "n_uavs"),
    ({"wings": 2}, "wings"),
])
def test_invalid_params_name_the_field(kw, name):
    with pytest.raises(ConfigError, match=name) as e:
        make_params(**kw)
    assert isinstance(e.value, ValueError)
    with pytest.raises(ConfigError, match=name):
        parallel_env(**kw)


def test_users_xy_error_prints_plain_floats():
    with pytest.raises(ConfigError) as e:
        make_params(users_xy=[(10.0, 10.0), (1200.0, 50.0)])
    assert str(e.value) == "users_xy: user 1 at (1200.0, 50.0) lies outside the [0, 1000.0] m area"


def test_unknown_preset_and_raw_params_validated():
    with pytest.raises(ConfigError, match="preset"):
        make_params("lunar")
    with pytest.raises(ConfigError, match="uav_capacity"):
        UAVOffload(make_params(), uav_capacity=0)


def test_presets_differ():
    u, s, d = make_params("urban"), make_params("suburban"), make_params("dense")
    assert u.los_a == 9.61 and s.los_a == 4.88 and d.los_a == 12.08 and d.n_users == 150


def test_parallel_api_test_passes():
    parallel_api_test(parallel_env(), num_cycles=1000)
    parallel_api_test(parallel_env("dense", start_mode="random", obs_mode="grid_pos"), num_cycles=300)


def test_parallel_seed_test_passes():
    parallel_seed_test(lambda: parallel_env(start_mode="random"))
    e1, e2 = parallel_env(), parallel_env()
    o1, _ = e1.reset(seed=3)
    o2, _ = e2.reset(seed=3)
    assert all(np.array_equal(o1[a], o2[a]) for a in o1)


@pytest.mark.parametrize("bad", [7, -1, 1.5, "north", np.array([1, 2])])
def test_invalid_action_raises_clear_error(bad):
    env = parallel_env()
    env.reset(seed=0)
    acts = {a: 0 for a in env.agents}
    acts["uav_2"] = bad
    with pytest.raises(InvalidActionError, match=r"actions\['uav_2'\]") as e:
        env.step(acts)
    assert isinstance(e.value, OffrlError)


def test_missing_and_unknown_agent_actions():
    env = parallel_env()
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="missing"):
        env.step({"uav_0": 0})
    with pytest.raises(InvalidActionError, match="uav_9"):
        env.step({**{a: 0 for a in env.agents}, "uav_9": 1})


def test_truncation_removes_agents_and_render():
    env = parallel_env(episode_len=3, render_mode="ansi")
    env.reset(seed=1)
    for _ in range(3):
        obs, rew, term, trunc, infos = env.step({a: 1 for a in env.agents})
    assert all(trunc.values()) and env.agents == []
    assert "associated users" in env.render()
    assert env.state().shape == (env.params.state_dim,)
    with pytest.raises(OffrlError):
        env.step({})


def test_jax_env_imports_without_pettingzoo_and_the_adapter_names_the_extra():
    """The pure-JAX env, reference and baselines need no PettingZoo; the adapter says how to get it."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['pettingzoo'] = None\n"  # makes `import pettingzoo` fail
        "import offrl.envs.uav as u, offrl.envs.uav.baselines\n"
        "u.make_params('urban'); u.UAVOffload\n"
        "try:\n    u.parallel_env\nexcept ModuleNotFoundError as e:\n    print('MSG', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "MSG" in out.stdout and "offrl[marl]" in out.stdout
