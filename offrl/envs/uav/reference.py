"""NumPy reference implementation of the UAV offloading dynamics: the oracle the JAX env must match.

Written independently of :mod:`offrl.envs.uav.channel` / :mod:`offrl.envs.uav.env` (explicit loops
over UAVs for the association, NumPy float32 maths), so the equivalence tests compare two
implementations of the model, not one implementation with itself. It also backs the PettingZoo
adapter and is the CPU baseline of ``benchmarks/uav_speed.py``.
"""

from __future__ import annotations

import numpy as np

from offrl.envs.uav.params import ACTION_DELTAS, N_ACTIONS, EnvParams, validate_params

_C = 299_792_458.0
F32 = np.float32


def np_path_loss_db(r, h, fc_hz, a, b, eta_los_db, eta_nlos_db):
    """Al-Hourani mean path loss in dB (angle in degrees, eta added in dB), NumPy version."""
    r = np.asarray(r, F32)
    theta = np.degrees(np.arctan2(F32(h), r))
    p = F32(1.0) / (F32(1.0) + F32(a) * np.exp(-F32(b) * (theta - F32(a))))
    d = np.sqrt(r * r + F32(h) * F32(h))
    fspl = F32(20.0) * np.log10(F32(4.0) * F32(np.pi) * F32(fc_hz) * d / F32(_C))
    return fspl + p * F32(eta_los_db) + (F32(1.0) - p) * F32(eta_nlos_db)


