"""JAX env: invariants, determinism, jit == eager, vmap == loop, scan == loop, params vmap, oracle match."""

import jax
import jax.numpy as jnp
import numpy as np

from offrl.envs.uav import UAVOffload, UAVOffloadNumPy, make_params, stack_params
from offrl.envs.uav.env import (avail_actions_array, reset_arrays, step_arrays, step_env_arrays)
from offrl.envs.uav.env import step as uav_step
from offrl.envs.uav.channel import sinr_db

P = make_params(episode_len=20)


def _rand_actions(key, state, params):
    mask = avail_actions_array(state, params)
    return jax.random.categorical(key, jnp.where(mask, 0.0, -jnp.inf))


def _rollout(key, params, n):
    k0, key = jax.random.split(key)
    _, st = reset_arrays(k0, params)

    def body(st, k):
        ka, ks = jax.random.split(k)
        a = _rand_actions(ka, st, params)
        obs, st2, r, team, tr, inf = step_arrays(ks, st, a, params)
        return st2, (obs, r, team, tr, st2.uav_pos, inf["n_assoc"])

    return jax.lax.scan(body, st, jax.random.split(key, n))


ROLL = jax.jit(_rollout, static_argnums=(2,))


def test_dict_api_shapes_and_spaces():
    env = UAVOffload(P)
    obs, st = jax.jit(env.reset)(jax.random.PRNGKey(0))
    assert list(obs) == env.agents == ["uav_0", "uav_1", "uav_2", "uav_3"]
    for a in env.agents:
        assert env.observation_space(a) is env.observation_space(a)
        assert env.observation_space(a).contains(np.asarray(obs[a]))
        assert env.action_space(a).n == 5
    out = jax.jit(env.step)(jax.random.PRNGKey(1), st, {a: 0 for a in env.agents})
    assert len(out) == 6
    obs, st, rew, term, trunc, infos = out
    assert set(rew) == set(env.agents) and "__all__" in term and "__all__" in trunc
    assert env.get_state(st).shape == (P.state_dim,)
    assert set(env.get_avail_actions(st)) == set(env.agents)


def test_invariants_capacity_and_threshold():
    params = make_params(uav_capacity=5, sinr_th_db=6.0, episode_len=30, start_mode="random")
    env = UAVOffload(params)
    _, st = env.reset(jax.random.PRNGKey(3))
    step = jax.jit(lambda k, s, a: step_env_arrays(k, s, a, params))
    key = jax.random.PRNGKey(4)
    for _ in range(30):
        key, ka, ks = jax.random.split(key, 3)
        a = _rand_actions(ka, st, params)
        _, st, _, _, _, _ = step(ks, st, a)
        load = np.asarray(st.load)
        assert load.max() <= 5
        sinr = np.asarray(sinr_db(st.uav_pos, st.users, params))
        assoc = np.asarray(st.assoc)
        served = assoc >= 0
        assert (sinr[assoc[served], np.flatnonzero(served)] >= 6.0).all()
        # a served user is on its best UAV; the load matches the association
        assert (assoc[served] == sinr.argmax(0)[served]).all()
        assert np.array_equal(np.bincount(assoc[served], minlength=4), load)
        pos = np.asarray(st.uav_pos)
        assert ((pos >= 0) & (pos <= params.grid_n - 1)).all()


def test_masked_moves_never_leave_area_and_hover_reachable():
    env = UAVOffload(P)
    _, st = env.reset(jax.random.PRNGKey(0))
    mask = np.asarray(avail_actions_array(st, P))
    # fixed start is on the southern edge: south is masked, hover always allowed
    assert mask[:, 0].all() and not mask[:, 2].any()
    _, st2, *_ = step_env_arrays(None, st, jnp.full(4, 2), P)  # everyone tries to go south
    assert np.array_equal(np.asarray(st2.uav_pos), np.asarray(st.uav_pos))


def _close(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if np.issubdtype(x.dtype, np.floating):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-4)  # XLA fusion reorders float ops
    else:
        np.testing.assert_array_equal(x, y)


