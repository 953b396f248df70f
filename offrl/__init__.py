"""offrl: offline-RL and continual offline-RL benchmark suite in JAX.

Subpackages: :mod:`offrl.datasets` (one dataset type over D4RL, Minari, NeoRL-2, D5RL and locally
collected data), :mod:`offrl.envs` (Gymnasium task variants and the JAX multi-agent UAV env),
:mod:`offrl.algos` (pure-functional algorithms behind a registry), :mod:`offrl.train` (the fused
multi-seed trainer) and :mod:`offrl.evaluation` (rollouts and statistics).
"""

__version__ = "0.1.0"
