"""Decision Transformer and MO-DT: masking, returns-to-go, windows and padding, regions, the
evaluation context window, a CPU smoke run through the fused trainer, and the sweep configs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offrl import algos
from offrl.algos import dt
from offrl.datasets import DatasetSpec, OfflineDataset
from offrl.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
TINY = dict(context_len=4, embed_dim=16, num_layers=1, num_heads=1, batch_size=8, warmup_steps=5)


def make_dataset(lengths, *, obs_dim=11, act_dim=3, terminal=None, env_id="Hopper-v5", id="test/tiny-hopper",
                 seed=0, flag_last=True, ref=(-20.0, 3234.0)):
    """Episodes of the given lengths; ``terminal[i]`` True = terminated, False = truncated.

    With ``flag_last=False`` the last episode boundary before the final one carries no flag (D4RL's
    q-learning layout), detected only by next_observations != observations of the following row.
    """
    rng = np.random.default_rng(seed)
    terminal = terminal if terminal is not None else [True] * len(lengths)
    obs, nxt, term, trunc = [], [], [], []
    for i, n in enumerate(lengths):
        o = rng.normal(size=(n + 1, obs_dim)).astype(np.float32)
        obs.append(o[:-1])
        nxt.append(o[1:])
        te, tr = np.zeros(n, bool), np.zeros(n, bool)
        silent = not flag_last and i == len(lengths) - 2
        if not silent:
            (te if terminal[i] else tr)[-1] = True
        term.append(te)
        trunc.append(tr)
    n = sum(lengths)
    spec = DatasetSpec(id=id, env_id=env_id, obs_shape=(obs_dim,), obs_dtype="float32", action_shape=(act_dim,),
                       action_dtype="float32", ref_min=ref[0] if ref else None, ref_max=ref[1] if ref else None,
                       source="test", max_episode_steps=1000)
    return OfflineDataset(np.concatenate(obs), rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
                          rng.uniform(0, 3, n).astype(np.float32), np.concatenate(nxt), np.concatenate(term),
                          np.concatenate(trunc), spec=spec)


def tiny_cfg(name="dt", **kw):
    return algos.get(name).make_config(**{**TINY, **kw})


def windows_for_all_starts(cfg, ds):
    data = jax.device_put(dt.prepare(ds, cfg))
    b = dt.gather_windows(cfg, data, jnp.arange(len(ds), dtype=jnp.int32), *ds.observations.shape[1:],
                          *ds.actions.shape[1:])
    return data, {k: np.asarray(v) for k, v in b.items()}


# ----------------------------------------------------------------------------- config
def test_registered_with_canonical_defaults():
    assert {"dt", "modt"} <= set(algos.names())
    c = algos.get("dt").make_config()
    assert (c.context_len, c.embed_dim, c.num_layers, c.num_heads, c.batch_size) == (20, 128, 3, 1, 64)
    assert (c.lr, c.weight_decay, c.warmup_steps, c.grad_clip, c.rtg_scale) == (1e-4, 1e-4, 10_000, 0.25, 1000.0)
    assert (c.embedding_dropout, c.attention_dropout, c.residual_dropout) == (0.1, 0.1, 0.1)
    assert (c.state_loss_weight, c.rtg_loss_weight, c.use_regions) == (0.0, 0.0, False)
    m = algos.get("modt").make_config()
    assert (m.state_loss_weight, m.rtg_loss_weight, m.use_regions) == (1.0, 1.0, True)
    # each MO-DT addition switches off alone
    assert algos.get("modt").make_config(use_regions=False, rtg_loss_weight=0.0).state_loss_weight == 1.0


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="num_heads"):
        algos.get("dt").make_config(embed_dim=16, num_heads=3)
    with pytest.raises(ConfigError, match="region_method"):
        algos.get("modt").make_config(region_method="voronoi")
    with pytest.raises(ConfigError, match="context_len"):
        algos.get("dt").make_config(context_len=0)
    with pytest.raises(ConfigError, match="target_returns"):
        algos.get("dt").make_config(target_returns=("high",))
    for bad, says in [(("nan", "3600"), "every target must be a finite number"),
                      ((3600, "inf"), "every target must be a finite number"),
                      ((1000, 1000.0), "names a target twice")]:
        with pytest.raises(ConfigError, match=rf"^dt\.target_returns=.*{says}"):
            algos.get("dt").make_config(target_returns=bad)
    with pytest.raises(ConfigError, match=r"^modt\.num_heads=3 must divide embed_dim=128"):
        algos.get("modt").make_config(num_heads=3, embed_dim=128)
    # CLI overrides arrive as strings
    from offrl.train import parse_overrides

    over = parse_overrides(algos.get("dt"), ["target_returns=3600,1800", "use_regions=true"])
    assert algos.get("dt").make_config(**over).target_returns == (3600.0, 1800.0)


def test_resolve_targets_and_variants():
    def spec(env_id, id, ref=(0.0, 1000.0)):
        return make_dataset([3], env_id=env_id, id=id, ref=ref).spec

    cfg = algos.get("dt").make_config()
    assert dt.resolve(cfg, spec("Hopper-v5", "local/hopper-medium-v0")).target_returns == (3600.0, 1800.0)
    assert dt.resolve(cfg, spec(None, "d4rl/halfcheetah-medium-v2")).target_returns == (12000.0, 6000.0)
    assert dt.resolve(cfg, spec("Walker2d-v5", "x")).target_returns == (5000.0, 2500.0)
    r = dt.resolve(cfg, spec("Ant-v5", "local/ant-medium-v0", ref=(-100.0, 900.0)))
    assert r.target_returns == pytest.approx((1000.0, 450.0))
    assert r.max_ep_len == 1000
    with pytest.raises(ConfigError, match="target_returns"):
        dt.resolve(cfg, spec("Ant-v5", "local/ant-medium-v0", ref=None))
    with pytest.raises(ConfigError, match="target_returns"):
        dt.eval_variants(cfg)
    own = dataclasses.replace(cfg, target_returns=(1800.0, 3600.0, 2500.5))
    assert dt.resolve(own, spec("Hopper-v5", "h")).target_returns == (1800.0, 3600.0, 2500.5)
    assert dt.eval_variants(own) == [("target_3600", {"target_return": 3600.0}),
                                     ("target_2500.5", {"target_return": 2500.5}),
                                     ("target_1800", {"target_return": 1800.0})]
    # a window longer than an episode is refused (it is padding, at attention's quadratic memory)
    assert dt.resolve(dataclasses.replace(cfg, context_len=1000), spec("Hopper-v5", "h")).context_len == 1000
    with pytest.raises(ConfigError, match=r"context_len=1001 is longer than an episode \(max_ep_len=1000\)"):
        dt.resolve(dataclasses.replace(cfg, context_len=1001), spec("Hopper-v5", "h"))
    with pytest.raises(ConfigError, match="max_ep_len=50; the dataset's episodes are at most 1000 steps"):
        dt.resolve(dataclasses.replace(cfg, context_len=60, max_ep_len=50), spec("Hopper-v5", "h"))


# ----------------------------------------------------------------------------- data
def test_returns_to_go_rewards_and_timesteps_in_windows():
    ds = make_dataset([3, 5], terminal=[True, False])
    cfg = tiny_cfg(rtg_scale=10.0, context_len=4)
    _, b = windows_for_all_starts(cfg, ds)
    r = ds.rewards.astype(np.float64)
    expected_rtg = np.concatenate([np.cumsum(r[:3][::-1])[::-1], np.cumsum(r[3:][::-1])[::-1]])
    np.testing.assert_allclose(b["rtg"][:, 0], expected_rtg / 10.0, rtol=1e-5)
    np.testing.assert_allclose(b["rewards"][:, 0], r / 10.0, rtol=1e-6)
    np.testing.assert_array_equal(b["timesteps"][:, 0], [0, 1, 2, 0, 1, 2, 3, 4])
    # the MO-DT return target R_t - r_t is the next row's RTG, and 0 after an episode's last step
    nxt = b["rtg"] - b["rewards"]
    for s in range(len(ds)):
        valid = b["mask"][s] > 0
        np.testing.assert_allclose(nxt[s][valid][:-1], b["rtg"][s][valid][1:], atol=1e-6)
    assert abs(nxt[2, 0]) < 1e-6 and abs(nxt[7, 0]) < 1e-6


def test_short_and_truncated_episodes_are_padded_not_dropped():
    # lengths 2 and 3 are shorter than the context; a truncated episode; a silent D4RL boundary
    lengths = [2, 3, 7, 4, 1]
    ds = make_dataset(lengths, terminal=[True, False, True, False, False], flag_last=False)
    assert ds.num_episodes == len(lengths)
    cfg = tiny_cfg(context_len=5)
    _, b = windows_for_all_starts(cfg, ds)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    ends = starts + np.asarray(lengths) - 1
    episode_of = np.repeat(np.arange(len(lengths)), lengths)
    seen = np.zeros(len(ds), bool)
    for s in range(len(ds)):
        e = ends[episode_of[s]]
        n_valid = min(5, e - s + 1)
        np.testing.assert_array_equal(b["mask"][s], np.arange(5) < n_valid)
        rows = np.minimum(s + np.arange(5), e)  # padding repeats the episode's last row, never the next episode
        np.testing.assert_array_equal(b["observations"][s], ds.observations[rows])
        seen[s:s + n_valid] = True
    assert seen.all()  # every transition is a training target in some window


def test_padding_never_changes_the_loss():
    ds = make_dataset([2, 6], terminal=[True, False])
    cfg = tiny_cfg("modt", context_len=5, num_regions=2)
    spec = ds.spec
    data, b = windows_for_all_starts(cfg, ds)
    state = dt.init(jax.random.PRNGKey(0), spec, cfg)
    codebook = jnp.asarray(data["region_codebook"])

    @jax.jit
    def loss(batch):
        regions = dt.assign_regions(cfg, batch["actions"], codebook, 1.0)
        out = state.model.apply_fn({"params": state.model.params}, batch["rtg"], batch["observations"],
                                   batch["actions"], batch["timesteps"], regions, deterministic=True)
        return dt.losses(cfg, out, batch)

    base_total, base_parts = loss({k: jnp.asarray(v) for k, v in b.items()})
    junk = {k: v.copy() for k, v in b.items()}
    pad = junk["mask"] == 0
    assert pad.any()
    rng = np.random.default_rng(1)
    for k in ("observations", "actions", "next_observations"):
        junk[k][pad] = rng.normal(size=junk[k][pad].shape) * 100
    junk["rtg"][pad], junk["rewards"][pad], junk["timesteps"][pad] = 1e3, -1e3, 999
    total, parts = loss({k: jnp.asarray(v) for k, v in junk.items()})
    np.testing.assert_allclose(total, base_total, rtol=1e-6)
    for k in base_parts:
        np.testing.assert_allclose(parts[k], base_parts[k], rtol=1e-6)


# ----------------------------------------------------------------------------- masking
@pytest.mark.parametrize("method", ["kmeans", "grid"])
def test_no_future_leakage(method):
    cfg = tiny_cfg("modt", context_len=5, num_heads=2, region_method=method, num_regions=3)
    obs_dim, act_dim, k = 4, 2, 5
    model = dt.make_model(cfg, obs_dim, act_dim, max_ep_len=50)
    g = dt.region_groups(cfg, act_dim)
    rng = np.random.default_rng(0)

    def inputs():
        return [jnp.asarray(rng.normal(size=(2, k)), jnp.float32), jnp.asarray(rng.normal(size=(2, k, obs_dim)),
                                                                                jnp.float32),
                jnp.asarray(rng.uniform(-1, 1, (2, k, act_dim)), jnp.float32),
                jnp.asarray(rng.integers(0, 50, (2, k)), jnp.int32), jnp.asarray(rng.integers(0, 3, (2, k, g)),
                                                                                 jnp.int32)]

    base = inputs()
    params = model.init(jax.random.PRNGKey(0), *base)["params"]

    def run(x):
        return {n: np.asarray(v) for n, v in model.apply({"params": params}, *x, deterministic=True).items()}

    out0 = run(base)
    assert set(out0) == {"action", "next_state", "next_rtg"}
    fresh = inputs()
    for j in range(k):
        for which in range(5):  # rtg, obs, action, timestep, region of step j
            x = list(base)
            x[which] = x[which].at[:, j].set(fresh[which][:, j])
            out = run(x)
            for name in out0:
                np.testing.assert_allclose(out[name][:, :j], out0[name][:, :j], atol=1e-6,
                                           err_msg=f"{name} before step {j} depends on input {which} at {j}")
            if which in (2, 4):  # a_j and its region come after s_j, which predicts a_j
                np.testing.assert_allclose(out["action"][:, j], out0["action"][:, j], atol=1e-6)
                assert not np.allclose(out["next_state"][:, j], out0["next_state"][:, j], atol=1e-6)
            if which == 1:  # ... but s_j does feed the prediction of a_j (the test is not vacuous)
                assert not np.allclose(out["action"][:, j], out0["action"][:, j], atol=1e-6)


@pytest.mark.parametrize("pattern", [(3, 1, 2), (3, 1, 3), (3, 0, 3)])
def test_transformer_outputs_only_the_selected_tokens_with_the_same_values(pattern):
    """The last block computes only the tokens the heads read; they must equal the full stack's."""
    from offrl.algos.transformer import CausalTransformer, select_tokens

    net = CausalTransformer(num_layers=2, num_heads=2, mlp_ratio=4)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 12, 8))
    params = net.init(jax.random.PRNGKey(1), x)
    full = net.apply(params, x)
    part = net.apply(params, x, outputs=pattern)
    period, start, stop = pattern
    want = np.asarray(full)[:, [p for p in range(12) if start <= p % period < stop]]
    assert part.shape == want.shape
    np.testing.assert_allclose(np.asarray(part), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(select_tokens(full, pattern)), want)
    with pytest.raises(ValueError, match="does not fit"):
        select_tokens(full, (5, 1, 2))
    # and the gradients of a loss on those tokens agree too
    grad = lambda f: jax.grad(lambda p: jnp.sum(jnp.sin(f(p))))(params)  # noqa: E731
    for a, b in zip(jax.tree_util.tree_leaves(grad(lambda p: select_tokens(net.apply(p, x), pattern))),
                    jax.tree_util.tree_leaves(grad(lambda p: net.apply(p, x, outputs=pattern)))):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- regions
