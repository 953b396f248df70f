"""Experience replay: a fixed-size buffer per finished task, replayed while later tasks train.

When task ``k`` ends, ``buffer_size`` of its transitions are kept, chosen by a selection rule
(:mod:`offrl.continual.selection`: ``random_transition`` by default, OER's ``mbes`` and the rules it was
compared with), together with the actions the deployed policy takes at their states at that moment.
While a later task trains, each update call first takes one step per old buffer, in task order, then the
base learner's step on the current task (the order of OER's code):

- ``replay: bc`` (behaviour-cloning replay): an actor step on
  ``replay_alpha / n_buffers * mean((pi(s) - pi_k(s))^2)`` over a batch of buffer k, pi_k being the
  stored actions;
- ``replay: rl`` (offline-RL replay): the base learner's own update (e.g. TD3+BC's critic and actor
  losses) on a batch of buffer k's transitions. With Adam the scale ``replay_alpha / n_buffers`` of
  a separate step has no effect, so it is not applied.

The buffers are fixed-size arrays in each seed's state, filled from each seed's own policy (and, for
model-based selection, each seed's own dynamics ensemble), so every seed replays its own memory.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from offrl.algos import common
from offrl.algos.base import hp
from offrl.continual.methods.base import (Method, base_update, behaviour_cloning_step, buffer_rows,
                                          deterministic_action, empty_buffers, register, sample_buffer)

REPLAY_KINDS = ("bc", "rl")


def _rule_names() -> tuple[str, ...]:
    from offrl.continual.selection import names

    return tuple(names())


@dataclasses.dataclass(frozen=True)
class ERConfig:
    """Experience replay with a buffer per task."""

    buffer_size: int = hp(1000, "transitions kept per task (OER: 1,000)", min=1)
    replay: str = hp("bc", "what is replayed: bc (clone the stored policy actions) or rl (the base learner's "
                     "losses on stored transitions)", choices=REPLAY_KINDS)
    replay_alpha: float = hp(1.0, "weight of the behaviour-cloning replay loss, divided by the number of buffers",
                             min=0)
    replay_batch_size: int = hp(0, "rows per replay batch (0: the base learner's batch size)", min=0)
    selection: str = hp("random_transition", "which transitions are kept (offrl.continual.selection: "
                        "random_transition, mbes, random_episode, max_reward, max_match, max_td_error, "
                        "max_model_likelihood, coverage)", choices=_rule_names())
    variance_lambda: float = hp(2.0, "mbes: jump only where the ensemble variance is below lambda x the "
                                     "neighbours' (OER: 2; its runs also used 1.2)", min=0)
    variance_gate: bool = hp(True, "mbes: apply the variance gate (False: always jump to the matched neighbour)")
    policy_member: str = hp("random", "mbes: the policy's predicted next state from one random member (OER), "
                                      "or the members' mean", choices=("random", "deviation", "mean"))
    dynamics_steps: int = hp(0, "model-based rules: gradient steps of each task's dynamics ensemble (0: "
                                "DynamicsConfig's default, 20,000)", min=0)
    dynamics_hidden: tuple[int, ...] = hp((), "model-based rules: hidden sizes of each ensemble member (empty: "
                                              "d3rlpy's 256, 256)", positive_items=True)
    dynamics_batch_size: int = hp(0, "model-based rules: the ensemble's batch (0: OER's 1,024)", min=0)
    dynamics_spectral_norm: bool = hp(True, "model-based rules: d3rlpy's spectral normalisation in the ensemble "
                                            "(False fits raw MuJoCo states better; docs/oer.md)")

    def __post_init__(self):
        dynamics_config(self)  # a bad ensemble setting fails before training, not at the first task's end


def dynamics_config(mcfg):
    """The :class:`~offrl.algos.dynamics.DynamicsConfig` of ``mcfg``'s ``dynamics_*`` options."""
    from offrl.algos.dynamics import DynamicsConfig

    kw = {"spectral_norm": mcfg.dynamics_spectral_norm, "progress": False}
    if mcfg.dynamics_steps:
        kw.update(steps=mcfg.dynamics_steps, chunk=min(mcfg.dynamics_steps, DynamicsConfig.chunk))
    if mcfg.dynamics_hidden:
        kw["hidden"] = tuple(mcfg.dynamics_hidden)
    if mcfg.dynamics_batch_size:
        kw["batch_size"] = mcfg.dynamics_batch_size
    return DynamicsConfig(**kw)


def _init_extra(ctx, mcfg, learner, key):
    return {"buffers": empty_buffers(ctx, mcfg.buffer_size)}


def replay_batch_size(ctx, mcfg) -> int:
    return mcfg.replay_batch_size or ctx.cfg.batch_size


