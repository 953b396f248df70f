"""Experience selection: which transitions of a finished task go into its replay buffer.

:func:`select` runs a rule by name from :data:`RULES`; every rule has one signature and returns the
selected row indices (``cfg.buffer_size`` of them) and diagnostics. The rules are those of OER's code
(``myd3rlpy/algos/co.py`` at the paper's revision, 141a0a6):

========================  =====================  ========================================================
rule                      OER's name             keeps
========================  =====================  ========================================================
``mbes``                  ``model_next``         Model-Based Experience Selection (below)
``random_transition``     ``random_transition``  uniformly random transitions
``random_episode``        ``random_episode``     whole episodes in random order, the last one cut
``max_reward``            ``max_reward``         the highest rewards
``max_match``             ``max_match``          the largest ``||pi(s) - a||^2``
``max_td_error``          ``max_supervise``      the largest ``|r + gamma (Q(s', pi(s)) - Q(s, pi(s)))|``
``max_model_likelihood``  ``max_model``          the highest model log-likelihood of ``(s', r)``
``coverage``              ``coverage``           the fewest neighbours within ``coverage_radius``
========================  =====================  ========================================================

MBES, as the code runs it. Once per task: the ``num_neighbors`` nearest dataset states of every state
(:func:`offrl.continual.neighbors.knn` on the first ``neighbor_dims`` coordinates), and the model's
prediction of the next state for every dataset pair ``(s_j, a_j)`` (one member per row: the one whose
prediction lies highest above the members' mean, averaged over coordinates) with the ensemble's
variance there. Then chains of indices:

1. The episode starts, shuffled, in batches of ``start_batch``; a batch's starts are added to the
   selected list as they are (even if already there).
2. At each current index ``i`` (all chains of the batch at once): ``a = pi(s_i)``, the ensemble's
   prediction of ``(s_i, a)``, one random member's next state (``policy_member``).
3. Among the neighbours of ``s_i`` the one ``j`` whose predicted next state is closest (L2 over the first
   ``match_dims`` coordinates) to the policy's.
4. Gate: jump to ``j`` if the ensemble variance at ``(s_i, pi(s_i))`` is below ``variance_lambda`` times
   the mean, over the batch's active chains, of each chain's mean neighbour variance; else stay at ``i``.
5. Advance to (chosen index) + 1. A chain ends there if that row ends an episode (the row is not
   selected) or is already selected; chains reaching the same row merge into one (OER's code keeps
   the current indices as a set). New rows are added to the list.
6. A batch ends when its chains have ended, after ``max_chain_steps`` steps, or when the list holds
   ``buffer_size`` rows; the list is checked against the buffer size after each batch's starts and
   before each step. When a chain step fills it, the code's check leaves only the loop over steps: the
   loop over batches still appends the next batch's starts (unless the batch was a pass's last) before
   its own check ends selection, so the list can overshoot by one step's rows and one batch's starts
   (diagnostic ``extra_starts``). When every batch has run and the
   buffer is not full, the batches run again from the top (``remainder="repeat"``, the 2023 code:
   starts are added again as duplicates and chains restart from them), or the rest is filled with
   random unselected rows (``remainder="random"``, the 2022 code).
7. The list is shuffled and cut to ``buffer_size`` (so an overshoot drops random entries).

Within one step the chains are independent, so they are vectorised; batches run in order because
each sees what the previous ones selected. Every rule is a pure JAX function of the seed's policy,
model and key, so seeds vmap (:func:`select_seeds`). Observations, policy and model must share one
observation space (OER's code used raw observations).

Every deviation from the code, and why, is in ``docs/oer.md``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from offrl.algos.base import hp, validate_config
from offrl.algos import dynamics
from offrl.algos.dynamics import DynamicsState, ensemble_variance
from offrl.algos.networks import normal_log_prob
from offrl.continual.neighbors import DEFAULT_K, Neighbors, knn
from offrl.errors import ConfigError
from offrl.registry import Registry

#: OER's forced episode length in its MACAW loader (``get_d4rl_local(timeout=300)``)
OER_BOUNDARY_EVERY = 300


@dataclasses.dataclass(frozen=True)
class SelectionConfig:
    """Settings of every selection rule (each rule reads the fields it needs).

    Defaults are OER's code at the paper's revision (``continual_offline.py`` and ``co.py`` at 141a0a6).
    """

    buffer_size: int = hp(1000, "transitions kept per task (OER's max_save_num)", min=1)
    start_batch: int = hp(10, "MBES: episode starts per batch of chains (2023 code; 2022: 100)", min=1)
    variance_lambda: float = hp(2.0, "MBES: jump only where the variance is below lambda x the neighbours' "
                                     "mean variance (OER's default 2; its runs also used 1.2)", min=0)
    variance_gate: bool = hp(True, "MBES: apply the variance gate (False: always jump; the code's 'model' type)")
    policy_member: str = hp("random", "MBES: the policy's predicted next state from one random member "
                                      "(2023), the member highest above the members' mean (2022) or the "
                                      "members' mean", choices=("random", "deviation", "mean"))
    neighbor_member: str = hp("deviation", "MBES: each dataset row's predicted next state from the member "
                                           "highest above the members' mean (the code) or the mean",
                              choices=("deviation", "mean"))
    sample_model: bool = hp(True, "MBES: predictions are draws from each member's Gaussian, as d3rlpy's "
                                  "predict_with_variance returns them (False: the means)")
    match_dims: int | None = hp(2, "MBES: leading state coordinates compared when matching predicted next "
                                   "states (the code's similar_mb_l2 compares 2; None: all)", min=1)
    max_chain_steps: int = hp(1000, "MBES: steps per batch of chains (the code's max_export_step)", min=1)
    remainder: str = hp("repeat", "MBES when every batch ran and the buffer is not full: 'repeat' the "
                                  "batches (2023 code) or fill with random rows (2022 code)",
                        choices=("repeat", "random"))
    prediction_block: int = hp(65_536, "MBES/likelihood/match/TD: rows per block of model or policy calls",
                               min=1)
    num_neighbors: int = hp(DEFAULT_K, "neighbours per state (OER's top_euclid)", min=1)
    neighbor_dims: int | None = hp(3, "leading state coordinates the neighbour search uses (the code's "
                                      "compare_dim for its MACAW tasks is 3; None: all)", min=1)
    coverage_radius: float = hp(0.1, "coverage: the distance within which neighbours count (OER's d_threshold)",
                                min=0, open_min=True)
    discount: float = hp(0.99, "max_td_error: gamma in the code's TD error", min=0, max=1)

    def __post_init__(self):
        validate_config(self)


# --------------------------------------------------------------------------------------- data
@struct.dataclass
class SelectionData:
    """A task's transitions as device arrays, in the row order selection steps through.

    ``episode_ends[i]``: row i is the last of its episode (termination, truncation, a silent boundary of
    the dataset, a forced boundary, and always the last row); ``starts``: the first row of every episode.
    """

    observations: jax.Array
    actions: jax.Array
    rewards: jax.Array
    next_observations: jax.Array
    terminations: jax.Array
    episode_ends: jax.Array
    starts: jax.Array

    @property
    def num_rows(self) -> int:
        return self.observations.shape[0]


def forced_boundaries(n: int, every: int) -> np.ndarray:
    """(n,) bool, True at rows every-1, 2*every-1, ...: OER's loader ends an episode every ``every`` rows
    (``timeout=300``) whatever the data says."""
    if every < 1:
        raise ConfigError(f"forced episode boundaries every {every} rows: must be >= 1")
    out = np.zeros(n, bool)
    out[every - 1::every] = True
    return out


def selection_data(source, *, reverse: bool = False, boundary_every: int | None = None) -> SelectionData:
    """:class:`SelectionData` from an :class:`~offrl.datasets.OfflineDataset` or a mapping of arrays.

    A mapping needs ``observations, actions, rewards, next_observations, terminations`` and may give
    ``truncations`` and ``episode_ends`` (bool per row); a dataset contributes its own episode ends
    (including silent boundaries). OER's loader quirks, off by default:

    - ``reverse``: flip the row order (OER's loader ``np.flip``s its MACAW buffers, flags travelling
      with their rows), so that MBES's "index + 1" steps through the flipped order;
    - ``boundary_every``: also end an episode every that many rows of the (flipped) order (OER: 300,
      :data:`OER_BOUNDARY_EVERY`).
    """
    if hasattr(source, "episode_ends") and hasattr(source, "observations") and not isinstance(source, Mapping):
        n = len(source.rewards)
        ends = np.zeros(n, bool)
        ends[np.asarray(source.episode_ends, dtype=np.int64)] = True
        arrays = {k: getattr(source, k) for k in ("observations", "actions", "rewards", "next_observations",
                                                  "terminations")}
    elif isinstance(source, Mapping):
        missing = [k for k in ("observations", "actions", "rewards", "next_observations", "terminations")
                   if k not in source]
        if missing:
            raise ConfigError(f"selection data lacks {missing}")
        arrays = {k: source[k] for k in ("observations", "actions", "rewards", "next_observations", "terminations")}
        n = len(np.asarray(arrays["rewards"]).reshape(-1))
        ends = np.asarray(arrays["terminations"], bool).reshape(-1).copy()
        for k in ("truncations", "episode_ends"):
            if source.get(k) is not None:
                ends |= np.asarray(source[k], bool).reshape(-1)
    else:
        raise ConfigError("selection data must be an OfflineDataset or a mapping of arrays, "
                          f"got {type(source).__name__}")
    out = {}
    for k, a in arrays.items():
        a = np.asarray(a)
        if len(a) != n:
            raise ConfigError(f"selection data: {k} has {len(a)} rows, rewards has {n}")
        if k == "terminations":
            out[k] = a.reshape(n).astype(bool)
        elif k == "rewards":
            out[k] = a.reshape(n).astype(np.float32)
        else:
            out[k] = a.reshape(n, -1).astype(np.float32)
        if out[k].dtype != bool and not np.isfinite(out[k]).all():
            raise ConfigError(f"selection data: {k} holds NaN or inf")
    if len(ends) != n:
        raise ConfigError(f"selection data: {len(ends)} episode-end flags for {n} rows")
    if out["observations"].shape != out["next_observations"].shape:
        raise ConfigError("selection data: observations and next_observations differ in shape")
    if n == 0:
        raise ConfigError("selection data is empty")
    if reverse:
        out = {k: v[::-1].copy() for k, v in out.items()}
        ends = ends[::-1].copy()
    if boundary_every is not None:
        ends |= forced_boundaries(n, boundary_every)
    # the code's starts: row 0 and the row after every episode end but the last one; a trailing episode
    # without an end (data cut mid-episode) has no start there, as in the code
    starts = np.concatenate([[0], np.flatnonzero(ends)[:-1] + 1]).astype(np.int32)
    ends[-1] = True  # a chain never steps past the data (OER's code would index out of range)
    return SelectionData(**jax.device_put(out), episode_ends=jax.device_put(ends), starts=jax.device_put(starts))


def neighbors_for(data: SelectionData, cfg: SelectionConfig = SelectionConfig(), **knn_options) -> Neighbors:
    """The ``cfg.num_neighbors`` nearest states of every row, on the first ``cfg.neighbor_dims`` coordinates."""
    obs = data.observations if cfg.neighbor_dims is None else data.observations[:, :cfg.neighbor_dims]
    if cfg.neighbor_dims is not None and cfg.neighbor_dims > data.observations.shape[1]:
        raise ConfigError(f"SelectionConfig.neighbor_dims={cfg.neighbor_dims} exceeds the "
                          f"{data.observations.shape[1]} observation coordinates")
    return knn(np.asarray(obs), cfg.num_neighbors, **knn_options)


# ---------------------------------------------------------------------------- shared pieces
class Selection(NamedTuple):
    """Selected row indices (``buffer_size``, int32; leading seed axis from :func:`select_seeds`) and
    a dict of diagnostics (arrays)."""

    indices: jax.Array
    diagnostics: dict


def _rowwise(fn: Callable, arrays: tuple, block: int):
    """``fn`` on row blocks of ``arrays`` (lax.map, so memory is one block's), outputs concatenated."""
    n = arrays[0].shape[0]
    bs = min(block, n)
    nb = math.ceil(n / bs)
    padded = tuple(jnp.concatenate([a, jnp.zeros((nb * bs - n, *a.shape[1:]), a.dtype)]).reshape(nb, bs, *a.shape[1:])
                   for a in arrays)
    out = jax.lax.map(lambda xs: fn(*xs[:-1], xs[-1]), (*padded, jnp.arange(nb)))
    return jax.tree_util.tree_map(lambda x: x.reshape(nb * bs, *x.shape[2:])[:n], out)


def _draw(mean, log_std, key, sample: bool):
    return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape) if sample else mean


