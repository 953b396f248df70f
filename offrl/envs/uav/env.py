"""The JAX-native multi-agent UAV offloading environment (jittable, vmappable over keys and params).

Several UAVs fly at a fixed altitude over a grid of waypoints and act as aerial access points: every
step each UAV hovers or moves one cell (the velocity limit), then ground users are associated to UAVs
by max-SINR under an SINR threshold and a per-UAV capacity (see :mod:`offrl.envs.uav.channel`). The
team objective is the number of users taken off the terrestrial base station.

API (gymnax-style explicit params, JaxMARL-style per-agent dicts)::

    env = UAVOffload(make_params("urban"))
    obs, state = env.reset(key)                       # obs: {"uav_0": (obs_dim,), ...}
    obs, state, rew, term, trunc, infos = env.step(key, state, actions)

``step`` auto-resets in the same step when the episode is truncated and keeps the true last
observation in ``infos["terminal_obs"]``; ``step_env`` never resets. The ``*_arrays`` functions are
the same dynamics on stacked (U, ...) arrays, which is what the learners, collectors and benchmark use.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from offrl.envs.uav.channel import association
from offrl.envs.uav.params import ACTION_DELTAS, ACTION_NAMES, N_ACTIONS, EnvParams, make_params, validate_params


@flax.struct.dataclass
class EnvState:
    """Everything that evolves during an episode."""

    uav_pos: jax.Array
    """(U, 2) int32 cell indices (x, y)."""
    users: jax.Array
    """(K, 2) float32 user positions in metres."""
    t: jax.Array
    """int32 steps taken in this episode."""
    assoc: jax.Array
    """(K,) int32 serving UAV of each user, -1 when it stays on the base station."""
    load: jax.Array
    """(U,) int32 users served by each UAV."""
    best_sinr: jax.Array
    """(K,) float32 best SINR of each user in dB."""


# ------------------------------------------------------------------------------------ layout
def sample_users(key, params: EnvParams):
    """User positions (K, 2) in metres: the frozen ``users_xy`` or hotspots + uniform users."""
    if params.users_xy is not None:
        return jnp.asarray(np.asarray(params.users_xy, dtype=np.float32))
    centres = np.asarray(params.hotspots, dtype=np.float32).reshape(-1, 2)
    n_hot = len(centres) * params.users_per_hotspot
    k_hot, k_uni = jax.random.split(key)
    base = jnp.asarray(np.repeat(centres, params.users_per_hotspot, axis=0))
    r = jnp.asarray(params.hotspot_radius_m, jnp.float32)
    hot = base + jax.random.uniform(k_hot, (n_hot, 2), jnp.float32, -1.0, 1.0) * r
    uni = jax.random.uniform(k_uni, (params.n_users - n_hot, 2), jnp.float32) * jnp.float32(params.area_m)
    return jnp.clip(jnp.concatenate([hot, uni], axis=0), 0.0, jnp.float32(params.area_m))


def fixed_start(params: EnvParams) -> np.ndarray:
    """UAV launch cells for ``start_mode="fixed"``: evenly spaced along the southern edge (y = 0)."""
    g, u = params.grid_n, params.n_uavs
    xs = np.floor((np.arange(u) + 0.5) * g / u).astype(np.int32)
    return np.stack([xs, np.zeros(u, np.int32)], axis=1)


def sample_start(key, params: EnvParams):
    """Initial UAV cells (U, 2): fixed, or distinct uniformly random cells."""
    if params.start_mode == "fixed":
        return jnp.asarray(fixed_start(params))
    cells = jax.random.permutation(key, params.n_cells)[: params.n_uavs]
    return jnp.stack([cells // params.grid_n, cells % params.grid_n], axis=1).astype(jnp.int32)


# ------------------------------------------------------------------------------------ views
def avail_actions_array(state: EnvState, params: EnvParams):
    """(U, 5) bool: the moves that keep each UAV inside the grid (hover is always available)."""
    new = state.uav_pos[:, None, :] + jnp.asarray(ACTION_DELTAS)[None]
    return jnp.all((new >= 0) & (new <= params.grid_n - 1), axis=-1)


def user_histogram(users, params: EnvParams):
    """(G, G) float32 users per nearest waypoint, indexed [x, y]."""
    g = params.grid_n
    cell = jnp.clip(jnp.round(users / jnp.float32(params.cell_m)), 0, g - 1).astype(jnp.int32)
    flat = cell[:, 0] * g + cell[:, 1]
    return jnp.zeros(g * g, jnp.float32).at[flat].add(1.0).reshape(g, g)


def collisions(uav_pos):
    """(U,) bool: UAVs that share their cell with another UAV."""
    same = jnp.all(uav_pos[:, None, :] == uav_pos[None, :, :], axis=-1)
    return jnp.sum(same, axis=1) > 1


def obs_array(state: EnvState, params: EnvParams):
    """(U, obs_dim) float32 observations of all agents."""
    pos = state.uav_pos
    if params.obs_mode == "grid_pos":
        return pos.astype(jnp.float32)
    u, g = params.n_uavs, params.grid_n
    scale = jnp.float32(max(g - 1, 1))
    own = pos.astype(jnp.float32) / scale
    others_idx = np.array([[j for j in range(u) if j != i] for i in range(u)], dtype=np.int32).reshape(u, u - 1)
    rel = (own[others_idx] - own[:, None, :]).reshape(u, 2 * (u - 1))
    cap = jnp.asarray(params.uav_capacity, jnp.float32)
    load = state.load.astype(jnp.float32)[:, None] / cap
    n_assoc = jnp.sum(state.load).astype(jnp.float32) / jnp.float32(params.n_users)
    hist = jnp.pad(user_histogram(state.users, params), 1)
    win = jax.vmap(lambda p: jax.lax.dynamic_slice(hist, (p[0], p[1]), (3, 3)).reshape(9))(pos) / cap
    t = jnp.full((u, 1), state.t.astype(jnp.float32) / jnp.float32(params.episode_len))
    ids = jnp.eye(u, dtype=jnp.float32)
    return jnp.concatenate([own, rel, load, jnp.full((u, 1), n_assoc), win, t, ids], axis=1)


def global_state_array(state: EnvState, params: EnvParams):
    """(state_dim,) float32 centralised state: UAV cells, loads and the user histogram."""
    scale = jnp.float32(max(params.grid_n - 1, 1))
    cap = jnp.asarray(params.uav_capacity, jnp.float32)
    return jnp.concatenate([
        (state.uav_pos.astype(jnp.float32) / scale).reshape(-1),
        state.load.astype(jnp.float32) / cap,
        user_histogram(state.users, params).reshape(-1) / jnp.float32(params.n_users),
    ])


def rewards_array(state: EnvState, params: EnvParams):
    """Per-agent rewards (U,) and the team reward (sum of the UAV loads minus collision penalties)."""
    hit = collisions(state.uav_pos).astype(jnp.float32) * jnp.asarray(params.collision_penalty, jnp.float32)
    load = state.load.astype(jnp.float32)
    scale = jnp.float32(params.n_users) if params.normalize_reward else jnp.float32(1.0)
    team = (jnp.sum(load) - jnp.sum(hit)) / scale
    if params.reward_mode == "shared":
        per_agent = jnp.full((params.n_uavs,), team)
    else:
        per_agent = (load - hit) / scale
    return per_agent, team


# ------------------------------------------------------------------------------------ dynamics
def reset_arrays(key, params: EnvParams):
    """Start an episode: ``(obs (U, obs_dim), state)``."""
    k_users, k_start = jax.random.split(key)
    users = sample_users(k_users, params)
    pos = sample_start(k_start, params)
    assoc, load, best = association(pos, users, params)
    state = EnvState(uav_pos=pos, users=users, t=jnp.int32(0), assoc=assoc, load=load, best_sinr=best)
    return obs_array(state, params), state


def move(uav_pos, actions, params: EnvParams):
    """Apply one action per UAV; a move that would leave the grid hovers instead.

    Action values are traced, so they cannot raise here: an id outside ``Discrete(5)`` (e.g. 7 or -1)
    also hovers, silently. Validate actions before the step where that matters (the PettingZoo adapter
    raises InvalidActionError for them).
    """
    actions = jnp.asarray(actions, jnp.int32)
    known = (actions >= 0) & (actions < N_ACTIONS)
    delta = jnp.asarray(ACTION_DELTAS)[jnp.clip(actions, 0, N_ACTIONS - 1)]
    new = uav_pos + delta
    inside = jnp.all((new >= 0) & (new <= params.grid_n - 1), axis=-1) & known
    return jnp.where(inside[:, None], new, uav_pos)


def step_env_arrays(key, state: EnvState, actions, params: EnvParams):
    """One transition on arrays, no reset.

    ``actions`` is an integer array of shape (U,), one action id per UAV; another shape or a float or
    bool dtype raises ConfigError at trace time (see :func:`check_actions`).
    Returns ``(obs (U, D), state, rewards (U,), team_reward, truncated, infos)``. ``key`` is unused
    (users are static) but kept so that stochastic extensions keep the signature.
    """
    del key
    pos = move(state.uav_pos, check_actions(actions, params.agents), params)
    assoc, load, best = association(pos, state.users, params)
    state = EnvState(uav_pos=pos, users=state.users, t=state.t + 1, assoc=assoc, load=load, best_sinr=best)
    rewards, team = rewards_array(state, params)
    truncated = state.t >= params.episode_len
    served = assoc >= 0
    n_assoc = jnp.sum(load)
    infos = {
        "n_assoc": n_assoc,
        "team_reward": team,
        "load": load,
        "offload_fraction": n_assoc.astype(jnp.float32) / jnp.float32(params.n_users),
        "mean_sinr_db": jnp.sum(jnp.where(served, best, 0.0)) / jnp.maximum(n_assoc, 1).astype(jnp.float32),
        "collisions": jnp.sum(collisions(pos)),
    }
    return obs_array(state, params), state, rewards, team, truncated, infos


def step_arrays(key, state: EnvState, actions, params: EnvParams):
    """:func:`step_env_arrays` plus same-step auto-reset; the true last obs is ``infos["terminal_obs"]``."""
    k_step, k_reset = jax.random.split(key)
    obs, nstate, rewards, team, truncated, infos = step_env_arrays(k_step, state, actions, params)
    obs_r, state_r = reset_arrays(k_reset, params)
    infos = dict(infos, terminal_obs=obs)
    nstate = jax.tree_util.tree_map(lambda r, s: jnp.where(truncated, r, s), state_r, nstate)
    obs = jnp.where(truncated, obs_r, obs)
    return obs, nstate, rewards, team, truncated, infos


# ------------------------------------------------------------------------------------ dict API
_ACTION_HELP = f"an action is an index into the {N_ACTIONS} discrete actions 0..{N_ACTIONS - 1} " \
               f"({', '.join(f'{i} {n}' for i, n in enumerate(ACTION_NAMES))})"


def _agent_list(agents) -> str:
    return ", ".join(agents) if len(agents) <= 8 else f"{agents[0]}, ..., {agents[-1]}"


def _as_jax(x, what: str, expected: str):
    from offrl.errors import ConfigError

    try:
        return jnp.asarray(x)
    except (TypeError, ValueError) as e:  # a string, a ragged nested list, None, ...
        raise ConfigError(f"{what}: need {expected}; got {type(x).__name__} {x!r:.80} ({e})") from None


def _check_dtype(a, what: str):
    if not jnp.issubdtype(a.dtype, jnp.integer):  # bool is not an integer dtype here
        from offrl.errors import ConfigError

        raise ConfigError(f"{what}: {_ACTION_HELP}, so an integer dtype is needed; got dtype {a.dtype} "
                          "(convert explicitly, e.g. jnp.argmax(logits, -1) or x.astype(jnp.int32), "
                          "rather than leave the conversion to the step)")


def check_actions(actions, agents):
    """``actions`` as an int32 array of shape ``(len(agents),)``, one action id per agent.

    Shape and dtype are static, so this runs at trace time (once per compilation under ``jit``; under
    ``vmap`` the shape seen is the unbatched one) and raises ConfigError naming the expected shape and
    what was given: a wrong length or rank, or a non-integer (float, bool) dtype, which would otherwise
    broadcast into a JAX shape error or be silently truncated. Action *values* are not checked (they
    may be traced): see :func:`move` for what an id outside ``Discrete(5)`` does.
    """
    n = len(agents)
    expected = f"one action per agent, an integer array of shape ({n},) for the {n} agents {_agent_list(agents)}"
    a = _as_jax(actions, "actions", expected)
    if a.shape != (n,):
        from offrl.errors import ConfigError

        raise ConfigError(f"actions: need {expected}; got shape {tuple(a.shape)} (dtype {a.dtype})")
    _check_dtype(a, "actions")
    return a.astype(jnp.int32)


def _actions_array(actions, agents):
    """Stack a dict agent -> action in agent order (an array is checked by :func:`check_actions`).

    The dict's keys must be exactly ``agents``: a missing or unknown agent raises ConfigError naming
    the expected ids; each value must be one integer action (a scalar). Keys, shapes and dtypes are
    Python structure, so under ``jit`` this runs once, at trace time, and costs the compiled step
    nothing. Action *values* are not checked (they may be traced): see :func:`move` for what an id
    outside ``Discrete(5)`` does.
    """
    if not isinstance(actions, dict):
        return check_actions(actions, agents)
    from offrl.errors import ConfigError

    if actions.keys() != set(agents):
        missing = [a for a in agents if a not in actions]
        unknown = sorted(map(str, set(actions) - set(agents)))
        what = "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                           f"unknown {', '.join(unknown)}" if unknown else "") if part)
        raise ConfigError(f"actions: need exactly one action per agent {', '.join(agents)} ({what})")
    out = []
    for agent in agents:
        what = f"actions[{agent!r}]"
        v = _as_jax(actions[agent], what, "one integer action (a scalar)")
        if v.shape != ():
            raise ConfigError(f"{what}: need one integer action (a scalar) per agent; got shape {tuple(v.shape)}")
        _check_dtype(v, what)
        out.append(v.astype(jnp.int32))
    return jnp.stack(out)


def _per_agent(x, agents):
    return {a: x[i] for i, a in enumerate(agents)}


def _pack(out, agents):
    obs, state, rewards, team, truncated, infos = out
    trunc = {a: truncated for a in agents}
    trunc["__all__"] = truncated
    term = {a: jnp.zeros((), bool) for a in agents}
    term["__all__"] = jnp.zeros((), bool)
    if "terminal_obs" in infos:
        infos = dict(infos, terminal_obs=_per_agent(infos["terminal_obs"], agents))
    return _per_agent(obs, agents), state, _per_agent(rewards, agents), term, trunc, infos


def reset(key, params: EnvParams):
    """Functional form of :meth:`UAVOffload.reset`: ``(obs, state)``, obs keyed by agent."""
    obs, state = reset_arrays(key, params)
    return _per_agent(obs, params.agents), state


def step(key, state: EnvState, actions, params: EnvParams):
    """Functional form of :meth:`UAVOffload.step`:
    ``(obs, state, rewards, terminations, truncations, infos)`` with per-agent dicts."""
    return _pack(step_arrays(key, state, _actions_array(actions, params.agents), params), params.agents)


class UAVOffload:
    """Multi-agent UAV offloading env with per-agent dicts (JaxMARL/gymnax conventions).

    All methods are pure functions of their inputs; ``params`` defaults to the one given here (also
    offered as ``default_params``, where gymnax-style code looks for it), and a batched
    :class:`EnvParams` can be passed through ``jax.vmap`` as long as its static fields agree.
    """

    def __init__(self, params: EnvParams | None = None, **overrides: Any):
        if params is None:
            params = make_params(**overrides)
        elif overrides:
            params = params.replace(**overrides)
            validate_params(params)
        else:
            validate_params(params)
        self.params = params
        self.agents = params.agents
        self.possible_agents = list(self.agents)
        self.num_agents = params.n_uavs

    @property
    def default_params(self) -> EnvParams:
        """The params this env was built with (gymnax's name for them; the same object as ``params``)."""
        return self.params

    def _p(self, params):
        return self.params if params is None else params

    def _to_array(self, actions):
        return _actions_array(actions, self.agents)

    def _split(self, x):
        return _per_agent(x, self.agents)

    def reset(self, key, params: EnvParams | None = None):
        """``(obs, state)`` with ``obs`` keyed by agent."""
        obs, state = reset_arrays(key, self._p(params))
        return self._split(obs), state

    def _pack(self, out):
        return _pack(out, self.agents)

    def step(self, key, state: EnvState, actions, params: EnvParams | None = None):
        """``(obs, state, rewards, terminations, truncations, infos)``, auto-resetting at truncation.

        ``actions`` is a dict agent -> int (or a (U,) int array). A dict must hold exactly the env's
        agents and an array must have shape (U,) and an integer dtype (else
        :class:`~offrl.errors.ConfigError`, raised at trace time); an id outside
        ``Discrete(5)`` hovers, as values cannot be checked inside ``jit``. ``terminations``/``truncations`` hold
        one flag per agent plus ``"__all__"``; episodes only end by truncation. ``infos`` holds team
        scalars (``n_assoc``, ``team_reward``, ``offload_fraction``, ``mean_sinr_db``, ``collisions``),
        the per-UAV ``load`` and ``terminal_obs`` (the real last observation of a finished episode).
        """
        return self._pack(step_arrays(key, state, self._to_array(actions), self._p(params)))

    def step_env(self, key, state: EnvState, actions, params: EnvParams | None = None):
        """Like :meth:`step` but never resets (the caller handles episode ends)."""
        return self._pack(step_env_arrays(key, state, self._to_array(actions), self._p(params)))

    def get_obs(self, state: EnvState, params: EnvParams | None = None):
        """Observations of all agents from a state, keyed by agent."""
        return self._split(obs_array(state, self._p(params)))

    def get_avail_actions(self, state: EnvState, params: EnvParams | None = None):
        """Action masks keyed by agent: bool[5], True where the action keeps the UAV in the area."""
        return self._split(avail_actions_array(state, self._p(params)))

    def get_state(self, state: EnvState, params: EnvParams | None = None):
        """The global state vector for centralised training."""
        return global_state_array(state, self._p(params))

    @functools.lru_cache(maxsize=None)  # noqa: B019 - spaces must be the same object per agent
    def observation_space(self, agent: str):
        """Box observation space of ``agent`` (cached: the same object on every call)."""
        import gymnasium

        lo, hi = (0.0, float(self.params.grid_n - 1)) if self.params.obs_mode == "grid_pos" else (-1.0, np.inf)
        return gymnasium.spaces.Box(lo, hi, (self.params.obs_dim,), np.float32)

    @functools.lru_cache(maxsize=None)  # noqa: B019
    def action_space(self, agent: str):
        """``Discrete(5)``: 0 hover, 1 north, 2 south, 3 east, 4 west (cached)."""
        import gymnasium

        return gymnasium.spaces.Discrete(N_ACTIONS)