def test_kmeans_regions_find_separated_clusters_deterministically():
    rng = np.random.default_rng(0)
    means = np.array([[-0.8, -0.8], [0.8, -0.5], [0.0, 0.8]])
    x = np.concatenate([m + 0.05 * rng.normal(size=(200, 2)) for m in means])
    c1 = dt.kmeans(x, 3, seed=3)
    np.testing.assert_array_equal(c1, dt.kmeans(x, 3, seed=3))
    order = [int(np.argmin(((c1 - m) ** 2).sum(1))) for m in means]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(c1[order], means, atol=0.02)
    cfg = tiny_cfg("modt", num_regions=3)
    ids = np.asarray(jax.jit(lambda a: dt.assign_regions(cfg, a, jnp.asarray(c1), 1.0))(x))
    assert ids.shape == (600, 1)
    np.testing.assert_array_equal(ids[:, 0], np.repeat(order, 200))
    # fewer distinct points than regions still gives k centroids; too few points is a config error
    assert dt.kmeans(np.zeros((10, 2)), 4).shape == (4, 2)
    with pytest.raises(ConfigError, match="num_regions"):
        dt.kmeans(np.zeros((2, 2)), 4)


def test_grid_regions_bin_each_dimension():
    cfg = tiny_cfg("modt", region_method="grid", num_regions=4)
    a = jnp.array([[-1.0, 0.0], [-0.51, 0.49], [0.5, 0.99], [1.0, 1.5]])
    np.testing.assert_array_equal(np.asarray(dt.assign_regions(cfg, a, None, 1.0)),
                                  [[0, 2], [0, 2], [3, 3], [3, 3]])
    assert dt.region_groups(cfg, 2) == 2


