"""UAV offloading env throughput: JAX (jit + vmap + lax.scan, random valid actions) vs the NumPy reference.

    python benchmarks/uav_speed.py                  # 1, 100, 10000 parallel envs (GPU)
    python benchmarks/uav_speed.py --quick          # small sizes, for a CPU check
    python benchmarks/uav_speed.py --out FILE       # the JSON elsewhere (default ./uav_speed.json)

Compile time is excluded: every JAX configuration is run once to compile, then timed over repeats.
The NumPy reference steps one env at a time on the CPU (a plain loop, like a PettingZoo env).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from offrl.envs.uav.env import avail_actions_array, reset_arrays, step_arrays
from offrl.envs.uav.params import make_params
from offrl.envs.uav.reference import UAVOffloadNumPy


def make_rollout(params, n_envs: int, n_steps: int):
    """jit(vmap(scan)) rollout of ``n_steps`` auto-resetting steps with random valid actions."""
    def one(key):
        k0, key = jax.random.split(key)
        _, st = reset_arrays(k0, params)

        def body(st, k):
            ka, ks = jax.random.split(k)
            mask = avail_actions_array(st, params)
            a = jax.random.categorical(ka, jnp.where(mask, 0.0, -jnp.inf))
            _, st, _, team, _, _ = step_arrays(ks, st, a, params)
            return st, team

        st, team = jax.lax.scan(body, st, jax.random.split(key, n_steps))
        return jnp.sum(team)

    return jax.jit(lambda key: jax.vmap(one)(jax.random.split(key, n_envs)).sum())


def bench_jax(params, n_envs: int, n_steps: int, repeats: int) -> dict:
    run = make_rollout(params, n_envs, n_steps)
    t0 = time.perf_counter()
    run(jax.random.PRNGKey(0)).block_until_ready()
    compile_s = time.perf_counter() - t0
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        run(jax.random.PRNGKey(r + 1)).block_until_ready()
        times.append(time.perf_counter() - t0)
    best = min(times)
    return {"backend": "jax", "n_envs": n_envs, "steps_per_env": n_steps, "repeats": repeats,
            "compile_s": compile_s, "best_s": best, "median_s": float(np.median(times)),
            "env_steps_per_s": n_envs * n_steps / best}


def bench_numpy(params, n_steps: int) -> dict:
    env = UAVOffloadNumPy(params)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(n_steps):
        mask = env.avail_actions()
        a = np.array([rng.choice(np.flatnonzero(m)) for m in mask])
        *_, truncated, _ = env.step(a)
        if truncated:
            env.reset()
    dt = time.perf_counter() - t0
    return {"backend": "numpy", "n_envs": 1, "steps": n_steps, "wall_s": dt, "env_steps_per_s": n_steps / dt}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="uav_speed.json", help="JSON file to write (default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help="small sizes (1, 100, 1000 envs) for a CPU check")
    ap.add_argument("--preset", default="urban")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    params = make_params(args.preset)
    if args.quick:
        sizes = [(1, 1000), (100, 200), (1000, 100)]
        np_steps = 2000
    else:
        sizes = [(1, 2000), (100, 1000), (10_000, 200)]
        np_steps = 5000
    dev = jax.devices()[0]
    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "jax": jax.__version__,
            "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}", "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(), "preset": args.preset, "n_uavs": params.n_uavs,
            "n_users": params.n_users, "episode_len": params.episode_len, "quick": args.quick}
    rows = [bench_numpy(params, np_steps)]
    print(f"numpy  envs=1      {rows[0]['env_steps_per_s']:>14,.0f} steps/s", flush=True)
    for n_envs, n_steps in sizes:
        r = bench_jax(params, n_envs, n_steps, args.repeats)
        rows.append(r)
        print(f"jax    envs={n_envs:<6} {r['env_steps_per_s']:>14,.0f} steps/s  "
              f"(x{r['env_steps_per_s'] / rows[0]['env_steps_per_s']:.1f} numpy; compile {r['compile_s']:.1f}s)",
              flush=True)
    base = rows[0]["env_steps_per_s"]
    for r in rows:
        r["speedup_vs_numpy"] = r["env_steps_per_s"] / base
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "results": rows}, f, indent=2)
    print("\n| backend | parallel envs | env steps/s | x NumPy |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} ({meta['device'] if r['backend'] == 'jax' else 'cpu'}) | {r['n_envs']} | "
              f"{r['env_steps_per_s']:,.0f} | {r['speedup_vs_numpy']:.1f} |")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
