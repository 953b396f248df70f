"""OER (Gai et al., ECAI 2023): experience replay whose buffers are chosen by Model-Based Experience
Selection, with Dual Behaviour Cloning. What is OER's own here is the second actor (DBC); the buffers,
the replay steps and the selection rules are experience replay's (:mod:`.replay`,
:mod:`offrl.continual.selection`).

Dual behaviour cloning, as OER's code at the paper's revision runs it (``co_impl.py``, 141a0a6):

- two actors of one architecture: the *learner* (the base learner's actor, trained on the current task
  only, e.g. by TD3+BC's actor loss with its critic) and the *clone* (the policy that is evaluated and
  deployed);
- each update call: one behaviour-cloning step of the clone per old buffer, in task order, on
  ``replay_alpha / n_buffers * mean((clone(s) - pi_j(s))^2)`` (``pi_j(s)``: the actions the deployed
  policy took at the buffer's states when task j ended); then the base learner's update on the current
  batch; then one distillation step of the clone, ``mean((clone(s) - stopgrad(learner(s)))^2)`` on the
  current batch's states. The critic is not regularised on replay;
- when a task ends: its buffer is selected with the clone as the policy (MBES by default) and stores the
  clone's actions; then the clone's parameters are copied into the learner, so the next task's learner
  starts from the consolidated policy;
- when the next task begins (``restart_learner``, on by default), what the code's task switch does: only
  the clone has a head per task there, so the learner continues from the clone with the clone's head of
  the task just finished (here: the learner's head of the new task is set to the previous one's), its
  target actor equal to it; the critic and its target are initialised afresh (``rebuild_critic``); the
  learner's and the critic's Adam states start anew.

The code also rebuilds the learner's and the critic's Adam at every actor update from the second task on
(its head switch for each replay batch ends by building both optimisers again), so the learner's steps
are all Adam's first step. That looks unintended; ``reset_adam_every_update`` reproduces it.

Deviation, documented in ``docs/oer.md``: the code distils into the clone only once old buffers exist,
so after the first task its clone is still at its initialisation and the end-of-task copy resets the
learner; here the clone is distilled during the first task too.
"""

from __future__ import annotations

import dataclasses

import jax

from offrl.algos import common
from offrl.algos.base import hp
from offrl.continual.methods.base import (Method, base_update, behaviour_cloning_step, deterministic_action, register,
                                         trained_networks)
from offrl.continual.methods.replay import (ERConfig, _init_extra as _er_init_extra, _rule_names,
                                            make_replay_update, select_buffers, store_buffers)


@dataclasses.dataclass(frozen=True)
class OERConfig(ERConfig):
    """OER: experience replay with model-based selection and dual behaviour cloning."""

    selection: str = hp("mbes", "which transitions are kept (offrl.continual.selection; OER: mbes)",
                        choices=_rule_names())
    dual: bool = hp(True, "dual behaviour cloning (a second, deployed actor); False: behaviour-cloning replay "
                    "into the learner's own actor")
    restart_learner: bool = hp(True, "at each task after the first, as OER's code: a fresh critic (and target) "
                               "and fresh Adam states; with dual, the learner continues with the clone's head of "
                               "the previous task and its target actor equals it. False: all carried over")
    reset_adam_every_update: bool = hp(False, "from the second task on, fresh Adam states for the learner's "
                                       "networks at every update call, as OER's code rebuilds them in every "
                                       "actor update")


def _init_extra(ctx, mcfg, learner, key):
    extra = _er_init_extra(ctx, mcfg, learner, key)
    if mcfg.dual:
        extra["clone"] = learner.actor  # the same initial weights, its own optimiser state (a deepcopy)
    return extra


def _deployed(ctx, mcfg, state):
    """The learner state whose ``act`` is evaluated: the learner with the clone as its actor."""
    if not mcfg.dual:
        return state.learner
    return state.learner.replace(actor=state.extra["clone"])


def _is_task_head(path) -> bool:
    return any(str(getattr(p, "key", "")).startswith("TaskDense") for p in path)


