"""The continual-method interface and the pieces methods compose.

A continual method is the base learner's pure functions (an :class:`offrl.algos.base.Algorithm`, e.g.
TD3+BC) plus what the method keeps between tasks, as fixed-size arrays in the per-seed state
(:class:`ContinualState`: the base learner's state and the method's ``extra`` pytree: replay buffers,
anchors, a second actor). Every function below runs per seed and is vmapped over seeds by the trainer;
the task index ``k`` is a Python int fixed at trace time (one compiled chunk per task).

- ``init_extra(ctx, mcfg, learner, key) -> extra``: the method's state, before task 0.
- ``prepare_learner(ctx, mcfg, learner) -> learner``: rewires the fresh learner once (e.g. wraps its
  optimisers with a quadratic anchor penalty); identity by default.
- ``begin_task(ctx, mcfg, state, k, data, key) -> state``: before training task ``k``.
- ``make_update(ctx, mcfg, k) -> update(cfg, state, batch, key) -> (state, metrics)``: one update call of
  task ``k``, composed from the base learner's update and the method's own loss terms.
- ``end_task(ctx, mcfg, state, k, data, key) -> state``: after training task ``k`` (fill its buffer,
  compute its Fisher diagonal, consolidate...); not called after the stream's last task, whose end
  work no later task would use (the last evaluation comes before it).
- ``end_task_host(ctx, mcfg, states, keys, k, data) -> (states, keys, metrics)``: instead of ``end_task``,
  for work that is not one jitted per-seed function: it receives every seed's state at once (leading
  seed axis) and may train models and run jitted loops of its own (OER's experience selection trains a
  dynamics ensemble and searches nearest neighbours); ``metrics`` are logged (kind ``end_task``).
- ``task_data(ctx, k, tables) -> table``: the data task ``k`` trains on (its own by default; the
  multi-task reference trains on every task's).
- ``policy(ctx, mcfg, state) -> learner``: the base-learner state whose ``act`` is evaluated and
  deployed (the learner by default; OER's clone actor for dual behaviour cloning).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from offrl.algos import common
from offrl.algos.base import transition_layout
from offrl.errors import ConfigError
from offrl.registry import Registry

PyTree = Any

#: Heads of the networks: ``multi`` (one output layer per task, task id known: OER's setting),
#: ``task-input`` (one head, a one-hot task id appended to the observation), ``agnostic`` (one head,
#: no task id at training or test).
HEADS = ("multi", "task-input", "agnostic")


@struct.dataclass
class ContinualState:
    """One seed's state: the base learner's state and the method's own arrays."""

    learner: PyTree
    extra: PyTree


@dataclasses.dataclass(frozen=True)
class Context:
    """What every method function may read: the base learner and the shapes of the stream's data."""

    algo: Any
    """the base learner (:class:`offrl.algos.base.Algorithm`)."""
    cfg: Any
    """the base learner's config."""
    spec: Any
    """the learner's dataset spec: observations as the networks see them (task indicator included)."""
    n_tasks: int
    heads: str
    obs_dim: int
    """observation width the networks see (task indicator included)."""
    act_dim: int
    table_width: int
    """columns of a packed transition table (:func:`offrl.algos.base.default_prepare`)."""
    data: Any = dataclasses.field(default=None, compare=False, repr=False)
    """the stream's :class:`~offrl.continual.data.StreamData` (host arrays), for host-side task ends."""

    @classmethod
    def of(cls, algo, cfg, data) -> "Context":
        """The context of a base learner on a stream's prepared data (:class:`~offrl.continual.data.StreamData`)."""
        return cls(algo, cfg, data.spec, data.n_tasks, data.heads, data.indicator_dim + data.obs_dim, data.act_dim,
                   int(data.tables[0].shape[1]), data)

    @property
    def layout(self) -> dict[str, slice]:
        return transition_layout(self.obs_dim, self.act_dim)

    @property
    def indicator_dim(self) -> int:
        return self.obs_dim - (self.data.obs_dim if self.data is not None else self.obs_dim)

    def with_indicator(self, obs, k: int):
        """Observations without the task indicator (as the environment and the dynamics model see them)
        -> what the networks read, for task ``k``."""
        n = self.indicator_dim
        if not n:
            return obs
        ind = jnp.broadcast_to(jax.nn.one_hot(k, n, dtype=obs.dtype), (*obs.shape[:-1], n))
        return jnp.concatenate([ind, obs], axis=-1)


