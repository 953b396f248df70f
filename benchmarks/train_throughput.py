"""Gradient steps per second of the fused multi-seed trainer vs our own unfused per-step loop.

Synthetic halfcheetah-shaped data (2M transitions, obs 17, act 6), batch 256, 2x256 MLPs, as in
the peers' measurements (peer_speed_h100.csv, peer_speed_h200.csv of the shared reference data; their
figures are on benchmarks/RESULTS.md, Training throughput). For each algorithm:
- fused: ``offrl.train.make_chunk_fn`` = jit(vmap over seeds(scan over K updates with in-jit
  sampling)) at 1, 5, 16 and 32 seeds;
- serial: the same chunk compiled with ``concurrent=False`` (XLA's default: kernels one after
  another), the in-run baseline of ``TrainConfig.concurrent_kernels``;
- baseline: a Python loop of one jitted sample call and one jitted update call per step (1 seed);
- profile: the same fused chunk with a fixed pre-sampled batch (no gather) to isolate sampling, and
  the number of kernels (fusions, GEMMs, other custom calls) in one compiled update step;
- devices (``--devices 1,2``): the fused chunk with the seed axis sharded over 1, 2, ... devices of this
  host (``TrainConfig.devices``, :mod:`offrl.sharding`) at every seed count (default 32 and 64), each
  row with its speed-up over one device in the same run.

Usage: python benchmarks/train_throughput.py [--quick] [--seeds 1,5,16,32] [--hp compute_dtype=bfloat16]
       [--parts fused,serial,unroll,profile,baseline] [--devices 1,2] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time

import numpy as np


def synthetic_dataset(n: int, obs_dim: int = 17, act_dim: int = 6):
    from offrl.datasets import DatasetSpec, OfflineDataset

    rng = np.random.default_rng(0)
    obs = rng.standard_normal((n, obs_dim), dtype=np.float32)
    spec = DatasetSpec("synthetic/halfcheetah-shaped", None, (obs_dim,), "float32", (act_dim,), "float32")
    return OfflineDataset(obs, rng.uniform(-1, 1, (n, act_dim)).astype(np.float32), rng.standard_normal(n),
                          np.roll(obs, -1, 0), rng.random(n) < 1e-3, np.zeros(n, bool), spec=spec, validate=False)


def timed(fn, min_seconds: float):
    """Run ``fn`` (which blocks) until ``min_seconds`` pass; return seconds per call (median of 3 groups)."""
    fn()  # warm-up after compile
    per = []
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            if time.perf_counter() - t0 >= min_seconds / 3:
                break
        per.append((time.perf_counter() - t0) / n)
    return float(np.median(per))


def kernel_counts(compiled_text: str) -> dict[str, int]:
    """Kernels launched per executable run, counted in the optimized HLO's entry and loop bodies.

    Current XLA emits its GEMMs (cuBLAS, Triton) as fusions, so ``fusions`` counts them too; older
    XLA called cuBLAS as custom calls. ``benchmarks/profile_train.py`` times kernels by category.
    """
    fusions = len(re.findall(r"= [^=]*\bfusion\(", compiled_text))
    customs = len(re.findall(r"custom-call\(", compiled_text))
    return {"fusions": fusions, "custom_calls": customs}


def bench_algo(name: str, seeds_list, data_rows: int, chunk_steps: int, min_seconds: float, results: list,
               unrolls=(4,), overrides=(), parts=("fused", "unroll", "profile", "baseline"), unroll_seeds: int = 1,
               device_counts=()):
    import jax

    from offrl import algos
    from offrl.sharding import SeedPlacement
    from offrl.train import init_states, make_chunk_fn, parse_overrides

    algo = algos.get(name)
    cfg = algo.make_config(**parse_overrides(algo, list(overrides)))
    dtype = getattr(cfg, "compute_dtype", "float32")
    ds = synthetic_dataset(data_rows)
    spec = ds.spec
    data = jax.device_put(algo.prepare(ds, cfg))
    calls = chunk_steps // cfg.steps_per_call

    replicas = {1: data}  # the data replicated once per device count

    def measure(n_seeds: int, unroll: int = 1, concurrent: bool = True, n_devices: int = 1) -> tuple[float, float]:
        """(seconds per chunk, first call's seconds incl. compile) of a fresh fused chunk."""
        placement = SeedPlacement.create(n_devices, n_seeds)
        if n_devices not in replicas:
            replicas[n_devices] = placement.replicate(algo.prepare(ds, cfg))
        shared = replicas[n_devices]
        states, keys = placement.place(init_states(algo, cfg, spec, list(range(n_seeds)), shared))
        fn = make_chunk_fn(algo, cfg, spec, calls, unroll=unroll, concurrent=concurrent, placement=placement)
        box = {"s": states, "k": keys}

        def run():
            box["s"], box["k"], mm = fn(box["s"], box["k"], shared)
            jax.block_until_ready(mm)

        t0 = time.perf_counter()
        run()
        first_s = time.perf_counter() - t0
        return timed(run, min_seconds), first_s

    def record(structure: str, n_seeds: int, sec: float, **extra):
        sps = chunk_steps / sec
        results.append({"algo": name, "structure": structure, "dtype": dtype, "seeds": n_seeds,
                        "steps_per_s": sps, "seed_steps_per_s": sps * n_seeds, **extra})
        print(f"{name:6s} {dtype:8s} {structure:44s} seeds={n_seeds:2d}  {sps:9.0f} steps/s  "
              f"{sps * n_seeds:10.0f} seed-steps/s", flush=True)

    for n_seeds in seeds_list if "fused" in parts and not device_counts else ():
        sec, compile_s = measure(n_seeds)
        record("fused jit(vmap(scan))", n_seeds, sec, compile_s=compile_s)
    # --- the seed axis sharded over several devices of this host, one device as the in-run baseline
    for n_seeds in seeds_list if device_counts else ():
        one_device = None
        for n_devices in device_counts:
            sec, compile_s = measure(n_seeds, n_devices=n_devices)
            one_device = sec if n_devices == 1 else one_device
            structure = "fused jit(vmap(scan))" + (f", seeds over {n_devices} devices" if n_devices > 1 else "")
            record(structure, n_seeds, sec, compile_s=compile_s, devices=n_devices,
                   x_one_device=None if one_device is None else one_device / sec)
    # --- the same chunk with XLA's default of one kernel after another (in-run baseline of
    # TrainConfig.concurrent_kernels; no difference off the GPU)
    for n_seeds in seeds_list if "serial" in parts else ():
        record("fused, kernels one after another", n_seeds, measure(n_seeds, concurrent=False)[0])
    # --- scan unrolling (fewer loop iterations, same math; lets XLA fuse across consecutive steps)
    for unroll in unrolls if "unroll" in parts else ():
        record(f"fused, scan unroll={unroll}", unroll_seeds, measure(unroll_seeds, unroll)[0])
        if "serial" in parts:
            record(f"fused, scan unroll={unroll}, one after another", unroll_seeds,
                   measure(unroll_seeds, unroll, concurrent=False)[0])

    if "profile" in parts:
        _profile(algo, cfg, spec, data, calls, chunk_steps, min_seconds, results, dtype)
    if "baseline" in parts:
        _baseline(algo, cfg, spec, data, calls, min_seconds, results, dtype)


def _profile(algo, cfg, spec, data, calls, chunk_steps, min_seconds, results, dtype):
    """At 1 seed: the fused chunk on one fixed batch (no gather) and the kernels of one update call."""
    import jax

    from offrl.train import chunk_compiler_options, init_states

    name = algo.name
    states, keys = init_states(algo, cfg, spec, [0], data)
    fixed = jax.jit(lambda k: algo.sample(cfg, data, k, spec))(jax.random.PRNGKey(0))

    def no_sample_chunk(state, key):
        def body(c, _):
            st, k = c
            k, ku = jax.random.split(k)
            st, m = algo.update(cfg, st, fixed, ku)
            return (st, k), m
        (state, key), m = jax.lax.scan(body, (state, key), None, length=calls)
        return state, key, m

    f2 = jax.jit(jax.vmap(no_sample_chunk), compiler_options=chunk_compiler_options(True))
    box = {"s": states, "k": keys}

    def run2():
        box["s"], box["k"], mm = f2(box["s"], box["k"])
        jax.block_until_ready(mm)

    f2(states, keys)
    sec2 = timed(run2, min_seconds)
    one_step = jax.jit(lambda st, b, k: algo.update(cfg, st, b, k))
    st1 = jax.tree_util.tree_map(lambda x: x[0], states)
    text = one_step.lower(st1, fixed, jax.random.PRNGKey(1)).compile().as_text()
    kc = kernel_counts(text)
    results.append({"algo": name, "structure": "fused, fixed batch (no sampling)", "dtype": dtype, "seeds": 1,
                    "steps_per_s": chunk_steps / sec2, "seed_steps_per_s": chunk_steps / sec2,
                    "kernels_per_update_call": kc, "steps_per_update_call": cfg.steps_per_call})
    print(f"{name:6s} no-sampling seeds= 1  {chunk_steps / sec2:9.0f} steps/s; kernels per update call "
          f"({cfg.steps_per_call} grad steps): {kc}", flush=True)


def _baseline(algo, cfg, spec, data, calls, min_seconds, results, dtype):
    """Our own unfused per-step loop at 1 seed: one jitted sample and one jitted update call per step."""
    import jax
    import jax.numpy as jnp

    from offrl.train import init_states

    name = algo.name
    states, _ = init_states(algo, cfg, spec, [0], data)
    sample_fn = jax.jit(lambda k: algo.sample(cfg, data, k, spec))
    update_fn = jax.jit(lambda st, b, k: algo.update(cfg, st, b, k))
    st = jax.tree_util.tree_map(lambda x: jnp.array(x[0]), states)
    key = jax.random.PRNGKey(0)
    n_calls = max(50, calls // 5)
    box = {"s": st, "k": key}

    def run3():
        s, k = box["s"], box["k"]
        for _ in range(n_calls):
            k, k1, k2 = jax.random.split(k, 3)
            s, m = update_fn(s, sample_fn(k1), k2)
        jax.block_until_ready(m)
        box["s"], box["k"] = s, k

    run3()
    sec3 = timed(run3, min_seconds)
    base = n_calls * cfg.steps_per_call / sec3
    results.append({"algo": name, "structure": "baseline: unfused per-step loop", "dtype": dtype, "seeds": 1,
                    "steps_per_s": base,
                    "seed_steps_per_s": base})
    print(f"{name:6s} baseline seeds= 1  {base:9.0f} steps/s (python loop, 2 jit calls per step)", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="tiny sizes for a CPU check")
    ap.add_argument("--out", default=None)
    ap.add_argument("--algos", default="td3bc,iql")
    ap.add_argument("--seeds", default=None,
                    help="comma-separated seed counts (default 1,5,16,32; with --devices 32,64)")
    ap.add_argument("--hp", nargs="*", default=(), help="algorithm overrides name=value, e.g. compute_dtype=bfloat16")
    ap.add_argument("--parts", default="fused,serial,unroll,profile,baseline",
                    help="which measurements: fused (per seed count), serial (the same, concurrent_kernels "
                         "off; with unroll too), unroll, profile, baseline")
    ap.add_argument("--unrolls", default="4", help="comma-separated scan unroll factors of the unroll part")
    ap.add_argument("--unroll-seeds", type=int, default=1, help="seeds of the unroll part")
    ap.add_argument("--devices", default=None,
                    help="comma-separated device counts, e.g. 1,2: the fused part with the seed axis sharded over "
                         "that many devices of this host, at every seed count (default 32,64; --quick 2,4); list 1 "
                         "first for the in-run baseline. On a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N "
                         "makes N host devices")
    args = ap.parse_args(argv)
    import jax

    device_counts = [int(x) for x in args.devices.split(",")] if args.devices else []
    if args.quick:
        seeds, rows, chunk, secs = ([2, 4] if device_counts else [1, 2]), 20_000, 100, 0.5
    else:
        seeds, rows, chunk, secs = ([32, 64] if device_counts else [1, 5, 16, 32]), 2_000_000, 1000, 2.0
    if args.seeds:
        seeds = [int(x) for x in args.seeds.split(",")]
    if device_counts and (min(device_counts) < 1 or max(device_counts) > len(jax.local_devices())):
        print(f"--devices {args.devices}: this host has {len(jax.local_devices())} local device(s) "
              f"({jax.devices()[0].platform})", file=sys.stderr)
        return 2
    parts = tuple(args.parts.split(","))
    results: list[dict] = []
    info = {"device": str(jax.devices()[0]), "device_kind": jax.devices()[0].device_kind,
            "local_devices": len(jax.local_devices()), "device_counts": device_counts,
            "jax": jax.__version__, "chunk_steps": chunk, "data_rows": rows, "batch": 256, "hidden": [256, 256],
            "overrides": list(args.hp)}
    print(json.dumps(info), flush=True)
    failed = []
    for name in args.algos.split(","):
        try:
            bench_algo(name, seeds, rows, chunk, secs, results, overrides=args.hp, parts=parts,
                       unrolls=[int(u) for u in args.unrolls.split(",")], unroll_seeds=args.unroll_seeds,
                       device_counts=device_counts)
        except Exception as e:  # keep the other measurements if one fails
            print(f"{name}: FAILED {e!r}", file=sys.stderr, flush=True)
            failed.append(name)
    extra = " x one device |" if device_counts else ""
    print(f"\n| algo | structure | dtype | seeds | steps/s | seed-steps/s |{extra}\n|---|---|---|---|---|---|"
          + ("---|" if device_counts else ""))
    for r in results:
        x = f" {r['x_one_device']:.2f} |" if r.get("x_one_device") is not None else (" |" if device_counts else "")
        print(f"| {r['algo']} | {r['structure']} | {r['dtype']} | {r['seeds']} | {r['steps_per_s']:.0f} "
              f"| {r['seed_steps_per_s']:.0f} |{x}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"info": info, "results": results}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
