"""PettingZoo ``ParallelEnv`` over the UAV offloading dynamics (NumPy reference backend).

Observations are Box vectors; the action mask and the team metrics are in ``infos[agent]``. All UAVs
are removed from ``agents`` together when the episode is truncated (there are no terminations).
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv

from offrl.envs.uav.params import N_ACTIONS, EnvParams, make_params, validate_params
from offrl.envs.uav.reference import UAVOffloadNumPy
from offrl.errors import OffrlError


class InvalidActionError(OffrlError, ValueError):
    """An action that is not an integer in ``[0, 5)`` was passed to the UAV env (names the agent)."""


class UAVParallelEnv(ParallelEnv):
    """Multi-agent UAV offloading as a PettingZoo parallel environment.

    A move that would leave the area is allowed and hovers (the mask in ``infos[agent]["action_mask"]``
    tells which moves are useful); an action outside ``Discrete(5)`` or a missing/unknown agent key
    raises :class:`InvalidActionError`.
    """

    metadata = {"name": "uav_offload_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(self, params: EnvParams, render_mode: str | None = None):
        validate_params(params)
        if render_mode not in (None, "ansi"):
            raise OffrlError(f"render_mode: unsupported {render_mode!r}; use None or 'ansi'")
        self.params = params
        self.render_mode = render_mode
        self.possible_agents = list(params.agents)
        self.agents: list[str] = []
        self._env = UAVOffloadNumPy(params)
        lo, hi = (0.0, float(params.grid_n - 1)) if params.obs_mode == "grid_pos" else (-1.0, np.inf)
        self._obs_space = {a: gymnasium.spaces.Box(lo, hi, (params.obs_dim,), np.float32) for a in self.possible_agents}
        self._act_space = {a: gymnasium.spaces.Discrete(N_ACTIONS) for a in self.possible_agents}
        self.state_space = gymnasium.spaces.Box(0.0, 1.0, (params.state_dim,), np.float32)

    @functools.lru_cache(maxsize=None)  # noqa: B019 - PettingZoo requires the identical object
    def observation_space(self, agent: str) -> gymnasium.spaces.Box:
        return self._obs_space[agent]

    @functools.lru_cache(maxsize=None)  # noqa: B019
    def action_space(self, agent: str) -> gymnasium.spaces.Discrete:
        return self._act_space[agent]

    def _infos(self, extra: dict[str, Any] | None = None):
        masks = self._env.avail_actions().astype(np.int8)
        infos = {}
        for i, a in enumerate(self.possible_agents):
            d = {"action_mask": masks[i], "load": int(self._env.load[i])}
            if extra:
                d.update(extra)
            infos[a] = d
        return infos

    def reset(self, seed: int | None = None, options: dict | None = None):
        """New episode; ``seed`` fixes the user layout (and the start cells when random)."""
        obs = self._env.reset(seed)
        self.agents = list(self.possible_agents)
        return {a: obs[i] for i, a in enumerate(self.agents)}, self._infos()

    def _check_actions(self, actions: dict) -> np.ndarray:
        if not isinstance(actions, dict):
            raise InvalidActionError(f"actions: expected a dict agent -> action, got {type(actions).__name__}")
        unknown = sorted(set(actions) - set(self.agents))
        if unknown:
            raise InvalidActionError(f"actions: {unknown[0]!r} is not a live agent; live: {self.agents}")
        out = np.zeros(len(self.possible_agents), np.int64)
        for i, a in enumerate(self.possible_agents):
            if a not in self.agents:
                continue
            if a not in actions:
                raise InvalidActionError(f"actions[{a!r}]: missing action for a live agent")
            v = actions[a]
            arr = np.asarray(v)
            if arr.shape != () or not np.issubdtype(arr.dtype, np.integer) or not 0 <= int(arr) < N_ACTIONS:
                raise InvalidActionError(
                    f"actions[{a!r}]: {v!r} is not a valid action; expected an integer in [0, {N_ACTIONS}) "
                    "(0 hover, 1 north, 2 south, 3 east, 4 west)")
            out[i] = int(arr)
        return out

    def step(self, actions: dict):
        """One step of all live UAVs; returns ``(obs, rewards, terminations, truncations, infos)``."""
        if not self.agents:
            raise OffrlError("step: the episode is over; call reset() first")
        a = self._check_actions(actions)
        obs, rewards, team, truncated, info = self._env.step(a)
        extra = {"n_assoc": info["n_assoc"], "team_reward": float(team)}
        agents = self.agents
        out = ({x: obs[i] for i, x in enumerate(agents)},
               {x: float(rewards[i]) for i, x in enumerate(agents)},
               {x: False for x in agents},
               {x: bool(truncated) for x in agents},
               {x: v for x, v in self._infos(extra).items() if x in agents})
        if truncated:
            self.agents = []
        return out

    def state(self) -> np.ndarray:
        """Global state (UAV cells, loads, user histogram) for centralised training."""
        return self._env.state()

    def render(self):
        """ASCII map: digits are UAVs, ``*`` user-dense cells, ``.`` others (north at the top)."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without render_mode='ansi'")
            return None
        g = self._env.g
        hist = self._env.hist()
        rows = []
        for y in range(g - 1, -1, -1):
            row = ["*" if hist[x, y] >= 5 else "." for x in range(g)]
            for i, (x, yy) in enumerate(self._env.uav_pos):
                if yy == y:
                    row[x] = str(i % 10)
            rows.append("".join(row))
        return "\n".join(rows) + f"\nassociated users: {int(self._env.load.sum())}"

    def close(self) -> None:
        pass


def parallel_env(preset: str = "urban", render_mode: str | None = None, **params: Any) -> UAVParallelEnv:
    """PettingZoo parallel UAV env from a preset plus parameter overrides (see :func:`make_params`)."""
    return UAVParallelEnv(make_params(preset, **params), render_mode=render_mode)