def _ranked(score, cfg: SelectionConfig, descending: bool) -> Selection:
    """The ``buffer_size`` best rows by ``score``; ties keep the lower row first (Python's stable sort)."""
    order = jnp.argsort(-score if descending else score, stable=True)[:cfg.buffer_size].astype(jnp.int32)
    return Selection(order, {"score_mean": jnp.mean(score), "selected_score_mean": jnp.mean(score[order])})


def _match_dims(cfg: SelectionConfig, obs_dim: int) -> int:
    if cfg.match_dims is None:
        return obs_dim
    if cfg.match_dims > obs_dim:
        raise ConfigError(f"SelectionConfig.match_dims={cfg.match_dims} exceeds the {obs_dim} observation coordinates")
    return cfg.match_dims


# -------------------------------------------------------------------------------------- MBES
def _highest_member(nxt):
    """(members, B, D) -> (B, D): per row the member with the largest mean over coordinates of its
    deviation from the members' mean (the code's ``torch.max(torch.mean(pred - mean, dim=2), dim=1)``;
    its comment calls it the member closest to the mean, which it is not)."""
    member = jnp.argmax(jnp.mean(nxt - jnp.mean(nxt, 0), -1), 0)
    return jnp.take_along_axis(nxt, member[None, :, None], 0)[0]