@dataclasses.dataclass(frozen=True)
class Method:
    """A registered continual method (see the module docstring for each function's contract)."""

    name: str
    config_cls: type
    description: str
    init_extra: Callable[..., PyTree] = lambda ctx, mcfg, learner, key: {}
    prepare_learner: Callable[..., PyTree] = lambda ctx, mcfg, learner: learner
    begin_task: Callable[..., ContinualState] | None = None
    make_update: Callable[..., Callable] | None = None
    end_task: Callable[..., ContinualState] | None = None
    end_task_host: Callable[..., tuple] | None = None
    task_data: Callable[..., Any] = lambda ctx, k, tables: tables[k]
    policy: Callable[..., PyTree] = lambda ctx, mcfg, state: state.learner
    needs_task_id: bool = False
    """True when the method cannot run task-agnostic (e.g. it needs task boundaries per head)."""
    update_varies_with_task: bool = False
    """True when ``make_update(ctx, mcfg, k)`` differs between tasks (e.g. one replay step per earlier
    task): the trainer then compiles one chunk per task, else one for the whole stream."""
    begin_first_task: bool = True
    """False: ``begin_task`` is not called before task 0 and draws no key there, so the first task trains
    exactly as under ``finetune`` (``scratch``, whose first task is any method's first task: Continual
    World's forward transfer of task 0 then compares like with like, seed by seed)."""

    def make_config(self, **overrides) -> Any:
        """The default config with ``overrides`` (errors name the field and suggest close names)."""
        from offrl.algos.base import build_config

        return build_config(self.config_cls, overrides, f"method {self.name}: unknown option(s)", list_known=True,
                            owner=self.name)


METHODS: Registry[Method] = Registry(
    "continual method", unknown_hint="one of your own is known once its module is named in OFFRL_PLUGINS: "
                     "docs/extending.md")


def register(method: Method) -> Method:
    return METHODS.register(method.name, method)


def base_update(ctx: Context) -> Callable:
    """The base learner's update on a continual state's learner (what fine-tuning runs)."""

    def update(cfg, state: ContinualState, batch, key):
        learner, metrics = ctx.algo.update(cfg, state.learner, batch, key)
        return state.replace(learner=learner), metrics

    return update


# ---------------------------------------------------------------------------- the learner's networks
#: The learner's trained networks a method may regularise or clone, by field name, with the inputs
#: each takes from a batch. Targets and temperatures are not trained networks and are left alone.
NETWORK_INPUTS: dict[str, Callable[[dict], tuple]] = {
    "actor": lambda b: (b["observations"],),
    "critic": lambda b: (b["observations"], b["actions"]),
    "value": lambda b: (b["observations"],),
}


def trained_networks(learner) -> list[str]:
    """Names of the learner's fields that are trained networks (:data:`NETWORK_INPUTS`)."""
    return [n for n in NETWORK_INPUTS if isinstance(getattr(learner, n, None), common.TrainState)]


def deterministic_action(ctx: Context, learner, actor_params, obs):
    """The learner's deterministic action at ``obs`` as a differentiable function of ``actor_params``
    (the base learner's own ``act`` with its actor's parameters replaced)."""
    swapped = learner.replace(actor=learner.actor.replace(params=actor_params))
    action, _ = ctx.algo.act(ctx.cfg, swapped, (), obs, jnp.zeros(obs.shape[:-1]), jax.random.PRNGKey(0))
    return action


def behaviour_cloning_step(ctx: Context, learner, actor_state, obs, target_actions, weight: float = 1.0):
    """One optimiser step of ``actor_state`` on ``weight * mean((pi(obs) - target_actions)^2)``, where pi
    is the learner's policy with ``actor_state``'s parameters; returns (actor_state, loss).

    The mean runs over the batch and the action coordinates alike, as OER's code (``co_impl.py``) and
    TD3+BC's own BC term do: a sum over coordinates would weigh replay ``act_dim`` times more against
    the base learner's loss when both train one actor (ER's behaviour-cloning replay)."""

    def loss_fn(p):
        bc = jnp.mean((deterministic_action(ctx, learner, p, obs) - target_actions) ** 2)
        return weight * bc, bc

    actor_state, _, bc = common.grad_step(actor_state, loss_fn)
    return actor_state, bc


# ---------------------------------------------------------------------------- replay buffers
def buffer_width(ctx: Context) -> int:
    """Columns of a replay-buffer row: a packed transition, then the actions of the policy that
    trained on the buffer's task, computed when the task ended (what behaviour-cloning replay clones)."""
    return ctx.table_width + ctx.act_dim


def empty_buffers(ctx: Context, size: int):
    """``(n_tasks, size, width)`` zeros: one buffer per task, filled when the task ends."""
    return jnp.zeros((ctx.n_tasks, size, buffer_width(ctx)), jnp.float32)


