"""Environments: Gymnasium task variants, continual task streams and the multi-agent UAV env.

Importing this package registers the continual task families (:mod:`offrl.envs.tasks`) with Gymnasium
when Gymnasium is installed, so ``gymnasium.make("offrl/CheetahVel-v0", target_velocity=1.5)`` works
after ``import offrl.envs``.
"""

try:
    from offrl.envs import tasks as _tasks

    _tasks.register()
except ImportError:  # gymnasium is an optional extra ([mujoco])
    pass
