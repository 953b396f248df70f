"""Baselines of Mondal et al.: distributed SARSA, independent Q-learning and PSO, plus random,
greedy hill climbing and k-means placement, and the comparison used for the paper's claim.

The tabular learners are independent agents, one Q table per UAV over its own grid cell (the
paper's finite-state MDP), all sharing the team reward. Training is JAX: ``lax.scan`` over the steps
of an episode and over the episodes of a chunk, ``vmap`` over seeds; the Python loop only runs over
chunks (for progress bars, greedy evaluations and checkpoints).

The learned methods (SARSA, Q-learning, PSO) get the same budget of environment episodes and are
evaluated on the same held-out user layouts. Random, greedy and k-means need no training; greedy and
k-means see each episode's user positions (full information), the learners only their own cell.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from offrl.envs.uav.env import avail_actions_array, reset_arrays, step_env_arrays
from offrl.envs.uav.params import N_ACTIONS, EnvParams
from offrl.envs.uav.policies import (cell_index, eps_greedy, evaluate, greedy_policy, kmeans_policy,
                                     random_policy, tabular_policy, targets_policy)
from offrl.errors import ConfigError

LEARNERS = ("sarsa", "qlearning")


@dataclasses.dataclass(frozen=True)
class TabularConfig:
    """Hyper-parameters of the tabular learners (notes section 5.4, item 7)."""

    episodes: int = 400
    """Training episodes per seed (each ``params.episode_len`` steps)."""
    alpha: float = 0.5
    """Learning rate (0.5 as in saugat76/uav_nw_maql_connectivity)."""
    gamma: float = 0.9
    """Discount factor."""
    eps_start: float = 1.0
    """Initial exploration rate."""
    eps_end: float = 0.05
    """Final exploration rate (reached after ``eps_decay_frac`` of the episodes, then constant)."""
    eps_decay_frac: float = 0.5
    """Fraction of the episodes over which epsilon decays linearly."""
    chunks: int = 10
    """Training is split in this many chunks; a greedy evaluation and a Q snapshot follow each."""

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field."""
        if self.episodes < 1:
            raise ConfigError(f"episodes: must be >= 1 (got {self.episodes})")
        if not 0 < self.alpha <= 1:
            raise ConfigError(f"alpha: must be in (0, 1] (got {self.alpha})")
        if not 0 <= self.gamma < 1:
            raise ConfigError(f"gamma: must be in [0, 1) (got {self.gamma})")
        for name in ("eps_start", "eps_end"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name}: must be in [0, 1] (got {getattr(self, name)})")
        if not 0 < self.eps_decay_frac <= 1:
            raise ConfigError(f"eps_decay_frac: must be in (0, 1] (got {self.eps_decay_frac})")
        if not 1 <= self.chunks <= self.episodes:
            raise ConfigError(f"chunks: must be in [1, episodes] (got {self.chunks})")


def epsilon_at(episode, cfg: TabularConfig):
    """Linear epsilon schedule, ``eps_start`` -> ``eps_end`` over ``eps_decay_frac`` of training."""
    frac = jnp.clip(episode / jnp.maximum(cfg.eps_decay_frac * cfg.episodes, 1.0), 0.0, 1.0)
    return cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)


def _episode(q, key, eps, params: EnvParams, cfg: TabularConfig, method: str):
    """One training episode of all independent agents; returns (q, mean associated users)."""
    u = jnp.arange(params.n_uavs)
    k_reset, k_first, k_steps = jax.random.split(key, 3)
    _, state = reset_arrays(k_reset, params)
    s = cell_index(state.uav_pos, params)
    a = eps_greedy(k_first, q[u, s], avail_actions_array(state, params), eps)

    def body(carry, k):
        q, state, s, a = carry
        k_step, k_next = jax.random.split(k)
        _, nstate, rew, _, _, info = step_env_arrays(k_step, state, a, params)
        ns = cell_index(nstate.uav_pos, params)
        nmask = avail_actions_array(nstate, params)
        na = eps_greedy(k_next, q[u, ns], nmask, eps)
        if method == "sarsa":
            nxt = q[u, ns, na]  # on-policy: the action the agent will actually take
        else:
            nxt = jnp.max(jnp.where(nmask, q[u, ns], -jnp.inf), axis=-1)
        # episodes end by truncation only (time is not in the state), so always bootstrap
        td = rew + cfg.gamma * nxt - q[u, s, a]
        q = q.at[u, s, a].add(cfg.alpha * td)
        return (q, nstate, ns, na), info["n_assoc"]

    (q, *_), n = jax.lax.scan(body, (q, state, s, a), jax.random.split(k_steps, params.episode_len))
    return q, jnp.mean(n.astype(jnp.float32))


