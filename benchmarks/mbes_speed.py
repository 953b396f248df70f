"""Speed of OER's experience selection on one task: exact neighbours and MBES, on a synthetic dataset.

    python benchmarks/mbes_speed.py --out mbes_speed.json            # 1M rows (the target size; GPU)
    python benchmarks/mbes_speed.py --quick --out mbes_speed.json    # 20k rows, for a CPU check

The dataset is synthetic: episodes of ``--episode-len`` steps, each a random walk from a standard
normal start (so that consecutive states are close, as in real trajectories), ``--obs-dim`` /
``--act-dim`` as Ant-Dir's (27, 8) by default. The policy is a randomly initialised TD3+BC actor and
the model a randomly initialised dynamics ensemble of the default size (5 x 256-256): their weights do
not change the amount of work, only which rows the chains visit.

Timed, each after one untimed call that compiles: the neighbour search (on OER's 3 coordinates and on
all of them; with key tiles and with one top-k over all keys, and on a CPU with the k-d tree that
``knn`` takes there for few coordinates), MBES's per-task model predictions, and the whole
selection (predictions + chains) for one seed and for ``--seeds`` seeds vmapped. The aim: the
neighbours plus the selection of one task of 1M transitions in under 60 s on one H200.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

try:
    import offrl  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from offrl.algos import dynamics
from offrl.algos.networks import DeterministicActor
from offrl.continual import selection
from offrl.continual.neighbors import TREE_MAX_DIMS, knn


def synthetic_task(rows: int, obs_dim: int, act_dim: int, episode_len: int, seed: int = 0) -> dict:
    """Random-walk episodes: s_0 ~ N(0, I), s_{t+1} = s_t + 0.05 N(0, I); uniform actions; every episode
    truncated after ``episode_len`` steps."""
    rng = np.random.default_rng(seed)
    n_ep = -(-rows // episode_len)
    steps = 0.05 * rng.standard_normal((n_ep, episode_len, obs_dim), dtype=np.float32)
    steps[:, 0] = rng.standard_normal((n_ep, obs_dim), dtype=np.float32)
    obs = np.cumsum(steps, axis=1).reshape(-1, obs_dim)[:rows]
    t = np.arange(rows) % episode_len
    nxt = np.concatenate([obs[1:], obs[-1:]])
    trunc = t == episode_len - 1
    trunc[-1] = True
    return {"observations": obs, "actions": rng.uniform(-1, 1, (rows, act_dim)).astype(np.float32),
            "rewards": rng.standard_normal(rows, dtype=np.float32), "next_observations": nxt,
            "terminations": np.zeros(rows, bool), "truncations": trunc}


def timed(fn, repeats: int) -> dict:
    """Compile-and-run once, then time ``repeats`` calls (each blocked until its results are ready)."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return {"first_call_s": first, "best_s": min(times), "median_s": float(np.median(times)), "repeats": repeats,
            "_out": out}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--quick", action="store_true", help="20k rows (unless --rows), for a CPU check")
    ap.add_argument("--rows", type=int, default=None, help="dataset rows (default 1,000,000; --quick: 20,000)")
    ap.add_argument("--obs-dim", type=int, default=27)
    ap.add_argument("--act-dim", type=int, default=8)
    ap.add_argument("--episode-len", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=5, help="seeds of the vmapped selection (1: time one seed only)")
    ap.add_argument("--buffer-size", type=int, default=1000)
    ap.add_argument("--max-block-bytes", type=int, default=1 << 30, help="distance block size of the neighbour search")
    ap.add_argument("--tile", type=int, default=None,
                    help="rows per key tile of the neighbour search, timed beside one top-k over all keys "
                         "(default 1024; --quick: 256, so that there are at least 64 tiles; 0: only all keys)")
    ap.add_argument("--no-all-keys", action="store_true",
                    help="time the neighbour search with key tiles only (one top-k over all keys took 85-111 s "
                         "per call on 1M rows on an H200, 2026-12-04: ~10 min of a run with its repeats)")
    ap.add_argument("--knn-dims", default="3,all",
                    help="comma-separated coordinate counts the neighbour search is timed on ('all': every one)")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    rows = args.rows or (20_000 if args.quick else 1_000_000)
    tile = args.tile if args.tile is not None else (256 if args.quick else 1024)
    dev = jax.devices()[0]
    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "jax": jax.__version__,
            "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}", "device_count": jax.device_count(),
            "cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
            "command": "python benchmarks/mbes_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "rows": rows, "obs_dim": args.obs_dim, "act_dim": args.act_dim, "episode_len": args.episode_len,
            "quick": args.quick}
    raw = synthetic_task(rows, args.obs_dim, args.act_dim, args.episode_len)
    data = selection.selection_data(raw)
    cfg = selection.SelectionConfig(buffer_size=args.buffer_size)
    results = []

    def record(name, res, **extra):
        res.pop("_out", None)
        row = {"name": name, "rows": rows, **extra, **res}
        results.append(row)
        print(f"{name:<28} best {row['best_s']:8.3f} s  (first call {row['first_call_s']:.2f} s)"
              + "".join(f"  {k}={v}" for k, v in extra.items()), flush=True)
        write()  # after every row: a run cut short keeps what it measured

    def write():
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)

    obs = raw["observations"]
    neighbors = None
    for label in args.knn_dims.split(","):
        pts = obs if label == "all" else obs[:, :int(label)]
        for t in ([tile] if tile else []) + ([] if args.no_all_keys and tile else [None]):
            res = timed(lambda: knn(pts, cfg.num_neighbors, tile=t, max_block_bytes=args.max_block_bytes,
                                    tree=False), args.repeats)
            if label == str(cfg.neighbor_dims) and neighbors is None:
                neighbors = res["_out"]
            # knn runs one top-k over all keys when there would be fewer tiles than neighbours
            record("knn", res, dims=label, method="blocks",
                   tile=t if t and rows >= cfg.num_neighbors * t else None)
        if jax.default_backend() == "cpu" and pts.shape[1] <= TREE_MAX_DIMS:  # where knn's default takes the tree
            record("knn", timed(lambda: knn(pts, cfg.num_neighbors, tree=True), args.repeats), dims=label,
                   method="tree")
    if neighbors is None:
        neighbors = selection.neighbors_for(data, cfg, max_block_bytes=args.max_block_bytes)

    dyn_cfg = dynamics.DynamicsConfig()
    keys = jax.random.split(jax.random.PRNGKey(0), args.seeds)
    dyn = dynamics.init(keys, args.obs_dim, args.act_dim, dyn_cfg)
    actor = DeterministicActor(args.act_dim)
    actor_params = jax.vmap(lambda k: actor.init(k, jnp.zeros((1, args.obs_dim)))["params"])(keys)
    policy = lambda p, o: actor.apply({"params": p}, o)  # noqa: E731
    one = jax.tree_util.tree_map(lambda x: x[0], (actor_params, dyn))

    predict = jax.jit(lambda d, ds, k: selection.data_predictions(d, dynamics.as_model(ds), k, cfg))
    record("mbes_model_predictions", timed(lambda: predict(data, one[1], keys[0]), args.repeats), seeds=1)

    mbes = selection.RULES["mbes"].fn
    single = jax.jit(lambda d, k, nb, pp, ds: mbes(d, k, cfg, lambda o: policy(pp, o), dynamics.as_model(ds), None, nb))
    res = timed(lambda: single(data, keys[0], neighbors, *one), args.repeats)
    sel = res["_out"]
    diag = {k: float(np.asarray(v)) for k, v in sel.diagnostics.items() if np.ndim(v) == 0}
    record("mbes_selection", res, seeds=1, buffer_size=args.buffer_size, selected=int(sel.indices.shape[0]),
           diagnostics=diag)
    if args.seeds > 1:
        many = jax.jit(jax.vmap(lambda k, pp, ds, d, nb: mbes(d, k, cfg, lambda o: policy(pp, o),
                                                              dynamics.as_model(ds), None, nb),
                                in_axes=(0, 0, 0, None, None)))
        res = timed(lambda: many(keys, actor_params, dyn, data, neighbors), args.repeats)
        record("mbes_selection", res, seeds=args.seeds, buffer_size=args.buffer_size,
               selected=int(res["_out"].indices.shape[1]))
    knn_oer = [r["best_s"] for r in results if r["name"] == "knn" and r["dims"] == str(cfg.neighbor_dims)]
    sel1 = next(r for r in results if r["name"] == "mbes_selection" and r["seeds"] == 1)["best_s"]
    if knn_oer:
        meta["neighbors_plus_selection_s"] = min(knn_oer) + sel1
        print(f"neighbours ({cfg.neighbor_dims} coordinates, the faster method) + one seed's selection: "
              f"{min(knn_oer) + sel1:.2f} s")
    write()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