def test_codebook_is_bound_into_the_state_once():
    from offrl.train import init_states

    ds = make_dataset([6, 5])
    algo = algos.get("modt")
    cfg = tiny_cfg("modt", num_regions=3)
    data = jax.device_put(dt.prepare(ds, cfg))
    assert data["region_codebook"].shape == (3, 3)
    states, _ = init_states(algo, cfg, ds.spec, (0, 1), data)
    for i in range(2):  # bound before any update, so evaluation never sees an empty codebook
        np.testing.assert_array_equal(np.asarray(states.region_codebook[i]), np.asarray(data["region_codebook"]))
    state = jax.tree_util.tree_map(lambda x: x[0], states)
    batch = algo.sample(cfg, data, jax.random.PRNGKey(1), ds.spec)
    assert "region_codebook" not in batch  # constants are not carried by every batch
    state2, metrics = jax.jit(lambda s, b, k: algo.update(cfg, s, b, k))(state, batch, jax.random.PRNGKey(2))
    np.testing.assert_array_equal(np.asarray(state2.region_codebook), np.asarray(data["region_codebook"]))
    assert {"dt/loss", "dt/action_mse", "dt/state_mse", "dt/rtg_mse", "dt/lr"} <= set(metrics)
    # grid regions and the plain DT keep no codebook; the state head only adds columns when on
    assert "region_codebook" not in dt.prepare(ds, tiny_cfg("modt", region_method="grid"))
    assert dt.prepare(ds, tiny_cfg("dt"))["table"].shape[1] == 11 + 3 + 3


