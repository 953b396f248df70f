"""Evaluation speed: how long one evaluation takes, and how much of it is MuJoCo and how much the rest.

Times ``offrl.evaluation.rollout.evaluate`` (what ``offrl train`` calls at every evaluation) for each
number of env worker processes in ``--workers``: seeds x episodes envs of ``--env`` stepped together,
one batched policy call per env step, a TD3+BC policy of the default size (random weights: the
timing does not depend on them; episodes are cut at ``--max-steps`` so that every env steps as many
times). Reported per env step of the whole pool: the wall time, the part spent in the pool's step
(MuJoCo, plus the pipes to the workers), and the rest (the policy call and its transfers, the
per-step keys).

    python benchmarks/eval_speed.py --workers 0 2 4 8 14 --out eval_speed.json
    python benchmarks/eval_speed.py --quick
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

try:
    import offrl  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # train_throughput's synthetic data


def policy_states(env_id: str, seeds: int, algo_name: str):
    """Seed-stacked initial states of ``algo_name`` for ``env_id``'s spaces, and its algorithm and config."""
    from train_throughput import synthetic_dataset

    from offrl import algos
    from offrl.envs.pool import make_env
    from offrl.train import init_states

    env = make_env(env_id)
    ds = synthetic_dataset(256, env.observation_space.shape[0], env.action_space.shape[0])
    env.close()
    algo = algos.get(algo_name)
    cfg = algo.resolve(algo.make_config(), ds.spec)
    states, _ = init_states(algo, cfg, ds.spec, tuple(range(seeds)), algo.prepare(ds, cfg))
    return algo, cfg, states


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="Hopper-v5")
    p.add_argument("--algo", default="td3bc")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--episodes", type=int, default=10, help="per seed")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2, 4, 8, 14])
    p.add_argument("--max-steps", type=int, default=200, help="env steps timed per evaluation")
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="tiny sizes (a CPU check)")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    if a.quick:
        a.seeds, a.episodes, a.workers, a.max_steps, a.reps = 2, 2, [0, 1], 20, 1
    import jax

    from offrl.envs.pool import EnvPool
    from offrl.evaluation import rollout

    algo, cfg, states = policy_states(a.env, a.seeds, a.algo)
    policy_fn = rollout.make_policy_fn(algo, cfg)
    record = {"command": "python benchmarks/eval_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d"), "device_kind": jax.devices()[0].device_kind, "jax": jax.__version__,
              "host": platform.node(), "env": a.env, "algo": a.algo, "seeds": a.seeds, "episodes": a.episodes,
              "envs": a.seeds * a.episodes, "max_steps": a.max_steps, "rows": []}
    for workers in a.workers:
        pool = EnvPool(a.env, a.seeds * a.episodes, workers=workers)
        in_step = [0.0]
        real_step = pool.step

        def timed_step(*args, _real=real_step, _acc=in_step, **kw):
            t = time.perf_counter()
            out = _real(*args, **kw)
            _acc[0] += time.perf_counter() - t
            return out

        pool.step = timed_step
        try:
            # a first short call compiles the policy. Timed: wall time per step of the pool while any env
            # is alive (the random policy's episodes end at different steps, as a trained one's do)
            rollout.evaluate(algo, cfg, states, a.env, episodes=a.episodes, pool=pool, policy_fn=policy_fn, max_steps=5)
            best = None
            for _ in range(a.reps):
                in_step[0] = 0.0
                t = time.perf_counter()
                res = rollout.evaluate(algo, cfg, states, a.env, episodes=a.episodes, pool=pool, policy_fn=policy_fn,
                                       max_steps=a.max_steps)
                wall = time.perf_counter() - t
                steps = int(res.lengths.max())
                row = {"workers": workers, "pool_steps": steps, "env_steps": int(res.lengths.sum()),
                       "ms_per_step": 1e3 * wall / steps, "ms_in_pool_step": 1e3 * in_step[0] / steps,
                       "ms_rest": 1e3 * (wall - in_step[0]) / steps, "env_steps_per_s": res.lengths.sum() / wall}
                if best is None or row["ms_per_step"] < best["ms_per_step"]:
                    best = row
        finally:
            pool.close()
        record["rows"].append(best)
        print(f"workers {workers:>2}: {best['ms_per_step']:.2f} ms per step of {a.seeds * a.episodes} envs "
              f"(pool step {best['ms_in_pool_step']:.2f} ms, policy and the rest {best['ms_rest']:.2f} ms), "
              f"{best['env_steps_per_s']:,.0f} env steps/s", flush=True)
        if a.out:
            Path(a.out).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