def data_predictions(data: SelectionData, model, key, cfg: SelectionConfig = SelectionConfig()):
    """MBES's per-task precomputation for every dataset pair ``(s_j, a_j)``: the predicted next state of
    the member the code picks (first ``match_dims`` coordinates; (N, m)) and the ensemble variance (N,)."""
    obs_dim = data.observations.shape[1]
    m = _match_dims(cfg, obs_dim)

    def block(obs, act, b):
        mean, log_std = model(obs, act)
        pred = _draw(mean, log_std, jax.random.fold_in(key, b), cfg.sample_model)
        nxt = pred[..., :obs_dim]                                             # (members, rows, obs_dim)
        chosen = _highest_member(nxt) if cfg.neighbor_member == "deviation" else jnp.mean(nxt, 0)
        return chosen[:, :m], ensemble_variance(pred)

    return _rowwise(block, (data.observations, data.actions), cfg.prediction_block)


def _mbes(data: SelectionData, key, cfg: SelectionConfig, policy, model, q_fn, neighbors: Neighbors) -> Selection:
    n, obs_dim = data.observations.shape
    m = _match_dims(cfg, obs_dim)
    # the list can pass buffer_size by one chain step and one batch of starts (step 6 of the module doc)
    B, cap, buf = cfg.start_batch, cfg.buffer_size + 2 * cfg.start_batch, cfg.buffer_size
    n_starts = data.starts.shape[0]
    # the code batches range(0, len(starts) - 1, B): when len % B == 1 the last start is never used
    n_batches = max(1, math.ceil((n_starts - 1) / B))
    used = min(n_starts, n_batches * B)
    k_pred, k_order, k_loop, k_fill, k_cut = jax.random.split(key, 5)
    pred_next, pred_var = data_predictions(data, model, k_pred, cfg)
    nbr = neighbors.indices
    nbr_var = jnp.mean(pred_var[nbr], axis=1)                                 # each row's neighbours' mean
    order = jax.random.permutation(k_order, data.starts)
    slots = jnp.full(n_batches * B, -1, jnp.int32).at[:used].set(order[:used])
    lane = jnp.arange(B)

    def add(st, rows, mask):
        """Append ``rows[mask]`` to the list in lane order and mark them selected."""
        pos = st["count"] + jnp.cumsum(mask) - 1
        st = dict(st)
        st["sel_list"] = st["sel_list"].at[jnp.where(mask, pos, cap)].set(rows, mode="drop")
        st["sel_mask"] = st["sel_mask"].at[jnp.where(mask, rows, n)].set(True, mode="drop")
        st["count"] = st["count"] + jnp.sum(mask, dtype=jnp.int32)
        return st

    def chain_step(c):
        st = c["st"]
        cur, active = c["cur"], c["active"]
        key, k_draw = jax.random.split(st["key"])
        obs = data.observations[cur]
        mean, log_std = model(obs, policy(obs))
        # one draw per step: the model's noise, and in its last channel the member choice (the argmax of
        # i.i.d. normals is a uniformly random member)
        noise = jax.random.normal(k_draw, (*mean.shape[:-1], mean.shape[-1] + 1))
        pred = mean + jnp.exp(log_std) * noise[..., :-1] if cfg.sample_model else mean
        var_pi = ensemble_variance(pred)
        nxt = pred[..., :obs_dim]
        if cfg.policy_member == "random":
            target = nxt[jnp.argmax(noise[..., -1], 0), lane]
        elif cfg.policy_member == "deviation":
            target = _highest_member(nxt)
        else:
            target = jnp.mean(nxt, 0)
        cand = nbr[cur]                                                       # (B, k)
        dist = jnp.sum((pred_next[cand] - target[:, None, :m]) ** 2, -1)
        j = cand[lane, jnp.argmin(dist, 1)]
        n_active = jnp.sum(active, dtype=jnp.int32)
        # the code's reference: mean over the batch's current chains of their neighbours' mean variance
        ref = jnp.sum(jnp.where(active, nbr_var[cur], 0.0)) / jnp.maximum(n_active, 1)
        gate = var_pi < cfg.variance_lambda * ref if cfg.variance_gate else jnp.ones(B, bool)
        chosen = jnp.where(gate, j, cur)
        new = chosen + 1
        new_c = jnp.minimum(new, n - 1)
        ok = active & (new < n) & ~data.episode_ends[new_c]
        # the code keeps current indices as a set: chains reaching the same row merge (lowest lane stays)
        dup = jnp.any((new_c[:, None] == new_c[None, :]) & ok[None, :] & (lane[None, :] < lane[:, None]), 1)
        fresh = ok & ~dup & ~st["sel_mask"][new_c]
        st = add(st, new_c, fresh)
        st["key"] = key
        st["chain_lengths"] = st["chain_lengths"].at[c["slot"]].add(fresh.astype(jnp.int32))
        st["gate_checks"] = st["gate_checks"] + n_active
        st["gate_passes"] = st["gate_passes"] + jnp.sum(gate & active, dtype=jnp.int32)
        st["jumps"] = st["jumps"] + jnp.sum(active & (chosen != cur), dtype=jnp.int32)
        st["chain_steps"] = st["chain_steps"] + 1
        return {"st": st, "cur": jnp.where(fresh, new_c, cur), "active": fresh, "step": c["step"] + 1,
                "slot": c["slot"]}

    def chain_running(c):
        return (c["step"] < cfg.max_chain_steps) & (c["st"]["count"] < buf) & jnp.any(c["active"])

    def batch_starts(b):
        start = jax.lax.dynamic_slice_in_dim(slots, b * B, B)
        return jnp.maximum(start, 0), start >= 0

    def run_batch(st):
        b = st["batch"] % n_batches
        start, valid = batch_starts(b)
        st = add(st, start, valid)  # the code extends the list with the starts, repeats and all
        st["chains"] = st["chains"] + jnp.sum(valid, dtype=jnp.int32)
        before_chains = st["count"]
        c = jax.lax.while_loop(chain_running, chain_step,
                               {"st": st, "cur": start, "active": valid,
                                "step": jnp.int32(0), "slot": b * B + lane})
        st = c["st"]
        # the code's fill check inside the chain loop leaves only that loop: its loop over batches goes on
        # to append the next batch's starts before its own check stops it (not after a pass's last batch)
        filled_in_chains = (before_chains < buf) & (st["count"] >= buf) & (b < n_batches - 1)
        nxt, nxt_valid = batch_starts(jnp.minimum(b + 1, n_batches - 1))
        st = add(st, nxt, nxt_valid & filled_in_chains)
        st["extra_starts"] = st["extra_starts"] + jnp.sum(nxt_valid & filled_in_chains, dtype=jnp.int32)
        st["batch"] = st["batch"] + 1
        return st

    def batches_left(st):
        more = st["count"] < buf
        return more if cfg.remainder == "repeat" else more & (st["batch"] < n_batches)

    zero = jnp.int32(0)
    st = {"sel_mask": jnp.zeros(n, bool), "sel_list": jnp.zeros(cap, jnp.int32), "count": zero, "batch": zero,
          "key": k_loop, "chain_lengths": jnp.zeros(n_batches * B, jnp.int32), "chains": zero,
          "gate_checks": zero, "gate_passes": zero, "jumps": zero, "chain_steps": zero, "extra_starts": zero}
    st = jax.lax.while_loop(batches_left, run_batch, st)
    count, unique = st["count"], jnp.sum(st["sel_mask"], dtype=jnp.int32)
    sel_list = st["sel_list"]
    filled = zero
    if cfg.remainder == "random":
        # 2022 code: the rest are random transitions not selected yet
        filled = jnp.maximum(buf - count, 0)
        rand = jnp.argsort(jnp.where(st["sel_mask"], jnp.inf, jax.random.uniform(k_fill, (n,))))[:buf]
        slot = jnp.arange(buf)
        sel_list = sel_list.at[jnp.where(slot < filled, count + slot, cap)].set(rand.astype(jnp.int32), mode="drop")
        count = count + filled
    # the code shuffles the list and keeps the first buffer_size entries
    keep = jnp.argsort(jnp.where(jnp.arange(cap) < count, jax.random.uniform(k_cut, (cap,)), jnp.inf))[:buf]
    checks = jnp.maximum(st["gate_checks"], 1)
    diagnostics = {
        "chain_lengths": st["chain_lengths"], "chain_start_rows": slots, "chains": st["chains"],
        "mean_chain_length": jnp.sum(st["chain_lengths"]) / jnp.maximum(st["chains"], 1),
        "gate_checks": st["gate_checks"], "gate_pass_rate": st["gate_passes"] / checks,
        "jump_rate": st["jumps"] / checks, "chain_steps": st["chain_steps"], "batches": st["batch"],
        "passes": (st["batch"] + n_batches - 1) // n_batches, "selected_before_cut": count,
        "unique_selected": unique, "random_fill": filled, "extra_starts": st["extra_starts"],
    }
    return Selection(sel_list[keep], diagnostics)


