"""Al-Hourani air-to-ground channel, co-channel SINR and capacity-limited association (pure JAX).

All functions take arrays and :class:`EnvParams` leaves, work under ``jit``/``vmap`` and are the
single implementation used by the JAX env, the baselines and the data collectors. The NumPy oracle in
:mod:`offrl.envs.uav.reference` re-implements them independently for the equivalence tests.
"""

from __future__ import annotations

import jax.numpy as jnp

from offrl.envs.uav.params import EnvParams

SPEED_OF_LIGHT = 299_792_458.0


def elevation_deg(r, h):
    """Elevation angle in **degrees** seen from a user at ground distance ``r`` to a UAV at height ``h``.

    Al-Hourani's fit is in degrees; feeding radians is the classic bug (urban P_LoS ~0.03 everywhere).
    """
    return jnp.degrees(jnp.arctan2(h, r))


def p_los(theta_deg, a, b):
    """Line-of-sight probability 1 / (1 + a exp(-b (theta - a)))."""
    return 1.0 / (1.0 + a * jnp.exp(-b * (theta_deg - a)))


def fspl_db(d, fc_hz):
    """Free-space path loss 20 log10(4 pi f d / c) in dB at 3-D distance ``d`` (metres)."""
    return 20.0 * jnp.log10(4.0 * jnp.pi * fc_hz * d / SPEED_OF_LIGHT)


def path_loss_db(r, h, fc_hz, a, b, eta_los_db, eta_nlos_db):
    """Mean air-to-ground path loss in dB: FSPL + P_LoS eta_LoS + (1 - P_LoS) eta_NLoS (eta added in dB)."""
    p = p_los(elevation_deg(r, h), a, b)
    d = jnp.sqrt(r * r + h * h)
    return fspl_db(d, fc_hz) + p * eta_los_db + (1.0 - p) * eta_nlos_db


def uav_xy(uav_cells, params: EnvParams):
    """Cell indices (U, 2) -> positions in metres (U, 2)."""
    return uav_cells.astype(jnp.float32) * jnp.float32(params.cell_m)


def sinr_db(uav_cells, users, params: EnvParams):
    """SINR in dB of every (UAV, user) pair, shape (U, K).

    All UAVs share one band (reuse 1): the interference at a user is the received power of every other
    UAV. Noise is thermal over one resource block plus the noise figure.
    """
    pos = uav_xy(uav_cells, params)
    diff = pos[:, None, :] - users[None, :, :]
    r = jnp.sqrt(jnp.sum(diff * diff, axis=-1))
    pl = path_loss_db(r, params.uav_alt_m, params.fc_hz, params.los_a, params.los_b,
                      params.eta_los_db, params.eta_nlos_db)
    rx_mw = 10.0 ** ((params.p_tx_dbm - pl) / 10.0)
    n_uavs = uav_cells.shape[0]
    # Sum the others explicitly (not total - own) so a dominant own signal does not cancel the rest.
    others = 1.0 - jnp.eye(n_uavs, dtype=rx_mw.dtype)
    interference = others @ rx_mw
    noise_mw = 10.0 ** ((params.noise_psd_dbm_hz + 10.0 * jnp.log10(params.rb_hz) + params.noise_figure_db) / 10.0)
    return 10.0 * jnp.log10(rx_mw / (interference + noise_mw))


def associate(sinr, sinr_th_db, capacity):
    """Capacity-limited max-SINR association.

    Every user picks the UAV with its highest SINR; it is a candidate if that SINR meets the threshold.
    Each UAV admits its candidates in descending SINR (ties: lower user index first) up to
    ``capacity``; everyone else stays on the terrestrial base station.

    Returns ``(assoc, load, best_sinr)``: ``assoc[k]`` in {-1, 0..U-1}, ``load[u]`` users on UAV u,
    and each user's best SINR in dB.
    """
    n_uavs, n_users = sinr.shape
    best = jnp.argmax(sinr, axis=0)
    best_sinr = jnp.max(sinr, axis=0)
    cand = best_sinr >= sinr_th_db
    idx = jnp.arange(n_users)
    same = (best[:, None] == best[None, :]) & cand[None, :]
    ahead = (best_sinr[None, :] > best_sinr[:, None]) | (
        (best_sinr[None, :] == best_sinr[:, None]) & (idx[None, :] < idx[:, None]))
    rank = jnp.sum(same & ahead, axis=1)
    admitted = cand & (rank < capacity)
    assoc = jnp.where(admitted, best, -1).astype(jnp.int32)
    load = jnp.sum(assoc[None, :] == jnp.arange(n_uavs)[:, None], axis=1).astype(jnp.int32)
    return assoc, load, best_sinr


def association(uav_cells, users, params: EnvParams):
    """SINR + association for UAVs at ``uav_cells`` and users at ``users``: ``(assoc, load, best_sinr)``."""
    return associate(sinr_db(uav_cells, users, params), params.sinr_th_db, params.uav_capacity)
