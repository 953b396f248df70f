"""Exact nearest neighbours (offrl.continual.neighbors) against brute force, ties included, and the
benchmark script at its CPU size."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from offrl.continual.neighbors import default_query_block, knn
from offrl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def brute_force(points, k):
    """Every row's k nearest rows: ascending float64 squared distance, ties to the lower row index."""
    x = np.asarray(points, np.float64)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    rows = np.broadcast_to(np.arange(len(x)), d2.shape)
    order = np.lexsort((rows, d2), axis=1)[:, :k]
    return order, np.sqrt(np.take_along_axis(d2, order, 1))


@pytest.mark.parametrize("blocks", [{}, {"query_block": 64, "tile": None, "tree": False},
                                    {"query_block": 50, "tile": 8, "tree": False}, {"tree": True}])
def test_knn_matches_brute_force(blocks):
    x = np.random.default_rng(0).normal(size=(301, 5)).astype(np.float32)
    want_idx, want_dist = brute_force(x, 16)
    got = knn(x, 16, **blocks)  # tile 8: 38 tiles, the last one padded
    assert got.indices.shape == (301, 16) and str(got.indices.dtype) == "int32"
    np.testing.assert_array_equal(np.asarray(got.indices), want_idx)
    np.testing.assert_allclose(np.asarray(got.distances), want_dist, rtol=1e-5, atol=1e-6)
    # as in OER's code every row is its own nearest neighbour (no two rows coincide here)
    np.testing.assert_array_equal(np.asarray(got.indices)[:, 0], np.arange(301))
    assert (np.asarray(got.distances)[:, 0] == 0).all()


@pytest.mark.parametrize("blocks", [{"query_block": 64, "tile": None, "tree": False},
                                    {"query_block": 7, "tile": 3, "tree": False}, {"tree": True}])
def test_knn_breaks_ties_by_lower_row_index(blocks):
    """On a small integer grid with repeated points most distances tie; the order is always
    (distance, row index), with or without key tiles (3 rows each: tied minima across tiles), with
    k-d tree candidates (ties beyond the candidates: those rows go by the blocks), and a duplicated row
    ranks by its index too."""
    g = np.random.default_rng(1).integers(0, 3, size=(200, 2)).astype(np.float32)
    want_idx, want_dist = brute_force(g, 20)
    got = knn(g, 20, **blocks)
    np.testing.assert_array_equal(np.asarray(got.indices), want_idx)
    np.testing.assert_array_equal(np.asarray(got.distances), want_dist.astype(np.float32))
    dup = np.flatnonzero((g == g[0]).all(1))[:20]  # rows identical to row 0 (more than 20), row 0 first
    assert len(dup) == 20
    np.testing.assert_array_equal(np.asarray(got.indices)[0], dup)


@pytest.mark.parametrize("dims", [1, 3, 8])
def test_the_tree_gives_the_blocks_result_bit_for_bit(dims, monkeypatch):
    """The k-d tree's candidates, re-measured in float32, give the blocks' indices and distances exactly,
    on states with repeated rows and near ties (a trajectory-like walk, rounded), with k above the slack,
    queried in passes of 1,000 rows (the last one padded)."""
    from offrl.continual import neighbors

    monkeypatch.setattr(neighbors, "_TREE_ROWS", 1000)
    rng = np.random.default_rng(dims)
    walk = np.cumsum(rng.normal(size=(2500, dims)), axis=0)
    x = np.concatenate([np.round(walk, 1), np.round(walk[:300], 1)]).astype(np.float32)  # 300 exact repeats
    for k in (1, 24, 64):
        tree, blocks = knn(x, k, tree=True), knn(x, k, tree=False)
        np.testing.assert_array_equal(np.asarray(tree.indices), np.asarray(blocks.indices))
        np.testing.assert_array_equal(np.asarray(tree.distances), np.asarray(blocks.distances))
    # "auto" takes the tree on a CPU for these few coordinates: the same answer
    np.testing.assert_array_equal(np.asarray(knn(x, 64).indices), np.asarray(blocks.indices))


def test_knn_rejects_bad_input():
    x = np.zeros((10, 2), np.float32)
    with pytest.raises(ConfigError, match="k=11"):
        knn(x, 11)
    with pytest.raises(ConfigError, match="finite"):
        knn(np.full((4, 2), np.nan), 2)
    with pytest.raises(ConfigError, match=r"\(N, D\)"):
        knn(np.zeros(5), 2)
    with pytest.raises(ConfigError, match="tile"):
        knn(x, 2, tile="big")
    with pytest.raises(ConfigError, match="tree"):
        knn(x, 2, tree="kd")
    assert default_query_block(1_000_000, 1 << 30) == 268  # 268 x 1M float32 distances fit 1 GiB


def test_mbes_speed_benchmark_quick(tmp_path):
    spec = importlib.util.spec_from_file_location("mbes_speed", ROOT / "benchmarks" / "mbes_speed.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "mbes.json"
    assert script.main(["--quick", "--rows", "3000", "--repeats", "1", "--seeds", "1", "--knn-dims", "3",
                        "--tile", "0", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["meta"]["rows"] == 3000 and rec["meta"]["command"].startswith("python benchmarks/mbes_speed.py")
    names = {r["name"] for r in rec["results"]}
    assert {"knn", "mbes_selection"} <= names
    # on this CPU both roads to the neighbours are timed: the blocks, and the tree that knn takes here
    assert {r.get("method") for r in rec["results"] if r["name"] == "knn"} == {"blocks", "tree"}
    for r in rec["results"]:
        assert r["best_s"] > 0 and r["rows"] == 3000
    sel = next(r for r in rec["results"] if r["name"] == "mbes_selection")
    assert sel["selected"] == sel["buffer_size"]
