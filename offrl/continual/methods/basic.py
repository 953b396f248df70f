"""The reference methods: fine-tuning, training each task from scratch, and multi-task training.

- ``finetune``: the base learner trained on each task in turn, nothing kept (the lower reference:
  what forgetting looks like).
- ``scratch``: the learner re-initialised at the start of every task (the single-task reference runs
  that Continual World's forward transfer compares each task's learning curve with).
- ``multitask``: joint training on every task's data from the start, for the same number of steps
  (the upper reference; it is not continual: it sees all data at once).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from offrl.continual.methods.base import Method, register


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """This method has no options."""


def _reinitialise(ctx, mcfg, state, k, data, key):
    learner = ctx.algo.bind_data(ctx.cfg, ctx.algo.init(key, ctx.spec, ctx.cfg), data)
    return state.replace(learner=learner)


def _all_tasks(ctx, k, tables):
    return jnp.concatenate(tables, axis=0)


FINETUNE = register(Method("finetune", NoOptions, "the base learner trained on each task in turn; nothing kept"))
SCRATCH = register(Method("scratch", NoOptions, "the learner re-initialised at every task (single-task references)",
                          begin_task=_reinitialise, begin_first_task=False))
MULTITASK = register(Method("multitask", NoOptions, "joint training on every task's data from the start "
                            "(upper reference, not continual)", task_data=_all_tasks))