# ----------------------------------------------------------------------------- other rules
def _random_transition(data, key, cfg, policy, model, q_fn, neighbors) -> Selection:
    idx = jax.random.permutation(key, data.num_rows)[:cfg.buffer_size].astype(jnp.int32)
    return Selection(idx, {})


def _random_episode(data, key, cfg, policy, model, q_fn, neighbors) -> Selection:
    n = data.num_rows
    is_start = jnp.zeros(n, jnp.int32).at[data.starts].set(1)
    episode = jnp.cumsum(is_start) - 1
    rank = jnp.argsort(jax.random.permutation(key, data.starts.shape[0]))  # episode -> its place in the shuffle
    order = jnp.lexsort((jnp.arange(n), rank[episode]))
    idx = order[:cfg.buffer_size].astype(jnp.int32)
    return Selection(idx, {"episodes": jnp.unique(episode[idx], size=cfg.buffer_size, fill_value=-1)})


def _max_reward(data, key, cfg, policy, model, q_fn, neighbors) -> Selection:
    return _ranked(data.rewards, cfg, descending=True)


def _max_match(data, key, cfg, policy, model, q_fn, neighbors) -> Selection:
    gap = _rowwise(lambda o, a, b: jnp.sum((policy(o) - a) ** 2, -1), (data.observations, data.actions),
                   cfg.prediction_block)
    return _ranked(gap, cfg, descending=True)