def test_determinism_and_jit_equals_eager():
    a = ROLL(jax.random.PRNGKey(7), P, 25)
    b = ROLL(jax.random.PRNGKey(7), P, 25)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)  # same key -> bit-identical
    with jax.disable_jit():
        eager = _rollout(jax.random.PRNGKey(7), P, 6)
    short = ROLL(jax.random.PRNGKey(7), P, 6)
    jax.tree_util.tree_map(_close, eager, short)


def test_scan_equals_step_loop_with_autoreset():
    env = UAVOffload(P)
    key = jax.random.PRNGKey(11)
    _, (obs_s, r_s, _, tr_s, pos_s, _) = ROLL(key, P, 25)
    k0, key = jax.random.split(key)
    _, st = reset_arrays(k0, P)
    step = jax.jit(env.step)
    for i, k in enumerate(jax.random.split(key, 25)):
        ka, ks = jax.random.split(k)
        a = _rand_actions(ka, st, P)
        obs, st, rew, term, trunc, infos = step(ks, st, {ag: a[j] for j, ag in enumerate(env.agents)})
        np.testing.assert_allclose(np.stack([obs[ag] for ag in env.agents]), obs_s[i], atol=1e-5)
        assert bool(trunc["__all__"]) == bool(tr_s[i])
        if bool(trunc["__all__"]):
            assert int(st.t) == 0 and "terminal_obs" in infos
    assert int(tr_s.sum()) == 1  # episode_len 20 within 25 steps


def test_vmap_over_keys_equals_loop():
    keys = jax.random.split(jax.random.PRNGKey(5), 4)
    batched = jax.jit(jax.vmap(lambda k: _rollout(k, P, 10)))(keys)
    for i, k in enumerate(keys):
        single = ROLL(k, P, 10)
        jax.tree_util.tree_map(lambda x, y: _close(x[i], y), batched, single)


def test_vmap_over_params():
    ps = [make_params(scene=s, uav_alt_m=h, episode_len=20) for s, h in (("urban", 100.0), ("suburban", 150.0))]
    batch = stack_params(ps)
    key = jax.random.PRNGKey(2)
    out = jax.jit(jax.vmap(lambda p: _rollout(key, p, 8)))(batch)
    for i, p in enumerate(ps):
        single = ROLL(key, p, 8)
        jax.tree_util.tree_map(lambda x, y: _close(x[i], y), out, single)


def test_no_recompilation_after_first_step():
    env = UAVOffload(P)
    _, st = env.reset(jax.random.PRNGKey(0))
    step = jax.jit(step_arrays)
    for i in range(3):
        _, st, *_ = step(jax.random.PRNGKey(i), st, jnp.full(4, 1), P)
    assert step._cache_size() == 1


def test_numpy_oracle_matches_step_for_step():
    params = make_params(episode_len=40, start_mode="random", collision_penalty=2.0, reward_mode="local")
    ref = UAVOffloadNumPy(params)
    step = jax.jit(step_env_arrays)
    rng = np.random.default_rng(0)
    for ep in range(4):
        obs, st = reset_arrays(jax.random.PRNGKey(100 + ep), params)
        np.testing.assert_allclose(ref.set_state(st.uav_pos, st.users), obs, atol=1e-5)
        env = UAVOffload(params)
        np.testing.assert_allclose(ref.state(), env.get_state(st), atol=1e-6)
        for _ in range(params.episode_len):
            a = rng.integers(0, 5, params.n_uavs)
            obs, st, r, team, tr, inf = step(None, st, a, params)
            o2, r2, team2, tr2, inf2 = ref.step(a)
            np.testing.assert_allclose(np.asarray(obs), o2, atol=1e-4)
            np.testing.assert_allclose(np.asarray(r), r2, atol=1e-4)
            np.testing.assert_array_equal(np.asarray(st.assoc), ref.assoc)
            np.testing.assert_array_equal(np.asarray(st.uav_pos), ref.uav_pos)
            np.testing.assert_allclose(np.asarray(env.get_state(st)), ref.state(), atol=1e-5)
            np.testing.assert_allclose(np.asarray(avail_actions_array(st, params)), ref.avail_actions())
            assert bool(tr) == tr2 and int(inf["n_assoc"]) == inf2["n_assoc"]


