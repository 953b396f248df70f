"""Task families for continual offline RL: Gymnasium envs whose task is a keyword argument.

Each family is one registered env id; the task parameter is a keyword of ``gymnasium.make`` (or of
:func:`offrl.envs.pool.make_env`), so a stream of tasks is a list of (env id, kwargs) and needs no
code. The families follow the meta-RL task sets that MACAW and OER used (PEARL / rlkit ``envs/``,
``rand_param_envs``), on Gymnasium MuJoCo v5:

=====================  ==========================  ==========================================
env id                 task keyword                what changes between tasks
=====================  ==========================  ==========================================
``offrl/CheetahVel-v0``  ``target_velocity`` (m/s)  the forward speed HalfCheetah is rewarded for
``offrl/AntDir-v0``      ``direction`` (rad)        the direction in the plane Ant should run in
``offrl/WalkerParams-v0`` ``task_seed`` (int)       Walker2d's body masses, inertias, joint damping
                                                    and friction, scaled by seeded random factors
``offrl/PendulumGain-v0`` ``gain``                  the motor's gain (a negative gain reverses it)
=====================  ==========================  ==========================================

Episodes last at most 200 steps, as in the meta-RL task sets (MACAW, PEARL), which keeps evaluating
every task of a stream at every evaluation point affordable. Each class writes its reward out in its
docstring.
"""

from __future__ import annotations

import numpy as np

from offrl.errors import ConfigError

#: Episode length of every task family (the meta-RL convention for these tasks).
TASK_EPISODE_STEPS = 200

try:  # the MuJoCo families need gymnasium[mujoco]; the pendulum family needs gymnasium only
    from gymnasium import utils as _gym_utils
    from gymnasium.envs.classic_control.pendulum import PendulumEnv as _PendulumEnv
    from gymnasium.spaces import Box as _Box
except ImportError:  # pragma: no cover - gymnasium is an optional extra
    _PendulumEnv = object  # type: ignore[misc,assignment]


def _mujoco_base(name: str):
    from gymnasium.envs.mujoco import ant_v5, half_cheetah_v5, walker2d_v5

    return {"cheetah": half_cheetah_v5.HalfCheetahEnv, "ant": ant_v5.AntEnv,
            "walker": walker2d_v5.Walker2dEnv}[name]


def _finite(name: str, value) -> float:
    v = float(value)
    if not np.isfinite(v):
        raise ConfigError(f"{name}={value!r} must be a finite number")
    return v


def _cheetah_vel_cls():
    base = _mujoco_base("cheetah")

    class CheetahVelEnv(base):
        """HalfCheetah rewarded for running at ``target_velocity`` (rlkit's ``half_cheetah_vel``).

        reward = -|v_x - target_velocity| - 0.05 * sum(a^2), with v_x the forward velocity of the torso
        over the step (finite difference of its x position). Never terminates; 17-d observations
        (Gymnasium's HalfCheetah-v5), 6-d actions in [-1, 1].
        """

        def __init__(self, target_velocity: float = 1.0, **kwargs):
            super().__init__(**kwargs)
            _gym_utils.EzPickle.__init__(self, target_velocity=target_velocity, **kwargs)
            self.target_velocity = _finite("target_velocity", target_velocity)

        def _get_rew(self, x_velocity: float, action):
            forward = -abs(x_velocity - self.target_velocity)
            ctrl_cost = 0.05 * float(np.sum(np.square(action)))
            return forward - ctrl_cost, {"reward_forward": forward, "reward_ctrl": -ctrl_cost,
                                         "target_velocity": self.target_velocity}

    return CheetahVelEnv


def _ant_dir_cls():
    base = _mujoco_base("ant")

    class AntDirEnv(base):
        """Ant rewarded for running in the direction ``direction`` (radians) in the plane (rlkit's ``ant_dir``).

        reward = v_xy . (cos direction, sin direction) + 1 - 0.5 * sum(a^2)
                 - 0.5e-3 * sum(clip(cfrc_ext, -1, 1)^2),
        with v_xy the torso's planar velocity over the step; the episode terminates when the torso's
        height leaves [0.2, 1.0] (Ant's health check). Observations are Ant-v5's positions (without x,
        y) and velocities, 27-d, without contact forces; 8-d actions in [-1, 1].
        """

        def __init__(self, direction: float = 0.0, **kwargs):
            kwargs.setdefault("include_cfrc_ext_in_observation", False)
            super().__init__(**kwargs)
            _gym_utils.EzPickle.__init__(self, direction=direction, **kwargs)
            self.direction = _finite("direction", direction)
            self._unit = np.array([np.cos(self.direction), np.sin(self.direction)])

        def step(self, action):
            before = self.data.body(self._main_body).xpos[:2].copy()
            self.do_simulation(action, self.frame_skip)
            after = self.data.body(self._main_body).xpos[:2].copy()
            velocity = (after - before) / self.dt
            forward = float(velocity @ self._unit)
            ctrl_cost = 0.5 * float(np.sum(np.square(action)))
            contact_cost = 0.5e-3 * float(np.sum(np.square(np.clip(self.data.cfrc_ext, -1.0, 1.0))))
            reward = forward + 1.0 - ctrl_cost - contact_cost
            info = {"reward_forward": forward, "reward_ctrl": -ctrl_cost, "reward_contact": -contact_cost,
                    "x_velocity": velocity[0], "y_velocity": velocity[1], "direction": self.direction}
            return self._get_obs(), reward, not self.is_healthy, False, info

    return AntDirEnv