def _max_td_error(data, key, cfg, policy, model, q_fn, neighbors) -> Selection:
    def td(o, r, o2, b):
        pi = policy(o)  # the code evaluates both Q values at pi(s), also at s'
        return jnp.abs(r + cfg.discount * (q_fn(o2, pi) - q_fn(o, pi)))

    score = _rowwise(td, (data.observations, data.rewards, data.next_observations), cfg.prediction_block)
    return _ranked(score, cfg, descending=True)


def _max_model_likelihood(data, key, cfg, policy, model, q_fn, neighbors) -> Selection:
    def loglik(o, a, r, o2, b):
        mean, log_std = model(o, a)
        # the code's Gaussian: members' mean of the means and of the log-stds
        return normal_log_prob(jnp.concatenate([o2, r[:, None]], -1), jnp.mean(mean, 0), jnp.mean(log_std, 0))

    score = _rowwise(loglik, (data.observations, data.actions, data.rewards, data.next_observations),
                     cfg.prediction_block)
    return _ranked(score, cfg, descending=True)


def _coverage(data, key, cfg, policy, model, q_fn, neighbors) -> Selection:
    close = jnp.sum(neighbors.distances < cfg.coverage_radius, axis=1)
    return _ranked(close, cfg, descending=False)


# -------------------------------------------------------------------------------- registry
@dataclasses.dataclass(frozen=True)
class SelectionRule:
    """A registered selection rule: ``fn(data, key, cfg, policy, model, q_fn, neighbors) -> Selection``
    plus which of ``policy, model, q_fn, neighbors`` it needs."""

    name: str
    fn: Callable[..., Selection]
    needs: tuple[str, ...]
    oer_name: str
    description: str