# ----------------------------------------------------------------------------- evaluation window
def test_act_keeps_the_last_k_steps_and_decrements_the_rtg():
    k, obs_dim, act_dim, n = 3, 11, 3, 2
    cfg = tiny_cfg("modt", context_len=k, rtg_scale=100.0, num_regions=3, target_returns=(500.0,))
    spec = make_dataset([4]).spec
    state = dt.init(jax.random.PRNGKey(0), spec, cfg)
    state = state.replace(region_codebook=jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (3, act_dim)),
                                                      jnp.float32))
    carry = dt.init_carry(cfg, state, n, {"target_return": 500.0})
    step = jax.jit(lambda c, o, r: dt.act(cfg, state, c, o, r, jax.random.PRNGKey(0)))

    @jax.jit
    def direct(r, o, a, ts):
        regions = dt.assign_regions(cfg, a, state.region_codebook, 1.0)
        return state.model.apply_fn({"params": state.model.params}, r, o, a, ts, regions, deterministic=True)
    rng = np.random.default_rng(1)
    hist_o, hist_a, hist_r = [], [], []
    rtg, prev_r = np.full(n, 5.0), np.zeros(n, np.float32)
    for t in range(k + 3):
        o = rng.normal(size=(n, obs_dim)).astype(np.float32)
        if t:
            rtg = rtg - prev_r / 100.0
        hist_o.append(o)
        hist_r.append(rtg.copy())
        a, carry = step(carry, jnp.asarray(o), jnp.asarray(prev_r))
        # the same prediction from the model on the explicitly built window of the last k steps
        lo = max(0, t + 1 - k)
        win_o = np.stack(hist_o[lo:], 1)
        win_a = np.stack(hist_a[lo:] + [np.zeros((n, act_dim), np.float32)], 1)
        win_r = np.stack(hist_r[lo:], 1).astype(np.float32)
        win_t = np.broadcast_to(np.arange(lo, t + 1), (n, t + 1 - lo)).astype(np.int32)
        ref = direct(jnp.asarray(win_r), jnp.asarray(win_o), jnp.asarray(win_a), jnp.asarray(win_t))
        np.testing.assert_allclose(np.asarray(a), np.asarray(ref["action"][:, -1]), atol=1e-5)
        hist_a.append(np.asarray(a))
        np.testing.assert_allclose(np.asarray(carry["rtg"])[:, min(t, k - 1)], rtg, rtol=1e-5)
        prev_r = rng.uniform(0, 3, n).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(carry["timesteps"]), np.broadcast_to(np.arange(3, 6), (n, 3)))