#: Which Walker2d model fields a task scales, and the base of each field's random factor
#: (``rand_param_envs``: factor = base ** U(-log_scale_limit, log_scale_limit), drawn per element).
WALKER_PARAM_BASES = {"body_mass": 1.5, "body_inertia": 1.5, "dof_damping": 1.3, "geom_friction": 1.5}


def walker_param_factors(task_seed: int, shapes: dict[str, tuple[int, ...]],
                         log_scale_limit: float = 3.0) -> dict[str, np.ndarray]:
    """The multiplicative factors of one Walker-Par task, drawn from ``numpy.random.default_rng(task_seed)``
    field by field in :data:`WALKER_PARAM_BASES` order (so a task is fully named by its seed)."""
    rng = np.random.default_rng(int(task_seed))
    return {name: base ** rng.uniform(-log_scale_limit, log_scale_limit, size=shapes[name])
            for name, base in WALKER_PARAM_BASES.items()}


def _walker_params_cls():
    base = _mujoco_base("walker")

    class WalkerParamsEnv(base):
        """Walker2d whose physical parameters are scaled per task (MACAW's Walker-Params, from ``rand_param_envs``).

        Every element of ``body_mass``, ``body_inertia``, ``geom_friction`` is multiplied by
        1.5 ** U(-3, 3) and every element of ``dof_damping`` by 1.3 ** U(-3, 3), drawn from a generator
        seeded with ``task_seed`` (:func:`walker_param_factors`). The reward is Walker2d-v5's:
        reward = v_x + 1 (while healthy) - 1e-3 * sum(a^2); the episode terminates when the torso's
        height leaves [0.8, 2.0] or its angle leaves [-1, 1]. 17-d observations, 6-d actions in [-1, 1].
        """

        def __init__(self, task_seed: int = 0, log_scale_limit: float = 3.0, **kwargs):
            super().__init__(**kwargs)
            _gym_utils.EzPickle.__init__(self, task_seed=task_seed, log_scale_limit=log_scale_limit, **kwargs)
            if int(task_seed) != task_seed or task_seed < 0:
                raise ConfigError(f"task_seed={task_seed!r} must be a non-negative integer")
            self.task_seed = int(task_seed)
            shapes = {name: getattr(self.model, name).shape for name in WALKER_PARAM_BASES}
            self.factors = walker_param_factors(self.task_seed, shapes, _finite("log_scale_limit", log_scale_limit))
            for name, factor in self.factors.items():
                getattr(self.model, name)[:] = getattr(self.model, name) * factor

    return WalkerParamsEnv


class PendulumGainEnv(_PendulumEnv):
    """Gymnasium's Pendulum with a motor gain: torque = gain * 2 * a for an action a in [-1, 1].

    reward = -(theta^2 + 0.1 * theta_dot^2 + 0.001 * torque^2) (Pendulum-v1's, theta normalised to
    [-pi, pi]); never terminates. A negative gain reverses the motor, so a policy of one task is the
    worst policy of the task with the opposite gain: a cheap stream on which forgetting is plain.
    3-d observations (cos theta, sin theta, theta_dot), 1-d actions.
    """

    def __init__(self, gain: float = 1.0, render_mode: str | None = None, g: float = 10.0):
        super().__init__(render_mode=render_mode, g=g)
        self.gain = _finite("gain", gain)
        if abs(self.gain) > 1.0 or self.gain == 0.0:
            raise ConfigError(f"gain={gain!r} must be in [-1, 1] and non-zero (the torque limit is 2)")
        self.action_space = _Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def step(self, action):
        torque = self.gain * self.max_torque * np.clip(np.asarray(action, np.float32), -1.0, 1.0)
        return super().step(torque)


FAMILIES = {
    "offrl/CheetahVel-v0": _cheetah_vel_cls,
    "offrl/AntDir-v0": _ant_dir_cls,
    "offrl/WalkerParams-v0": _walker_params_cls,
    "offrl/PendulumGain-v0": lambda: PendulumGainEnv,
}


def _entry(env_id: str):
    def make(**kwargs):
        return FAMILIES[env_id]()(**kwargs)

    return make


def register() -> None:
    """Register every family with Gymnasium (idempotent); ``import offrl.envs`` calls it."""
    import gymnasium as gym

    for env_id in FAMILIES:
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=_entry(env_id), max_episode_steps=TASK_EPISODE_STEPS)