RULES: Registry[SelectionRule] = Registry("selection rule")
for _rule in (
        SelectionRule("mbes", _mbes, ("policy", "model", "neighbors"), "model_next",
                      "OER's Model-Based Experience Selection"),
        SelectionRule("random_transition", _random_transition, (), "random_transition", "uniformly random rows"),
        SelectionRule("random_episode", _random_episode, (), "random_episode", "whole episodes in random order"),
        SelectionRule("max_reward", _max_reward, (), "max_reward", "highest rewards"),
        SelectionRule("max_match", _max_match, ("policy",), "max_match", "largest ||pi(s) - a||^2"),
        SelectionRule("max_td_error", _max_td_error, ("policy", "q_fn"), "max_supervise",
                      "largest |r + gamma (Q(s', pi(s)) - Q(s, pi(s)))|"),
        SelectionRule("max_model_likelihood", _max_model_likelihood, ("model",), "max_model",
                      "highest model log-likelihood of (s', r)"),
        SelectionRule("coverage", _coverage, ("neighbors",), "coverage",
                      "fewest neighbours within coverage_radius")):
    RULES.register(_rule.name, _rule)


def names() -> list[str]:
    """Registered selection rule names."""
    return RULES.names()


def _prepare(rule: str, data: SelectionData, cfg: SelectionConfig, given: dict[str, Any], neighbors):
    entry = RULES[rule]
    missing = [k for k in entry.needs if k != "neighbors" and given.get(k) is None]
    if missing:
        raise ConfigError(f"selection rule {rule!r} needs {', '.join(missing)}")
    if cfg.buffer_size > data.num_rows:
        raise ConfigError(f"SelectionConfig.buffer_size={cfg.buffer_size} exceeds the task's {data.num_rows} rows")
    if "neighbors" in entry.needs:
        if neighbors is None:
            neighbors = neighbors_for(data, cfg)
        if neighbors.indices.shape[0] != data.num_rows:
            raise ConfigError(f"neighbours cover {neighbors.indices.shape[0]} rows, the data has {data.num_rows}")
    return entry, neighbors