def _make_chunk(params: EnvParams, cfg: TabularConfig, method: str, n_episodes: int):
    def chunk(q, key, first_episode):
        def body(q, inp):
            k, ep = inp
            return _episode(q, k, epsilon_at(ep, cfg), params, cfg, method)

        eps_idx = first_episode + jnp.arange(n_episodes)
        return jax.lax.scan(body, q, (jax.random.split(key, n_episodes), eps_idx.astype(jnp.float32)))

    return jax.jit(jax.vmap(chunk, in_axes=(0, 0, None)))


def train_tabular(method: str, params: EnvParams, cfg: TabularConfig, seeds: int | list[int], *,
                  eval_key=None, eval_episodes: int = 16,
                  progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Train independent tabular agents (``"sarsa"`` or ``"qlearning"``) for several seeds at once.

    Returns numpy arrays: ``q`` (S, U, n_cells, 5) final tables, ``snapshots`` (chunks, S, U, n_cells, 5),
    ``train_curve`` (S, episodes) mean associated users per training episode (with exploration),
    ``eval_episodes`` (chunks,) episodes done at each greedy evaluation and ``eval_curve`` (S, chunks)
    greedy mean associated users on held-out layouts.
    """
    if method not in LEARNERS:
        raise ConfigError(f"method: unknown tabular learner {method!r}; known: {', '.join(LEARNERS)}")
    cfg.validate()
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seeds:
        raise ConfigError("seeds: need at least one seed")
    eval_key = jax.random.PRNGKey(10_000) if eval_key is None else eval_key
    bounds = np.linspace(0, cfg.episodes, cfg.chunks + 1).round().astype(int)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    q = jnp.zeros((len(seeds), params.n_uavs, params.n_cells, N_ACTIONS), jnp.float32)
    greedy_eval = jax.jit(jax.vmap(lambda qs: evaluate(tabular_policy(qs), eval_key, params, eval_episodes).mean()))
    curves, evals, snaps, done = [], [], [], []
    compiled: dict[int, Any] = {}
    for c in range(cfg.chunks):
        n = int(bounds[c + 1] - bounds[c])
        if n not in compiled:
            compiled[n] = _make_chunk(params, cfg, method, n)
        keys, sub = jax.vmap(lambda k: tuple(jax.random.split(k)))(keys)
        q, curve = compiled[n](q, sub, jnp.float32(bounds[c]))
        curves.append(np.asarray(curve))
        evals.append(np.asarray(greedy_eval(q)))
        snaps.append(np.asarray(q))
        done.append(int(bounds[c + 1]))
        if progress is not None:
            progress(n)
    return {"q": np.asarray(q), "snapshots": np.stack(snaps), "train_curve": np.concatenate(curves, axis=1),
            "eval_episodes": np.asarray(done), "eval_curve": np.stack(evals, axis=1), "seeds": seeds}


@dataclasses.dataclass(frozen=True)
class PSOConfig:
    """Particle swarm over the UAVs' hover cells (fitness: mean associated users of the episode in which
    the UAVs fly there from the start and hover), standard constriction coefficients."""

    particles: int = 20
    """Swarm size."""
    layouts_per_eval: int = 1
    """User layouts (episodes) averaged per fitness evaluation."""
    inertia: float = 0.7298
    """Velocity inertia w."""
    c_personal: float = 1.49618
    """Attraction to the particle's best."""
    c_global: float = 1.49618
    """Attraction to the swarm's best."""

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field."""
        if self.particles < 2:
            raise ConfigError(f"particles: need at least 2 (got {self.particles})")
        if self.layouts_per_eval < 1:
            raise ConfigError(f"layouts_per_eval: must be >= 1 (got {self.layouts_per_eval})")


def pso_schedule(cfg: PSOConfig, episode_budget: int) -> tuple[int, list[int]]:
    """``(swarm size, particles evaluated in each iteration)`` spending exactly ``episode_budget``
    environment episodes (each fitness evaluation costs ``layouts_per_eval`` of them).

    Every iteration evaluates the whole swarm except the last, which is cut short to the episodes
    left; a budget smaller than one iteration shrinks the swarm instead. So PSO uses the same number
    of episodes as the tabular learners for any budget.
    """
    cfg.validate()
    if episode_budget < 1:
        raise ConfigError(f"episode_budget: must be >= 1 (got {episode_budget})")
    if episode_budget % cfg.layouts_per_eval:
        raise ConfigError(f"layouts_per_eval: {cfg.layouts_per_eval} episodes per fitness evaluation do not "
                          f"divide the episode budget {episode_budget}")
    evals = episode_budget // cfg.layouts_per_eval
    swarm = min(cfg.particles, evals)
    full, rest = divmod(evals, swarm)
    return swarm, [swarm] * full + ([rest] if rest else [])


def train_pso(params: EnvParams, cfg: PSOConfig, episode_budget: int, seeds: int | list[int], *,
              eval_key=None, eval_episodes: int = 16) -> dict[str, Any]:
    """Run PSO with the same budget of environment episodes as the tabular learners.

    Exactly ``episode_budget`` episodes are used (:func:`pso_schedule`). Returns ``targets`` (S, U, 2)
    best cells, ``episodes`` (iterations,) episodes used after each iteration, ``best_curve``
    (S, iterations) best fitness so far (training layouts) and ``eval_curve`` (S, iterations) the
    incumbent's greedy evaluation on the held-out layouts.
    """
    swarm, per_iter = pso_schedule(cfg, episode_budget)
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    eval_key = jax.random.PRNGKey(10_000) if eval_key is None else eval_key
    hi = float(params.grid_n - 1)
    dim = (params.n_uavs, 2)

    def fitness(x, key):
        cells = jnp.clip(jnp.round(x), 0, hi).astype(jnp.int32)
        return evaluate(targets_policy(cells), key, params, cfg.layouts_per_eval).mean()

    def incumbent_eval(gb):
        cells = jnp.clip(jnp.round(gb), 0, hi).astype(jnp.int32)
        return evaluate(targets_policy(cells), eval_key, params, eval_episodes).mean()

    def iteration(carry, k, n: int):
        """Move the first ``n`` (static) particles and evaluate them: ``n`` fitness evaluations."""
        x, v, pb, pbf, gb, gbf = carry
        k1, k2, k3 = jax.random.split(k, 3)
        r1 = jax.random.uniform(k1, x.shape)
        r2 = jax.random.uniform(k2, x.shape)
        v_new = cfg.inertia * v + cfg.c_personal * r1 * (pb - x) + cfg.c_global * r2 * (gb[None] - x)
        v_new = jnp.clip(v_new, -hi / 2, hi / 2)[:n]
        x_new = jnp.clip(x[:n] + v_new, 0.0, hi)
        # every evaluated particle sees the same layouts in one iteration, so comparisons within it are fair
        f = jax.vmap(fitness, in_axes=(0, None))(x_new, k3)
        x, v = x.at[:n].set(x_new), v.at[:n].set(v_new)
        better = f > pbf[:n]
        pb = pb.at[:n].set(jnp.where(better[:, None, None], x_new, pb[:n]))
        pbf = pbf.at[:n].set(jnp.where(better, f, pbf[:n]))
        g = jnp.argmax(pbf)
        gb, gbf = pb[g], pbf[g]
        return (x, v, pb, pbf, gb, gbf), (gbf, incumbent_eval(gb))

    n_full = sum(1 for n in per_iter[1:] if n == swarm)  # full iterations after the first
    last = per_iter[-1] if len(per_iter) > 1 and per_iter[-1] < swarm else 0

    def run(key):
        k0, kv, key = jax.random.split(key, 3)
        x = jax.random.uniform(k0, (swarm, *dim), minval=0.0, maxval=hi)
        v = jax.random.uniform(kv, (swarm, *dim), minval=-hi / 4, maxval=hi / 4)
        f0 = jax.vmap(fitness, in_axes=(0, None))(x, jax.random.fold_in(key, 0))
        g = jnp.argmax(f0)
        carry = (x, v, x, f0, x[g], f0[g])
        best, ev = [carry[5][None]], [incumbent_eval(carry[4])[None]]
        carry, (b, e) = jax.lax.scan(lambda c, k: iteration(c, k, swarm), carry, jax.random.split(key, n_full))
        best.append(b)
        ev.append(e)
        if last:  # its own key, so that the full iterations draw what they drew before budgets were exact
            carry, (b, e) = iteration(carry, jax.random.fold_in(key, 1), last)
            best.append(b[None])
            ev.append(e[None])
        gb = carry[4]
        return jnp.clip(jnp.round(gb), 0, hi).astype(jnp.int32), jnp.concatenate(best), jnp.concatenate(ev)

    keys = jnp.stack([jax.random.PRNGKey(1_000 + s) for s in seeds])
    targets, best, ev = jax.jit(jax.vmap(run))(keys)
    return {"targets": np.asarray(targets), "episodes": cfg.layouts_per_eval * np.cumsum(per_iter),
            "best_curve": np.asarray(best), "eval_curve": np.asarray(ev), "seeds": seeds}


@dataclasses.dataclass(frozen=True)
class ComparisonConfig:
    """The baseline comparison behind the paper's qualitative claim."""

    seeds: tuple[int, ...] = (0, 1, 2, 3)
    """The seeds of every learned method (one independent run each)."""
    eval_episodes: int = 32
    """Held-out user layouts every method is evaluated on."""
    tabular: TabularConfig = TabularConfig()
    """SARSA / Q-learning settings (PSO gets the same episode budget)."""
    pso: PSOConfig = PSOConfig()
    """PSO settings."""
    learner_reward: str = "local"
    """Reward the tabular agents learn from: ``"local"`` (users served by that UAV: distributed credit
    assignment) or ``"shared"`` (the team count). Every method is evaluated on the team count."""


