"""Scenario parameters of the UAV offloading environment: one frozen, vmappable object.

Fields that fix array shapes or Python control flow (counts, grid, modes, layouts) are static
(``pytree_node=False``); every physical quantity is a pytree leaf, so ``jax.vmap`` can run one
scenario per batch element (e.g. a batch of altitudes or SINR thresholds) without recompiling.
Defaults follow ``reference/notes/uav-env.md`` section 5.1 (values from related UAV-BS work, since
the numeric system model of Mondal et al. 2024 is not public).
"""

from __future__ import annotations

import math
from typing import Any

import flax.struct
import jax.numpy as jnp
import numpy as np

from offrl.errors import ConfigError

#: Al-Hourani air-to-ground constants (a, b, eta_LoS dB, eta_NLoS dB) at 2 GHz, Al-Hourani et al. 2014.
SCENES: dict[str, tuple[float, float, float, float]] = {
    "suburban": (4.88, 0.43, 0.1, 21.0),
    "urban": (9.61, 0.16, 1.0, 20.0),
    "dense_urban": (12.08, 0.11, 1.6, 23.0),
    "highrise_urban": (27.23, 0.08, 2.3, 34.0),
}

#: Default hotspot centres in metres (saugat76/uav_nw_maql_connectivity layout).
DEFAULT_HOTSPOTS: tuple[tuple[float, float], ...] = ((200.0, 200.0), (800.0, 800.0), (300.0, 800.0), (800.0, 300.0))

OBS_MODES = ("local", "grid_pos")
REWARD_MODES = ("shared", "local")
START_MODES = ("fixed", "random")

#: Action ids: hover and the four compass moves of one grid cell (the velocity limit).
ACTION_NAMES = ("hover", "north", "south", "east", "west")
#: Cell offsets (dx, dy) of each action.
ACTION_DELTAS = np.array([[0, 0], [0, 1], [0, -1], [1, 0], [-1, 0]], dtype=np.int32)
N_ACTIONS = len(ACTION_NAMES)


@flax.struct.dataclass
class EnvParams:
    """Everything that defines a UAV offloading scenario.

    Build it with :func:`make_params` (validates every field); the raw constructor does not check.
    """

    # ---- static: shapes and control flow ------------------------------------------------------
    n_uavs: int = flax.struct.field(pytree_node=False, default=4)
    """Number of UAVs (agents)."""
    n_users: int = flax.struct.field(pytree_node=False, default=100)
    """Number of ground users."""
    area_m: float = flax.struct.field(pytree_node=False, default=1000.0)
    """Side of the square service area in metres."""
    cell_m: float = flax.struct.field(pytree_node=False, default=100.0)
    """Grid step in metres; UAVs fly between waypoints 0..area_m/cell_m on each axis."""
    episode_len: int = flax.struct.field(pytree_node=False, default=100)
    """Steps per episode; episodes end by truncation only."""
    obs_mode: str = flax.struct.field(pytree_node=False, default="local")
    """``"local"`` (own/other positions, loads, 3x3 user counts, time, agent id) or ``"grid_pos"`` (own cell)."""
    reward_mode: str = flax.struct.field(pytree_node=False, default="shared")
    """``"shared"``: every UAV gets the number of UAV-associated users; ``"local"``: its own load."""
    start_mode: str = flax.struct.field(pytree_node=False, default="fixed")
    """``"fixed"``: UAVs start evenly spaced on the southern edge; ``"random"``: distinct random cells."""
    hotspots: tuple = flax.struct.field(pytree_node=False, default=DEFAULT_HOTSPOTS)
    """Hotspot centres (x, y) in metres."""
    users_per_hotspot: int = flax.struct.field(pytree_node=False, default=20)
    """Users drawn around each hotspot; the rest are uniform over the area."""
    users_xy: tuple | None = flax.struct.field(pytree_node=False, default=None)
    """Optional frozen user layout ((x, y), ...) in metres; overrides the hotspot sampler."""
    normalize_reward: bool = flax.struct.field(pytree_node=False, default=False)
    """Divide rewards by ``n_users`` (fraction of users offloaded instead of a count)."""

    # ---- dynamic: physical quantities (vmappable) ---------------------------------------------
    uav_alt_m: Any = 100.0
    """UAV altitude in metres (fixed; trajectories are 2-D)."""
    fc_hz: Any = 2e9
    """Carrier frequency in Hz."""
    p_tx_dbm: Any = 23.0
    """UAV transmit power per resource block in dBm."""
    rb_hz: Any = 180e3
    """Resource-block bandwidth in Hz (the noise bandwidth of one user)."""
    noise_psd_dbm_hz: Any = -174.0
    """Thermal noise power spectral density in dBm/Hz."""
    noise_figure_db: Any = 7.0
    """Receiver noise figure in dB."""
    sinr_th_db: Any = 3.0
    """QoS constraint: a user may only be associated to a UAV at SINR >= this threshold (dB)."""
    uav_capacity: Any = 25
    """Users one UAV can serve at once (resource blocks: floor(0.9 * 5 MHz / 180 kHz) = 25)."""
    los_a: Any = SCENES["urban"][0]
    """Al-Hourani environment constant a."""
    los_b: Any = SCENES["urban"][1]
    """Al-Hourani environment constant b."""
    eta_los_db: Any = SCENES["urban"][2]
    """Mean excess path loss in line of sight (dB)."""
    eta_nlos_db: Any = SCENES["urban"][3]
    """Mean excess path loss without line of sight (dB)."""
    hotspot_radius_m: Any = 100.0
    """Half-side of the square around a hotspot centre in which its users are drawn (metres)."""
    collision_penalty: Any = 0.0
    """Subtracted from a UAV's reward for every step it shares its cell with another UAV."""

    @property
    def grid_n(self) -> int:
        """Waypoints per axis (11 for a 1000 m area on a 100 m grid)."""
        return int(round(self.area_m / self.cell_m)) + 1

    @property
    def n_cells(self) -> int:
        """Number of grid cells (tabular state count of one UAV)."""
        return self.grid_n * self.grid_n

    @property
    def agents(self) -> list[str]:
        """Agent names ``uav_0 .. uav_{n-1}``."""
        return [f"uav_{i}" for i in range(self.n_uavs)]

    @property
    def obs_dim(self) -> int:
        """Length of one agent's observation vector."""
        return 2 if self.obs_mode == "grid_pos" else 3 * self.n_uavs + 12

    @property
    def state_dim(self) -> int:
        """Length of the global (centralised-training) state vector."""
        return 3 * self.n_uavs + self.n_cells


