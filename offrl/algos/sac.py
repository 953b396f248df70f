"""Soft Actor-Critic (Haarnoja et al., 2018) with automatic entropy tuning.

Used online by :mod:`offrl.online` to train the behaviour policies of the ``local/*`` datasets.
``act_mask`` (0/1 per action dimension) lets one vmapped update train tasks whose action sizes
differ: padded dimensions are zeroed and leave the log-probability and the target entropy.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from offrl.algos import common
from offrl.algos.base import Algorithm, hp, register
from offrl.algos.networks import CriticEnsemble, TanhGaussianActor, soft_update, tanh_gaussian_sample


@dataclasses.dataclass(frozen=True)
class Config:
    """SAC hyperparameters (the SAC paper's / CleanRL's MuJoCo defaults)."""

    actor_lr: float = hp(3e-4, "actor Adam learning rate", min=0, open_min=True)
    critic_lr: float = hp(3e-4, "critic Adam learning rate", min=0, open_min=True)
    alpha_lr: float = hp(3e-4, "entropy temperature Adam learning rate", min=0, open_min=True)
    discount: float = hp(0.99, "discount factor gamma", min=0, max=1)
    tau: float = hp(0.005, "target critic Polyak rate", min=0, max=1, open_min=True)
    hidden: tuple[int, ...] = hp((256, 256), "hidden layer sizes", positive_items=True)
    batch_size: int = hp(256, "transitions per gradient step", min=1)
    init_alpha: float = hp(1.0, "initial entropy temperature", min=0, open_min=True)
    steps_per_call: int = 1
    """gradient steps per ``update`` call; fixed by the algorithm."""


@struct.dataclass
class State:
    actor: common.TrainState
    critic: common.TrainState
    log_alpha: common.TrainState
    critic_target: dict
    act_mask: jax.Array
    target_entropy: jax.Array


def init(key, spec, cfg: Config, act_mask=None) -> State:
    obs_dim, act_dim = common.dims(spec)
    k1, k2 = jax.random.split(key)
    obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))
    actor = common.make_state(k1, TanhGaussianActor(act_dim, cfg.hidden), (obs,), common.adam(cfg.actor_lr))
    critic = common.make_state(k2, CriticEnsemble(cfg.hidden, 2), (obs, act), common.adam(cfg.critic_lr))
    log_alpha = common.make_temperature(cfg.init_alpha, cfg.alpha_lr)
    mask = jnp.ones(act_dim) if act_mask is None else jnp.asarray(act_mask, jnp.float32)
    return State(actor, critic, log_alpha, critic.params, mask, -jnp.sum(mask))


def sample_action(state: State, params, obs, key):
    """Stochastic action and log-probability (padded action dimensions masked out)."""
    mean, log_std = common.apply(state.actor, params, obs)
    return tanh_gaussian_sample(key, mean, log_std, mask=state.act_mask)


def update(cfg: Config, s: State, b, key):
    k_next, k_pi = jax.random.split(key)
    alpha = jnp.exp(s.log_alpha.params["log_alpha"])
    next_a, next_lp = sample_action(s, s.actor.params, b["next_observations"], k_next)
    target_q = jnp.min(common.apply(s.critic, s.critic_target, b["next_observations"], next_a), axis=0)
    y = b["rewards"] + cfg.discount * (1.0 - b["terminations"]) * (target_q - alpha * next_lp)

    def q_loss(p):
        q = common.apply(s.critic, p, b["observations"], b["actions"])
        return jnp.sum(jnp.mean((q - y) ** 2, axis=-1)), q.mean()

    critic, ql, q_mean = common.grad_step(s.critic, q_loss)

    def pi_loss(p):
        a, lp = sample_action(s, p, b["observations"], k_pi)
        q = jnp.min(common.forward(critic, b["observations"], a), axis=0)
        return jnp.mean(alpha * lp - q), jnp.mean(lp)

    actor, pl, mean_lp = common.grad_step(s.actor, pi_loss)
    log_alpha, _ = common.temperature_step(s.log_alpha, mean_lp, s.target_entropy)
    new = s.replace(actor=actor, critic=critic, log_alpha=log_alpha,
                    critic_target=soft_update(s.critic_target, critic.params, cfg.tau))
    return new, {"critic/loss": ql, "critic/q_mean": q_mean, "actor/loss": pl, "actor/entropy": -mean_lp,
                 "alpha/value": alpha}


def act(cfg: Config, state: State, carry, obs, prev_reward, key):
    mean, _ = common.apply(state.actor, state.actor.params, obs)
    return jnp.tanh(mean) * state.act_mask, carry


ALGO = register(Algorithm("sac", Config, init, update, act,
                          description="Soft Actor-Critic; online trainer of the behaviour policies "
                                      "(offline it is the naive, unregularised baseline)"))