def select(rule: str, data: SelectionData, key, cfg: SelectionConfig = SelectionConfig(), *,
           policy: Callable | None = None, model: Callable | None = None, q_fn: Callable | None = None,
           neighbors: Neighbors | None = None) -> Selection:
    """Run selection rule ``rule`` for one seed, jitted.

    ``policy(obs) -> actions`` (batched, deterministic); ``model`` one seed's
    :class:`~offrl.algos.dynamics.DynamicsState` or any ``model(obs, act) -> (mean, log_std)``, each
    (members, B, obs_dim + 1) with the next state first and the reward last; ``q_fn(obs, act) -> (B,)``
    (OER's: the mean of the twin critics). ``neighbors`` is computed from ``data`` when a rule needs it
    and none is given. Unknown rule names raise with suggestions; a missing function raises naming it.
    """
    if isinstance(model, DynamicsState):
        model = dynamics.as_model(model)
    entry, neighbors = _prepare(rule, data, cfg, {"policy": policy, "model": model, "q_fn": q_fn}, neighbors)
    run = jax.jit(lambda d, k, nb: entry.fn(d, k, cfg, policy, model, q_fn, nb))
    return run(data, key, neighbors)


def select_seeds(rule: str, data: SelectionData, keys, cfg: SelectionConfig = SelectionConfig(), *,
                 policy: Callable | None = None, policy_params=None, model: Callable | None = None,
                 model_params=None, q_fn: Callable | None = None, q_params=None,
                 neighbors: Neighbors | None = None) -> Selection:
    """Run ``rule`` for every seed at once (vmap): ``keys`` and each ``*_params`` carry a leading seed
    axis, and the functions take them first: ``policy(params, obs)``, ``model(params, obs, act)`` (e.g.
    :func:`offrl.algos.dynamics.member_stats` with a seed-stacked ``DynamicsState``), ``q_fn(params, obs,
    act)``. A seed-stacked ``DynamicsState`` as ``model_params`` needs no ``model``. ``data`` and
    ``neighbors`` are shared. Each seed gets what :func:`select` gives it alone."""
    if model is None and isinstance(model_params, DynamicsState):
        model = dynamics.member_stats
    given = {"policy": policy, "model": model, "q_fn": q_fn}
    entry, neighbors = _prepare(rule, data, cfg, given, neighbors)

    def bind(fn, params):
        return None if fn is None else (lambda *args: fn(params, *args))

    def one(key, pp, mp, qp, d, nb):
        return entry.fn(d, key, cfg, bind(policy, pp), bind(model, mp), bind(q_fn, qp), nb)

    run = jax.jit(jax.vmap(one, in_axes=(0, 0, 0, 0, None, None)))
    return run(keys, policy_params, model_params, q_params, data, neighbors)


__all__ = ["OER_BOUNDARY_EVERY", "RULES", "Selection", "SelectionConfig", "SelectionData", "SelectionRule",
           "data_predictions", "forced_boundaries", "names", "neighbors_for", "select", "select_seeds",
           "selection_data"]
