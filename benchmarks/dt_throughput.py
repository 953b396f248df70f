"""Decision Transformer training throughput: the fused trainer chunk vs an unfused per-step loop.

Measures seed-steps/s of ``offrl.train.make_chunk_fn`` (jit(vmap over seeds(scan over sample ->
update))) at several seed counts on synthetic halfcheetah-shaped data (2000 episodes x 1000 steps,
obs 17, act 6; batch 64, context 20, 3 blocks x 128, 1 head), excluding compilation. The baseline,
measured in the same run, is our own *unfused* loop: a Python loop that per step splits the key,
calls a jitted ``sample`` and then a jitted single ``update`` (the structure of JAX-CORL's DT as
published). FLOPs per step come from XLA's cost analysis of one sample+update, so the table also
says how far from compute-bound each point is.

Usage::

    python benchmarks/dt_throughput.py --out dt_throughput.json            # GPU: the headline sizes
    python benchmarks/dt_throughput.py --quick --out /tmp/dt_quick.json     # CPU check, tiny sizes
    python benchmarks/dt_throughput.py --algo modt --seeds 1,8,32          # MO-DT (heads + regions)
    python benchmarks/dt_throughput.py --seeds 1,32 --serial               # + concurrent_kernels off
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

try:
    import offrl  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# same-H100 peers (shared reference peer_speed_h100.csv): JAX-CORL's DT
PEERS = [("JAX-CORL DT, as published", 1, 237.0), ("JAX-CORL DT, scan+vmap", 5, 1699.0)]
FULL = dict(episodes=2000, ep_len=1000, obs_dim=17, act_dim=6,
            hp=dict(batch_size=64, context_len=20, embed_dim=128, num_layers=3, num_heads=1),
            seeds=(1, 8, 32), chunk=500, reps=3, baseline_steps=200)
QUICK = dict(episodes=20, ep_len=100, obs_dim=17, act_dim=6,
             hp=dict(batch_size=16, context_len=5, embed_dim=16, num_layers=1, num_heads=1),
             seeds=(1, 2, 4), chunk=20, reps=2, baseline_steps=20)


def synthetic_dataset(episodes: int, ep_len: int, obs_dim: int, act_dim: int, seed: int = 0):
    """halfcheetah-shaped data: fixed-length episodes ending in truncation, random obs/actions/rewards."""
    from offrl.datasets import DatasetSpec, OfflineDataset

    rng = np.random.default_rng(seed)
    n = episodes * ep_len
    o = rng.standard_normal((episodes, ep_len + 1, obs_dim), dtype=np.float32)
    trunc = np.zeros((episodes, ep_len), bool)
    trunc[:, -1] = True
    spec = DatasetSpec(id="synthetic/halfcheetah-shaped", env_id="HalfCheetah-v5", obs_shape=(obs_dim,),
                       obs_dtype="float32", action_shape=(act_dim,), action_dtype="float32", source="synthetic",
                       max_episode_steps=ep_len)
    return OfflineDataset(o[:, :-1].reshape(n, obs_dim), rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
                          rng.standard_normal(n, dtype=np.float32), o[:, 1:].reshape(n, obs_dim),
                          np.zeros(n, bool), trunc.reshape(n), spec=spec, validate=False)


def chunk_for(seeds: int, size: dict) -> int:
    """Steps per jitted call: ``size["chunk"]`` up to 8 seeds, then shrinking with the seed count."""
    return max(size["chunk"] * 8 // max(seeds, 8), 10)


def _block(tree):
    import jax

    jax.block_until_ready(tree)
    return tree


def fused(algo, cfg, spec, data, seeds: int, chunk: int, reps: int, unroll: int, concurrent: bool = True) -> dict:
    """Seed-steps/s of the fused trainer chunk at ``seeds`` seeds (compile time reported apart);
    ``concurrent`` as in ``make_chunk_fn`` (False: XLA's default, kernels one after another)."""
    from offrl.train import init_states, make_chunk_fn

    states, keys = init_states(algo, cfg, spec, tuple(range(seeds)), data)
    fn = make_chunk_fn(algo, cfg, spec, chunk, unroll=unroll, concurrent=concurrent)
    t0 = time.perf_counter()
    states, keys, m = _block(fn(states, keys, data))
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(reps):
        states, keys, m = fn(states, keys, data)
    _block((states, m))
    dt_s = time.perf_counter() - t0
    steps = chunk * reps
    loss = float(np.mean(np.asarray(m["dt/loss"])))
    return {"seeds": seeds, "chunk": chunk, "concurrent_kernels": concurrent, "steps_per_s": steps / dt_s,
            "seed_steps_per_s": seeds * steps / dt_s,
            "ms_per_call": 1e3 * dt_s / reps, "first_call_s": compile_s, "final_loss": loss}


def _flops(compiled) -> float:
    try:  # cost analysis is best-effort and backend-dependent
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        return float((cost or {}).get("flops") or 0.0)
    except Exception:
        return 0.0


def unfused(algo, cfg, spec, data, steps: int) -> dict:
    """Our own per-step loop: host key split, jitted sample, jitted single update, every step.

    The two executables are compiled ahead of time, which also gives XLA's FLOP count of one step.
    """
    import jax

    from offrl.train import init_states

    t0 = time.perf_counter()
    states, keys = init_states(algo, cfg, spec, (0,), data)
    state = jax.tree_util.tree_map(lambda x: x[0], states)
    key = keys[0]
    sample = jax.jit(lambda data, k: algo.sample(cfg, data, k, spec)).lower(data, key).compile()
    batch = sample(data, key)
    update = jax.jit(lambda s, b, k: algo.update(cfg, s, b, k), donate_argnums=(0,)).lower(
        state, batch, key).compile()
    flops = _flops(sample) + _flops(update)

    def run(state, key, n):
        for _ in range(n):
            key, k1, k2 = jax.random.split(key, 3)
            state, m = update(state, sample(data, k1), k2)
        return _block((state, key, m))

    state, key, _ = run(state, key, 2)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    state, key, m = run(state, key, steps)
    dt_s = time.perf_counter() - t0
    return {"seeds": 1, "steps_per_s": steps / dt_s, "seed_steps_per_s": steps / dt_s,
            "ms_per_step": 1e3 * dt_s / steps, "first_call_s": compile_s, "flops_per_step": flops or None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (a CPU check of the script)")
    p.add_argument("--algo", default="dt", help="registered algorithm: dt or modt")
    p.add_argument("--seeds", default=None, help="comma-separated seed counts (default 1,8,32)")
    p.add_argument("--chunk", type=int, default=None, help="gradient steps per jitted call")
    p.add_argument("--reps", type=int, default=None, help="timed calls per seed count")
    p.add_argument("--baseline-steps", type=int, default=None, help="timed steps of the unfused loop")
    p.add_argument("--unroll", type=int, default=1, help="lax.scan unroll of the fused chunk")
    p.add_argument("--hp", nargs="*", default=(), help="extra algorithm overrides name=value")
    p.add_argument("--serial", action="store_true",
                   help="also time each seed count with concurrent_kernels off (in-run baseline of that option)")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the unfused loop (sweeps whose baseline is another run of the same call)")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    a = p.parse_args(argv)

    import jax

    from offrl import algos
    from offrl.train import parse_overrides

    size = dict(QUICK if a.quick else FULL)
    seeds = tuple(int(s) for s in a.seeds.split(",")) if a.seeds else size["seeds"]
    chunk, reps = a.chunk, a.reps or size["reps"]
    algo = algos.get(a.algo)
    t0 = time.perf_counter()
    ds = synthetic_dataset(size["episodes"], size["ep_len"], size["obs_dim"], size["act_dim"])
    cfg = algo.make_config(**{**size["hp"], **parse_overrides(algo, list(a.hp))})
    cfg = algo.resolve(cfg, ds.spec)
    data = jax.device_put(algo.prepare(ds, cfg))
    spec = ds.spec
    del ds
    setup_s = time.perf_counter() - t0

    base = None if a.no_baseline else unfused(algo, cfg, spec, data, a.baseline_steps or size["baseline_steps"])
    flops = base.pop("flops_per_step") if base else None
    # about the same work per timed call at every seed count keeps the whole run short
    rows = [fused(algo, cfg, spec, data, s, chunk or chunk_for(s, size), reps, a.unroll, concurrent)
            for s in seeds for concurrent in ((True, False) if a.serial else (True,))]
    for r in rows:
        r["speedup_vs_unfused"] = r["seed_steps_per_s"] / base["steps_per_s"] if base else None
        if flops:
            r["achieved_tflops"] = flops * r["seed_steps_per_s"] / 1e12
    if flops:
        base["achieved_tflops"] = flops * base["steps_per_s"] / 1e12

    dev = jax.devices()[0]
    out = {"benchmark": "dt_throughput", "algo": a.algo, "quick": a.quick,
           "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}", "jax": jax.__version__,
           "python": platform.python_version(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
           "dataset": {k: size[k] for k in ("episodes", "ep_len", "obs_dim", "act_dim")},
           "config": {k: getattr(cfg, k) for k in ("batch_size", "context_len", "embed_dim", "num_layers",
                                                   "num_heads", "state_loss_weight", "rtg_loss_weight",
                                                   "use_regions")},
           "overrides": list(a.hp), "compute_dtype": cfg.compute_dtype,
           "activation_dtype": cfg.activation_dtype, "flat_optimizer": cfg.flat_optimizer,
           "reps": reps, "unroll": a.unroll, "setup_s": setup_s, "flops_per_step": flops,
           "unfused": base, "fused": rows, "peers_h100": [dict(zip(("peer", "seeds", "seed_steps_per_s"), x))
                                                          for x in PEERS]}

    print(f"{a.algo} throughput on {out['device']} (jax {jax.__version__}); batch {cfg.batch_size}, context "
          f"{cfg.context_len}, {cfg.num_layers}x{cfg.embed_dim}, {cfg.num_heads} head(s), matmuls {cfg.compute_dtype}, "
          f"activations {cfg.activation_dtype}"
          + (f"; {flops / 1e9:.2f} GFLOP/step" if flops else ""))
    print(f"{'structure':<38}{'seeds':>6}{'steps/s':>11}{'seed-steps/s':>14}{'x unfused':>11}{'1st call s':>11}"
          f"{'chunk':>7}")
    if base:
        print(f"{'unfused loop (ours)':<38}{1:>6}{base['steps_per_s']:>11,.0f}{base['seed_steps_per_s']:>14,.0f}"
              f"{1.0:>11.2f}{base['first_call_s']:>11.1f}")
    for r in rows:
        label = "fused jit(vmap(scan))" if r["concurrent_kernels"] else "fused, kernels one after another"
        speedup = f"{r['speedup_vs_unfused']:>11.2f}" if base else f"{'-':>11}"
        print(f"{label:<38}{r['seeds']:>6}{r['steps_per_s']:>11,.0f}{r['seed_steps_per_s']:>14,.0f}"
              f"{speedup}{r['first_call_s']:>11.1f}{r['chunk']:>7}")
    for name, s, v in PEERS:
        print(f"{name + ' (H100 ref)':<38}{s:>6}{'':>11}{v:>14,.0f}")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(out, indent=2))
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
