"""Where the time of a fused training chunk goes: a device-kernel breakdown from a JAX profiler trace.

For each algorithm and seed count: build the fused trainer chunk on synthetic data (the shapes of
``train_throughput.py`` / ``dt_throughput.py``), compile and warm it up, then run ``--chunks`` calls
under ``jax.profiler`` and read the trace the profiler writes (``*.trace.json.gz``). Reported:

- wall time of the traced calls and the device's busy time (union of kernel intervals over all
  streams): their ratio is the utilisation; the rest is launch gaps and host work;
- kernel launches per gradient step;
- time by kernel category (GEMM, RNG, reduction, elementwise/other fusion, copy) and the top kernels.

On a CPU the trace holds host events only; the script then says so and reports the wall time.

Usage: python benchmarks/profile_train.py [--quick] [--algos td3bc,iql,dt] [--seeds 1,32]
       [--hp compute_dtype=bfloat16] [--out profile.json]
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

try:
    import offrl  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# kernel-name patterns, first match wins (names as XLA/cuBLAS/Triton emit them on NVIDIA GPUs)
CATEGORIES = (
    ("gemm", re.compile(r"gemm|cutlass|cublas|xmma|nvjet|matmul|\bdot|_dot|triton.*dot")),
    ("rng", re.compile(r"rng|threefry|philox|random")),
    ("copy", re.compile(r"memcpy|memset|copy|transpose")),
    ("reduction", re.compile(r"reduce|reduction")),
    ("fusion", re.compile(r"fusion|loop_|input_")),
)


def category(kernel_name: str) -> str:
    """The category of one kernel name: gemm, rng, copy, reduction, fusion or other."""
    low = kernel_name.lower()
    for name, pattern in CATEGORIES:
        if pattern.search(low):
            return name
    return "other"


def _kernel_category(event: dict) -> str:
    # the kernel's own name first, then what XLA attached to it (HLO op, long name)
    return category(" ".join([event["name"], *map(str, event.get("args", {}).values())]))


def _union_us(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def summarize(trace: dict, wall_s: float, grad_steps: int, top: int = 12) -> dict:
    """Device-kernel breakdown of a Chrome-format trace (``{"traceEvents": [...]}``)."""
    events = trace.get("traceEvents", [])
    names = {e["pid"]: e.get("args", {}).get("name", "") for e in events
             if e.get("ph") == "M" and e.get("name") == "process_name"}
    device_pids = {pid for pid, n in names.items() if re.search(r"/device:(GPU|TPU)", n)}
    kernels = [e for e in events if e.get("ph") == "X" and e.get("pid") in device_pids and "dur" in e]
    out: dict = {"wall_s": wall_s, "grad_steps": grad_steps, "device_kernels": len(kernels)}
    if not kernels:
        out["note"] = "no device kernels in the trace (CPU backend: host events only)"
        return out
    busy_us = _union_us([(float(e["ts"]), float(e["ts"]) + float(e["dur"])) for e in kernels])
    by_cat: dict[str, float] = collections.defaultdict(float)
    by_name: dict[str, list] = {}
    for e in kernels:
        dur = float(e["dur"])
        cat = _kernel_category(e)
        by_cat[cat] += dur
        rec = by_name.setdefault(e["name"], [0, 0.0, cat])
        rec[0] += 1
        rec[1] += dur
    kernel_us = sum(by_cat.values())
    out.update({
        "device_busy_s": busy_us / 1e6,
        "utilisation": busy_us / 1e6 / wall_s if wall_s > 0 else None,
        "kernels_per_grad_step": len(kernels) / max(grad_steps, 1),
        "kernel_time_per_grad_step_us": kernel_us / max(grad_steps, 1),
        "mean_kernel_us": kernel_us / len(kernels),
        "by_category": {k: {"us": v, "share": v / kernel_us} for k, v in
                        sorted(by_cat.items(), key=lambda kv: -kv[1])},
        "top_kernels": [{"name": n[:120], "calls": c, "us": us, "share": us / kernel_us, "category": cat}
                        for n, (c, us, cat) in sorted(by_name.items(), key=lambda kv: -kv[1][1])[:top]],
    })
    return out


def _latest_trace(log_dir: str) -> dict:
    paths = sorted(glob.glob(os.path.join(log_dir, "plugins", "profile", "*", "*.trace.json.gz")),
                   key=os.path.getmtime)
    if not paths:
        raise FileNotFoundError(f"the profiler wrote no *.trace.json.gz under {log_dir}")
    with gzip.open(paths[-1]) as f:
        return json.load(f)


def _setup(name: str, quick: bool, overrides):
    """(algo, cfg, spec, device data, steps per chunk) for ``name`` on synthetic data."""
    import importlib.util

    import jax

    from offrl import algos
    from offrl.train import parse_overrides

    here = Path(__file__).resolve().parent
    algo = algos.get(name)
    if name in ("dt", "modt"):
        spec_ = importlib.util.spec_from_file_location("dt_throughput", here / "dt_throughput.py")
        mod = importlib.util.module_from_spec(spec_)
        spec_.loader.exec_module(mod)
        size = mod.QUICK if quick else mod.FULL
        ds = mod.synthetic_dataset(size["episodes"], size["ep_len"], size["obs_dim"], size["act_dim"])
        cfg = algo.make_config(**{**size["hp"], **parse_overrides(algo, list(overrides))})
        chunk = size["chunk"]
    else:
        spec_ = importlib.util.spec_from_file_location("train_throughput", here / "train_throughput.py")
        mod = importlib.util.module_from_spec(spec_)
        spec_.loader.exec_module(mod)
        ds = mod.synthetic_dataset(20_000 if quick else 2_000_000)
        cfg = algo.make_config(**parse_overrides(algo, list(overrides)))
        chunk = 100 if quick else 1000
    cfg = algo.resolve(cfg, ds.spec)
    return algo, cfg, ds.spec, jax.device_put(algo.prepare(ds, cfg)), chunk


def profile_one(name: str, seeds: int, chunks: int, quick: bool, overrides=(), log_dir: str | None = None,
                setup=None) -> dict:
    """Trace ``chunks`` fused calls of ``name`` at ``seeds`` seeds and summarise the device kernels.

    ``setup`` is :func:`_setup`'s result, to share one dataset between seed counts.
    """
    import jax

    from offrl.train import init_states, make_chunk_fn

    algo, cfg, spec, data, chunk = setup or _setup(name, quick, overrides)
    calls = max(chunk // cfg.steps_per_call, 1)
    states, keys = init_states(algo, cfg, spec, list(range(seeds)), data)
    fn = make_chunk_fn(algo, cfg, spec, calls)
    for _ in range(2):  # compile, then one warm call
        states, keys, m = fn(states, keys, data)
    jax.block_until_ready(m)
    log_dir = log_dir or tempfile.mkdtemp(prefix="offrl-profile-")
    jax.profiler.start_trace(log_dir)
    t0 = time.perf_counter()
    for _ in range(chunks):
        states, keys, m = fn(states, keys, data)
    jax.block_until_ready((states, m))
    wall = time.perf_counter() - t0
    jax.profiler.stop_trace()
    steps = chunks * calls * cfg.steps_per_call
    out = summarize(_latest_trace(log_dir), wall, steps)
    out.update({"algo": name, "seeds": seeds, "dtype": getattr(cfg, "compute_dtype", "float32"),
                "steps_per_s": steps / wall, "seed_steps_per_s": seeds * steps / wall, "trace_dir": log_dir})
    return out


def _print(r: dict) -> None:
    head = (f"{r['algo']:5s} {r['dtype']:8s} seeds={r['seeds']:2d}  {r['steps_per_s']:8.0f} steps/s "
            f"{r['seed_steps_per_s']:9.0f} seed-steps/s")
    if "note" in r:
        print(f"{head}  ({r['note']})", flush=True)
        return
    cats = ", ".join(f"{k} {v['share']:.0%}" for k, v in r["by_category"].items())
    print(f"{head}  device busy {r['utilisation']:.0%} of wall; {r['kernels_per_grad_step']:.0f} kernels/step, "
          f"mean {r['mean_kernel_us']:.1f} us; {cats}", flush=True)
    for k in r["top_kernels"][:6]:
        print(f"      {k['share']:5.1%} {k['calls']:6d}x {k['category']:9s} {k['name'][:90]}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes for a CPU check")
    ap.add_argument("--algos", default="td3bc,iql,dt")
    ap.add_argument("--seeds", default="1,32", help="comma-separated seed counts")
    ap.add_argument("--chunks", type=int, default=3, help="fused calls traced per configuration")
    ap.add_argument("--hp", nargs="*", default=(), help="algorithm overrides name=value")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import jax

    info = {"device": str(jax.devices()[0]), "device_kind": jax.devices()[0].device_kind, "jax": jax.__version__,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "hp": list(args.hp), "quick": args.quick}
    print(json.dumps(info), flush=True)
    results, failed = [], []
    for name in args.algos.split(","):
        setup = None
        for n in (int(s) for s in args.seeds.split(",")):
            try:
                setup = setup or _setup(name, args.quick, args.hp)
                r = profile_one(name, n, args.chunks, args.quick, args.hp, setup=setup)
            except Exception as e:  # keep the other configurations
                print(f"{name} seeds={n}: FAILED {e!r}", file=sys.stderr, flush=True)
                failed.append(f"{name}:{n}")
                continue
            results.append(r)
            _print(r)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"info": info, "results": results}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
