"""Conservative Q-Learning (Kumar et al., 2020), CORL's non-Lagrangian variant and defaults.

The critic loss adds ``cql_alpha * (logsumexp_a Q(s, a) - Q(s, a_data))`` where the logsumexp is
estimated by importance sampling over uniform actions and policy actions at s and s'. The actor is
SAC's with automatic entropy tuning. Networks as CORL's: 3x256 for policy and critics; critics
initialised orthogonally (gain sqrt 2, output layer 1e-2); the policy's heads Xavier-uniform with
gain 1e-2 and its log-std = learned multiplier (init 1) x head + learned offset (init -1), clipped
to [-20, 2].
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from offrl.algos import common
from offrl.algos.base import (Algorithm, compute_dtype_hp, first_moment_dtype_hp, flat_optimizer_hp, hp,
                              register)
from offrl.algos.networks import CriticEnsemble, TanhGaussianActor, soft_update, tanh_gaussian_sample, xavier_uniform


@dataclasses.dataclass(frozen=True)
class Config:
    """CQL hyperparameters (CORL defaults for Gym-MuJoCo)."""

    policy_lr: float = hp(3e-5, "policy and entropy-temperature Adam learning rate", min=0, open_min=True)
    critic_lr: float = hp(3e-4, "critic Adam learning rate", min=0, open_min=True)
    discount: float = hp(0.99, "discount factor gamma", min=0, max=1)
    tau: float = hp(5e-3, "target critic Polyak rate", min=0, max=1, open_min=True)
    cql_alpha: float = hp(10.0, "weight of the conservative penalty", min=0)
    cql_n_actions: int = hp(10, "sampled actions per state for the logsumexp estimate", min=1)
    cql_temp: float = hp(1.0, "temperature of the logsumexp", min=0, open_min=True)
    hidden: tuple[int, ...] = hp((256, 256, 256), "hidden layer sizes of policy and critics", positive_items=True)
    orthogonal_init: bool = hp(True, "orthogonal critic initialisation (gain sqrt 2; output layer 1e-2), as CORL")
    """orthogonal initialisation of the critics (hidden gain sqrt 2, output 1e-2); False keeps flax's
    default hidden layers and a Xavier-uniform output layer with gain 1e-2, as CORL with it off."""
    compute_dtype: str = compute_dtype_hp()
    flat_optimizer: bool = flat_optimizer_hp()
    first_moment_dtype: str = first_moment_dtype_hp()
    batch_size: int = hp(256, "transitions per gradient step", min=1)
    steps_per_call: int = 1
    """gradient steps per ``update`` call; fixed by the algorithm."""


@struct.dataclass
class State:
    actor: common.TrainState
    critic: common.TrainState
    log_alpha: common.TrainState
    critic_target: dict
    target_entropy: float = struct.field(pytree_node=False, default=-1.0)


def init(key, spec, cfg: Config) -> State:
    obs_dim, act_dim = common.dims(spec)
    net, adam = common.net_options(cfg, spec), common.adam_for(cfg)
    k1, k2 = jax.random.split(key)
    obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))
    policy = TanhGaussianActor(act_dim, cfg.hidden, log_std_min=-20.0, log_std_offset_init=-1.0,
                               head_init=xavier_uniform(1e-2), **net)
    if cfg.orthogonal_init:
        hidden_init, out_init = nn.initializers.orthogonal(2**0.5), nn.initializers.orthogonal(1e-2)
    else:
        hidden_init, out_init = None, xavier_uniform(1e-2)
    critics = CriticEnsemble(cfg.hidden, 2, hidden_init=hidden_init, out_init=out_init, **net)
    actor = common.make_state(k1, policy, (obs,), adam(cfg.policy_lr))
    critic = common.make_state(k2, critics, (obs, act), adam(cfg.critic_lr))
    log_alpha = common.make_temperature(1.0, cfg.policy_lr)
    return State(actor, critic, log_alpha, critic.params, -float(act_dim))


def cql_penalty(q_data, q_rand, q_cur, logp_cur, q_next, logp_next, act_dim: int, temp: float):
    """Importance-sampled logsumexp_a Q(s, a) - Q(s, a_data), per critic (mean over batch).

    q_data (C, B); q_rand/q_cur/q_next (C, B, n); logp_cur/logp_next (B, n).
    """
    log_uniform = act_dim * jnp.log(0.5)
    cat = jnp.concatenate([q_rand - log_uniform, q_next - logp_next, q_cur - logp_cur], axis=-1)
    ood = jax.scipy.special.logsumexp(cat / temp, axis=-1) * temp
    return jnp.mean(ood - q_data, axis=-1)


def update(cfg: Config, s: State, b, key):
    k_pi, k_next, k_rand, k_cur, k_nn = jax.random.split(key, 5)
    obs, nxt = b["observations"], b["next_observations"]
    bsz, act_dim = b["actions"].shape

    # --- policy (SAC objective against the current critics) and temperature, both with the
    # pre-update alpha; the temperature uses the log-probs of the policy loss's own sample
    alpha = jnp.exp(s.log_alpha.params["log_alpha"])

    def pi_loss(p):
        mean, log_std = common.apply(s.actor, p, obs)
        a, lp = tanh_gaussian_sample(k_pi, mean, log_std)
        q = jnp.min(common.forward(s.critic, obs, a), axis=0)
        return jnp.mean(alpha * lp - q), (jnp.mean(lp), (mean, log_std))

    actor, pl, (mean_logp, obs_dist) = common.grad_step(s.actor, pi_loss)
    log_alpha, alpha_loss = common.temperature_step(s.log_alpha, mean_logp, s.target_entropy)

    # --- critics: TD error + conservative penalty (policy samples use the pre-update policy, as CORL).
    # The policy network runs once per distinct state: the n samples per state only differ in noise,
    # so CORL's n-fold repeated states go through the network as B rows, not B * n.
    n = cfg.cql_n_actions
    nxt_dist = common.forward(s.actor, nxt)
    next_a, _ = tanh_gaussian_sample(k_next, *nxt_dist)
    target_q = jnp.min(common.apply(s.critic, s.critic_target, nxt, next_a), axis=0)
    y = b["rewards"] + cfg.discount * (1.0 - b["terminations"]) * target_q
    repeat = lambda x: jnp.repeat(x[:, None], n, axis=1)  # noqa: E731
    rand_a = jax.random.uniform(k_rand, (bsz, n, act_dim), minval=-1.0, maxval=1.0)
    cur_a, cur_lp = jax.lax.stop_gradient(tanh_gaussian_sample(k_cur, *map(repeat, obs_dist)))
    nn_a, nn_lp = jax.lax.stop_gradient(tanh_gaussian_sample(k_nn, *map(repeat, nxt_dist)))
    # the data actions and the three sampled sets go through the critics as one batch (one matmul
    # per layer; XLA would otherwise copy the separate batches together itself)
    obs_all = jnp.concatenate([obs, jnp.tile(repeat(obs).reshape(-1, obs.shape[-1]), (3, 1))])
    act_all = jnp.concatenate([b["actions"], rand_a.reshape(-1, act_dim), cur_a.reshape(-1, act_dim),
                               nn_a.reshape(-1, act_dim)])

    def q_loss(p):
        q_all = common.apply(s.critic, p, obs_all, act_all)
        q_data = q_all[:, :bsz]
        q_rand, q_cur, q_next = q_all[:, bsz:].reshape(q_all.shape[0], 3, bsz, n).swapaxes(0, 1)
        td = jnp.sum(jnp.mean((q_data - y) ** 2, axis=-1))
        pen = cql_penalty(q_data, q_rand, q_cur, cur_lp, q_next, nn_lp, act_dim, cfg.cql_temp)
        return td + cfg.cql_alpha * jnp.sum(pen), (td, jnp.mean(pen), q_data.mean())

    critic, ql, (td, pen, q_mean) = common.grad_step(s.critic, q_loss)
    new = s.replace(actor=actor, critic=critic, log_alpha=log_alpha,
                    critic_target=soft_update(s.critic_target, critic.params, cfg.tau))
    return new, {"critic/loss": ql, "critic/td_loss": td, "critic/cql_penalty": pen, "critic/q_mean": q_mean,
                 "actor/loss": pl, "actor/log_prob": mean_logp, "alpha/value": alpha, "alpha/loss": alpha_loss}


def act(cfg: Config, state: State, carry, obs, prev_reward, key):
    mean, _ = common.apply(state.actor, state.actor.params, obs)
    return jnp.tanh(mean), carry


ALGO = register(Algorithm("cql", Config, init, update, act,
                          description="Conservative Q-Learning (Kumar et al. 2020), CORL defaults"))
