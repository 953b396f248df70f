"""Behaviour policies for the UAV env and a jitted evaluation rollout.

A :class:`Policy` is two pure functions: ``init(key, state, params) -> ctx`` runs once at the start of
an episode (e.g. k-means placement of the users it sees) and ``act(key, state, ctx, params) ->
actions (U,)``. Everything is JAX, so rollouts are ``vmap``-ed over episodes and ``scan``-ned over time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from offrl.envs.uav.channel import association
from offrl.envs.uav.env import (EnvState, avail_actions_array, fixed_start, global_state_array, reset_arrays,
                               step_env_arrays)
from offrl.envs.uav.params import ACTION_DELTAS, EnvParams


class Policy(NamedTuple):
    """A behaviour policy: ``init`` once per episode, ``act`` every step (both pure, jittable)."""

    init: Callable[..., Any]
    act: Callable[..., jax.Array]


def _no_ctx(key, state, params):
    return jnp.zeros(())


def masked_uniform(key, mask):
    """One uniformly random available action per row of a (U, 5) mask."""
    return jax.random.categorical(key, jnp.where(mask, 0.0, -jnp.inf), axis=-1).astype(jnp.int32)


def random_policy() -> Policy:
    """Uniformly random valid moves (the 'poor' behaviour and the normalised-score floor)."""
    return Policy(_no_ctx, lambda key, state, ctx, params: masked_uniform(key, avail_actions_array(state, params)))


def goto_actions(pos, targets):
    """Step each UAV one cell toward its target cell, along the axis with the larger gap (hover there)."""
    d = targets - pos
    dx, dy = d[:, 0], d[:, 1]
    use_x = jnp.abs(dx) >= jnp.abs(dy)
    a_x = jnp.where(dx > 0, 3, 4)
    a_y = jnp.where(dy > 0, 1, 2)
    moving = (dx != 0) | (dy != 0)
    return jnp.where(moving, jnp.where(use_x, a_x, a_y), 0).astype(jnp.int32)


def targets_policy(targets) -> Policy:
    """Fly straight to fixed target cells (U, 2) and hover there (the form of PSO's solution)."""
    t = jnp.asarray(targets, jnp.int32)
    return Policy(_no_ctx, lambda key, state, ctx, params: goto_actions(state.uav_pos, t))


def kmeans_cells(users, params: EnvParams, iters: int = 25):
    """k-means (k = number of UAVs) of the user positions, snapped to grid cells (U, 2).

    Deterministic farthest-point initialisation from the user closest to the area centre, then Lloyd
    iterations; an empty cluster keeps its previous centre.
    """
    k = params.n_uavs
    centre = jnp.full((2,), params.area_m / 2.0, jnp.float32)
    first = jnp.argmin(jnp.sum((users - centre) ** 2, axis=1))

    def pick(i, cs):
        d = jnp.min(jnp.sum((users[:, None, :] - cs[None]) ** 2, axis=-1) + jnp.where(jnp.arange(k) < i, 0.0, jnp.inf)[None], axis=1)
        return cs.at[i].set(users[jnp.argmax(d)])

    cs = jax.lax.fori_loop(1, k, pick, jnp.tile(users[first], (k, 1)))

    def lloyd(_, cs):
        lab = jnp.argmin(jnp.sum((users[:, None, :] - cs[None]) ** 2, axis=-1), axis=1)
        one = jax.nn.one_hot(lab, k, dtype=jnp.float32)
        cnt = one.sum(0)
        mean = (one.T @ users) / jnp.maximum(cnt, 1.0)[:, None]
        return jnp.where(cnt[:, None] > 0, mean, cs)

    cs = jax.lax.fori_loop(0, iters, lloyd, cs)
    return jnp.clip(jnp.round(cs / jnp.float32(params.cell_m)), 0, params.grid_n - 1).astype(jnp.int32)


def kmeans_policy() -> Policy:
    """Static-centroid placement: k-means of this episode's users, then fly there and hover."""
    return Policy(lambda key, state, params: kmeans_cells(state.users, params),
                  lambda key, state, ctx, params: goto_actions(state.uav_pos, ctx))


def greedy_actions(state: EnvState, params: EnvParams):
    """Myopic hill climbing: each UAV takes the move that most increases the associated users,
    assuming the others hover (hover wins ties, so it stops at a local optimum)."""
    u = params.n_uavs
    deltas = jnp.asarray(ACTION_DELTAS)
    mask = avail_actions_array(state, params)

    def value(i, a):
        pos = state.uav_pos.at[i].add(deltas[a])
        _, load, _ = association(pos, state.users, params)
        return jnp.sum(load)

    vals = jax.vmap(lambda i: jax.vmap(lambda a: value(i, a))(jnp.arange(5)))(jnp.arange(u))
    return jnp.argmax(jnp.where(mask, vals, -1), axis=1).astype(jnp.int32)


def greedy_policy() -> Policy:
    """:func:`greedy_actions` as a policy (uses the current users' positions, like k-means)."""
    return Policy(_no_ctx, lambda key, state, ctx, params: greedy_actions(state, params))


def cell_index(pos, params: EnvParams):
    """Tabular state of each UAV: its cell index x * G + y."""
    return pos[:, 0] * params.grid_n + pos[:, 1]


def eps_greedy(key, q_rows, mask, eps):
    """Per-agent epsilon-greedy over available actions; greedy ties broken at random."""
    k_tie, k_rand, k_eps = jax.random.split(key, 3)
    noisy = q_rows + 1e-6 * jax.random.uniform(k_tie, q_rows.shape) * (jnp.abs(q_rows) + 1.0)
    greedy = jnp.argmax(jnp.where(mask, noisy, -jnp.inf), axis=-1)
    explore = jax.random.uniform(k_eps, greedy.shape) < eps
    return jnp.where(explore, masked_uniform(k_rand, mask), greedy).astype(jnp.int32)


def tabular_policy(q, eps: float = 0.0) -> Policy:
    """Independent tabular agents: Q tables (U, n_cells, 5) over each UAV's own cell, epsilon-greedy."""
    q = jnp.asarray(q)

    def act(key, state, ctx, params):
        rows = q[jnp.arange(params.n_uavs), cell_index(state.uav_pos, params)]
        return eps_greedy(key, rows, avail_actions_array(state, params), eps)

    return Policy(_no_ctx, act)


def epsilon_mix(policy: Policy, eps: float) -> Policy:
    """With probability ``eps`` per UAV and step take a random valid action instead of ``policy``'s."""
    def act(key, state, ctx, params):
        k1, k2, k3 = jax.random.split(key, 3)
        a = policy.act(k1, state, ctx, params)
        r = masked_uniform(k2, avail_actions_array(state, params))
        return jnp.where(jax.random.uniform(k3, a.shape) < eps, r, a)

    return Policy(policy.init, act)


def rollout(policy: Policy, key, params: EnvParams, record: bool = False):
    """One episode (no auto-reset). Returns per-step ``n_assoc`` (T,) and, with ``record``, a dict of
    transitions (obs, actions, rewards, states, masks, positions, ...) stacked over time."""
    k_reset, k_init, k_steps = jax.random.split(key, 3)
    obs, state = reset_arrays(k_reset, params)
    ctx = policy.init(k_init, state, params)

    def body(carry, k):
        obs, state = carry
        ka, ks = jax.random.split(k)
        mask = avail_actions_array(state, params)
        a = policy.act(ka, state, ctx, params)
        nobs, nstate, rew, team, trunc, info = step_env_arrays(ks, state, a, params)
        out = {"n_assoc": info["n_assoc"]}
        if record:
            out.update(obs=obs, next_obs=nobs, actions=a, agent_rewards=rew, team_reward=team,
                       truncated=trunc, avail_actions=mask, next_avail_actions=avail_actions_array(nstate, params),
                       state=global_state_array(state, params), next_state=global_state_array(nstate, params),
                       uav_pos=nstate.uav_pos, load=nstate.load)
        return (nobs, nstate), out

    _, out = jax.lax.scan(body, (obs, state), jax.random.split(k_steps, params.episode_len))
    if record:
        out["users"] = state.users
        out["start_pos"] = state.uav_pos
    return out


def evaluate(policy: Policy, key, params: EnvParams, n_episodes: int):
    """Mean associated users per step for ``n_episodes`` episodes (vmapped): array (n_episodes,)."""
    keys = jax.random.split(key, n_episodes)
    n = jax.vmap(lambda k: rollout(policy, k, params)["n_assoc"])(keys)
    return jnp.mean(n.astype(jnp.float32), axis=1)


def start_cells(params: EnvParams) -> np.ndarray:
    """Launch cells of the fixed start (for plots)."""
    return fixed_start(params)
