"""Exact k nearest neighbours (L2) of every dataset state among the dataset's states, on the accelerator.

OER's experience selection looks at the 64 nearest dataset states of every state (``top_euclid``).
Its code (``myd3rlpy/siamese_similar.py::similar_euclid``) computes them by brute force in blocks of
1000 x 1000 and keeps every state's ``topk(64, largest=False)``; the queries are the dataset's states
and so are the keys, so **a state is its own first neighbour** (distance 0), and we keep it so.

Here: blocks of ``query_block`` queries against all keys (or, with ``key_block``, against the keys a
tile at a time with a running merge), the squared distances summed over the dimensions in one fixed
order (no ``|q|^2 + |k|^2 - 2 q.k`` cancellation, no TF32 matrix products), and ``lax.top_k`` on
their negatives. The result is exact, sorted by distance, and deterministic: ``lax.top_k`` puts the
lower index first among equal values, and the running merge keeps the earlier (lower-index) keys in
front, so ties always go to the lower row index.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from offrl.errors import ConfigError

#: OER's ``--top_euclid``
DEFAULT_K = 64


class Neighbors(NamedTuple):
    """``indices`` (N, k) int32 and ``distances`` (N, k) float32 L2 distances, ascending per row
    (ties: lower index first); row i's first neighbour is i itself unless another row is identical."""

    indices: jax.Array
    distances: jax.Array


def _squared_distances(q, keys):
    """(Q, D) x (K, D) -> (Q, K): sum over dimensions of (q - k)^2, accumulated in dimension order."""
    acc = jnp.zeros((q.shape[0], keys.shape[0]), jnp.float32)
    for d in range(q.shape[1]):  # unrolled at trace time: one fused elementwise pass, exact arithmetic
        diff = q[:, d:d + 1] - keys[None, :, d]
        acc = acc + diff * diff
    return acc


@functools.lru_cache(maxsize=None)
def _block_all_keys(k: int):
    def run(q, keys):
        neg, idx = jax.lax.top_k(-_squared_distances(q, keys), k)
        return -neg, idx.astype(jnp.int32)
    return jax.jit(run)


@functools.lru_cache(maxsize=None)
def _block_key_tiles(k: int, key_block: int):
    def run(q, key_tiles, tile_valid):
        n_q = q.shape[0]

        def merge(carry, tile):
            best_d, best_i = carry
            keys, valid, offset = tile
            d = jnp.where(valid[None, :], _squared_distances(q, keys), jnp.inf)
            # running best first: among equal distances top_k keeps the lower position, i.e. the lower row
            neg, pos = jax.lax.top_k(-jnp.concatenate([best_d, d], axis=1), k)
            from_best = jnp.take_along_axis(best_i, jnp.minimum(pos, k - 1), axis=1)
            return (-neg, jnp.where(pos < k, from_best, offset + pos - k)), None

        init = (jnp.full((n_q, k), jnp.inf, jnp.float32), jnp.full((n_q, k), -1, jnp.int32))
        offsets = jnp.arange(key_tiles.shape[0], dtype=jnp.int32) * key_block
        (best_d, best_i), _ = jax.lax.scan(merge, init, (key_tiles, tile_valid, offsets))
        return best_d, best_i
    return jax.jit(run)


def default_query_block(n: int, max_block_bytes: int = 1 << 30) -> int:
    """Queries per block so that one (queries x keys) float32 distance block stays under ``max_block_bytes``."""
    return int(max(1, min(n, max_block_bytes // (4 * max(n, 1)))))


def knn(points, k: int = DEFAULT_K, *, query_block: int | None = None, key_block: int | None = None,
        max_block_bytes: int = 1 << 30, progress: bool = False) -> Neighbors:
    """The ``k`` nearest rows of ``points`` (N, D) to every row, by L2 distance, exactly.

    Every row is a query and every row a key, so each row is among its own neighbours (OER's code does
    the same). ``query_block`` queries are compared with all N keys at once (default: as many as fit
    ``max_block_bytes`` of float32 distances, 1 GiB); with ``key_block`` the keys are taken a tile at a
    time and merged into a running top-k, which bounds memory by ``query_block x (k + key_block)``
    instead. Both give the same answer. ``progress`` shows a bar over the query blocks. Not traceable
    (a host loop over blocks); compute once per task and share it across seeds.
    """
    x = np.asarray(points)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ConfigError(f"knn: points must be a non-empty (N, D) array, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise ConfigError("knn: points must be finite numbers (found NaN, inf or a non-numeric dtype)")
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ConfigError(f"knn: k={k} neighbours need 1 <= k <= N={n} rows")
    qb = query_block or default_query_block(n, max_block_bytes)
    if qb < 1 or (key_block is not None and key_block < 1):
        raise ConfigError(f"knn: query_block={query_block} and key_block={key_block} must be >= 1")
    keys = jax.device_put(x.astype(np.float32))
    n_blocks = math.ceil(n / qb)
    # pad the queries to whole blocks (one compiled shape); padded rows are dropped at the end
    queries = jnp.concatenate([keys, jnp.zeros((n_blocks * qb - n, x.shape[1]), jnp.float32)])
    if key_block is None:
        block_fn = _block_all_keys(k)
        args: tuple = (keys,)
    else:
        kb = min(key_block, n)
        n_tiles = math.ceil(n / kb)
        pad = n_tiles * kb - n
        tiles = jnp.concatenate([keys, jnp.zeros((pad, x.shape[1]), jnp.float32)]).reshape(n_tiles, kb, -1)
        valid = (jnp.arange(n_tiles * kb) < n).reshape(n_tiles, kb)
        block_fn = _block_key_tiles(k, kb)
        args = (tiles, valid)
    dist_blocks, idx_blocks = [], []
    blocks = range(n_blocks)
    if progress:
        from tqdm.auto import tqdm

        blocks = tqdm(blocks, desc=f"{k} nearest neighbours of {n} rows", unit="block", leave=False)
    for b in blocks:
        d2, idx = block_fn(jax.lax.dynamic_slice_in_dim(queries, b * qb, qb), *args)
        dist_blocks.append(d2)
        idx_blocks.append(idx)
    d2 = jnp.concatenate(dist_blocks)[:n]
    idx = jnp.concatenate(idx_blocks)[:n]
    return Neighbors(idx, jnp.sqrt(d2))


__all__ = ["DEFAULT_K", "Neighbors", "default_query_block", "knn"]
