"""Hand-checked losses, every algorithm's smoke run, and the trainer's promises (resume, NaN, errors)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from offrl import algos
from offrl.algos import common, cql, networks
from offrl.datasets import DatasetSpec, OfflineDataset
from offrl.errors import ConfigError, UnknownIdError
from offrl.evaluation.rollout import evaluate
from offrl.train import TrainConfig, TrainingDiverged, init_states, make_chunk_fn, train

TINY = ("hidden=16,16", "batch_size=16")


def hopper_like(n=600, seed=0, ref=True):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 11)).astype(np.float32)
    nxt = np.roll(obs, -1, 0)
    term = np.zeros(n, bool)
    term[::97] = True
    spec = DatasetSpec("toy/hopper", "Hopper-v5", (11,), "float32", (3,), "float32",
                       ref_min=-20.0 if ref else None, ref_max=3234.0 if ref else None)
    return OfflineDataset(obs, rng.uniform(-1, 1, (n, 3)).astype(np.float32), rng.normal(size=n), nxt, term,
                          np.zeros(n, bool), spec=spec)


# ------------------------------------------------------------------ hand-checked numerics
def test_expectile_loss_by_hand():
    diff = jnp.array([2.0, -1.0, 0.5])
    np.testing.assert_allclose(common.expectile_loss(diff, 0.7), [0.7 * 4, 0.3 * 1, 0.7 * 0.25], rtol=1e-6)


def test_normal_log_prob_matches_scipy():
    x, m, ls = np.array([0.3, -1.0]), np.array([0.1, 0.2]), np.array([-0.5, 0.3])
    want = scipy.stats.norm(m, np.exp(ls)).logpdf(x).sum()
    np.testing.assert_allclose(networks.normal_log_prob(x, m, ls), want, rtol=1e-5)


def test_tanh_gaussian_log_prob_is_change_of_variables():
    mean, log_std = jnp.array([[0.2, -0.4]]), jnp.array([[-0.3, 0.1]])
    a, lp = networks.tanh_gaussian_sample(jax.random.PRNGKey(3), mean, log_std)
    u = np.arctanh(np.asarray(a))
    want = scipy.stats.norm(mean, np.exp(log_std)).logpdf(u).sum() - np.log(1 - np.asarray(a) ** 2).sum()
    np.testing.assert_allclose(lp, want, rtol=1e-4)
    # a masked dimension is zeroed and leaves the log-probability
    a2, lp2 = networks.tanh_gaussian_sample(jax.random.PRNGKey(3), mean, log_std, mask=jnp.array([1.0, 0.0]))
    assert float(a2[0, 1]) == 0.0
    want1 = scipy.stats.norm(mean[0, 0], np.exp(log_std[0, 0])).logpdf(u[0, 0]) - np.log(1 - np.asarray(a)[0, 0] ** 2)
    np.testing.assert_allclose(lp2, [want1], rtol=1e-4)


def test_cql_penalty_by_hand():
    q_data = jnp.array([[1.0, 2.0]])                     # (critics=1, batch=2)
    q_rand = jnp.array([[[0.0], [1.0]]])                 # (1, 2, n=1)
    q_cur, q_next = q_rand + 1.0, q_rand - 1.0
    lp_cur, lp_next = jnp.array([[0.5], [0.5]]), jnp.array([[-0.5], [-0.5]])
    got = cql.cql_penalty(q_data, q_rand, q_cur, lp_cur, q_next, lp_next, act_dim=2, temp=1.0)
    want = []
    for b in range(2):
        terms = [q_rand[0, b, 0] - 2 * np.log(0.5), q_next[0, b, 0] + 0.5, q_cur[0, b, 0] - 0.5]
        want.append(np.log(np.sum(np.exp(terms))) - q_data[0, b])
    np.testing.assert_allclose(got, [np.mean(want)], rtol=1e-5)


def test_soft_update():
    t = {"w": jnp.zeros(2)}
    o = {"w": jnp.ones(2)}
    np.testing.assert_allclose(networks.soft_update(t, o, 0.25)["w"], [0.25, 0.25])


def test_td3bc_actor_loss_normalises_q():
    """With lambda = alpha / mean|Q| the RL term is scale-free: scaling Q leaves the gradient direction."""
    from offrl.algos import td3bc

    ds = hopper_like(64)
    algo = algos.get("td3bc")
    cfg = algo.make_config(hidden=(8, 8), batch_size=8)
    st = algo.init(jax.random.PRNGKey(0), ds.spec, cfg)
    b = {"observations": jnp.asarray(ds.observations[:8]), "actions": jnp.asarray(ds.actions[:8])}
    _, m = td3bc._actor_step(cfg, st, b)
    pi = st.actor.apply_fn({"params": st.actor.params}, b["observations"])
    np.testing.assert_allclose(m["actor/bc_loss"], np.mean((np.asarray(pi) - ds.actions[:8]) ** 2), rtol=1e-5)
    q = st.critic.apply_fn({"params": st.critic.params}, b["observations"], pi)[0]
    want = -cfg.alpha / np.mean(np.abs(q)) * np.mean(q) + m["actor/bc_loss"]
    np.testing.assert_allclose(m["actor/loss"], want, rtol=1e-4)


# ------------------------------------------------------------------ every algorithm trains and evaluates
@pytest.mark.parametrize("name", [n for n in algos.names() if n not in ("dt", "modt")])
def test_algorithm_trains_and_evaluates(name):
    ds = hopper_like()
    algo = algos.get(name)
    cfg = algo.make_config(hidden=(16, 16), batch_size=16)
    data = jax.device_put(algo.prepare(ds, cfg))
    states, keys = init_states(algo, cfg, ds.spec, [0, 1], data)
    fn = make_chunk_fn(algo, cfg, ds.spec, 100 // cfg.steps_per_call)
    for _ in range(3):
        states, keys, m = fn(states, keys, data)
    assert all(np.isfinite(np.asarray(v)).all() and np.asarray(v).shape == (2,) for v in m.values())
    res = evaluate(algo, cfg, states, "Hopper-v5", episodes=2, max_steps=30)
    assert res.returns.shape == (2, 1, 2) and np.isfinite(res.returns).all()


def test_cql_networks_are_initialised_as_corl():
    ds = hopper_like()
    s = cql.init(jax.random.PRNGKey(0), ds.spec, cql.Config())
    mlp = s.critic.params["VmapCritic_0"]["MLP_0"]
    for member in range(2):  # hidden 256x256 layers orthogonal with gain sqrt 2: W^T W = 2 I
        w = np.asarray(mlp["Dense_1"]["kernel"][member])
        np.testing.assert_allclose(w.T @ w, 2.0 * np.eye(256), atol=1e-4)
        np.testing.assert_allclose(np.linalg.norm(mlp["Dense_3"]["kernel"][member]), 1e-2, rtol=1e-4)
    assert not np.allclose(mlp["Dense_1"]["kernel"][0], mlp["Dense_1"]["kernel"][1])  # members differ
    # policy: heads Xavier-uniform with gain 1e-2, log-std = 1 * head - 1 at init
    head = np.asarray(s.actor.params["Dense_1"]["kernel"])
    assert np.abs(head).max() <= 1e-2 * np.sqrt(6 / (256 + 3)) + 1e-9
    obs = jnp.asarray(ds.observations[:5])
    _, log_std = common.apply(s.actor, s.actor.params, obs)
    np.testing.assert_allclose(np.asarray(log_std), -1.0, atol=0.05)
    params = jax.tree_util.tree_map(lambda x: x, s.actor.params)
    params["log_std_offset"] = jnp.float32(-50.0)  # the clip is CORL's [-20, 2]
    _, clipped = common.apply(s.actor, params, obs)
    np.testing.assert_allclose(np.asarray(clipped), -20.0)
    plain = cql.init(jax.random.PRNGKey(0), ds.spec, cql.Config(orthogonal_init=False))
    out = np.asarray(plain.critic.params["VmapCritic_0"]["MLP_0"]["Dense_3"]["kernel"])
    assert np.abs(out).max() <= 1e-2 * np.sqrt(6 / (256 + 1)) + 1e-9


def test_cql_critic_loss_equals_corl_formulation_with_repeated_states():
    """The update runs the policy once per state and the critics on one concatenated batch; the loss
    must equal CORL's layout: n-fold repeated states through the policy, one critic call per action set."""
    from offrl.algos.networks import tanh_gaussian_sample

    ds = hopper_like()
    algo = algos.get("cql")
    cfg = algo.make_config(hidden=(16, 16), batch_size=8, cql_n_actions=3)
    data = jax.device_put(algo.prepare(ds, cfg))
    s = cql.init(jax.random.PRNGKey(0), ds.spec, cfg)
    b = algo.sample(cfg, data, jax.random.PRNGKey(1), ds.spec)
    key = jax.random.PRNGKey(2)
    _, m = cql.update(cfg, s, b, key)

    _, k_next, k_rand, k_cur, k_nn = jax.random.split(key, 5)
    obs, nxt, n = b["observations"], b["next_observations"], cfg.cql_n_actions
    bsz, act_dim = b["actions"].shape

    def policy(o, k):
        return tanh_gaussian_sample(k, *common.apply(s.actor, s.actor.params, o))

    def critics(o, a):
        return common.apply(s.critic, s.critic.params, o, a)

    next_a, _ = policy(nxt, k_next)
    y = b["rewards"] + cfg.discount * (1 - b["terminations"]) * jnp.min(
        common.apply(s.critic, s.critic_target, nxt, next_a), axis=0)
    obs_rep, nxt_rep = jnp.repeat(obs[:, None], n, 1), jnp.repeat(nxt[:, None], n, 1)
    rand_a = jax.random.uniform(k_rand, (bsz, n, act_dim), minval=-1.0, maxval=1.0)
    cur_a, cur_lp = policy(obs_rep, k_cur)
    nn_a, nn_lp = policy(nxt_rep, k_nn)
    q_data = critics(obs, b["actions"])
    td = jnp.sum(jnp.mean((q_data - y) ** 2, axis=-1))
    pen = cql.cql_penalty(q_data, critics(obs_rep, rand_a), critics(obs_rep, cur_a), cur_lp,
                          critics(obs_rep, nn_a), nn_lp, act_dim, cfg.cql_temp)
    np.testing.assert_allclose(float(m["critic/td_loss"]), float(td), rtol=1e-5)
    np.testing.assert_allclose(float(m["critic/cql_penalty"]), float(jnp.mean(pen)), rtol=1e-5)
    np.testing.assert_allclose(float(m["critic/loss"]), float(td + cfg.cql_alpha * jnp.sum(pen)), rtol=1e-5)


