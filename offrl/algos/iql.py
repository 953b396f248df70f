"""Implicit Q-Learning (Kostrikov et al., 2022) with CORL's Gym-MuJoCo defaults.

Order within a step follows CORL: V by expectile regression on the target Q; Q towards
r + gamma * V(s') and advantage-weighted regression for the actor, both with V from before this
step's V update; Polyak update of the target Q.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from offrl.algos import common
from offrl.algos.base import (Algorithm, compute_dtype_hp, default_prepare, first_moment_dtype_hp, flat_optimizer_hp,
                              hp, register)
from offrl.algos.networks import CriticEnsemble, GaussianActor, ValueNet, normal_log_prob, soft_update


@dataclasses.dataclass(frozen=True)
class Config:
    """IQL hyperparameters (CORL defaults for Gym-MuJoCo)."""

    actor_lr: float = hp(3e-4, "actor Adam learning rate (cosine-decayed)", min=0, open_min=True)
    critic_lr: float = hp(3e-4, "Q Adam learning rate", min=0, open_min=True)
    value_lr: float = hp(3e-4, "V Adam learning rate", min=0, open_min=True)
    discount: float = hp(0.99, "discount factor gamma", min=0, max=1)
    tau: float = hp(0.005, "target Q Polyak rate", min=0, max=1, open_min=True)
    expectile: float = hp(0.7, "expectile of the V regression (IQL's tau)", min=0, max=1, open_min=True)
    beta: float = hp(3.0, "inverse temperature of advantage weighting", min=0)
    max_weight: float = hp(100.0, "clip of exp(beta * advantage)", min=0, open_min=True)
    hidden: tuple[int, ...] = hp((256, 256), "hidden layer sizes of all networks", positive_items=True)
    compute_dtype: str = compute_dtype_hp()
    flat_optimizer: bool = flat_optimizer_hp()
    first_moment_dtype: str = first_moment_dtype_hp()
    batch_size: int = hp(256, "transitions per gradient step", min=1)
    normalize_reward: bool = True
    """scale rewards by max_episode_steps / (max return - min return) over dataset episodes (CORL)."""
    max_episode_steps: int = hp(1000, "episode horizon used by the reward scaling", min=1)
    actor_lr_schedule_steps: int = hp(0, "cosine decay horizon of the actor lr; 0 = the run's total steps", min=0)
    steps_per_call: int = 1
    """gradient steps per ``update`` call; fixed by the algorithm."""


@struct.dataclass
class State:
    actor: common.TrainState
    critic: common.TrainState
    value: common.TrainState
    critic_target: dict


def prepare(dataset, cfg: Config):
    data = default_prepare(dataset, cfg)
    if cfg.normalize_reward:
        rets = dataset.episode_returns()
        span = float(rets.max() - rets.min()) if len(rets) else 0.0
        if span > 0:
            obs_dim = int(np.prod(dataset.spec.obs_shape))
            act_dim = int(np.prod(dataset.spec.action_shape))
            data["table"][:, obs_dim + act_dim] *= cfg.max_episode_steps / span
    return data


def init(key, spec, cfg: Config) -> State:
    obs_dim, act_dim = common.dims(spec)
    net, adam = common.net_options(cfg, spec), common.adam_for(cfg)
    k1, k2, k3 = jax.random.split(key, 3)
    obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))
    sched = optax.cosine_decay_schedule(cfg.actor_lr, max(cfg.actor_lr_schedule_steps, 1))
    # log-std clipped to CORL's [-20, 2]
    policy = GaussianActor(act_dim, cfg.hidden, common.max_action(spec), log_std_min=-20.0, **net)
    actor = common.make_state(k1, policy, (obs,), adam(sched))
    critic = common.make_state(k2, CriticEnsemble(cfg.hidden, 2, **net), (obs, act), adam(cfg.critic_lr))
    value = common.make_state(k3, ValueNet(cfg.hidden, **net), (obs,), adam(cfg.value_lr))
    return State(actor, critic, value, critic.params)


def update(cfg: Config, s: State, b, key):
    target_q = jnp.min(common.apply(s.critic, s.critic_target, b["observations"], b["actions"]), axis=0)

    def v_loss(p):
        v = common.apply(s.value, p, b["observations"])
        return jnp.mean(common.expectile_loss(target_q - v, cfg.expectile)), v

    # CORL's order: the Q target's V(s') and the actor's advantage both use the value network from
    # before this step's value update, so all three updates read the same snapshot
    next_v = common.forward(s.value, b["next_observations"])
    value, vl, v = common.grad_step(s.value, v_loss)
    adv = target_q - v
    y = b["rewards"] + cfg.discount * (1.0 - b["terminations"]) * next_v

    def q_loss(p):
        q = common.apply(s.critic, p, b["observations"], b["actions"])
        return jnp.mean((q - y) ** 2), q.mean()

    critic, ql, q_mean = common.grad_step(s.critic, q_loss)
    weights = jnp.minimum(jnp.exp(cfg.beta * adv), cfg.max_weight)

    def pi_loss(p):
        mean, log_std = common.apply(s.actor, p, b["observations"])
        return -jnp.mean(weights * normal_log_prob(b["actions"], mean, log_std)), None

    actor, pl, _ = common.grad_step(s.actor, pi_loss)
    new = State(actor, critic, value, soft_update(s.critic_target, critic.params, cfg.tau))
    return new, {"value/loss": vl, "critic/loss": ql, "critic/q_mean": q_mean, "actor/loss": pl,
                 "actor/adv_weight_mean": weights.mean()}


def act(cfg: Config, state: State, carry, obs, prev_reward, key):
    mean, _ = common.apply(state.actor, state.actor.params, obs)
    return mean, carry


ALGO = register(Algorithm("iql", Config, init, update, act, prepare=prepare,
                          description="Implicit Q-Learning (Kostrikov et al. 2022), CORL defaults"))
