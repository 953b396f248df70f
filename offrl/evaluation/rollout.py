"""Evaluation rollouts by the standard protocol: all seeds x variants x episodes stepped together.

One batched, jitted policy call per env step serves every seed (the seed axis of the trained state
is vmapped) and every episode; env episodes are seeded by ``eval_seed + episode`` so all training
seeds face the same start states, and evaluation seeds never overlap training seeds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from offrl.envs.pool import EnvPool


@dataclasses.dataclass
class EvalResult:
    """Returns and lengths of shape (seeds, variants, episodes), with the variant names."""

    returns: np.ndarray
    lengths: np.ndarray
    variants: list[str]

    def for_variant(self, name: str) -> np.ndarray:
        return self.returns[:, self.variants.index(name)]


def make_policy_fn(algo, cfg) -> Callable:
    """jit(vmap over seeds) of ``algo.act``; obs (S, B, obs), prev_reward (S, B) -> actions (S, B, act)."""
    import jax

    def one_seed(state, carry, obs, prev_reward, key):
        return algo.act(cfg, state, carry, obs, prev_reward, key)

    return jax.jit(jax.vmap(one_seed))


def init_carries(algo, cfg, states, episodes: int, variants: list[tuple[str, dict]]):
    """Per seed: the variants' fresh policy memories concatenated along the env axis."""
    import jax
    import jax.numpy as jnp

    def one_seed(state):
        parts = [algo.init_carry(cfg, state, episodes, v) for _, v in variants]
        return jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs, axis=0), *parts)

    return jax.vmap(one_seed)(states)


def evaluate(algo, cfg, states, env_id: str, *, episodes: int = 10, eval_seed: int = 10_000,
             obs_mean: np.ndarray | None = None, obs_std: np.ndarray | None = None, workers: int = 0,
             pool: EnvPool | None = None, policy_fn: Callable | None = None, key: Any = None,
             max_steps: int | None = None, env_kwargs: dict | None = None) -> EvalResult:
    """Roll out the deterministic policy of every seed in ``states`` (leading seed axis).

    ``obs_mean``/``obs_std`` normalise observations exactly as the training data was normalised.
    Pass a long-lived ``pool`` and ``policy_fn`` to avoid re-creating envs and re-tracing per call.
    """
    import jax

    n_seeds = int(jax.tree_util.tree_leaves(states)[0].shape[0])
    variants = algo.eval_variants(cfg)
    per_seed = len(variants) * episodes
    own_pool = pool is None
    pool = pool or EnvPool(env_id, n_seeds * per_seed, workers=workers, env_kwargs=env_kwargs)
    try:
        obs_fn = None if obs_mean is None else (lambda o: (o - obs_mean) / obs_std)
        returns, lengths = run_episodes(
            policy_fn or make_policy_fn(algo, cfg), states, init_carries(algo, cfg, states, episodes, variants), pool,
            env_seeds=[eval_seed + (i % episodes) for i in range(n_seeds * per_seed)], obs_fn=obs_fn,
            key=jax.random.PRNGKey(eval_seed) if key is None else key, max_steps=max_steps)
    finally:
        if own_pool:
            pool.close()
    shape = (n_seeds, len(variants), episodes)
    return EvalResult(returns.reshape(shape), lengths.reshape(shape), [name for name, _ in variants])


def run_episodes(policy_fn: Callable, states, carry, pool: EnvPool, *, env_seeds: list[int],
                 obs_fn: Callable[[np.ndarray], np.ndarray] | None = None, key: Any = None,
                 max_steps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Step every env of ``pool`` to the end of one episode with one batched policy call per step.

    The pool's envs are seed-major: env ``i`` belongs to seed ``i // (pool.n // n_seeds)``.
    ``obs_fn`` maps the flat observations (n, obs) to what the policy reads (normalisation, a task
    indicator...). Returns the undiscounted returns and lengths, shape (n,).
    """
    import jax
    import jax.numpy as jnp

    n = pool.n
    n_seeds = int(jax.tree_util.tree_leaves(states)[0].shape[0])
    per_seed = n // n_seeds
    key = jax.random.PRNGKey(0) if key is None else key
    obs = pool.reset(env_seeds).astype(np.float32)
    returns = np.zeros(n)
    lengths = np.zeros(n, np.int64)
    active = np.ones(n, bool)
    prev_r = np.zeros(n, np.float32)
    limit = max_steps or pool.max_episode_steps or 1000
    for _ in range(limit):
        o = obs.reshape(n, -1)
        if obs_fn is not None:
            o = obs_fn(o)
        key, sub = jax.random.split(key)
        keys = jax.random.split(sub, n_seeds)
        actions, carry = policy_fn(states, carry, jnp.asarray(o.reshape(n_seeds, per_seed, -1), jnp.float32),
                                   jnp.asarray(prev_r.reshape(n_seeds, per_seed)), keys)
        actions = np.asarray(actions).reshape(n, *pool.action_space.shape)
        nxt, r, term, trunc, _ = pool.step(actions, active)
        returns += np.where(active, r, 0.0)
        lengths += active
        prev_r = r.astype(np.float32)
        obs = np.where(active.reshape((n,) + (1,) * (nxt.ndim - 1)), nxt, obs).astype(np.float32)
        active &= ~(term | trunc)
        if not active.any():
            break
    return returns, lengths