def test_iql_targets_use_the_value_network_from_before_its_update():
    """CORL's order: r + gamma * V_old(s') and the advantage Q_target - V_old, checked by hand."""
    from offrl.algos import iql

    ds = hopper_like()
    cfg = iql.Config(hidden=(16, 16), batch_size=8)
    s = iql.init(jax.random.PRNGKey(0), ds.spec, cfg)
    rng = np.random.default_rng(1)
    b = {"observations": rng.normal(size=(8, 11)).astype(np.float32),
         "actions": rng.uniform(-1, 1, (8, 3)).astype(np.float32),
         "next_observations": rng.normal(size=(8, 11)).astype(np.float32),
         "rewards": rng.normal(size=8).astype(np.float32),
         "terminations": (np.arange(8) % 3 == 0).astype(np.float32)}
    _, m = iql.update(cfg, s, b, jax.random.PRNGKey(2))
    v_old_next = common.apply(s.value, s.value.params, b["next_observations"])
    y = b["rewards"] + cfg.discount * (1 - b["terminations"]) * v_old_next
    q = common.apply(s.critic, s.critic.params, b["observations"], b["actions"])
    np.testing.assert_allclose(float(m["critic/loss"]), float(jnp.mean((q - y) ** 2)), rtol=1e-5)
    adv = jnp.min(common.apply(s.critic, s.critic_target, b["observations"], b["actions"]), 0) \
        - common.apply(s.value, s.value.params, b["observations"])
    w = jnp.minimum(jnp.exp(cfg.beta * adv), cfg.max_weight)
    np.testing.assert_allclose(float(m["actor/adv_weight_mean"]), float(w.mean()), rtol=1e-5)
    # the policy's state-independent log-std is clipped to CORL's [-20, 2]
    params = dict(s.actor.params, log_std=jnp.full(3, -30.0))
    _, log_std = common.apply(s.actor, params, b["observations"])
    np.testing.assert_allclose(np.asarray(log_std), -20.0)


