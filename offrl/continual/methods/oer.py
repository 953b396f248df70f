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
  starts from the consolidated policy.

Deviation, documented in ``docs/oer.md``: the code distils into the clone only once old buffers exist,
so after the first task its clone is still at its initialisation and the end-of-task copy resets the
learner; here the clone is distilled during the first task too.
"""

from __future__ import annotations

import dataclasses

import jax

from offrl.algos import common
from offrl.algos.base import hp
from offrl.continual.methods.base import Method, base_update, behaviour_cloning_step, deterministic_action, register
from offrl.continual.methods.replay import (ERConfig, _init_extra as _er_init_extra, _rule_names,
                                            make_replay_update, select_buffers, store_buffers)


@dataclasses.dataclass(frozen=True)
class OERConfig(ERConfig):
    """OER: experience replay with model-based selection and dual behaviour cloning."""

    selection: str = hp("mbes", "which transitions are kept (offrl.continual.selection; OER: mbes)",
                        choices=_rule_names())
    dual: bool = hp(True, "dual behaviour cloning (a second, deployed actor); False: behaviour-cloning replay "
                    "into the learner's own actor")


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


def _make_update(ctx, mcfg, k):
    if not mcfg.dual:
        return make_replay_update(ctx, mcfg, k, base_update(ctx))
    base = base_update(ctx)

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
                      make_update=_make_update, end_task_host=_end_task_host, policy=_deployed,
                      update_varies_with_task=True))