# ----------------------------------------------------------------------------- training
@pytest.mark.parametrize("dtypes", [(), ("bfloat16", "bfloat16")], ids=["float32", "bf16_activations"])
def test_update_fits_a_tiny_dataset(dtypes):
    ds = make_dataset([5, 7, 3])
    algo = algos.get("dt")
    cfg = tiny_cfg(lr=3e-3, warmup_steps=0, embedding_dropout=0.0, attention_dropout=0.0, residual_dropout=0.0,
                   **dict(zip(("compute_dtype", "activation_dtype"), dtypes)))
    from offrl.train import init_states, make_chunk_fn

    data = jax.device_put(algo.prepare(ds, cfg))
    states, keys = init_states(algo, cfg, ds.spec, (0,), data)
    fn = make_chunk_fn(algo, cfg, ds.spec, 20)
    states, keys, m0 = fn(states, keys, data)
    for _ in range(3):
        states, keys, m = fn(states, keys, data)
    assert float(m["dt/action_mse"][0]) < 0.6 * float(m0["dt/action_mse"][0])


def test_bfloat16_matmuls_keep_float32_params_and_outputs():
    ds = make_dataset([6, 5])
    cfg = tiny_cfg("modt", compute_dtype="bfloat16", num_regions=3)
    state = dt.init(jax.random.PRNGKey(0), ds.spec, cfg)
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(state.model.params))
    data = jax.device_put(dt.prepare(ds, cfg))
    batch = dt.sample(cfg, data, jax.random.PRNGKey(1), ds.spec)
    state, metrics = jax.jit(lambda s, b, k: dt.update(cfg, s, b, k))(state, batch, jax.random.PRNGKey(2))
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(state.model.params))