@pytest.mark.parametrize("name", ["bc", "td3bc", "iql", "cql"])
def test_bfloat16_matmuls_keep_float32_state_and_track_float32_losses(name):
    ds = hopper_like()
    algo = algos.get(name)
    data = None
    metrics = {}
    for dtype in ("float32", "bfloat16"):
        cfg = algo.make_config(hidden=(16, 16), batch_size=16, compute_dtype=dtype)
        data = jax.device_put(algo.prepare(ds, cfg))
        states, keys = init_states(algo, cfg, ds.spec, [0], data)
        states, keys, metrics[dtype] = make_chunk_fn(algo, cfg, ds.spec, 5)(states, keys, data)
        # parameters, optimiser moments and targets stay float32 whatever the matmul dtype; the only
        # bf16 arrays are the stored matmul copies of the weights, equal to the cast parameters
        nets = [n for n in (getattr(states, f, None) for f in ("actor", "critic", "value")) if n is not None]
        copies = [x for n in nets for x in jax.tree_util.tree_leaves(n.compute)]
        assert {x.dtype for x in jax.tree_util.tree_leaves(states) if jnp.issubdtype(x.dtype, jnp.floating)} \
            - {x.dtype for x in copies} == {jnp.dtype("float32")}
        assert bool(copies) == (dtype == "bfloat16")
        for n in nets:
            cast = [x.astype(d) for x, d in zip(jax.tree_util.tree_leaves(n.params), n.cast_dtypes) if d]
            for c, want in zip(n.compute, cast):
                np.testing.assert_array_equal(np.asarray(c), np.asarray(want))
        assert all(np.asarray(v).dtype == np.float32 for v in metrics[dtype].values())
    # same seeds, same batches: only the rounding of the products differs (bf16 has 8 mantissa bits)
    for k, v in metrics["float32"].items():
        np.testing.assert_allclose(np.asarray(metrics["bfloat16"][k]), np.asarray(v), rtol=0.05, atol=0.05,
                                   err_msg=k)