PRESETS: dict[str, dict[str, Any]] = {
    "urban": {"scene": "urban"},
    "suburban": {"scene": "suburban"},
    # Dense city: stronger blockage and 50 % more users than UAV capacity can absorb.
    "dense": {"scene": "dense_urban", "n_users": 150, "users_per_hotspot": 30},
}


def make_params(preset: str = "urban", **overrides: Any) -> EnvParams:
    """A validated :class:`EnvParams` from a preset (``urban``, ``suburban``, ``dense``) plus overrides.

    ``scene=<name>`` sets the four Al-Hourani constants from :data:`SCENES`. Raises
    :class:`~offrl.errors.ConfigError` naming the offending parameter.
    """
    if preset not in PRESETS:
        raise ConfigError(f"preset: unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    kw = dict(PRESETS[preset])
    kw.update(overrides)
    scene = kw.pop("scene", None)
    if scene is not None:
        if scene not in SCENES:
            raise ConfigError(f"scene: unknown scene {scene!r}; known: {', '.join(SCENES)}")
        for name, v in zip(("los_a", "los_b", "eta_los_db", "eta_nlos_db"), SCENES[scene]):
            kw.setdefault(name, v)
    fields = set(EnvParams.__dataclass_fields__)
    unknown = sorted(set(kw) - fields)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown UAV env parameter; known: {', '.join(sorted(fields))}")
    if kw.get("users_xy") is not None:
        xy = np.asarray(kw["users_xy"], dtype=np.float64)
        if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) == 0:
            raise ConfigError(f"users_xy: expected a non-empty list of (x, y) pairs, got shape {xy.shape}")
        kw["users_xy"] = tuple((float(x), float(y)) for x, y in xy)
        kw.setdefault("n_users", len(xy))
        if kw["n_users"] != len(xy):
            raise ConfigError(f"n_users: {kw['n_users']} does not match the {len(xy)} positions in users_xy")
    if "hotspots" in kw:
        kw["hotspots"] = tuple((float(x), float(y)) for x, y in kw["hotspots"])
    p = EnvParams(**kw)
    validate_params(p)
    return p


def _scalar(p: EnvParams, name: str) -> np.ndarray:
    return np.asarray(getattr(p, name))