class UAVOffloadNumPy:
    """Plain NumPy UAV offloading env over (U, ...) arrays, one episode at a time.

    ``reset(seed)`` draws a layout with NumPy's generator; ``set_state(uav_pos, users)`` starts from a
    given layout (used to mirror a JAX reset). ``step(actions)`` returns
    ``(obs (U, D), rewards (U,), team_reward, truncated, info)``.
    """

    def __init__(self, params: EnvParams):
        validate_params(params)
        self.p = params
        self.g = params.grid_n
        self.rng = np.random.default_rng()
        self.uav_pos = np.zeros((params.n_uavs, 2), np.int32)
        self.users = np.zeros((params.n_users, 2), F32)
        self.t = 0
        self.assoc = np.full(params.n_users, -1, np.int32)
        self.load = np.zeros(params.n_uavs, np.int32)
        self.best_sinr = np.zeros(params.n_users, F32)

    # ------------------------------------------------------------------ layout
    def _sample_layout(self):
        p = self.p
        if p.users_xy is not None:
            users = np.asarray(p.users_xy, F32)
        else:
            centres = np.asarray(p.hotspots, F32).reshape(-1, 2)
            hot = np.repeat(centres, p.users_per_hotspot, axis=0)
            hot = hot + self.rng.uniform(-1.0, 1.0, hot.shape).astype(F32) * F32(p.hotspot_radius_m)
            uni = self.rng.uniform(0.0, p.area_m, (p.n_users - len(hot), 2)).astype(F32)
            users = np.clip(np.concatenate([hot, uni]), 0.0, p.area_m).astype(F32)
        if p.start_mode == "fixed":
            xs = np.floor((np.arange(p.n_uavs) + 0.5) * self.g / p.n_uavs).astype(np.int32)
            pos = np.stack([xs, np.zeros(p.n_uavs, np.int32)], axis=1)
        else:
            cells = self.rng.permutation(self.g * self.g)[: p.n_uavs]
            pos = np.stack([cells // self.g, cells % self.g], axis=1).astype(np.int32)
        return pos, users

    def reset(self, seed: int | None = None):
        """New episode; returns the (U, D) observations."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        pos, users = self._sample_layout()
        return self.set_state(pos, users)

    def set_state(self, uav_pos, users, t: int = 0):
        """Start from the given UAV cells and user positions; returns the observations."""
        self.uav_pos = np.array(uav_pos, np.int32).reshape(self.p.n_uavs, 2)
        self.users = np.array(users, F32).reshape(self.p.n_users, 2)
        self.t = int(t)
        self._associate()
        return self.obs()

    # ------------------------------------------------------------------ model
    def sinr_db(self):
        """(U, K) SINR in dB with co-channel interference from every other UAV."""
        p = self.p
        xy = self.uav_pos.astype(F32) * F32(p.cell_m)
        rx = np.empty((p.n_uavs, p.n_users), F32)
        for u in range(p.n_uavs):
            r = np.sqrt(np.sum((xy[u][None, :] - self.users) ** 2, axis=1))
            pl = np_path_loss_db(r, p.uav_alt_m, p.fc_hz, p.los_a, p.los_b, p.eta_los_db, p.eta_nlos_db)
            rx[u] = F32(10.0) ** ((F32(p.p_tx_dbm) - pl) / F32(10.0))
        noise = F32(10.0) ** ((F32(p.noise_psd_dbm_hz) + F32(10.0) * np.log10(F32(p.rb_hz))
                               + F32(p.noise_figure_db)) / F32(10.0))
        sinr = np.empty_like(rx)
        for u in range(p.n_uavs):
            interf = np.zeros(p.n_users, F32)
            for v in range(p.n_uavs):
                if v != u:
                    interf = interf + rx[v]
            sinr[u] = F32(10.0) * np.log10(rx[u] / (interf + noise))
        return sinr

    def _associate(self):
        p = self.p
        sinr = self.sinr_db()
        best = np.argmax(sinr, axis=0)
        best_sinr = sinr.max(axis=0)
        assoc = np.full(p.n_users, -1, np.int32)
        for u in range(p.n_uavs):
            cands = np.flatnonzero((best == u) & (best_sinr >= F32(p.sinr_th_db)))
            # descending SINR, ties by user index (stable sort on the negated SINR)
            order = cands[np.argsort(-best_sinr[cands], kind="stable")]
            assoc[order[: int(p.uav_capacity)]] = u
        self.assoc, self.best_sinr = assoc, best_sinr.astype(F32)
        self.load = np.bincount(assoc[assoc >= 0], minlength=p.n_uavs).astype(np.int32)

    def avail_actions(self):
        """(U, 5) bool action masks (moves that stay inside the grid)."""
        new = self.uav_pos[:, None, :] + ACTION_DELTAS[None]
        return ((new >= 0) & (new <= self.g - 1)).all(axis=-1)

    def collisions(self):
        """(U,) bool: UAV shares its cell with another."""
        same = (self.uav_pos[:, None, :] == self.uav_pos[None, :, :]).all(axis=-1)
        return same.sum(axis=1) > 1

    def hist(self):
        """(G, G) users per nearest waypoint [x, y]."""
        cell = np.clip(np.round(self.users / F32(self.p.cell_m)), 0, self.g - 1).astype(np.int64)
        h = np.zeros((self.g, self.g), F32)
        np.add.at(h, (cell[:, 0], cell[:, 1]), 1.0)
        return h

    def obs(self):
        """(U, obs_dim) float32 observations."""
        p, u = self.p, self.p.n_uavs
        if p.obs_mode == "grid_pos":
            return self.uav_pos.astype(F32)
        scale = F32(max(self.g - 1, 1))
        cap = F32(p.uav_capacity)
        own = self.uav_pos.astype(F32) / scale
        hist = np.pad(self.hist(), 1)
        out = np.zeros((u, p.obs_dim), F32)
        for i in range(u):
            rel = [own[j] - own[i] for j in range(u) if j != i]
            x, y = self.uav_pos[i]
            win = hist[x:x + 3, y:y + 3].reshape(9) / cap
            out[i] = np.concatenate([
                own[i], np.concatenate(rel) if rel else np.zeros(0, F32),
                [self.load[i] / cap, F32(self.load.sum()) / F32(p.n_users)], win,
                [F32(self.t) / F32(p.episode_len)], np.eye(u, dtype=F32)[i]])
        return out

    def state(self):
        """Global state vector (UAV cells, loads, user histogram)."""
        scale = F32(max(self.g - 1, 1))
        return np.concatenate([(self.uav_pos.astype(F32) / scale).reshape(-1),
                               self.load.astype(F32) / F32(self.p.uav_capacity),
                               self.hist().reshape(-1) / F32(self.p.n_users)]).astype(F32)

    def rewards(self):
        """Per-agent rewards (U,) and the team reward."""
        p = self.p
        hit = self.collisions().astype(F32) * F32(p.collision_penalty)
        load = self.load.astype(F32)
        scale = F32(p.n_users) if p.normalize_reward else F32(1.0)
        team = (load.sum() - hit.sum()) / scale
        per = np.full(p.n_uavs, team, F32) if p.reward_mode == "shared" else (load - hit) / scale
        return per.astype(F32), F32(team)

    def step(self, actions):
        """Move (an out-of-grid move or unknown id hovers), associate, reward; no auto-reset."""
        a = np.asarray(actions, np.int64).reshape(self.p.n_uavs)
        for i in range(self.p.n_uavs):
            if 0 <= a[i] < N_ACTIONS:
                new = self.uav_pos[i] + ACTION_DELTAS[a[i]]
                if ((new >= 0) & (new <= self.g - 1)).all():
                    self.uav_pos[i] = new
        self.t += 1
        self._associate()
        rewards, team = self.rewards()
        n = int(self.load.sum())
        served = self.assoc >= 0
        info = {"n_assoc": n, "team_reward": float(team), "load": self.load.copy(),
                "offload_fraction": n / self.p.n_users,
                "mean_sinr_db": float(self.best_sinr[served].sum() / max(n, 1)),
                "collisions": int(self.collisions().sum())}
        return self.obs(), rewards, team, self.t >= self.p.episode_len, info
