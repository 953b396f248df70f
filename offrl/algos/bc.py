"""Behaviour cloning: a deterministic tanh policy regressed onto dataset actions (CORL's BC)."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from flax import struct

from offrl.algos import common
from offrl.algos.base import (Algorithm, compute_dtype_hp, first_moment_dtype_hp, flat_optimizer_hp, hp,
                              register)
from offrl.algos.networks import DeterministicActor


@dataclasses.dataclass(frozen=True)
class Config:
    """BC hyperparameters (CORL defaults)."""

    lr: float = hp(3e-4, "Adam learning rate", min=0, open_min=True)
    hidden: tuple[int, ...] = hp((256, 256), "hidden layer sizes", positive_items=True)
    compute_dtype: str = compute_dtype_hp()
    flat_optimizer: bool = flat_optimizer_hp()
    first_moment_dtype: str = first_moment_dtype_hp()
    batch_size: int = hp(256, "transitions per gradient step", min=1)
    steps_per_call: int = 1
    """gradient steps per ``update`` call; fixed by the algorithm."""


@struct.dataclass
class State:
    actor: common.TrainState


def bc_loss(pred, target):
    """Mean squared error over batch and action dimensions."""
    return jnp.mean((pred - target) ** 2)


def init(key, spec, cfg: Config) -> State:
    obs_dim, act_dim = common.dims(spec)
    net = DeterministicActor(act_dim, cfg.hidden, common.max_action(spec), **common.net_options(cfg, spec))
    tx = common.adam_for(cfg)(cfg.lr)
    return State(common.make_state(key, net, (jnp.zeros((1, obs_dim)),), tx))


def update(cfg: Config, state: State, batch, key):
    def loss_fn(p):
        return bc_loss(common.apply(state.actor, p, batch["observations"]), batch["actions"]), None

    actor, loss, _ = common.grad_step(state.actor, loss_fn)
    return State(actor), {"actor/bc_loss": loss}



def act(cfg: Config, state: State, carry, obs, prev_reward, key):
    return common.apply(state.actor, state.actor.params, obs), carry


ALGO = register(Algorithm("bc", Config, init, update, act,
                          description="behaviour cloning (MSE, deterministic tanh policy)"))
