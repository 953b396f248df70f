"""Exact k nearest neighbours (L2) of every dataset state among the dataset's states, on the accelerator.

OER's experience selection looks at the 64 nearest dataset states of every state (``top_euclid``).
Its code (``myd3rlpy/siamese_similar.py::similar_euclid``) computes them by brute force in blocks of
1000 x 1000 and keeps every state's ``topk(64, largest=False)``; the queries are the dataset's states
and so are the keys, so **a state is its own first neighbour** (distance 0), and we keep it so.

Here, per block of ``query_block`` queries, the squared distances to all keys are summed over the
coordinates in one fixed order (no ``|q|^2 + |k|^2 - 2 q.k`` cancellation, no TF32 matrix products).
Then, by default, the keys are cut into tiles of ``tile`` consecutive rows: the ``k`` tiles with the
smallest minimum distance (ties: the lower tile) hold every one of the ``k`` nearest rows, so one
``lax.top_k`` over their ``k * tile`` distances finishes the job instead of a top-k over all N per
query. (If a nearest row lay in another tile, that tile's minimum would be no larger than the k-th
distance, and the k chosen tiles' minima, each at most as large and each a different row, would be k
rows ahead of it.) ``tile=None`` runs ``lax.top_k`` over all keys. Both are exact and deterministic:
``lax.top_k`` puts the lower index first among equal values and the candidates are in row order, so
ties always go to the lower row index.

Why tiles: XLA's fast GPU top-k handles k <= 16 only; k = 64 over a million keys falls back to sorting
every query's million distances.
"""

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
def _block_fn(k: int, tile: int | None):
    """jit of one query block: (queries, keys) -> (squared distances, indices), each (Q, k). Padding
    keys are +inf, so their distances are +inf and they never count."""
    def run(q, keys):
        d = _squared_distances(q, keys)
        if tile is None:
            neg, idx = jax.lax.top_k(-d, k)
            return -neg, idx.astype(jnp.int32)
        tiles = d.reshape(q.shape[0], -1, tile)
        _, best = jax.lax.top_k(-jnp.min(tiles, axis=-1), k)
        best = jnp.sort(best, axis=1)  # candidates in row order: top_k's tie rule then picks the lower row
        cand = jnp.take_along_axis(tiles, best[:, :, None], axis=1).reshape(q.shape[0], k * tile)
        neg, pos = jax.lax.top_k(-cand, k)
        idx = jnp.take_along_axis(best, pos // tile, axis=1) * tile + pos % tile
        return -neg, idx.astype(jnp.int32)
    return jax.jit(run)


def default_query_block(n: int, max_block_bytes: int = 1 << 30) -> int:
    """Queries per block so that one (queries x keys) float32 distance block stays under ``max_block_bytes``."""
    return int(max(1, min(n, max_block_bytes // (4 * max(n, 1)))))


#: rows per key tile on accelerators, where ``lax.top_k`` with k > 16 sorts whole rows
DEFAULT_TILE = 1024


def knn(points, k: int = DEFAULT_K, *, tile: int | None | str = "auto", query_block: int | None = None,
        max_block_bytes: int = 1 << 30, progress: bool = False) -> Neighbors:
    """The ``k`` nearest rows of ``points`` (N, D) to every row, by L2 distance, exactly.

    Every row is a query and every row a key, so each row is among its own neighbours (OER's code does
    the same). ``query_block`` queries are compared with all N keys at once (default: as many as fit
    ``max_block_bytes`` of float32 distances, 1 GiB; 268 queries at 1M rows). ``tile``: rows per key
    tile of the two-stage selection (see the module docstring); ``None``, or fewer than ``k`` tiles, uses
    one top-k over all keys; ``"auto"``: :data:`DEFAULT_TILE` on accelerators, ``None`` on CPUs (whose
    top-k does not sort, so the second stage only adds work). Same result either way. ``progress``
    shows a bar over the query blocks.
    Not traceable (a host loop over blocks); compute once per task and share it across seeds.
    """
    x = np.asarray(points)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ConfigError(f"knn: points must be a non-empty (N, D) array, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise ConfigError("knn: points must be finite numbers (found NaN, inf or a non-numeric dtype)")
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ConfigError(f"knn: k={k} neighbours need 1 <= k <= N={n} rows")
    if tile == "auto":
        tile = None if jax.default_backend() == "cpu" else DEFAULT_TILE
    bad_tile = tile is not None and (not isinstance(tile, int) or tile < 1)
    if (query_block is not None and query_block < 1) or bad_tile:
        raise ConfigError(f"knn: query_block={query_block} and tile={tile} must be >= 1")
    if tile is not None and n < k * tile:
        tile = None  # fewer than k tiles: nothing to prune
    n_pad = n if tile is None else tile * math.ceil(n / tile)
    qb = query_block or default_query_block(n_pad, max_block_bytes)
    keys = jax.device_put(np.concatenate([x.astype(np.float32), np.full((n_pad - n, x.shape[1]), np.inf, np.float32)]))
    n_blocks = math.ceil(n / qb)
    # pad the queries to whole blocks (one compiled shape); padded rows are dropped at the end
    queries = jnp.concatenate([keys[:n], jnp.zeros((n_blocks * qb - n, x.shape[1]), jnp.float32)])
    block_fn = _block_fn(k, tile)
    dist_blocks, idx_blocks = [], []
    blocks = range(n_blocks)
    if progress:
        from tqdm.auto import tqdm

        blocks = tqdm(blocks, desc=f"{k} nearest neighbours of {n} rows", unit="block", leave=False)
    for b in blocks:
        d2, idx = block_fn(queries[b * qb:(b + 1) * qb], keys)
        dist_blocks.append(d2)
        idx_blocks.append(idx)
    d2 = jnp.concatenate(dist_blocks)[:n]
    idx = jnp.concatenate(idx_blocks)[:n]
    return Neighbors(idx, jnp.sqrt(d2))


__all__ = ["DEFAULT_K", "DEFAULT_TILE", "Neighbors", "default_query_block", "knn"]