@pytest.mark.parametrize("name", ["td3bc", "iql", "cql", "dt"])
def test_stored_bf16_weight_copies_are_the_same_arithmetic_as_casting_at_each_use(name, monkeypatch):
    """The optimiser step writes the bf16 copies the forward passes read; without them every forward
    pass casts the float32 weights itself. Same casts, so the same numbers."""
    ds = hopper_like()
    algo = algos.get(name)
    out = {}
    for stored in (True, False):
        if not stored:  # no leaf marked for a stored copy: flax casts at each use
            monkeypatch.setattr(common, "cast_dtypes_of", lambda module, params, *a, **k: (None,) * len(
                jax.tree_util.tree_leaves(params)))
        if name == "dt":
            cfg = algo.resolve(algo.make_config(context_len=5, embed_dim=16, num_layers=1, batch_size=8,
                                                warmup_steps=2, compute_dtype="bfloat16"), ds.spec)
        else:
            cfg = algo.make_config(hidden=(16, 16), batch_size=16, compute_dtype="bfloat16")
        data = jax.device_put(algo.prepare(ds, cfg))
        states, keys = init_states(algo, cfg, ds.spec, [0], data)
        out[stored] = make_chunk_fn(algo, cfg, ds.spec, 5)(states, keys, data)
    nets = ("model",) if name == "dt" else ("actor", "critic")
    assert all(getattr(out[True][0], n).compute for n in nets)
    assert not any(getattr(out[False][0], n).compute for n in nets)
    for n in nets:
        for a, b in zip(jax.tree_util.tree_leaves(getattr(out[False][0], n).params),
                        jax.tree_util.tree_leaves(getattr(out[True][0], n).params)):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6, atol=1e-7)
    for k, v in out[False][2].items():
        np.testing.assert_allclose(np.asarray(out[True][2][k]), np.asarray(v), rtol=1e-6, atol=1e-7, err_msg=k)