def run_comparison(params: EnvParams, cfg: ComparisonConfig = ComparisonConfig(), *,
                   progress: Callable[[str, int], None] | None = None) -> dict[str, Any]:
    """Train and evaluate every baseline; returns per-method scores and curves (numpy / floats).

    ``scores[method]`` is the list over seeds (one entry for the untrained methods) of the mean number
    of UAV-associated users per step on the same ``eval_episodes`` held-out layouts.
    """
    if isinstance(cfg.seeds, int) or not all(isinstance(x, int) for x in cfg.seeds):
        raise ConfigError(f"seeds: give the seeds themselves, e.g. seeds=(0, 1, 2, 3) for four (got {cfg.seeds!r})")
    if not cfg.seeds or len(set(cfg.seeds)) != len(cfg.seeds):
        raise ConfigError(f"seeds: need at least one seed and no duplicates (got {cfg.seeds!r})")
    if cfg.eval_episodes < 1:
        raise ConfigError(f"eval_episodes: must be >= 1 (got {cfg.eval_episodes})")
    if cfg.learner_reward not in ("local", "shared"):
        raise ConfigError(f"learner_reward: must be 'local' or 'shared' (got {cfg.learner_reward!r})")
    train_params = params.replace(reward_mode=cfg.learner_reward)
    eval_key = jax.random.PRNGKey(10_000)
    out: dict[str, Any] = {"scores": {}, "curves": {}, "timing_s": {}, "policies": {}}

    def tick(name, n=1):
        if progress is not None:
            progress(name, n)

    for name, pol in (("random", random_policy()), ("greedy", greedy_policy()), ("kmeans", kmeans_policy())):
        t0 = time.perf_counter()
        per_ep = np.asarray(jax.jit(lambda k, p=pol: evaluate(p, k, params, cfg.eval_episodes))(eval_key))
        out["scores"][name] = [float(per_ep.mean())]
        out["timing_s"][name] = time.perf_counter() - t0
        tick(name)
    for method in LEARNERS:
        t0 = time.perf_counter()
        res = train_tabular(method, train_params, cfg.tabular, list(cfg.seeds), eval_key=eval_key,
                            eval_episodes=cfg.eval_episodes, progress=lambda n, m=method: tick(m, n))
        out["scores"][method] = [float(x) for x in res["eval_curve"][:, -1]]
        out["curves"][method] = {"episodes": res["eval_episodes"], "eval": res["eval_curve"],
                                 "train": res["train_curve"]}
        out["policies"][method] = res
        out["timing_s"][method] = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = train_pso(params, cfg.pso, cfg.tabular.episodes, list(cfg.seeds), eval_key=eval_key,
                    eval_episodes=cfg.eval_episodes)
    out["scores"]["pso"] = [float(x) for x in res["eval_curve"][:, -1]]
    out["curves"]["pso"] = {"episodes": res["episodes"], "eval": res["eval_curve"], "train": res["best_curve"]}
    out["policies"]["pso"] = res
    out["timing_s"]["pso"] = time.perf_counter() - t0
    tick("pso", cfg.tabular.episodes)
    out["summary"] = {m: {"mean": float(np.mean(s)), "std": float(np.std(s)), "n": len(s)}
                      for m, s in out["scores"].items()}
    return out


def summary_table(result: dict[str, Any]) -> str:
    """Markdown table of the comparison (mean +- std over seeds of mean associated users per step)."""
    lines = ["| method | mean associated users / step | std over seeds | seeds | wall time (s) |",
             "|---|---|---|---|---|"]
    for m, s in sorted(result["summary"].items(), key=lambda kv: -kv[1]["mean"]):
        lines.append(f"| {m} | {s['mean']:.2f} | {s['std']:.2f} | {s['n']} | {result['timing_s'][m]:.1f} |")
    return "\n".join(lines)