def continue_previous_head(params, k: int):
    """``params`` with every per-task output head's slice ``k`` set to slice ``k - 1``: a multi-head
    network whose task-k head continues from task k-1's, as a one-head network would (no-op without heads)."""
    return jax.tree_util.tree_map_with_path(
        lambda path, x: x.at[k].set(x[k - 1]) if _is_task_head(path) else x, params)


def _fresh_optimisers(learner):
    """``learner`` with a fresh optimiser state for each of its trained networks."""
    return learner.replace(**{n: getattr(learner, n).replace(opt_state=getattr(learner, n).tx.init(
        getattr(learner, n).params)) for n in trained_networks(learner)})


def _begin_task(ctx, mcfg, state, k, data_k, key):
    """What OER's code does when a task after the first begins (``restart_learner``; see the module doc)."""
    if k == 0 or not mcfg.restart_learner:
        return state
    learner = state.learner
    fresh = ctx.algo.init(key, ctx.spec, ctx.cfg)  # its critic (and any other network but the actor)
    new = {}
    for name in trained_networks(learner):
        if name == "actor":
            continue
        new[name] = getattr(fresh, name)
        if hasattr(learner, f"{name}_target"):  # a fresh target equals its fresh network
            new[f"{name}_target"] = getattr(fresh, name).params
    if mcfg.dual:  # the code's learner has one head: it goes on from the clone's previous-task head
        actor = common.with_params(learner.actor, continue_previous_head(learner.actor.params, k))
        new["actor"] = actor
        if hasattr(learner, "actor_target"):
            new["actor_target"] = actor.params
    learner = _fresh_optimisers(learner.replace(**new))
    return state.replace(learner=learner)


def _after_fresh_optimisers(update):
    """``update`` run on the learner with new optimiser states (the code's rebuild at every actor update)."""
    return lambda cfg, state, batch, key: update(cfg, state.replace(learner=_fresh_optimisers(state.learner)),
                                                 batch, key)


def _make_update(ctx, mcfg, k):
    base = base_update(ctx)
    if mcfg.reset_adam_every_update and k > 0:
        base = _after_fresh_optimisers(base)
    if not mcfg.dual:
        return make_replay_update(ctx, mcfg, k, base)

    def learner_then_distil(cfg, state, batch, key):
        state, metrics = base(cfg, state, batch, key)
        obs = batch["observations"]
        obs = obs.reshape(-1, obs.shape[-1])[-cfg.batch_size:]  # the batch of the actor's step
        learner = state.learner
        target = jax.lax.stop_gradient(deterministic_action(ctx, learner, learner.actor.params, obs))
        clone, distil = behaviour_cloning_step(ctx, learner, state.extra["clone"], obs, target)
        return state.replace(extra={**state.extra, "clone": clone}), {**metrics, "clone/distill_loss": distil}

    return make_replay_update(ctx, mcfg, k, learner_then_distil, bc_target="clone")


def _end_task_host(ctx, mcfg, states, keys, k, data_k):
    keys, sub = jax.vmap(jax.random.split, out_axes=1)(keys)
    deployed = jax.vmap(lambda st: _deployed(ctx, mcfg, st))(states)
    indices, metrics = select_buffers(ctx, mcfg, k, deployed, sub)
    states = store_buffers(ctx, states, k, deployed, indices)
    if mcfg.dual:  # the next task's learner starts from the consolidated policy
        clone = states.extra["clone"]
        actor = jax.vmap(common.with_params)(states.learner.actor, clone.params)
        states = states.replace(learner=states.learner.replace(actor=actor))
    return states, keys, metrics


OER = register(Method("oer", OERConfig, "OER: replay buffers chosen by model-based experience selection (MBES) "
                      "and dual behaviour cloning into a deployed clone actor", init_extra=_init_extra,
                      begin_task=_begin_task, make_update=_make_update, end_task_host=_end_task_host, policy=_deployed,
                      update_varies_with_task=True))
