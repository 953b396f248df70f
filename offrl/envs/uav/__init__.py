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
from offrl.envs.uav.reference import UAVOffloadNumPy

# the PettingZoo adapter needs the optional `pettingzoo` package (extra `marl`): imported on first
# use, so that the JAX env, the reference and the baselines work without it
_PETTINGZOO_NAMES = ("InvalidActionError", "UAVParallelEnv", "parallel_env")


def __getattr__(name):
    if name in _PETTINGZOO_NAMES:
        try:
            from offrl.envs.uav import pettingzoo_env
        except ModuleNotFoundError as e:
            if e.name != "pettingzoo":
                raise
            raise ModuleNotFoundError(
                f"offrl.envs.uav.{name} needs PettingZoo: pip install 'offrl[marl]' (or pettingzoo>=1.24)",
                name="pettingzoo") from e
        return getattr(pettingzoo_env, name)
    raise AttributeError(f"module 'offrl.envs.uav' has no attribute {name!r}")

__all__ = ["ACTION_NAMES", "PRESETS", "SCENES", "EnvParams", "EnvState", "InvalidActionError", "UAVOffload",
           "UAVOffloadNumPy", "UAVParallelEnv", "make_params", "parallel_env", "reset", "stack_params", "step"]
