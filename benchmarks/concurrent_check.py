"""Does ``TrainConfig.concurrent_kernels`` change any number? A GPU check of the trainer's chunk.

For each algorithm, the same seeds train the same steps from the same initial states three times:
twice with XLA's default (kernels one after another) and once with concurrent kernels
(``offrl.train.CONCURRENT_KERNELS``). The two default runs show how reproducible the GPU is on its
own; the concurrent run must be bit-identical to them where they are bit-identical to each other,
and elsewhere differ from them by about as much as they differ from each other (within
``NOISE_FACTOR`` times: where XLA picks non-deterministic kernels, e.g. the atomic scatter-add of an
embedding's gradient, no two runs agree to the bit). Reports, per algorithm, the largest absolute
difference over every state leaf and metric, whether all are bit-identical, and the scratch
memory of each compiled chunk (``memory_analysis().temp_size_in_bytes``: concurrent kernels limit
the reuse of buffers between kernels that may now run at the same time).

Usage: python benchmarks/concurrent_check.py [--quick] [--algos bc,td3bc,iql,cql,dt] [--out check.json]
Exit status 1 if the concurrent run differs where the default runs agree, or by more than
NOISE_FACTOR x their own difference.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

NOISE_FACTOR = 10.0


def _leaves(tree) -> list[np.ndarray]:
    import jax

    return [np.asarray(x, dtype=np.float64) for x in jax.tree_util.tree_leaves(tree)
            if np.issubdtype(np.asarray(x).dtype, np.number)]


def compare(a, b) -> dict:
    """Largest absolute difference over matching leaves of two pytrees, and bit-identity."""
    la, lb = _leaves(a), _leaves(b)
    diffs = [float(np.max(np.abs(x - y))) if x.size else 0.0 for x, y in zip(la, lb)]
    return {"max_abs_diff": max(diffs, default=0.0), "identical": all(d == 0.0 for d in diffs),
            "leaves": len(diffs)}


def verdict(default_vs_default: dict, concurrent_vs_default: dict) -> bool:
    """Bit-identical where the default runs are; else within NOISE_FACTOR x their own difference."""
    if default_vs_default["identical"]:
        return concurrent_vs_default["identical"]
    return concurrent_vs_default["max_abs_diff"] <= NOISE_FACTOR * default_vs_default["max_abs_diff"]


def check_algo(name: str, seeds: int, steps: int, quick: bool, hp: tuple[str, ...]) -> dict:
    import jax

    from offrl import algos
    from offrl.train import init_states, make_chunk_fn, parse_overrides

    algo = algos.get(name)
    overrides = parse_overrides(algo, list(hp))
    if name in ("dt", "modt"):
        from dt_throughput import FULL, QUICK, synthetic_dataset as dt_data

        size = QUICK if quick else FULL
        ds = dt_data(size["episodes"], size["ep_len"], size["obs_dim"], size["act_dim"])
        cfg = algo.resolve(algo.make_config(**{**size["hp"], **overrides}), ds.spec)
    else:
        from train_throughput import synthetic_dataset

        ds = synthetic_dataset(20_000 if quick else 200_000)
        cfg = algo.make_config(**overrides)
    data = jax.device_put(algo.prepare(ds, cfg))
    calls = max(steps // cfg.steps_per_call, 1)
    outs, temp = {}, {}
    for label, concurrent in (("default", False), ("default_again", False), ("concurrent", True)):
        states, keys = init_states(algo, cfg, ds.spec, list(range(seeds)), data)
        fn = make_chunk_fn(algo, cfg, ds.spec, calls, concurrent=concurrent).lower(states, keys, data).compile()
        # scratch memory the compiled chunk needs: concurrent kernels limit buffer reuse
        temp[label] = getattr(fn.memory_analysis(), "temp_size_in_bytes", None)
        outs[label] = jax.device_get(fn(states, keys, data))
    row = {"algo": name, "seeds": seeds, "steps": calls * cfg.steps_per_call, "hp": list(hp), "temp_bytes": temp,
           "default_vs_default": compare(outs["default"], outs["default_again"]),
           "concurrent_vs_default": compare(outs["concurrent"], outs["default"])}
    row["ok"] = verdict(row["default_vs_default"], row["concurrent_vs_default"])
    return row


def _mib(n) -> str:
    return "?" if n is None else f"{n / 2**20:.1f} MiB"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a CPU check of the script)")
    ap.add_argument("--algos", default="bc,td3bc,iql,cql,dt")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--hp", nargs="*", default=(), help="algorithm overrides name=value for every algorithm")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    import jax

    rows = []
    for name in a.algos.split(","):
        row = check_algo(name, a.seeds, 20 if a.quick else a.steps, a.quick, tuple(a.hp))
        rows.append(row)
        d, c = row["default_vs_default"], row["concurrent_vs_default"]
        print(f"{name:6s} default vs default: identical={d['identical']} max|diff|={d['max_abs_diff']:.3g}   "
              f"concurrent vs default: identical={c['identical']} max|diff|={c['max_abs_diff']:.3g}  "
              f"({c['leaves']} leaves) {'ok' if row['ok'] else 'DIFFERS'}; scratch memory "
              f"{_mib(row['temp_bytes']['default'])} -> {_mib(row['temp_bytes']['concurrent'])}", flush=True)
    info = {"device": str(jax.devices()[0]), "device_kind": jax.devices()[0].device_kind, "jax": jax.__version__}
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"info": info, "results": rows}, f, indent=1)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