def validate_params(p: EnvParams) -> None:
    """Raise :class:`ConfigError` (naming the field) if ``p`` is not a valid scenario.

    Works on concrete values only (call it before ``jit``/``vmap``); batched physical fields are
    checked element-wise.
    """
    def need(cond: bool, name: str, msg: str) -> None:
        if not cond:
            raise ConfigError(f"{name}: {msg} (got {getattr(p, name)!r})")

    for name in ("n_uavs", "n_users", "episode_len", "users_per_hotspot"):
        v = getattr(p, name)
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise ConfigError(f"{name}: must be an integer (got {v!r})")
    need(p.n_uavs >= 1, "n_uavs", "at least one UAV is needed")
    need(p.n_users >= 1, "n_users", "at least one user is needed")
    need(p.episode_len >= 1, "episode_len", "must be >= 1")
    need(p.users_per_hotspot >= 0, "users_per_hotspot", "must be >= 0")
    need(math.isfinite(p.area_m) and p.area_m > 0, "area_m", "must be a positive number of metres")
    need(math.isfinite(p.cell_m) and 0 < p.cell_m <= p.area_m, "cell_m", "must be in (0, area_m]")
    ratio = p.area_m / p.cell_m
    need(abs(ratio - round(ratio)) < 1e-6, "cell_m", "area_m must be a whole number of cells")
    need(p.obs_mode in OBS_MODES, "obs_mode", f"must be one of {OBS_MODES}")
    need(p.reward_mode in REWARD_MODES, "reward_mode", f"must be one of {REWARD_MODES}")
    need(p.start_mode in START_MODES, "start_mode", f"must be one of {START_MODES}")
    need(p.n_uavs <= p.n_cells, "n_uavs", f"more UAVs than the {p.n_cells} grid cells")
    if p.start_mode == "fixed":
        need(p.n_uavs <= p.grid_n, "n_uavs", f"start_mode='fixed' lines UAVs up on one edge of {p.grid_n} cells")
    if p.users_xy is None:
        need(len(p.hotspots) * p.users_per_hotspot <= p.n_users, "users_per_hotspot",
             f"{len(p.hotspots)} hotspots x users_per_hotspot exceed n_users={p.n_users}")
        for c in p.hotspots:
            if not (len(c) == 2 and all(0.0 <= float(v) <= p.area_m for v in c)):
                raise ConfigError(f"hotspots: centre {c!r} lies outside the [0, {p.area_m}] m area")
    else:
        xy = np.asarray(p.users_xy, dtype=np.float64)
        bad = np.flatnonzero(~((xy >= 0) & (xy <= p.area_m)).all(axis=1))
        if len(bad):
            raise ConfigError(f"users_xy: user {int(bad[0])} at {tuple(float(v) for v in xy[bad[0]])} lies outside the "
                              f"[0, {p.area_m}] m area")

    def positive(name: str) -> None:
        v = _scalar(p, name)
        if not (np.all(np.isfinite(v)) and np.all(v > 0)):
            raise ConfigError(f"{name}: must be positive and finite (got {getattr(p, name)!r})")

    for name in ("uav_alt_m", "fc_hz", "rb_hz", "los_a", "los_b"):
        positive(name)
    cap = _scalar(p, "uav_capacity")
    if not (np.all(cap >= 1) and np.all(np.floor(cap) == cap)):
        raise ConfigError(f"uav_capacity: must be a whole number of users >= 1 (got {p.uav_capacity!r})")
    for name in ("p_tx_dbm", "noise_psd_dbm_hz", "noise_figure_db", "sinr_th_db", "eta_los_db", "eta_nlos_db"):
        if not np.all(np.isfinite(_scalar(p, name))):
            raise ConfigError(f"{name}: must be finite (got {getattr(p, name)!r})")
    for name in ("hotspot_radius_m", "collision_penalty"):
        v = _scalar(p, name)
        if not (np.all(np.isfinite(v)) and np.all(v >= 0)):
            raise ConfigError(f"{name}: must be >= 0 (got {getattr(p, name)!r})")


def stack_params(params: list[EnvParams]) -> EnvParams:
    """Stack scenarios that share their static fields into one batched params for ``jax.vmap``."""
    if not params:
        raise ConfigError("params: need at least one scenario to stack")
    import jax

    first = jax.tree_util.tree_structure(params[0])
    for i, q in enumerate(params[1:], 1):
        if jax.tree_util.tree_structure(q) != first:
            raise ConfigError(f"params: scenario {i} differs from scenario 0 in a static (shape) field")
    return jax.tree_util.tree_map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *params)