@pytest.mark.parametrize("name", ["td3bc", "iql", "dt"])
def test_flat_optimizer_is_the_same_arithmetic(name):
    """optax.flatten changes kernels, not maths: parameters after a few updates agree to rounding."""
    ds = hopper_like()
    algo = algos.get(name)
    params = {}
    for flat in (False, True):
        if name == "dt":
            cfg = algo.resolve(algo.make_config(context_len=5, embed_dim=16, num_layers=1, batch_size=8,
                                                warmup_steps=2, flat_optimizer=flat), ds.spec)
        else:
            cfg = algo.make_config(hidden=(16, 16), batch_size=16, flat_optimizer=flat)
        data = jax.device_put(algo.prepare(ds, cfg))
        states, keys = init_states(algo, cfg, ds.spec, [0], data)
        states, keys, _ = make_chunk_fn(algo, cfg, ds.spec, 5)(states, keys, data)
        params[flat] = states
    tree = lambda s: s.model.params if name == "dt" else (s.actor.params, s.critic.params)  # noqa: E731
    opt = lambda s: s.model.opt_state if name == "dt" else s.critic.opt_state  # noqa: E731
    # the flat optimiser really holds one vector per moment instead of one array per parameter
    assert len(jax.tree_util.tree_leaves(opt(params[True]))) < len(jax.tree_util.tree_leaves(opt(params[False])))
    for a, b in zip(jax.tree_util.tree_leaves(tree(params[False])), jax.tree_util.tree_leaves(tree(params[True]))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_concurrent_kernels_options_reach_the_compiler_and_change_no_number(monkeypatch):
    """``concurrent_kernels`` (and ``deterministic``) compile the chunk with XLA options on GPUs only.
    Here the CPU is made to look like a GPU, so the options really go to the compiler, which checks
    every option name and enum value (a misspelt one raises); the CPU ignores them, so the numbers
    must be the same as without. (benchmarks/concurrent_check.py makes the same comparison
    on a GPU, where the options take effect.)"""
    import offrl.train as T

    assert T.chunk_compiler_options(True) is None  # a CPU: XLA's defaults
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert T.chunk_compiler_options(True) == T.CONCURRENT_KERNELS
    assert T.chunk_compiler_options(False) is None
    assert T.chunk_compiler_options(True, deterministic=True) == {**T.CONCURRENT_KERNELS, **T.DETERMINISTIC_KERNELS}
    ds = hopper_like()
    algo = algos.get("iql")
    cfg = algo.make_config(hidden=(16, 16), batch_size=16)
    data = jax.device_put(algo.prepare(ds, cfg))
    out = {}
    for options in ((False, False), (True, False), (True, True)):
        states, keys = init_states(algo, cfg, ds.spec, [0, 1], data)
        fn = make_chunk_fn(algo, cfg, ds.spec, 5, concurrent=options[0], deterministic=options[1])
        out[options] = jax.device_get(fn(states, keys, data))
    for options in ((True, False), (True, True)):
        for a, b in zip(jax.tree_util.tree_leaves(out[False, False]), jax.tree_util.tree_leaves(out[options])):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(Exception, match="xla_gpu_command_buffer_scheduling_mode"):  # values are checked
        jax.jit(lambda x: x + 1, compiler_options={"xla_gpu_command_buffer_scheduling_mode": "SOMETIMES"})(1.0)


@pytest.mark.parametrize("name", ["td3bc", "iql", "cql"])
def test_bf16_first_moments_train_like_the_defaults(name):
    ds = hopper_like()
    algo = algos.get(name)
    out = {}
    for mu_dtype in ("float32", "bfloat16"):
        cfg = algo.make_config(hidden=(16, 16), batch_size=16, first_moment_dtype=mu_dtype)
        data = jax.device_put(algo.prepare(ds, cfg))
        states, keys = init_states(algo, cfg, ds.spec, [0], data)
        initial = [np.asarray(x) for x in jax.tree_util.tree_leaves(states.critic.params)]  # (the chunk donates)
        out[mu_dtype] = make_chunk_fn(algo, cfg, ds.spec, 5)(states, keys, data)[0]
    base, mu16 = out["float32"], out["bfloat16"]
    # Adam's first moment is stored in bfloat16, its second moment and the parameters stay float32
    adam_state = mu16.critic.opt_state[0]
    assert {x.dtype for x in jax.tree_util.tree_leaves(adam_state.mu)} == {jnp.dtype("bfloat16")}
    assert {x.dtype for x in jax.tree_util.tree_leaves(adam_state.nu)} == {jnp.dtype("float32")}
    assert {x.dtype for x in jax.tree_util.tree_leaves(mu16.critic.params)} == {jnp.dtype("float32")}
    # the parameters' change over five steps agrees to the first moment's rounding (bf16: 8 mantissa bits)
    for p0, a, b in zip(initial, jax.tree_util.tree_leaves(base.critic.params),
                        jax.tree_util.tree_leaves(mu16.critic.params)):
        np.testing.assert_allclose(np.asarray(b) - p0, np.asarray(a) - p0, rtol=0.03, atol=2e-5)


def test_compute_dtype_is_validated():
    with pytest.raises(ConfigError, match="compute_dtype"):
        algos.get("td3bc").make_config(compute_dtype="float16")


# ------------------------------------------------------------------ trainer promises
def _tc(tmp_path, **kw):
    base = dict(algo="bc", dataset="toy/hopper", seeds=(0, 1), steps=300, eval_every=100, chunk=50,
                eval_episodes=1, hp=TINY, wandb=False, progress=False, results_dir=str(tmp_path))
    base.update(kw)
    return TrainConfig(**base)


def test_train_writes_results_layout(tmp_path):
    final = train(_tc(tmp_path, algo="td3bc"), dataset=hopper_like())
    run = tmp_path / final["run_id"]
    assert {"config.json", "metrics.jsonl", "final.json"} <= {p.name for p in run.iterdir()}
    assert len(final["normalized_score"]["curve"]) == 2 and len(final["eval_steps"]) == 3
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert {x["kind"] for x in lines} == {"train", "eval"}
    # where its time went: the first chunk (with compilation) apart from the rest of training
    spent = final["time_s"]
    assert set(spent) == {"train", "first_chunk", "eval", "checkpoints"} and min(spent.values()) >= 0
    assert spent["first_chunk"] > 0 < spent["eval"] and sum(spent.values()) <= final["wall_time_s"]
    # a finished run is returned as is and never rewritten
    before = (run / "final.json").read_text()
    assert train(_tc(tmp_path, algo="td3bc"), dataset=hopper_like()) == final
    assert (run / "final.json").read_text() == before


def test_evaluation_workers_change_where_envs_step_not_what_they_return(tmp_path):
    """eval_workers=2 (two processes stepping the evaluation envs) gives the in-process evaluation's
    numbers: why `offrl sweep --eval-workers N` may change it without changing run ids."""
    one = train(_tc(tmp_path / "a", eval_episodes=3, steps=100), dataset=hopper_like())
    two = train(_tc(tmp_path / "b", eval_episodes=3, steps=100, eval_workers=2), dataset=hopper_like())
    assert one["return"] == two["return"] and one["normalized_score"] == two["normalized_score"]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_resume_after_kill_equals_uninterrupted(tmp_path, monkeypatch, dtype):
    ds = hopper_like()
    hp = (*TINY, f"compute_dtype={dtype}")  # bf16: the stored weight copies are checkpointed too
    ref = train(_tc(tmp_path / "a", algo="iql", hp=hp), dataset=ds)

    import offrl.train as T

    real = T.make_chunk_fn

    def dying(*a, **k):
        fn, calls = real(*a, **k), {"n": 0}

        def wrapped(*args):
            calls["n"] += 1
            if calls["n"] == 5:  # step 250: after the checkpoint of step 200
                raise KeyboardInterrupt("killed")
            return fn(*args)
        return wrapped

    monkeypatch.setattr(T, "make_chunk_fn", dying)
    with pytest.raises(KeyboardInterrupt):
        train(_tc(tmp_path / "b", algo="iql", hp=hp), dataset=ds)
    monkeypatch.setattr(T, "make_chunk_fn", real)
    resumed = train(_tc(tmp_path / "b", algo="iql", hp=hp), dataset=ds)
    assert resumed["normalized_score"] == ref["normalized_score"]
    # the wall time is the run's over both attempts: the killed one's up to its checkpoint, then this one's
    assert resumed["resumed_from_step"] == 200 and "resumed_from_step" not in ref
    assert 0 < resumed["attempt_wall_time_s"] < resumed["wall_time_s"]
    assert resumed["machine"] == ref["machine"] and ref["machine"].startswith("CPU: ")
    a = np.load(tmp_path / "a" / ref["run_id"] / "final_state.npz")
    b = np.load(tmp_path / "b" / resumed["run_id"] / "final_state.npz")
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("overlap", [False, True])
def test_nan_stops_with_clear_message_and_keeps_checkpoint(tmp_path, monkeypatch, overlap):
    import dataclasses

    from offrl.algos import bc
    from offrl.algos.base import ALGORITHMS

    def update(cfg, state, batch, key):  # BC whose loss turns NaN after 120 steps
        state, m = bc.update(cfg, state, batch, key)
        return state, {"actor/bc_loss": jnp.where(state.actor.step > 120, jnp.nan, m["actor/bc_loss"])}

    # registered for this test only: other tests list every registered algorithm
    monkeypatch.setitem(ALGORITHMS._entries, "nan_after_120",
                        dataclasses.replace(bc.ALGO, name="nan_after_120", update=update))
    with pytest.raises(TrainingDiverged, match="actor/bc_loss became non-finite.*Last good checkpoint: step 100"):
        train(_tc(tmp_path, algo="nan_after_120", overlap_eval=overlap), dataset=hopper_like())


def test_bad_input_is_caught_before_compilation(tmp_path):
    with pytest.raises(UnknownIdError, match="td3bc"):
        train(_tc(tmp_path, algo="td3_bc"), dataset=hopper_like())
    with pytest.raises(ConfigError, match="discount"):
        train(_tc(tmp_path, algo="td3bc", hp=("discount=2",)), dataset=hopper_like())
    with pytest.raises(ConfigError, match="alpha"):
        algos.get("td3bc").make_config(alpha=-1.0)
    with pytest.raises(ConfigError, match="did you mean 'alpha'"):
        algos.get("td3bc").make_config(alpah=1.0)
    with pytest.raises(ConfigError, match="eval env 'HalfCheetah-v5'"):
        train(_tc(tmp_path, env_id="HalfCheetah-v5"), dataset=hopper_like())
    with pytest.raises(ConfigError, match="multiple of chunk"):
        _tc(tmp_path, eval_every=120)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_offrl_eval_reproduces_the_final_evaluation(tmp_path, capsys, dtype):
    from offrl.cli import main

    final = train(_tc(tmp_path, algo="td3bc", eval_episodes=2, hp=(*TINY, f"compute_dtype={dtype}")),
                  dataset=hopper_like())
    assert main(["eval", str(tmp_path / final["run_id"]), "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    for seed, ret in zip(final["seeds"], final["return"]["last"]):
        assert f"| default | {seed} | {ret:.1f} ±" in out  # same policy, same evaluation seeds
    assert main(["eval", str(tmp_path / "nope")]) == 1
    if dtype == "bfloat16":
        return
    # bad input: another env's spaces, a damaged final state, a continual run: a message, no traceback
    capsys.readouterr()
    run = tmp_path / final["run_id"]
    assert main(["eval", str(run), "--env-id", "HalfCheetah-v5"]) == 1
    assert "eval env 'HalfCheetah-v5'" in capsys.readouterr().err
    assert main(["eval", str(run), "--target-returns", "3000"]) == 1
    assert "td3bc is not conditioned on a target return (dt and modt are)" in capsys.readouterr().err
    state = run / "final_state.npz"
    state.write_bytes(state.read_bytes()[:100])
    assert main(["eval", str(run)]) == 1
    err = capsys.readouterr().err
    assert "final_state.npz is damaged and cannot be evaluated" in err and "Traceback" not in err
    cont = tmp_path / "cont"
    cont.mkdir()
    (cont / "config.json").write_text('{"kind": "continual", "method": "er"}')
    assert main(["eval", str(cont)]) == 1
    assert "is a continual run" in capsys.readouterr().err


def test_evaluation_beside_training_records_what_evaluation_in_line_records(tmp_path):
    """overlap_eval evaluates a copy of each evaluation step's states in a thread while the next chunks
    train: on a CPU the same scores, records (rows in the same order), checkpoints and final weights as
    training that waits for each evaluation (the default), and the same run id."""
    ds = hopper_like()
    inline = train(_tc(tmp_path / "a", algo="td3bc"), dataset=ds)
    beside = train(_tc(tmp_path / "b", algo="td3bc", overlap_eval=True), dataset=ds)
    assert inline["run_id"] == beside["run_id"]
    assert beside["normalized_score"] == inline["normalized_score"] and beside["return"] == inline["return"]
    assert "eval_background_s" in beside and "eval_background_s" not in inline
    rows = {}
    for name in ("a", "b"):
        lines = (tmp_path / name / inline["run_id"] / "metrics.jsonl").read_text().splitlines()
        rows[name] = [{k: v for k, v in json.loads(x).items() if k != "time"} for x in lines]
    assert rows["a"] == rows["b"] and any(r["kind"] == "eval" for r in rows["b"])
    ckpts = {n: sorted(p.name for p in (tmp_path / n / inline["run_id"] / "checkpoints").iterdir() if p.name.isdigit())
             for n in ("a", "b")}
    assert ckpts["a"] == ckpts["b"] and ckpts["b"]
    a = np.load(tmp_path / "a" / inline["run_id"] / "final_state.npz")
    b = np.load(tmp_path / "b" / inline["run_id"] / "final_state.npz")
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k])


def test_an_evaluation_failing_beside_training_stops_the_run_without_its_checkpoint(tmp_path, monkeypatch):
    from offrl.evaluation import rollout

    def broken(*a, **k):
        raise ValueError("env exploded")

    monkeypatch.setattr(rollout, "evaluate", broken)
    with pytest.raises(ValueError, match="env exploded"):
        train(_tc(tmp_path, overlap_eval=True), dataset=hopper_like())
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1 and not (runs[0] / "final.json").exists()
    assert not [p for p in (runs[0] / "checkpoints").glob("*") if p.name.isdigit()]  # no evaluation came in
