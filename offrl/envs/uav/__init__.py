"""Multi-agent UAV offloading environment (Mondal et al. 2024 setting) with baselines and datasets.

- :func:`reset` / :func:`step` (and the same as methods of :class:`UAVOffload`): the JAX-native env,
  ``reset(key, params)`` / ``step(key, state, actions, params)``, jittable and vmappable.
- :func:`make_params` / :class:`EnvParams`: one frozen, vmappable scenario object (presets
  ``urban``, ``suburban``, ``dense``).
- :func:`parallel_env`: PettingZoo ``ParallelEnv`` over the NumPy reference :class:`UAVOffloadNumPy`.
- :mod:`offrl.envs.uav.baselines`: random, greedy, k-means, PSO, independent Q-learning, SARSA.
- :mod:`offrl.envs.uav.data`: offline datasets (poor, medium, expert, mixed).
"""

from offrl.envs.uav.env import EnvState, UAVOffload, reset, step
from offrl.envs.uav.params import ACTION_NAMES, PRESETS, SCENES, EnvParams, make_params, stack_params
from offrl.envs.uav.pettingzoo_env import InvalidActionError, UAVParallelEnv, parallel_env
from offrl.envs.uav.reference import UAVOffloadNumPy

__all__ = ["ACTION_NAMES", "PRESETS", "SCENES", "EnvParams", "EnvState", "InvalidActionError", "UAVOffload",
           "UAVOffloadNumPy", "UAVParallelEnv", "make_params", "parallel_env", "reset", "stack_params", "step"]
