"""The continual trainer on the cheap stream (pendulum-gain, 3 tasks), 2 seeds, every method; the
methods' own pieces checked by hand; bad input refused before anything is compiled or written."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offrl import algos
from offrl.collection import collect_stream, uniform_policy
from offrl.continual.methods import METHODS
from offrl.continual.methods.base import ContinualState, Context, anchor_penalty, head_mask
from offrl.continual.methods.regularization import fisher_diagonal
from offrl.continual.streams import load_stream
from offrl.continual.trainer import ContinualConfig, setup, train_stream
from offrl.datasets import DatasetSpec, OfflineDataset
from offrl.errors import ConfigError, OffrlError, UnknownIdError

REFS = (-1250.0, -150.0)


def pendulum_datasets(n: int = 1200):
    out = []
    for i, t in enumerate(load_stream("pendulum-gain").tasks):
        arr = collect_stream(t.env_id, uniform_policy(1), n, seed=i, n_envs=4, env_kwargs=t.kwargs)
        spec = DatasetSpec(f"local/pendulum-gain/{t.name}-medium-v0", t.env_id, (3,), "float32", (1,), "float32",
                           *REFS, "local", None, 200, {"env_kwargs": dict(t.kwargs)})
        out.append(OfflineDataset(**arr, spec=spec))
    return out


@pytest.fixture(scope="module")
def datasets():
    return pendulum_datasets()


def tiny(method: str, tmp_path, **kw) -> ContinualConfig:
    base = dict(stream="pendulum-gain", method=method, seeds=(0, 1), steps_per_task=200, eval_every=100, chunk=100,
                eval_episodes=2, hp=("hidden=32,32",), batch_size=64, results_dir=str(tmp_path), wandb=False,
                progress=False)
    base.update(kw)
    return ContinualConfig(**base)


METHOD_HP = {"er": ("buffer_size=100",), "ewc": ("fisher_samples=64", "fisher_chunk=32"),
             "oer": ("buffer_size=100", "dynamics_steps=100", "dynamics_hidden=32,32", "dynamics_batch_size=64")}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs_the_cheap_stream_and_writes_the_contract(method, datasets, tmp_path, capsys):
    final = train_stream(tiny(method, tmp_path, method_hp=METHOD_HP.get(method, ())), datasets=datasets)
    run = tmp_path / final["run_id"]
    # where the time went: one line per task, and the parts in final.json, within the run's wall time
    said = [line for line in capsys.readouterr().out.splitlines() if ": task " in line]
    assert [line.split(": task ")[1].split(" done")[0] for line in said] == ["1/3 (forward)", "2/3 (reversed)",
                                                                              "3/3 (weak)"]
    assert all("train " in line and "eval " in line and "task boundaries " in line for line in said)
    spent = final["time_s"]
    assert set(spent) == {"train", "first_chunks", "eval", "task_boundaries", "checkpoints"}
    assert spent["train"] > 0 < spent["eval"] and spent["first_chunks"] > 0
    assert sum(spent.values()) <= final["wall_time_s"]
    if method == "oer":  # its model fit and selection happen at task ends
        assert spent["task_boundaries"] > 0
    assert json.loads((run / "final.json").read_text())["kind"] == "continual"
    assert final["tasks"] == ["forward", "reversed", "weak"] and final["task_boundaries"] == [0, 200, 400, 600]
    assert final["eval_steps"] == [0, 100, 200, 300, 400, 500, 600]
    m = np.asarray(final["matrix"])
    assert m.shape == (2, 3, 3) and np.isfinite(m).all()
    curves = np.asarray(final["curves"])
    np.testing.assert_allclose(m[:, 1], curves[:, 4])  # row k = the evaluation at the end of task k
    np.testing.assert_allclose(np.asarray(final["initial"]), curves[:, 0])
    raw = np.asarray(final["matrix_return"])
    np.testing.assert_allclose(m, 100 * (raw - REFS[0]) / (REFS[1] - REFS[0]))
    assert set(final["metrics"]) >= {"per", "bwt", "forgetting", "anytime", "fwt_gem"}
    np.testing.assert_allclose(final["metrics"]["per"], m[:, -1].mean(-1))
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert len(evals) == 7 * 2 and {r["task"] for r in evals} == {0, 1, 2}
    assert all(f"score/{t}" in evals[0] for t in final["tasks"])
    trains = [r for r in rows if r["kind"] == "train"]
    assert [r["task"] for r in trains if r["seed"] == 0] == [0, 0, 1, 1, 2, 2]
    if method in ("er", "oer"):
        assert any(k.startswith("replay/bc_loss_1") for k in trains[-1])
    if method == "oer":
        assert "clone/distill_loss" in trains[0]  # the clone learns during the first task too
        ends = [r for r in rows if r["kind"] == "end_task"]
        # every task end but the last (no later task uses the last one's selection)
        assert [r["task"] for r in ends if r["seed"] == 0] == [0, 1] and "dynamics/val_nll" in ends[0]
    if method in ("l2", "ewc"):
        pen = [r["reg/actor_penalty"] for r in trains if r["seed"] == 0]
        assert pen[0] == 0 and pen[-1] > 0  # no anchor during task 0, a pull away from it later
    # a rerun of a finished run returns it unchanged
    again = train_stream(tiny(method, tmp_path, method_hp=METHOD_HP.get(method, ())), datasets=datasets)
    assert again["matrix"] == final["matrix"]


def _context(datasets, tmp_path, method="er", heads="multi"):
    s = setup(tiny(method, tmp_path, heads=heads, method_hp=METHOD_HP.get(method, ())), datasets)
    ctx = Context.of(s.algo, s.cfg, s.data)
    learner = s.algo.init(jax.random.PRNGKey(0), s.data.spec, s.cfg)
    return s, ctx, learner


def test_multi_head_data_carries_the_task_indicator(datasets, tmp_path):
    s, ctx, _ = _context(datasets, tmp_path)
    assert s.data.spec.obs_shape == (3 + 3,) and s.data.spec.extra["task_heads"] == 3
    for k, table in enumerate(s.data.tables):
        np.testing.assert_array_equal(table[:, :3], np.eye(3)[k][None].repeat(len(table), 0))
        np.testing.assert_allclose(table[:, 3:6], datasets[k].observations)
    obs = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(s.data.observations_for(2, obs)[:, :3], [[0, 0, 1]] * 2)
    s2, _, _ = _context(datasets, tmp_path, heads="agnostic")
    assert s2.data.spec.obs_shape == (3,) and s2.data.indicator_dim == 0


def _stacked(tree, n=1):
    return jax.tree_util.tree_map(lambda x: jnp.stack([x] * n), tree)


def test_replay_buffer_holds_task_rows_and_the_policys_actions(datasets, tmp_path):
    s, ctx, learner = _context(datasets, tmp_path)
    method, mcfg = METHODS["er"], s.mcfg
    states = _stacked(ContinualState(learner, method.init_extra(ctx, mcfg, learner, jax.random.PRNGKey(1))))
    table = jnp.asarray(s.data.tables[1])
    states, _, _ = method.end_task_host(ctx, mcfg, states, jax.random.PRNGKey(2)[None], 1, {"table": table})
    buf = np.asarray(states.extra["buffers"][0])
    assert not buf[0].any() and not buf[2].any()  # only task 1's buffer is filled
    rows = buf[1, :, : table.shape[1]]
    in_table = {tuple(r) for r in np.asarray(table)}
    assert all(tuple(r) in in_table for r in rows) and len({tuple(r) for r in rows}) == 100  # distinct rows
    obs = jnp.asarray(rows[:, :6])
    expect = s.algo.act(s.cfg, learner, (), obs, jnp.zeros(len(obs)), jax.random.PRNGKey(0))[0]
    np.testing.assert_allclose(buf[1, :, table.shape[1]:], np.asarray(expect), rtol=1e-5, atol=1e-6)


def test_dual_behaviour_cloning_order_and_the_end_of_task_copy(datasets, tmp_path):
    from offrl.continual.methods.base import behaviour_cloning_step, deterministic_action, sample_buffer

    s, ctx, learner = _context(datasets, tmp_path, method="oer")
    method, mcfg = METHODS["oer"], s.mcfg
    state = ContinualState(learner, method.init_extra(ctx, mcfg, learner, jax.random.PRNGKey(1)))
    jax.tree_util.tree_map(np.testing.assert_array_equal, state.extra["clone"].params, learner.actor.params)
    # a buffer for task 0, then one update call of task 1
    table0, table1 = jnp.asarray(s.data.tables[0]), jnp.asarray(s.data.tables[1])
    buffer = np.zeros(state.extra["buffers"].shape, np.float32)
    rows = np.asarray(table0[:100])
    buffer[0] = np.concatenate([rows, np.full((100, 1), 0.5, np.float32)], axis=1)
    state = state.replace(extra={**state.extra, "buffers": jnp.asarray(buffer)})
    batch = s.algo.sample(s.cfg, {"table": table1}, jax.random.PRNGKey(3), s.data.spec)
    key = jax.random.PRNGKey(4)
    new, metrics = method.make_update(ctx, mcfg, 1)(s.cfg, state, batch, key)
    # the same steps by hand, in the documented order: replay BC of the clone on buffer 0, the learner's
    # TD3+BC update, then the clone's distillation of the new learner on the actor's batch
    keys = jax.random.split(key, 3)
    rb = sample_buffer(ctx, state.extra["buffers"][0], keys[0], s.cfg.batch_size)
    clone, _ = behaviour_cloning_step(ctx, learner, state.extra["clone"], rb["observations"], rb["policy_actions"], 1.0)
    lrn, _ = s.algo.update(s.cfg, learner, batch, keys[2])
    obs = batch["observations"].reshape(-1, batch["observations"].shape[-1])[-s.cfg.batch_size:]
    clone, _ = behaviour_cloning_step(ctx, lrn, clone, obs, deterministic_action(ctx, lrn, lrn.actor.params, obs))
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                           new.extra["clone"].params, clone.params)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                           new.learner.actor.params, lrn.actor.params)
    assert {"replay/bc_loss_0", "clone/distill_loss", "critic/loss"} <= set(metrics)
    # the deployed policy is the clone; at the task's end the buffer stores the clone's actions and the
    # clone's weights are copied into the learner
    np.testing.assert_allclose(method.policy(ctx, mcfg, new).actor.params["MLP_0"]["Dense_0"]["kernel"],
                               new.extra["clone"].params["MLP_0"]["Dense_0"]["kernel"])
    random_sel = METHODS["oer"].make_config(buffer_size=100, selection="random_transition")
    states, _, _ = method.end_task_host(ctx, random_sel, _stacked(new), jax.random.PRNGKey(5)[None], 1,
                                        {"table": table1})
    jax.tree_util.tree_map(np.testing.assert_array_equal, states.learner.actor.params, states.extra["clone"].params)
    stored = np.asarray(states.extra["buffers"][0, 1])
    obs1 = jnp.asarray(stored[:, :6])
    clone_actions = deterministic_action(ctx, new.learner, new.extra["clone"].params, obs1)
    np.testing.assert_allclose(stored[:, table1.shape[1]:], np.asarray(clone_actions), rtol=1e-5, atol=1e-6)


def _adam_counts(train_state):
    return sorted({int(x) for x in jax.tree_util.tree_leaves(train_state.opt_state) if np.ndim(x) == 0})


def test_oer_restarts_the_learner_at_a_task_start_as_its_code_does(datasets, tmp_path):
    """At a task after the first: the learner goes on from the clone's previous-task head (the code's learner
    has one head), its target actor equals it, the critic and its target are fresh, every Adam state is new;
    the first task, and `restart_learner=false`, leave the state alone. Without dual only the critic and the
    optimisers restart."""
    s, ctx, learner = _context(datasets, tmp_path, method="oer")
    method, mcfg = METHODS["oer"], s.mcfg
    assert mcfg.restart_learner and not mcfg.reset_adam_every_update
    state = ContinualState(learner, method.init_extra(ctx, mcfg, learner, jax.random.PRNGKey(1)))
    batch = s.algo.sample(s.cfg, {"table": jnp.asarray(s.data.tables[1])}, jax.random.PRNGKey(3), s.data.spec)
    trained, _ = method.make_update(ctx, mcfg, 1)(s.cfg, state, batch, jax.random.PRNGKey(4))  # moved weights and Adam
    assert _adam_counts(trained.learner.actor) == [1] and _adam_counts(trained.learner.critic) == [2]
    key = jax.random.PRNGKey(7)
    same = method.begin_task(ctx, mcfg, trained, 0, None, key)
    jax.tree_util.tree_map(np.testing.assert_array_equal, same, trained)
    off = METHODS["oer"].make_config(**{**dataclasses.asdict(mcfg), "restart_learner": False})
    jax.tree_util.tree_map(np.testing.assert_array_equal, method.begin_task(ctx, off, trained, 2, None, key), trained)

    new = method.begin_task(ctx, mcfg, trained, 2, None, key)
    old_p, new_p = trained.learner.actor.params["MLP_0"], new.learner.actor.params["MLP_0"]
    for leaf in ("kernel", "bias"):  # head 2 := head 1; heads 0 and 1 and the hidden layers as they were
        head_old, head_new = np.asarray(old_p["TaskDense_0"][leaf]), np.asarray(new_p["TaskDense_0"][leaf])
        np.testing.assert_array_equal(head_new[2], head_old[1])
        np.testing.assert_array_equal(head_new[:2], head_old[:2])
    jax.tree_util.tree_map(np.testing.assert_array_equal, new_p["Dense_0"], old_p["Dense_0"])
    jax.tree_util.tree_map(np.testing.assert_array_equal, new.learner.actor_target, new.learner.actor.params)
    fresh = s.algo.init(key, s.data.spec, s.cfg)
    jax.tree_util.tree_map(np.testing.assert_array_equal, new.learner.critic.params, fresh.critic.params)
    jax.tree_util.tree_map(np.testing.assert_array_equal, new.learner.critic_target, fresh.critic.params)
    assert _adam_counts(new.learner.actor) == [0] and _adam_counts(new.learner.critic) == [0]
    assert not any(np.any(x) for x in jax.tree_util.tree_leaves(new.learner.actor.opt_state))
    jax.tree_util.tree_map(np.testing.assert_array_equal, new.extra, trained.extra)  # the clone and buffers kept

    one_actor = METHODS["oer"].make_config(**{**dataclasses.asdict(mcfg), "dual": False})
    kept = method.begin_task(ctx, one_actor, trained, 2, None, key)
    jax.tree_util.tree_map(np.testing.assert_array_equal, kept.learner.actor.params, trained.learner.actor.params)
    jax.tree_util.tree_map(np.testing.assert_array_equal, kept.learner.actor_target, trained.learner.actor_target)
    jax.tree_util.tree_map(np.testing.assert_array_equal, kept.learner.critic.params, fresh.critic.params)
    assert _adam_counts(kept.learner.actor) == [0]


def test_oer_can_rebuild_the_learners_adam_at_every_update_as_its_code_does(datasets, tmp_path):
    """reset_adam_every_update: from the second task on every update call starts the learner's actor and critic
    from a new Adam state (the actor's step is then always Adam's first, the critic's its first and second);
    the clone's optimiser is never reset, and the first task trains as usual."""
    s, ctx, learner = _context(datasets, tmp_path, method="oer")
    method = METHODS["oer"]
    mcfg = method.make_config(**{**dataclasses.asdict(s.mcfg), "reset_adam_every_update": True})
    state = ContinualState(learner, method.init_extra(ctx, mcfg, learner, jax.random.PRNGKey(1)))
    batch = s.algo.sample(s.cfg, {"table": jnp.asarray(s.data.tables[1])}, jax.random.PRNGKey(3), s.data.spec)
    for k, actor_counts, clone_counts in ((0, [2], [2]), (1, [1], [4])):  # clone: replay + distillation
        st = state
        for i in range(2):
            st, _ = method.make_update(ctx, mcfg, k)(s.cfg, st, batch, jax.random.PRNGKey(10 + i))
        assert _adam_counts(st.learner.actor) == actor_counts, k
        assert _adam_counts(st.learner.critic) == ([4] if k == 0 else [2]), k
        assert _adam_counts(st.extra["clone"]) == clone_counts, k


def test_bc_replay_step_moves_the_policy_towards_the_stored_actions(datasets, tmp_path):
    from offrl.continual.methods.base import behaviour_cloning_step

    s, ctx, learner = _context(datasets, tmp_path)
    obs = jnp.asarray(s.data.tables[0][:64, :6])
    target = jnp.full((64, 1), 0.7)
    actor, losses = learner.actor, []
    for _ in range(30):
        actor, bc = behaviour_cloning_step(ctx, learner, actor, obs, target)
        losses.append(float(bc))
    assert losses[-1] < 0.5 * losses[0]
    # only the head of the task in the observations (task 0) moved
    before = learner.actor.params["MLP_0"]["TaskDense_0"]["kernel"]
    after = actor.params["MLP_0"]["TaskDense_0"]["kernel"]
    assert not np.allclose(before[0], after[0]) and np.allclose(before[1:], after[1:])


def test_anchor_penalty_adds_the_quadratic_gradient():
    params = {"w": jnp.array([1.0, 2.0, 3.0])}
    tx = anchor_penalty(0.5)
    state = tx.init(params)
    state = state._replace(anchor={"w": jnp.array([0.0, 2.0, 1.0])}, weight={"w": jnp.array([1.0, 4.0, 2.0])})
    g, _ = tx.update({"w": jnp.array([0.1, 0.1, 0.1])}, state, params)
    # d/dw 0.5 * sum(weight * (w - anchor)^2) = weight * (w - anchor)
    np.testing.assert_allclose(g["w"], [0.1 + 1.0, 0.1 + 0.0, 0.1 + 4.0])


def test_l2_weights_skip_heads_of_tasks_not_trained_yet(datasets, tmp_path):
    _, _, learner = _context(datasets, tmp_path)
    mask = head_mask(learner.actor.params, upto_task=1)
    head = mask["MLP_0"]["TaskDense_0"]["kernel"]
    assert np.all(head[:2] == 1) and np.all(head[2] == 0)
    assert np.all(mask["MLP_0"]["Dense_0"]["kernel"] == 1)


def test_fisher_diagonal_matches_a_hand_computation(datasets, tmp_path):
    import flax.linen as nn
    import optax

    from offrl.algos import common

    s, ctx, _ = _context(datasets, tmp_path)
    lin = nn.Dense(1, use_bias=False)
    x = jax.random.normal(jax.random.PRNGKey(3), (64, ctx.obs_dim))
    ts = common.make_state(jax.random.PRNGKey(4), lin, (x[:1],), optax.adam(1e-3))
    rows = jnp.concatenate([x, jnp.zeros((64, ctx.table_width - ctx.obs_dim))], axis=1)
    fisher = fisher_diagonal(ctx, ts, lambda b: (b["observations"],), rows, chunk=16)
    # f(s) = s . w, so d f / d w = s and the Fisher diagonal is E[s^2]
    np.testing.assert_allclose(fisher["kernel"][:, 0], np.mean(np.asarray(x) ** 2, 0), rtol=1e-5)


def test_scratch_reinitialises_and_multitask_sees_every_task(datasets, tmp_path):
    s, ctx, learner = _context(datasets, tmp_path, method="scratch")
    m = METHODS["scratch"]
    trained = learner.replace(actor=learner.actor.replace(params=jax.tree_util.tree_map(lambda x: x + 1.0,
                                                                                       learner.actor.params)))
    st = m.begin_task(ctx, s.mcfg, ContinualState(trained, {}), 1, {"table": jnp.asarray(s.data.tables[1])},
                      jax.random.PRNGKey(7))
    fresh = s.algo.init(jax.random.PRNGKey(7), s.data.spec, s.cfg)
    jax.tree_util.tree_map(np.testing.assert_allclose, st.learner.actor.params, fresh.actor.params)
    tables = [jnp.asarray(t) for t in s.data.tables]
    assert METHODS["multitask"].task_data(ctx, 0, tables).shape[0] == sum(len(t) for t in tables)
    assert METHODS["finetune"].task_data(ctx, 1, tables) is tables[1]


def test_bad_input_is_refused_before_anything_is_written(datasets, tmp_path):
    with pytest.raises(UnknownIdError, match="did you mean 'ewc'"):
        setup(tiny("ewk", tmp_path), datasets)
    with pytest.raises(UnknownIdError, match="pendulum-gain"):
        setup(tiny("er", tmp_path, stream="pendulum-gian"), datasets)
    with pytest.raises(ConfigError, match="larger than the dataset"):
        setup(tiny("er", tmp_path, method_hp=("buffer_size=5000",)), datasets)
    with pytest.raises(ConfigError, match="unknown option"):
        setup(tiny("er", tmp_path, method_hp=("bufer_size=10",)), datasets)
    with pytest.raises(ConfigError, match="multiple of chunk"):
        setup(tiny("oer", tmp_path, method_hp=("dynamics_steps=1500",)), datasets)
    with pytest.raises(ConfigError, match="per-task"):
        setup(tiny("finetune", tmp_path, heads="agnostic", normalize="per-task"), datasets)
    with pytest.raises(ConfigError, match="must divide steps_per_task"):
        tiny("finetune", tmp_path, eval_every=300)
    with pytest.raises(ConfigError, match=r"eval_every=150 must be a multiple of chunk=1000 .*pass --chunk 150 "):
        ContinualConfig(stream="pendulum-gain", method="finetune", steps_per_task=300, eval_every=150)
    bad = OfflineDataset(**datasets[1].arrays(), spec=dataclasses.replace(datasets[1].spec, ref_min=None))
    with pytest.raises(OffrlError, match="no reference returns"):
        setup(tiny("finetune", tmp_path), [datasets[0], bad, datasets[2]])
    stream = tmp_path / "mixed.yaml"
    stream.write_text("name: mixed\ntasks:\n  - {name: p, env: offrl/PendulumGain-v0}\n"
                      "  - {name: c, env: offrl/CheetahVel-v0}\n")
    with pytest.raises(ConfigError, match="pad: zeros"):
        setup(tiny("finetune", tmp_path, stream=str(stream)), datasets[:2])
    with pytest.raises(OffrlError, match="offrl continual collect --stream pendulum-gain"):
        setup(tiny("finetune", tmp_path), None)  # nothing collected in this test's data root
    assert not any(tmp_path.glob("*/config.json"))


def test_bc_step_loss_is_the_mean_over_batch_and_action_coordinates():
    """OER's code and TD3+BC's BC term average over the action coordinates too (a sum would weigh replay
    act_dim times more against the base learner's loss in one actor); checked on a 3-dim linear policy
    with plain SGD, whose step is the hand-computed gradient."""
    import types

    import optax
    from flax import struct

    from offrl.algos.common import TrainState
    from offrl.continual.methods.base import behaviour_cloning_step

    @struct.dataclass
    class Learner:
        actor: TrainState

    def act(cfg, learner, _, obs, *rest):
        return obs @ learner.actor.params["w"], None

    ctx = types.SimpleNamespace(algo=types.SimpleNamespace(act=act), cfg=None)
    rng = np.random.default_rng(0)
    obs = jnp.asarray(rng.normal(size=(8, 4)), jnp.float32)
    target = jnp.asarray(rng.normal(size=(8, 3)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
    actor = TrainState.create(apply_fn=None, params={"w": w}, tx=optax.sgd(0.1))
    new, loss = behaviour_cloning_step(ctx, Learner(actor), actor, obs, target, weight=2.0)
    err = np.asarray(obs @ w - target)
    assert float(loss) == pytest.approx(np.mean(err ** 2), rel=1e-5)  # not np.mean(np.sum(err ** 2, -1))
    grad = 2.0 * 2 * np.asarray(obs).T @ err / err.size
    np.testing.assert_allclose(np.asarray(new.params["w"]), np.asarray(w) - 0.1 * grad, rtol=1e-4, atol=1e-6)


def test_eval_learner_scores_oers_learner_beside_its_clone(datasets, tmp_path, capsys):
    """eval_learner evaluates the learner on every task as well (its own rows and final.json curves), does not
    change the run id, and is refused for a method that deploys its learner anyway."""
    cc = tiny("oer", tmp_path, method_hp=METHOD_HP["oer"], eval_learner=True, seeds=(0,), steps_per_task=100,
              eval_every=100)
    final = train_stream(cc, datasets=datasets)
    learner = np.asarray(final["learner_curves"])
    assert learner.shape == np.asarray(final["curves"]).shape == (1, 4, 3) and np.isfinite(learner).all()
    assert not np.allclose(learner[:, 1:], np.asarray(final["curves"])[:, 1:])  # two different policies
    rows = [json.loads(x) for x in (tmp_path / final["run_id"] / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert all(f"learner_score/{t}" in r and f"learner_return/{t}" in r for r in evals for t in final["tasks"])
    assert [r["learner_score/forward"] for r in evals] == pytest.approx(learner[0, :, 0].tolist())
    assert setup(dataclasses.replace(cc, eval_learner=False), datasets).run_id == final["run_id"]
    # the same run finished without the learner's curves (trained without eval_learner): asking for them
    # again returns it as it is, and says why nothing was added instead of staying silent
    path = tmp_path / final["run_id"] / "final.json"
    path.write_text(json.dumps({k: v for k, v in final.items() if k != "learner_curves"}))
    again = train_stream(cc, datasets=datasets)
    assert "learner_curves" not in again and again["curves"] == final["curves"]
    assert "no learner scores (eval_learner)" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="deploys its learner"):
        setup(tiny("er", tmp_path, eval_learner=True), datasets)


def test_a_run_id_resumes_only_a_run_of_the_same_identity(datasets, tmp_path):
    """A folder named by an explicit run id resumes only a run that trains and evaluates the same way: a
    record with another evaluation protocol is refused by name, before anything is compiled; settings of
    where and how a run computes or reports (eval_workers, progress) never are."""
    from offrl.continual.trainer import identity_difference

    cc = tiny("finetune", tmp_path, run_id="mine")
    config = setup(cc, datasets).config
    recorded = json.loads(json.dumps(config))
    assert identity_difference(recorded, config) == []
    other = json.loads(json.dumps(setup(dataclasses.replace(cc, eval_workers=3, progress=True, checkpoint=False,
                                                            concurrent_kernels=False), datasets).config))
    assert identity_difference(other, config) == []
    # a default written out: the option strings differ, the configs they resolve to do not
    lr = algos.get(cc.algo).make_config().actor_lr
    spelled = setup(dataclasses.replace(cc, hp=(*cc.hp, f"actor_lr={lr}")), datasets).config
    assert spelled["continual_config"]["hp"] != config["continual_config"]["hp"]
    assert identity_difference(json.loads(json.dumps(spelled)), config) == []
    older = json.loads(json.dumps(config))
    del older["continual_config"]["eval_seed"], older["references"]  # recorded before those existed
    assert identity_difference(older, config) == []
    recorded["continual_config"]["eval_episodes"] = 5
    recorded["references"]["forward"] = [0.0, 1.0]
    assert identity_difference(recorded, config) == ["references", "continual_config.eval_episodes"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "config.json").write_text(json.dumps(recorded))
    # each setting named with its value then and now, not only its name
    with pytest.raises(OffrlError, match=r"different configuration \(references.forward: \[0.0, 1.0\] then, \[.*\] now; "
                                         r"continual_config.eval_episodes: 5 then, 2 now\); pick another --run-id"):
        train_stream(cc, datasets=datasets)
    assert not (tmp_path / "mine" / "metrics.jsonl").exists()


def test_a_finished_run_comes_back_only_for_its_own_identity(datasets, tmp_path, capsys):
    """A finished run named by its run id is returned for the same identity (or one differing only in where
    and how it computes), and refused by name for another method or evaluation protocol: its scores are never
    passed off as another configuration's, and the finished folder is left as it was."""
    cc = tiny("finetune", tmp_path, run_id="done", seeds=(0,), steps_per_task=100, eval_every=100)
    final = train_stream(cc, datasets=datasets)
    run = tmp_path / "done"
    before = {p: (run / p).read_bytes() for p in ("config.json", "final.json", "metrics.jsonl")}
    capsys.readouterr()
    assert train_stream(cc, datasets=datasets) == final
    assert train_stream(dataclasses.replace(cc, eval_workers=1, progress=True), datasets=datasets) == final
    assert "done: already finished" in capsys.readouterr().out
    for change, named in ((dict(method="l2"), r"method: \"finetune\" then, \"l2\" now; method_config\."),
                          (dict(eval_episodes=7), r"continual_config.eval_episodes: 2 then, 7 now"),
                          (dict(eval_seed=3), r"continual_config.eval_seed: 10000 then, 3 now")):
        with pytest.raises(OffrlError, match=rf"finished continual run with a different configuration \(.*{named}"):
            train_stream(dataclasses.replace(cc, **change), datasets=datasets)
        assert "already finished" not in capsys.readouterr().out
    assert {p: (run / p).read_bytes() for p in before} == before


def test_the_default_run_id_digests_what_a_run_computes(datasets, tmp_path):
    """Without a run id: bookkeeping settings and option strings that resolve alike keep the default id; a
    folder recorded under its earlier form (a digest that took them too) is found where none of the present
    id exists."""
    import hashlib

    from offrl.continual.trainer import NOT_HASHED, RESUME_FREE, run_identity
    from offrl.sweep.kinds import get_kind
    from offrl.sweep.spec import run_id_of

    cc = tiny("er", tmp_path, method_hp=METHOD_HP["er"])
    first = setup(cc, datasets)
    lr = algos.get(cc.algo).make_config().actor_lr
    for same in (dataclasses.replace(cc, eval_workers=2, checkpoint=False, concurrent_kernels=False),
                 dataclasses.replace(cc, hp=(*cc.hp, f"actor_lr={lr}"))):
        assert setup(same, datasets).run_id == first.run_id
    assert setup(dataclasses.replace(cc, eval_episodes=1), datasets).run_id != first.run_id
    # the id a sweep gives the same run: one rule, so a sweep finds a run trained from the command line
    assert run_id_of(get_kind("continual"), cc) == first.run_id

    def earlier(left_out):
        blob = json.dumps(run_identity(first.config, left_out), sort_keys=True, default=str)
        return f"er-pendulum-gain-medium-{hashlib.sha1(blob.encode()).hexdigest()[:8]}"

    newer, older = earlier((*NOT_HASHED, *RESUME_FREE)), earlier(NOT_HASHED)
    assert len({first.run_id, newer, older}) == 3
    (tmp_path / older).mkdir()
    assert setup(cc, datasets).run_id == older
    (tmp_path / newer).mkdir()
    assert setup(cc, datasets).run_id == newer


def test_a_stream_file_of_ones_own_is_in_the_run_id_and_a_shipped_one_by_name(tmp_path):
    """Editing a stream file makes other runs (a new id from the command line and from a sweep alike,
    not a refusal to resume into the old folder); a shipped stream is named by the package."""
    from offrl.continual.trainer import ContinualConfig, continual_identity
    from offrl.sweep.kinds import get_kind
    from offrl.sweep.spec import run_id_of

    f = tmp_path / "my-pend.yaml"
    text = ("name: my-pend\nenv: offrl/PendulumGain-v0\ntasks:\n  - {name: forward, kwargs: {gain: 1.0}}\n"
            "  - {name: quarter, kwargs: {gain: 0.25}}\n")
    f.write_text(text)
    cc = ContinualConfig(stream=str(f), method="finetune", seeds=(0,), steps_per_task=400, eval_every=100, chunk=100,
                         results_dir=str(tmp_path / "res"))
    kind = get_kind("continual")
    first = run_id_of(kind, cc)
    assert first.startswith("finetune-my-pend-medium-")
    f.write_text(text.replace("0.25", "0.3"))
    assert run_id_of(kind, cc) != first
    assert "stream_definition" not in continual_identity(dataclasses.replace(cc, stream="pendulum-gain"))


def test_scratch_trains_its_first_task_as_finetune_does(datasets, tmp_path):
    """Before any task ends the two methods are the same learner: their first task's curves agree seed by seed
    (scratch's unused first re-initialisation drew a key, so they differed), and Continual World's forward
    transfer of task 0 compares like with like."""
    runs = {m: train_stream(tiny(m, tmp_path, seeds=(0,), steps_per_task=100), datasets=datasets)
            for m in ("finetune", "scratch")}
    first = {m: np.asarray(f["curves"])[..., :2, 0] for m, f in runs.items()}  # task 0's window: steps 0 and 100
    np.testing.assert_array_equal(first["finetune"], first["scratch"])
    assert not np.array_equal(np.asarray(runs["finetune"]["curves"])[..., 1:, 1],
                              np.asarray(runs["scratch"]["curves"])[..., 1:, 1])  # task 1 then starts afresh


def test_an_interrupt_after_a_task_names_the_checkpoint_by_the_task_it_closes(datasets, tmp_path, capsys, monkeypatch):
    """The checkpoint after a task's end work is numbered one past its last step; `step 201` named a step no one
    trained, so the message names the task (and its last step)."""
    import offrl.train as trainer  # the continual trainer takes its host_metrics from there as it starts

    real = trainer.host_metrics

    def stopped_in_task_2(metrics, seeds, step, *args, **kwargs):
        if step > 200:
            raise KeyboardInterrupt
        return real(metrics, seeds, step, *args, **kwargs)

    monkeypatch.setattr(trainer, "host_metrics", stopped_in_task_2)
    with pytest.raises(KeyboardInterrupt):
        train_stream(tiny("finetune", tmp_path, seeds=(0,), run_id="cut"), datasets=datasets)
    err = capsys.readouterr().err
    assert "resume from the checkpoint of the end of task 1 (forward, step 200)" in err, err


def test_the_progress_bar_is_drawn_by_default_only_where_stderr_is_a_terminal(datasets, tmp_path, capsys,
                                                                               monkeypatch):
    """Unset (the default), the bar follows stderr: in a log file or a pipe (here pytest's capture, not a
    terminal) its frames would stay as stray lines, so none is drawn; on a terminal it is. --progress draws it
    everywhere, --no-progress nowhere."""
    import offrl.cli

    cc = tiny("finetune", tmp_path, seeds=(0,), steps_per_task=100, progress=ContinualConfig().progress)
    final = train_stream(dataclasses.replace(cc, run_id="piped"), datasets=datasets)
    captured = capsys.readouterr()
    assert final["eval_steps"] == [0, 100, 200, 300]
    assert "finetune pendulum-gain" not in captured.err and "\r" not in captured.err
    assert "piped: task 3/3 (weak) done" in captured.out  # the per-task lines stay, printed instead
    from offrl.cli import progress_bar_drawn

    assert ContinualConfig().progress is None
    assert [progress_bar_drawn(p) for p in (None, True, False)] == [False, True, False]

    monkeypatch.setattr(offrl.cli, "progress_bars_shown", lambda: True)  # stderr a terminal
    assert [progress_bar_drawn(p) for p in (None, True, False)] == [True, True, False]
    train_stream(dataclasses.replace(cc, run_id="terminal"), datasets=datasets)
    captured = capsys.readouterr()
    assert "finetune pendulum-gain" in captured.err and "300/300" in captured.err
    assert "terminal: task 3/3 (weak) done" in captured.err + captured.out


def test_progress_flags_on_the_command_line():
    """--progress and --no-progress set the bar either way; neither leaves it to stderr (None)."""
    import tyro

    from offrl.continual.cli import make_train_args, train_config

    def parsed(*argv):
        return train_config(tyro.cli(make_train_args(ContinualConfig), args=list(argv))).progress

    assert (parsed(), parsed("--progress"), parsed("--no-progress")) == (None, True, False)


# ids of tiny("finetune", ...) and of the defaults as the trainer gave them before the progress bar's default
# became None: a run recorded then must keep its folder
TINY_ID = "finetune-pendulum-gain-medium-38261878"
EARLIER_TINY_IDS = ("finetune-pendulum-gain-medium-0632fef3", "finetune-pendulum-gain-medium-61a27cb3")
DEFAULT_ID = "finetune-pendulum-gain-medium-2a13f1aa"


@pytest.mark.parametrize("progress", [None, True, False])
def test_run_ids_do_not_change_with_the_progress_bar(datasets, tmp_path, progress):
    """The default run id (and its earlier forms, which find runs recorded under them) are those of runs
    recorded before, whatever the bar's setting: it says how a run reports, not what it computes."""
    from offrl.continual.trainer import continual_identity, run_id_prefix
    from offrl.sweep.spec import identity_run_id

    cc = tiny("finetune", tmp_path, progress=progress)
    assert setup(cc, datasets).run_id == TINY_ID
    default = dataclasses.replace(ContinualConfig(), progress=progress)
    assert identity_run_id("continual", run_id_prefix(default), continual_identity(default)) == DEFAULT_ID
    for earlier in EARLIER_TINY_IDS:
        (tmp_path / earlier).mkdir()
        assert setup(cc, datasets).run_id == earlier
        (tmp_path / earlier).rmdir()


def test_a_run_recorded_with_the_bar_on_by_default_resumes_and_comes_back(datasets, tmp_path, capsys):
    """Runs recorded before the bar's default became None hold ``progress: true``: under the new default such a
    run resumes, and once finished is returned, rather than being refused as another configuration."""
    cc = tiny("finetune", tmp_path, seeds=(0,), steps_per_task=100, run_id="old", progress=None)
    final = train_stream(dataclasses.replace(cc, progress=False), datasets=datasets)
    run = tmp_path / "old"
    recorded = json.loads((run / "config.json").read_text())
    assert recorded["continual_config"]["progress"] is False
    recorded["continual_config"]["progress"] = True  # as the trainer recorded its default before
    (run / "config.json").write_text(json.dumps(recorded))
    capsys.readouterr()
    assert train_stream(cc, datasets=datasets) == final
    assert "old: already finished" in capsys.readouterr().out
    (run / "final.json").unlink()  # stopped after its last checkpoint: it resumes there
    again = train_stream(cc, datasets=datasets)
    assert "resuming old in task" in capsys.readouterr().out
    assert again["curves"] == final["curves"] and again["matrix"] == final["matrix"]
