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

On a CPU, low-dimensional states (at most :data:`TREE_MAX_DIMS` coordinates, such as the cheap stream's
Pendulum) go through a k-d tree instead (scipy's ``cKDTree``, in float64): it proposes ``k`` +
:data:`TREE_SLACK` candidates per row, whose float32 distances are then computed by the same sum as the
blocks' and ordered by (distance, row); a row whose last candidate is not clearly farther than its k-th
(so that a row outside the candidates could tie with or round into its top k) is done by the blocks.
Same result as the blocks, in seconds where the blocks take minutes (a cheap-stream task's 200,000 3-d
states: 4 s on two cores, where the blocks take 12.6 s for a quarter of them); beyond a few dimensions a
tree prunes little and the blocks win.
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
    """(Q, D) x (K, D) -> (Q, K), every query against the same keys, or (Q, D) x (Q, M, D) -> (Q, M),
    each query against its own: sum over dimensions of (q - k)^2, accumulated in dimension order."""
    keys = keys[None] if keys.ndim == 2 else keys
    acc = jnp.zeros((q.shape[0], keys.shape[1]), jnp.float32)
    for d in range(q.shape[1]):  # unrolled at trace time: one fused elementwise pass, exact arithmetic
        diff = q[:, d:d + 1] - keys[:, :, d]
        acc = acc + diff * diff
    return acc


_squared_distances_jit = jax.jit(_squared_distances)


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

#: on a CPU, states of at most this many coordinates go through the k-d tree (``tree="auto"``)
TREE_MAX_DIMS = 8

#: candidates per row beyond ``k`` that the k-d tree proposes
TREE_SLACK = 16

#: a row's candidates are complete when its last one is farther than its k-th by more than this relative
#: margin of squared distance: far above float32 rounding of a sum of a few squares (~1e-6)
_TREE_MARGIN = 1e-4

#: rows queried per pass of the tree
_TREE_ROWS = 1 << 16


def knn(points, k: int = DEFAULT_K, *, tile: int | None | str = "auto", query_block: int | None = None,
        max_block_bytes: int = 1 << 30, progress: bool = False, tree: bool | str = "auto") -> Neighbors:
    """The ``k`` nearest rows of ``points`` (N, D) to every row, by L2 distance, exactly.

    Every row is a query and every row a key, so each row is among its own neighbours (OER's code does
    the same). ``query_block`` queries are compared with all N keys at once (default: as many as fit
    ``max_block_bytes`` of float32 distances, 1 GiB; 268 queries at 1M rows). ``tile``: rows per key
    tile of the two-stage selection (see the module docstring); ``None``, or fewer than ``k`` tiles, uses
    one top-k over all keys; ``"auto"``: :data:`DEFAULT_TILE` on accelerators, ``None`` on CPUs (whose
    top-k does not sort, so the second stage only adds work). Same result either way. ``progress``
    shows a bar over the query blocks. ``tree``: propose candidates with a k-d tree (see the module
    docstring); ``"auto"``: on CPUs for at most :data:`TREE_MAX_DIMS` coordinates. Same result again.
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
    cpu = jax.default_backend() == "cpu"
    if tile == "auto":
        tile = None if cpu else DEFAULT_TILE
    bad_tile = tile is not None and (not isinstance(tile, int) or tile < 1)
    if (query_block is not None and query_block < 1) or bad_tile:
        raise ConfigError(f"knn: query_block={query_block} and tile={tile} must be >= 1")
    if tree not in ("auto", True, False):
        raise ConfigError(f"knn: tree={tree!r} must be 'auto', True or False")
    if tile is not None and n < k * tile:
        tile = None  # fewer than k tiles: nothing to prune
    x = x.astype(np.float32)
    blocks = functools.partial(_knn_blocks, x, k=k, tile=tile, query_block=query_block,
                               max_block_bytes=max_block_bytes, progress=progress)
    if tree is True or (tree == "auto" and cpu and x.shape[1] <= TREE_MAX_DIMS):
        return _knn_tree(x, k, blocks)
    d2, idx = blocks(np.arange(n))
    return Neighbors(idx, jnp.sqrt(d2))


def _knn_blocks(x: np.ndarray, rows: np.ndarray, *, k: int, tile: int | None, query_block: int | None,
                max_block_bytes: int, progress: bool) -> tuple[jax.Array, jax.Array]:
    """Squared distances and indices of the ``k`` nearest rows of ``x`` to each of ``x[rows]``, by blocks
    of queries against all keys."""
    n, m = x.shape[0], len(rows)
    n_pad = n if tile is None else tile * math.ceil(n / tile)
    qb = min(query_block or default_query_block(n_pad, max_block_bytes), m)
    keys = jax.device_put(np.concatenate([x, np.full((n_pad - n, x.shape[1]), np.inf, np.float32)]))
    n_blocks = math.ceil(m / qb)
    # pad the queries to whole blocks (one compiled shape); padded rows are dropped at the end
    queries = jax.device_put(np.concatenate([x[rows], np.zeros((n_blocks * qb - m, x.shape[1]), np.float32)]))
    block_fn = _block_fn(k, tile)
    dist_blocks, idx_blocks = [], []
    blocks = range(n_blocks)
    if progress:
        from tqdm.auto import tqdm

        blocks = tqdm(blocks, desc=f"{k} nearest neighbours of {m} rows", unit="block", leave=False)
    for b in blocks:
        d2, idx = block_fn(queries[b * qb:(b + 1) * qb], keys)
        dist_blocks.append(d2)
        idx_blocks.append(idx)
    return jnp.concatenate(dist_blocks)[:m], jnp.concatenate(idx_blocks)[:m]


def _knn_tree(x: np.ndarray, k: int, blocks) -> Neighbors:
    """:func:`knn` by k-d tree candidates (see the module docstring); ``blocks(rows)`` does the rows
    whose candidates may be incomplete."""
    from scipy.spatial import cKDTree

    n = x.shape[0]
    m = min(n, k + TREE_SLACK)
    x64 = x.astype(np.float64)
    tree = cKDTree(x64)
    rows = min(n, _TREE_ROWS)  # queries per pass: bounds the candidates' memory (~80 MB per pass)
    idx, d2 = np.empty((n, k), np.int32), np.empty((n, k), np.float32)
    unsure = []
    for lo in range(0, n, rows):
        far, cand = tree.query(x64[lo:lo + rows], k=m, workers=-1)
        cand = cand.reshape(-1, m).astype(np.int32)
        got = len(cand)
        # padded to whole passes (one compiled shape); the blocks' sum of squares
        queries = np.concatenate([x[lo:lo + got], np.zeros((rows - got, x.shape[1]), np.float32)])
        padded = np.concatenate([cand, np.zeros((rows - got, m), np.int32)])
        dist = np.asarray(_squared_distances_jit(queries, x[padded]))[:got]
        order = np.lexsort((cand, dist), axis=1)[:, :k]  # by distance, ties to the lower row
        idx[lo:lo + got], d2[lo:lo + got] = np.take_along_axis(cand, order, 1), np.take_along_axis(dist, order, 1)
        if m < n:
            far = far.reshape(-1, m) ** 2
            unsure.append(lo + np.flatnonzero(far[:, -1] <= far[:, k - 1] * (1 + _TREE_MARGIN)))
    unsure = np.concatenate(unsure) if unsure else np.zeros(0, int)
    if len(unsure):
        d2_blocks, idx_blocks = blocks(unsure)
        d2[unsure], idx[unsure] = np.asarray(d2_blocks), np.asarray(idx_blocks)
    return Neighbors(jnp.asarray(idx), jnp.sqrt(jnp.asarray(d2)))


__all__ = ["DEFAULT_K", "DEFAULT_TILE", "TREE_MAX_DIMS", "TREE_SLACK", "Neighbors", "default_query_block", "knn"]