def test_shared_reward_counts_associated_users():
    env = UAVOffload(P)
    _, st = jax.jit(env.reset)(jax.random.PRNGKey(0))
    _, st, rew, *_ , infos = jax.jit(env.step_env)(jax.random.PRNGKey(0), st, jnp.zeros(4, jnp.int32))
    assert all(float(v) == float(infos["n_assoc"]) == float(st.load.sum()) for v in rew.values())


def test_grid_pos_obs_mode():
    params = make_params(obs_mode="grid_pos")
    env = UAVOffload(params)
    obs, st = env.reset(jax.random.PRNGKey(0))
    assert obs["uav_0"].shape == (2,)
    np.testing.assert_array_equal(obs["uav_1"], np.asarray(st.uav_pos[1], np.float32))


def test_module_level_functions_jit_and_vmap_over_keys():
    import jax

    from offrl.envs import uav

    params = uav.make_params()
    obs, state = jax.jit(uav.reset)(jax.random.PRNGKey(0), params)
    assert set(obs) == set(params.agents)
    actions = {a: 0 for a in params.agents}
    out = jax.jit(uav.step)(jax.random.PRNGKey(1), state, actions, params)
    assert len(out) == 6 and "__all__" in out[3] and "__all__" in out[4]
    ref = uav.UAVOffload(params).step(jax.random.PRNGKey(1), state, actions)
    assert float(out[2][params.agents[0]]) == float(ref[2][params.agents[0]])
    keys = jax.random.split(jax.random.PRNGKey(2), 4)
    bobs, _ = jax.vmap(uav.reset, in_axes=(0, None))(keys, params)
    assert bobs[params.agents[0]].shape[0] == 4


def test_action_dict_must_name_exactly_the_agents():
    import pytest

    from offrl.errors import ConfigError

    env = UAVOffload(make_params(n_uavs=2, episode_len=5))
    _, st = env.reset(jax.random.PRNGKey(0))
    step = jax.jit(env.step)
    for bad, what in (({"uav_0": 0}, "missing uav_1"), ({"uav_0": 0, "uav_1": 1, "uav_7": 2}, "unknown uav_7")):
        for f in (step, env.step, env.step_env):
            with pytest.raises(ConfigError, match=f"one action per agent uav_0, uav_1 \\({what}\\)"):
                f(jax.random.PRNGKey(1), st, bad)
    step(jax.random.PRNGKey(1), st, {"uav_0": 0, "uav_1": 1})  # the right keys still step


def test_out_of_range_action_ids_hover_as_documented():
    env = UAVOffload(make_params(n_uavs=2, episode_len=5))
    _, st = env.reset(jax.random.PRNGKey(0))
    hover = env.step_env(jax.random.PRNGKey(1), st, {"uav_0": 0, "uav_1": 0})[1]
    odd = jax.jit(env.step_env)(jax.random.PRNGKey(1), st, {"uav_0": 7, "uav_1": -1})[1]
    np.testing.assert_array_equal(odd.uav_pos, hover.uav_pos)
    np.testing.assert_array_equal(odd.uav_pos, st.uav_pos)


def _step_variants(env):
    """Every public way to step the JAX env with an action array, eager and under jit/vmap."""
    p = env.params
    return {
        "env.step": env.step,
        "env.step_env": env.step_env,
        "jit(env.step)": jax.jit(env.step),
        "jit(uav.step)": jax.jit(lambda k, s, a: uav_step(k, s, a, p)),
        "step_arrays": lambda k, s, a: step_arrays(k, s, a, p),
        "jit(step_env_arrays)": jax.jit(lambda k, s, a: step_env_arrays(k, s, a, p)),
        # under vmap the per-call shape is the unbatched one: a batch of 3 rows of the given actions
        "vmap(env.step)": lambda k, s, a: jax.vmap(env.step, in_axes=(None, None, 0))(k, s, jnp.stack([a] * 3)),
        "jit(vmap(step_arrays))": jax.jit(lambda k, s, a: jax.vmap(lambda b: step_arrays(k, s, b, p))(
            jnp.stack([a] * 3))),
    }


