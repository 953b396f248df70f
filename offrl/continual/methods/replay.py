"""Experience replay: a fixed-size buffer per finished task, replayed while later tasks train.

When task ``k`` ends, ``buffer_size`` of its transitions are kept (chosen by a selection rule; here
uniformly at random, as OER's ``random_transition``), together with the actions the policy of that
moment takes at their states. While task ``k' > k`` trains, each update call first takes one step per
old buffer, in task order, then the base learner's step on the current task (the order of OER's code):

- ``replay: bc`` (behaviour-cloning replay): an actor step on
  ``replay_alpha / n_buffers * mean ||pi(s) - pi_k(s)||^2`` over a batch of buffer k, pi_k being the
  stored actions;
- ``replay: rl`` (offline-RL replay): the base learner's own update (e.g. TD3+BC's critic and actor
  losses) on a batch of buffer k's transitions. With Adam the scale ``replay_alpha / n_buffers`` of
  a separate step has no effect, so it is not applied.

The buffers are fixed-size arrays in each seed's state, filled from each seed's own policy, so every
seed replays its own memory.
"""

from __future__ import annotations

import dataclasses

import jax

from offrl.algos.base import hp
from offrl.continual.methods.base import (Method, base_update, behaviour_cloning_step, buffer_rows, empty_buffers,
                                          register, sample_buffer)

REPLAY_KINDS = ("bc", "rl")


@dataclasses.dataclass(frozen=True)
class ERConfig:
    """Experience replay with a buffer per task."""

    buffer_size: int = hp(1000, "transitions kept per task (OER: 1,000)", min=1)
    replay: str = hp("bc", "what is replayed: bc (clone the stored policy actions) or rl (the base learner's "
                     "losses on stored transitions)", choices=REPLAY_KINDS)
    replay_alpha: float = hp(1.0, "weight of the behaviour-cloning replay loss, divided by the number of buffers",
                             min=0)
    replay_batch_size: int = hp(0, "rows per replay batch (0: the base learner's batch size)", min=0)


def _init_extra(ctx, mcfg, learner, key):
    return {"buffers": empty_buffers(ctx, mcfg.buffer_size)}


def replay_batch_size(ctx, mcfg) -> int:
    return mcfg.replay_batch_size or ctx.cfg.batch_size


def make_replay_update(ctx, mcfg, k, then):
    """Replay steps on the buffers of tasks 0..k-1 (task order), then ``then`` (an update on the
    current batch)."""

    def update(cfg, state, batch, key):
        metrics = {}
        learner = state.learner
        keys = jax.random.split(key, 2 * k + 1)
        for j in range(k):
            buffer = state.extra["buffers"][j]
            if mcfg.replay == "bc":
                rb = sample_buffer(ctx, buffer, keys[2 * j], replay_batch_size(ctx, mcfg))
                actor, bc = behaviour_cloning_step(ctx, learner, learner.actor, rb["observations"],
                                                   rb["policy_actions"], mcfg.replay_alpha / k)
                learner = learner.replace(actor=actor)
                metrics[f"replay/bc_loss_{j}"] = bc
            else:
                rb = ctx.algo.sample(ctx.cfg, {"table": buffer[:, : ctx.table_width]}, keys[2 * j], ctx.spec)
                learner, m = ctx.algo.update(ctx.cfg, learner, rb, keys[2 * j + 1])
                metrics.update({f"replay/{name}_{j}": v for name, v in m.items()})
        state, m = then(cfg, state.replace(learner=learner), batch, keys[-1])
        return state, {**m, **metrics}

    return update


def _make_update(ctx, mcfg, k):
    return make_replay_update(ctx, mcfg, k, base_update(ctx))


def store_random_buffer(ctx, mcfg, state, k, data, key, policy_learner):
    """Fill task ``k``'s buffer with ``buffer_size`` uniformly chosen distinct rows of its data."""
    table = data["table"]
    idx = jax.random.choice(key, table.shape[0], (mcfg.buffer_size,), replace=False)
    rows = buffer_rows(ctx, policy_learner, table, idx)
    return state.replace(extra={**state.extra, "buffers": state.extra["buffers"].at[k].set(rows)})


def _end_task(ctx, mcfg, state, k, data, key):
    return store_random_buffer(ctx, mcfg, state, k, data, key, state.learner)


ER = register(Method("er", ERConfig, "experience replay: a random buffer per task, replayed by behaviour "
                     "cloning (replay=bc) or by the base learner's losses (replay=rl)",
                     init_extra=_init_extra, make_update=_make_update, end_task=_end_task,
                     update_varies_with_task=True))