def test_bfloat16_activations_carry_the_residual_stream_and_keep_float32_outputs():
    """``activation_dtype=bfloat16``: the embeddings' LayerNorm and every block emit bf16 (the bytes
    a step moves), the final LayerNorm and the heads float32; same parameters, predictions close to
    the float32 model's, gradients finite."""
    cfg32 = tiny_cfg("modt", num_regions=3, num_layers=2)
    cfg16 = dataclasses.replace(cfg32, compute_dtype="bfloat16", activation_dtype="bfloat16")
    obs_dim, act_dim, k = 4, 2, cfg32.context_len
    rng = np.random.default_rng(0)
    x = (jnp.asarray(rng.normal(size=(3, k)), jnp.float32), jnp.asarray(rng.normal(size=(3, k, obs_dim)), jnp.float32),
         jnp.asarray(rng.uniform(-1, 1, (3, k, act_dim)), jnp.float32),
         jnp.asarray(rng.integers(0, 50, (3, k)), jnp.int32), jnp.zeros((3, k, 1), jnp.int32))
    m32, m16 = (dt.make_model(c, obs_dim, act_dim, max_ep_len=50) for c in (cfg32, cfg16))
    params = m32.init(jax.random.PRNGKey(0), *x)["params"]
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(
        m16.init(jax.random.PRNGKey(0), *x)["params"])
    outs, seen = {}, {}
    for name, m in (("f32", m32), ("bf16", m16)):
        outs[name], inter = m.apply({"params": params}, *x, capture_intermediates=True)
        flat = jax.tree_util.tree_flatten_with_path(inter["intermediates"])[0]
        seen[name] = {jax.tree_util.keystr(p): v.dtype for p, v in flat}
    stream = [f"['transformer']['block_{i}']['{m}']['__call__'][0]".replace("['']", "")
              for i in range(2) for m in ("", "ln1", "ln2")]
    assert all(seen["bf16"][p] == jnp.bfloat16 and seen["f32"][p] == jnp.float32 for p in stream)
    assert seen["bf16"]["['embed_ln']['__call__'][0]"] == jnp.bfloat16
    assert seen["bf16"]["['transformer']['ln_f']['__call__'][0]"] == jnp.float32
    for head, v in outs["bf16"].items():
        assert v.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(v), np.asarray(outs["f32"][head]), atol=0.05, err_msg=head)
        assert not np.array_equal(np.asarray(v), np.asarray(outs["f32"][head]))  # another path really ran
    grads = jax.grad(lambda p: sum(jnp.sum(v**2) for v in m16.apply({"params": p}, *x).values()))(params)
    assert all(g.dtype == jnp.float32 and np.isfinite(np.asarray(g)).all() for g in jax.tree_util.tree_leaves(grads))


