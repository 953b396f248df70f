"""TD3+BC (Fujimoto & Gu, 2021): TD3 with a behaviour-cloning term and Q normalisation.

Defaults are CORL's for Gym-MuJoCo. The policy delay of 2 is trace-time structure: one ``update``
call is two gradient steps, a critic step on one batch, then a critic step, an actor step and the
target updates on a second batch, which is exactly TD3's schedule with no ``lax.cond``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from offrl.algos import common
from offrl.algos.base import (Algorithm, compute_dtype_hp, default_prepare, first_moment_dtype_hp, flat_optimizer_hp,
                              hp, register, sample_transitions)
from offrl.algos.networks import CriticEnsemble, DeterministicActor, soft_update


@dataclasses.dataclass(frozen=True)
class Config:
    """TD3+BC hyperparameters (CORL defaults for Gym-MuJoCo)."""

    actor_lr: float = hp(3e-4, "actor Adam learning rate", min=0, open_min=True)
    critic_lr: float = hp(3e-4, "critic Adam learning rate", min=0, open_min=True)
    discount: float = hp(0.99, "discount factor gamma", min=0, max=1)
    tau: float = hp(0.005, "target network Polyak rate", min=0, max=1, open_min=True)
    policy_noise: float = hp(0.2, "std of target policy smoothing noise (x max action)", min=0)
    noise_clip: float = hp(0.5, "clip of target policy smoothing noise (x max action)", min=0)
    alpha: float = hp(2.5, "BC trade-off: lambda = alpha / mean|Q|", min=0)
    hidden: tuple[int, ...] = hp((256, 256), "hidden layer sizes of actor and critics", positive_items=True)
    compute_dtype: str = compute_dtype_hp()
    flat_optimizer: bool = flat_optimizer_hp()
    first_moment_dtype: str = first_moment_dtype_hp()
    batch_size: int = hp(256, "transitions per gradient step", min=1)
    steps_per_call: int = 2
    """gradient steps per ``update`` call (the policy delay); fixed by the algorithm."""


@struct.dataclass
class State:
    actor: common.TrainState
    critic: common.TrainState
    actor_target: dict
    critic_target: dict
    max_action: float = struct.field(pytree_node=False, default=1.0)


def init(key, spec, cfg: Config) -> State:
    obs_dim, act_dim = common.dims(spec)
    net, adam = common.net_options(cfg, spec), common.adam_for(cfg)
    k1, k2 = jax.random.split(key)
    obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))
    actor = common.make_state(k1, DeterministicActor(act_dim, cfg.hidden, common.max_action(spec), **net), (obs,),
                              adam(cfg.actor_lr))
    critic = common.make_state(k2, CriticEnsemble(cfg.hidden, 2, **net), (obs, act), adam(cfg.critic_lr))
    return State(actor, critic, actor.params, critic.params, common.max_action(spec))


def _critic_step(cfg: Config, s: State, b, key):
    m = s.max_action
    noise = jnp.clip(cfg.policy_noise * m * jax.random.normal(key, b["actions"].shape),
                     -cfg.noise_clip * m, cfg.noise_clip * m)
    next_a = jnp.clip(common.apply(s.actor, s.actor_target, b["next_observations"]) + noise, -m, m)
    target_q = jnp.min(common.apply(s.critic, s.critic_target, b["next_observations"], next_a), axis=0)
    y = b["rewards"] + cfg.discount * (1.0 - b["terminations"]) * target_q

    def loss_fn(p):
        q = common.apply(s.critic, p, b["observations"], b["actions"])
        return jnp.sum(jnp.mean((q - y) ** 2, axis=-1)), q.mean()

    critic, loss, q_mean = common.grad_step(s.critic, loss_fn)
    return s.replace(critic=critic), {"critic/loss": loss, "critic/q_mean": q_mean}


def _actor_step(cfg: Config, s: State, b):
    def loss_fn(p):
        pi = common.apply(s.actor, p, b["observations"])
        q = common.forward(s.critic, b["observations"], pi)[0]
        lmbda = jax.lax.stop_gradient(cfg.alpha / jnp.mean(jnp.abs(q)))
        bc = jnp.mean((pi - b["actions"]) ** 2)
        return -lmbda * jnp.mean(q) + bc, bc

    actor, loss, bc = common.grad_step(s.actor, loss_fn)
    return s.replace(actor=actor, actor_target=soft_update(s.actor_target, actor.params, cfg.tau),
                     critic_target=soft_update(s.critic_target, s.critic.params, cfg.tau)), {
        "actor/loss": loss, "actor/bc_loss": bc}


def update(cfg: Config, state: State, batch, key):
    """Two gradient steps: critic on batch[0]; critic, actor and targets on batch[1]."""
    k1, k2 = jax.random.split(key)
    b0 = jax.tree_util.tree_map(lambda x: x[0], batch)
    b1 = jax.tree_util.tree_map(lambda x: x[1], batch)
    state, m0 = _critic_step(cfg, state, b0, k1)
    state, m1 = _critic_step(cfg, state, b1, k2)
    state, ma = _actor_step(cfg, state, b1)
    return state, {**{k: (m0[k] + m1[k]) / 2 for k in m0}, **ma}


def sample(cfg: Config, data, key, spec):
    obs_dim, act_dim = common.dims(spec)
    return sample_transitions(data, key, cfg.batch_size, obs_dim, act_dim, leading=(2,))


def act(cfg: Config, state: State, carry, obs, prev_reward, key):
    return common.apply(state.actor, state.actor.params, obs), carry


ALGO = register(Algorithm("td3bc", Config, init, update, act, sample, default_prepare,
                          description="TD3+BC (Fujimoto & Gu 2021), CORL defaults"))