def test_action_array_of_wrong_shape_raises_config_error_naming_the_shape():
    import pytest

    from offrl.errors import ConfigError

    env = UAVOffload(make_params(n_uavs=4, episode_len=5))
    _, st = env.reset(jax.random.PRNGKey(0))
    need = (r"actions: need one action per agent, an integer array of shape \(4,\) for the 4 agents "
            r"uav_0, uav_1, uav_2, uav_3; got shape ")
    for bad, got in ((jnp.array([1, 2]), r"\(2,\)"),                        # too short (the reported case)
                     (jnp.zeros(5, jnp.int32), r"\(5,\)"),                  # too long
                     (jnp.zeros((4, 1), jnp.int32), r"\(4, 1\)"),           # wrong rank
                     (jnp.zeros((2, 4), jnp.int32), r"\(2, 4\)"),
                     (jnp.int32(1), r"\(\)")):                              # a scalar
        for name, f in _step_variants(env).items():
            with pytest.raises(ConfigError, match=need + got):
                f(jax.random.PRNGKey(1), st, bad)
    with pytest.raises(ConfigError, match=need.replace("got shape ", r"got list \[\[1\], \[2, 3\]\]")):
        env.step(jax.random.PRNGKey(1), st, [[1], [2, 3]])


def test_float_or_bool_actions_are_refused_not_truncated():
    import pytest

    from offrl.errors import ConfigError

    env = UAVOffload(make_params(n_uavs=4, episode_len=5))
    _, st = env.reset(jax.random.PRNGKey(0))
    msg = (r"actions: an action is an index into the 5 discrete actions 0\.\.4 \(0 hover, 1 north, 2 south, "
           r"3 east, 4 west\), so an integer dtype is needed; got dtype ")
    for bad, dtype in ((jnp.array([0.0, 1.0, 2.9, 3.0]), "float32"), (np.array([1.5, 0, 0, 0]), "float"),
                       (jnp.ones(4, bool), "bool")):
        for name, f in _step_variants(env).items():
            with pytest.raises(ConfigError, match=msg + dtype):
                f(jax.random.PRNGKey(1), st, bad)
    # the values of a dict are checked the same way
    good = {a: 0 for a in env.agents}
    for f in (env.step, jax.jit(env.step)):
        with pytest.raises(ConfigError, match=r"actions\['uav_2'\]: an action is an index .* got dtype float32"):
            f(jax.random.PRNGKey(1), st, dict(good, uav_2=jnp.float32(1.0)))
        with pytest.raises(ConfigError, match=r"actions\['uav_1'\]: need one integer action \(a scalar\) per agent; "
                                              r"got shape \(2,\)"):
            f(jax.random.PRNGKey(1), st, dict(good, uav_1=jnp.array([1, 2])))


def test_integer_action_arrays_still_step():
    env = UAVOffload(make_params(n_uavs=4, episode_len=5))
    _, st = env.reset(jax.random.PRNGKey(0))
    k = jax.random.PRNGKey(1)
    step = jax.jit(env.step)
    want = np.asarray(step(k, st, {a: 1 for a in env.agents})[1].uav_pos)  # everyone one cell north
    assert not np.array_equal(want, np.asarray(st.uav_pos))
    for actions in (jnp.full(4, 1), np.ones(4, np.int64), np.ones(4, np.uint8), {a: np.int64(1) for a in env.agents}):
        np.testing.assert_array_equal(step(k, st, actions)[1].uav_pos, want, err_msg=repr(actions))
    np.testing.assert_array_equal(env.step_env(k, st, [1, 1, 1, 1])[1].uav_pos, want)  # eager, a list
    batched = jax.jit(jax.vmap(lambda a: step_arrays(k, st, a, env.params)))(jnp.ones((3, 4), jnp.int32))
    np.testing.assert_array_equal(batched[1].uav_pos, np.stack([want] * 3))