@pytest.mark.parametrize("name,extra", [("dt", ()), ("modt", ("region_method=grid", "num_regions=3")),
                                        ("dt", ("compute_dtype=bfloat16", "activation_dtype=bfloat16"))])
def test_cpu_smoke_train_and_evaluate(name, extra, tmp_path, capsys):
    from offrl.train import TrainConfig, train

    ds = make_dataset([30, 12, 3, 25], terminal=[True, False, True, False])
    tc = TrainConfig(algo=name, dataset="test/tiny-hopper", seeds=(0, 1), steps=20, chunk=10, eval_every=20,
                     eval_episodes=1, checkpoint=False, wandb=False, progress=False, results_dir=str(tmp_path),
                     hp=tuple(f"{k}={v}" for k, v in TINY.items()) + extra)
    final = train(tc, dataset=ds)
    assert final["eval_steps"] == [20]
    # the default warmup (10,000 steps) is longer than this run: said, with the share of lr it reaches
    warmup = "note: warmup_steps=10000 is more than steps=20: the learning rate rises to 0% of lr="
    assert (warmup in capsys.readouterr().err) == ("warmup_steps" not in TINY)
    assert np.isfinite(final["return"]["last"]).all() and len(final["return"]["last"]) == 2
    run = tmp_path / final["run_id"]
    text = (run / "metrics.jsonl").read_text()
    assert "target_1800/return_mean" in text and "dt/action_mse" in text
    if name != "dt" or extra:
        return
    # offrl eval at other target returns than the run's: one variant each, checked as the config checks them
    from offrl.cli import main

    assert main(["eval", str(run), "--episodes", "1", "--target-returns", "900", "300.5"]) == 0
    out = capsys.readouterr().out
    assert "| target_900 | 0 |" in out and "| target_300.5 | 1 |" in out and "target_1800" not in out
    assert main(["eval", str(run), "--target-returns", "900", "nan"]) == 1
    assert "every target must be a finite number" in capsys.readouterr().err


# ----------------------------------------------------------------------------- sweep configs
def load_sweep(path: Path):
    from offrl.sweep import load_sweep as load

    sw = load(path)
    return {"algo": sw.algo}, sw.algo_config, sw.runs


def test_sweep_configs_parse_into_valid_configs():
    files = sorted((REPO / "sweeps").glob("dt_*.yaml"))
    assert {f.stem for f in files} >= {"dt_paper", "dt_corl", "dt_local_dt", "dt_local_modt"}
    d4rl = {f"d4rl/{e}-{lv}-v2" for e in ("halfcheetah", "hopper", "walker2d")
            for lv in ("medium", "medium-replay", "medium-expert")}
    for f in files:
        spec, acfg, runs = load_sweep(f)
        assert all(r.steps == 100_000 for r in runs)
        if f.stem.startswith("dt_local"):
            assert len(runs) == 6 and all(r.dataset.startswith("local/") for r in runs)
            assert len(runs[0].seeds) == 5 and spec["algo"] == f.stem.rsplit("_", 1)[1]
        else:
            assert {r.dataset for r in runs} == d4rl
        if f.stem == "dt_corl":
            assert (acfg.batch_size, acfg.lr) == (4096, 8e-4) and runs[0].eval_episodes == 100
        if f.stem == "dt_paper":
            assert (acfg.batch_size, acfg.lr) == (64, 1e-4)