def make_replay_update(ctx, mcfg, k, then, bc_target: str = "learner"):
    """Replay steps on the buffers of tasks 0..k-1 (task order), then ``then`` (an update on the
    current batch). ``bc_target``: behaviour-cloning replay trains the learner's actor (``learner``) or
    the state's second actor (``clone``, dual behaviour cloning)."""

    def update(cfg, state, batch, key):
        metrics = {}
        learner = state.learner
        clone = state.extra.get("clone")
        keys = jax.random.split(key, 2 * k + 1)
        for j in range(k):
            buffer = state.extra["buffers"][j]
            if mcfg.replay == "bc":
                rb = sample_buffer(ctx, buffer, keys[2 * j], replay_batch_size(ctx, mcfg))
                actor = clone if bc_target == "clone" else learner.actor
                actor, bc = behaviour_cloning_step(ctx, learner, actor, rb["observations"], rb["policy_actions"],
                                                   mcfg.replay_alpha / k)
                if bc_target == "clone":
                    clone = actor
                else:
                    learner = learner.replace(actor=actor)
                metrics[f"replay/bc_loss_{j}"] = bc
            else:
                rb = ctx.algo.sample(ctx.cfg, {"table": buffer[:, : ctx.table_width]}, keys[2 * j], ctx.spec)
                learner, m = ctx.algo.update(ctx.cfg, learner, rb, keys[2 * j + 1])
                metrics.update({f"replay/{name}_{j}": v for name, v in m.items()})
        extra = {**state.extra, "clone": clone} if clone is not None else state.extra
        state, m = then(cfg, state.replace(learner=learner, extra=extra), batch, keys[-1])
        return state, {**m, **metrics}

    return update


def _make_update(ctx, mcfg, k):
    return make_replay_update(ctx, mcfg, k, base_update(ctx))


# ---------------------------------------------------------------------------- selection at a task's end
def task_arrays(ctx, k: int) -> dict[str, np.ndarray]:
    """Task ``k``'s transitions as the environment and the dynamics model see them (no task indicator),
    with its episode ends: what :mod:`offrl.continual.selection` and the dynamics ensemble read."""
    table = np.asarray(ctx.data.tables[k])
    lay, ind = ctx.layout, ctx.indicator_dim
    obs = table[:, lay["observations"]][:, ind:]
    nxt = table[:, lay["next_observations"]][:, ind:]
    return {"observations": obs, "actions": table[:, lay["actions"]], "rewards": table[:, lay["rewards"]][:, 0],
            "next_observations": nxt, "terminations": table[:, lay["terminations"]][:, 0] > 0.5,
            "episode_ends": ctx.data.episode_ends[k]}


def select_buffers(ctx, mcfg, k: int, policy_learners, keys):
    """Run ``mcfg.selection`` for every seed on task ``k``'s data with each seed's deployed policy
    (``policy_learners``: seed-stacked learner states whose actor is the deployed one); trains each
    seed's dynamics ensemble first when the rule needs a model. Returns ((seeds, buffer_size) row
    indices, metrics to log)."""
    from offrl.algos import dynamics
    from offrl.continual import selection as S

    rule = S.RULES[mcfg.selection]
    arrays = task_arrays(ctx, k)
    data = S.selection_data(arrays)
    scfg = S.SelectionConfig(buffer_size=mcfg.buffer_size, variance_lambda=mcfg.variance_lambda,
                             variance_gate=mcfg.variance_gate, policy_member=mcfg.policy_member,
                             neighbor_dims=min(3, ctx.data.obs_dim), match_dims=min(2, ctx.data.obs_dim))
    k_model, k_train, k_select = jax.vmap(lambda key: jax.random.split(key, 3), out_axes=1)(keys)
    kw, metrics = {}, {}
    if "policy" in rule.needs:
        kw.update(policy=lambda lrn, o: deterministic_action(ctx, lrn, lrn.actor.params, ctx.with_indicator(o, k)),
                  policy_params=policy_learners)
    if "q_fn" in rule.needs:
        kw.update(q_fn=lambda lrn, o, a: jnp.mean(common.apply(lrn.critic, lrn.critic.params,
                                                               ctx.with_indicator(o, k), a), axis=0),
                  q_params=policy_learners)
    if "model" in rule.needs:
        dcfg = dynamics_config(mcfg)
        model = dynamics.init(k_model, ctx.data.obs_dim, ctx.act_dim, dcfg)
        model, log = dynamics.train(model, arrays, k_train, dcfg)
        kw["model_params"] = model
        metrics["dynamics/val_nll"] = np.asarray(log["val/nll"])[-1]
        metrics["dynamics/val_obs_mse"] = np.asarray(log["val/obs_mse"])[-1]
    neighbors = S.neighbors_for(data, scfg) if "neighbors" in rule.needs else None
    sel = S.select_seeds(mcfg.selection, data, k_select, scfg, neighbors=neighbors, **kw)
    for name, v in sel.diagnostics.items():
        v = np.asarray(v)
        if v.ndim == 1 and v.shape[0] == keys.shape[0]:
            metrics[f"selection/{name}"] = v
    return sel.indices, metrics


def store_buffers(ctx, states, k: int, policy_learners, indices):
    """Every seed's buffer of task ``k``: its selected rows and the deployed policy's actions there."""
    table = jnp.asarray(ctx.data.tables[k])
    rows = jax.jit(jax.vmap(lambda lrn, idx: buffer_rows(ctx, lrn, table, idx)))(policy_learners, indices)
    return states.replace(extra={**states.extra, "buffers": states.extra["buffers"].at[:, k].set(rows)})


def _end_task_host(ctx, mcfg, states, keys, k, data_k):
    keys, sub = jax.vmap(jax.random.split, out_axes=1)(keys)
    indices, metrics = select_buffers(ctx, mcfg, k, states.learner, sub)
    return store_buffers(ctx, states, k, states.learner, indices), keys, metrics


ER = register(Method("er", ERConfig, "experience replay: a buffer per task chosen by a selection rule (random "
                     "by default), replayed by behaviour cloning (replay=bc) or by the base learner's losses "
                     "(replay=rl)", init_extra=_init_extra, make_update=_make_update, end_task_host=_end_task_host,
                     update_varies_with_task=True))