def buffer_rows(ctx: Context, learner_policy, table, indices):
    """Buffer rows for ``indices`` of ``table``: the transitions and ``learner_policy``'s actions there."""
    rows = jnp.take(table, indices, axis=0)
    obs = rows[:, ctx.layout["observations"]]
    actions = deterministic_action(ctx, learner_policy, learner_policy.actor.params, obs)
    return jnp.concatenate([rows, actions.astype(jnp.float32)], axis=-1)


def sample_buffer(ctx: Context, buffer, key, batch_size: int) -> dict:
    """A uniform batch of one task's buffer: the transition fields plus ``policy_actions``."""
    rows = jnp.take(buffer, jax.random.randint(key, (batch_size,), 0, buffer.shape[0]), axis=0)
    batch = {k: rows[:, s] for k, s in ctx.layout.items()}
    batch["rewards"], batch["terminations"] = batch["rewards"][:, 0], batch["terminations"][:, 0]
    batch["policy_actions"] = rows[:, ctx.table_width:]
    return batch


# ---------------------------------------------------------------------------- quadratic anchors
class AnchorState(NamedTuple):
    """State of :func:`anchor_penalty`: the anchor parameters and the per-parameter weights."""

    anchor: PyTree
    weight: PyTree


def anchor_penalty(coef: float) -> optax.GradientTransformation:
    """Adds the gradient of ``coef * sum(weight * (params - anchor)^2)`` to the incoming gradient.

    Chained in front of a network's optimiser, it adds an L2 (weight 1) or EWC (weight = Fisher
    diagonal) penalty to *every* loss the base learner optimises that network with, without the base
    learner knowing: the penalty's gradient is simply added to the loss's. Weights start at zero (no
    penalty during the first task).
    """

    def init(params):
        return AnchorState(jax.tree_util.tree_map(jnp.array, params), jax.tree_util.tree_map(jnp.zeros_like, params))

    def update(grads, state, params=None):
        g = jax.tree_util.tree_map(lambda g, p, a, w: g + (2.0 * coef) * w * (p - a).astype(g.dtype),
                                   grads, params, state.anchor, state.weight)
        return g, state

    return optax.GradientTransformation(init, update)


def with_anchor(ts: common.TrainState, coef: float) -> common.TrainState:
    """``ts`` with :func:`anchor_penalty` chained in front of its optimiser (same Adam state values)."""
    tx = optax.chain(anchor_penalty(coef), ts.tx)
    return ts.replace(tx=tx, opt_state=(AnchorState(*anchor_penalty(coef).init(ts.params)), ts.opt_state))


def anchor_of(ts: common.TrainState) -> AnchorState:
    return ts.opt_state[0]


def set_anchor(ts: common.TrainState, anchor: PyTree, weight: PyTree) -> common.TrainState:
    return ts.replace(opt_state=(AnchorState(anchor, weight), ts.opt_state[1]))


def anchor_penalty_value(ts: common.TrainState, coef: float):
    a = anchor_of(ts)
    return coef * sum(jnp.sum(w * (p - q) ** 2) for p, q, w in zip(
        jax.tree_util.tree_leaves(ts.params), jax.tree_util.tree_leaves(a.anchor), jax.tree_util.tree_leaves(a.weight)))


def head_mask(params: PyTree, upto_task: int) -> PyTree:
    """Ones for every parameter, except the per-task output layers (:class:`offrl.algos.networks.TaskDense`)
    of tasks after ``upto_task``, which get zeros (a head not trained yet has nothing to keep)."""

    def mask(path, x):
        if any(getattr(p, "key", None) == "TaskDense_0" or str(getattr(p, "key", "")).startswith("TaskDense")
               for p in path):
            keep = (jnp.arange(x.shape[0]) <= upto_task).astype(x.dtype)
            return jnp.broadcast_to(keep.reshape((-1,) + (1,) * (x.ndim - 1)), x.shape)
        return jnp.ones_like(x)

    return jax.tree_util.tree_map_with_path(mask, params)


def rows_to_batch(ctx: Context, rows) -> dict:
    batch = {k: rows[..., s] for k, s in ctx.layout.items()}
    batch["rewards"], batch["terminations"] = batch["rewards"][..., 0], batch["terminations"][..., 0]
    return batch


def check_buffer_fits(buffer_size: int, task_sizes: list[int], task_names: list[str]) -> None:
    """A buffer larger than a task's dataset is an error (before anything is compiled)."""
    small = [(n, s) for n, s in zip(task_names, task_sizes) if s < buffer_size]
    if small:
        raise ConfigError(f"buffer_size={buffer_size} is larger than the dataset of task(s) "
                          + ", ".join(f"{n} ({s:,} transitions)" for n, s in small))
