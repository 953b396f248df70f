"""Runs with several devices on a CPU: XLA's host-platform device count in a child process.

``--xla_force_host_platform_device_count=N`` is read when JAX starts its CPU backend, once per process;
the test process has usually started it already (with one device), so every multi-device run happens
in a child: :func:`run_scenario` starts ``python multidevice.py SCENARIO OUT`` with N host devices and
returns the JSON the scenario wrote. The scenarios (below) train tiny TD3+BC / IQL / continual runs on
a tiny dataset made here and leave their run folders in OUT for the tests to read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY_HP = ("hidden=16,16", "batch_size=16")
COLLECTIVES = ("all-gather", "all-reduce", "all-to-all", "collective-permute", "reduce-scatter")


def run_scenario(name: str, out: Path, devices: int = 4, timeout: float = 900) -> dict:
    """Run scenario ``name`` in a child process with ``devices`` CPU devices; its JSON result."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["XLA_FLAGS"] = " ".join([env.get("XLA_FLAGS", ""), f"--xla_force_host_platform_device_count={devices}"])
    env.update(JAX_PLATFORMS="cpu", WANDB_MODE="disabled", HF_HUB_OFFLINE="1", MUJOCO_GL="disable",
               OFFRL_RESULTS_DIR=str(out / "results"), OFFRL_DATA_DIR=str(out / "data"), WANDB_DIR=str(out / "wandb"))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, __file__, name, str(out)], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    if proc.returncode != 0:
        raise AssertionError(f"scenario {name} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    result = json.loads((out / f"{name}.json").read_text())
    result["stderr"] = proc.stderr
    return result


# ---------------------------------------------------------------------------- in the child process
def hopper_toy(n: int = 600, seed: int = 0):
    """600 random transitions shaped like Hopper (evaluated in Hopper-v5)."""
    import numpy as np

    from offrl.datasets import DatasetSpec, OfflineDataset

    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 11)).astype(np.float32)
    term = np.zeros(n, bool)
    term[::97] = True
    spec = DatasetSpec("toy/hopper", "Hopper-v5", (11,), "float32", (3,), "float32", ref_min=-20.0, ref_max=3234.0)
    return OfflineDataset(obs, rng.uniform(-1, 1, (n, 3)).astype(np.float32), rng.normal(size=n), np.roll(obs, -1, 0),
                          term, np.zeros(n, bool), spec=spec)


class ChunkProbe:
    """Wraps ``offrl.train.make_chunk_fn``: records where each compiled chunk's states live on its first
    call (device count, padded seed rows), and can raise KeyboardInterrupt on call ``kill_at`` (a kill)."""

    def __init__(self):
        import offrl.train as T

        self.module, self.real = T, T.make_chunk_fn
        self.calls: list[dict] = []
        self.kill_at: int | None = None
        self.hlo: str | None = None

    def __enter__(self):
        import jax

        def make(*args, **kw):
            fn = self.real(*args, **kw)
            count = {"n": 0}

            def chunk(states, keys, data):
                count["n"] += 1
                if count["n"] == self.kill_at:
                    raise KeyboardInterrupt("killed")
                if count["n"] == 1:
                    leaves = jax.tree_util.tree_leaves(states)
                    self.calls.append({"devices": sorted({len(x.sharding.device_set) for x in leaves}),
                                       "rows": int(leaves[0].shape[0])})
                    if self.hlo is None and len(leaves[0].sharding.device_set) > 1:
                        self.hlo = fn.lower(states, keys, data).compile().as_text()
                return fn(states, keys, data)
            return chunk

        self.module.make_chunk_fn = make
        return self

    def __exit__(self, *exc):
        self.module.make_chunk_fn = self.real


def _train(out: Path, name: str, algo: str, seeds, devices, probe: ChunkProbe, kill_at: int | None = None) -> dict:
    from offrl.train import TrainConfig, train

    tc = TrainConfig(algo=algo, dataset="toy/hopper", seeds=tuple(seeds), steps=200, eval_every=100, chunk=100,
                     eval_episodes=1, hp=TINY_HP, wandb=False, progress=False, devices=devices,
                     results_dir=str(out / name))
    probe.kill_at = kill_at
    before, t0 = len(probe.calls), time.time()
    try:
        final = train(tc, dataset=hopper_toy())
        killed = False
    except KeyboardInterrupt:
        final, killed = None, True
    return {"dir": str(out / name), "final": final, "killed": killed, "chunks": probe.calls[before:],
            "seconds": time.time() - t0}


def scenario_train(out: Path) -> dict:
    """TD3+BC and IQL, 4 seeds on 1 and on 4 devices; IQL killed on 2 devices and resumed on 1; TD3+BC with
    3 seeds on 2 devices (padded); a checkpoint written on 2 devices restored on 1 and on 4."""
    runs = {}
    with ChunkProbe() as probe:
        for algo in ("td3bc", "iql"):
            for devices in (1, 4):
                runs[f"{algo}-4seeds-{devices}dev"] = _train(out, f"{algo}-4seeds-{devices}dev", algo, range(4),
                                                            devices, probe)
        runs["iql-killed-2dev"] = _train(out, "iql-resumed", "iql", range(4), 2, probe, kill_at=2)
        runs["iql-resumed-1dev"] = _train(out, "iql-resumed", "iql", range(4), 1, probe)
        runs["td3bc-3seeds-2dev"] = _train(out, "td3bc-3seeds-2dev", "td3bc", range(3), 2, probe)
    return {"runs": runs, "collectives": [c for c in COLLECTIVES if c in (probe.hlo or "")],
            "hlo_seen": probe.hlo is not None, "checkpoint": _checkpoint_across_placements(out),
            "padded_checkpoint": _last_checkpoint_of(runs["td3bc-3seeds-2dev"], "td3bc", 3),
            "placements": _placement_rules()}


def _placement_rules() -> dict:
    """How (devices option, seeds) pairs are placed on this host's 4 devices, or the error they raise."""
    from offrl.errors import ConfigError
    from offrl.sharding import SeedPlacement

    out = {}
    for option, seeds in ((4, 4), (2, 3), ("all", 2), ("all", 5), ("all", 8), (3, 5), (4, 2), (8, 8)):
        try:
            p = SeedPlacement.create(option, seeds, "TrainConfig.devices")
            out[f"{option}/{seeds}"] = {"devices": p.n_devices, "slots": p.n_slots, "padding": p.padding}
        except ConfigError as e:
            out[f"{option}/{seeds}"] = {"error": str(e)}
    return out


def _tiny_states(algo_name: str, n_seeds: int):
    import jax

    from offrl import algos
    from offrl.train import init_states, normalize_dataset, parse_overrides

    algo = algos.get(algo_name)
    ds = hopper_toy()
    cfg = algo.resolve(algo.make_config(**parse_overrides(algo, TINY_HP)), ds.spec)
    data = jax.device_put(algo.prepare(normalize_dataset(ds)[0], cfg))
    return algo, cfg, ds, data, init_states(algo, cfg, ds.spec, list(range(n_seeds)), data)


def _last_checkpoint_of(run: dict, algo_name: str, n_seeds: int) -> dict:
    """A run's last checkpoint restored on one device: its seed rows, and whether it equals final_state.npz."""
    import jax
    import numpy as np

    from offrl.train import _Checkpoints

    run_dir = Path(run["dir"]) / run["final"]["run_id"]
    *_, (states, keys) = _tiny_states(algo_name, n_seeds)
    ckpt = _Checkpoints(run_dir / "checkpoints")
    step = ckpt.latest()
    states, keys, _ = ckpt.restore(step, states, keys)
    ckpt.close()
    final = np.load(run_dir / "final_state.npz")
    leaves = jax.tree_util.tree_leaves(states)
    return {"step": step, "rows": sorted({int(x.shape[0]) for x in leaves}),
            "equals_final_state": all(np.array_equal(np.asarray(x), final[f"leaf_{i:04d}"])
                                      for i, x in enumerate(leaves))}


def _checkpoint_across_placements(out: Path) -> dict:
    """States of 4 seeds saved sharded over 2 devices, restored into 1 device and into a 4-device mesh."""
    import jax
    import numpy as np

    from offrl.sharding import SeedPlacement
    from offrl.train import _Checkpoints, init_states

    algo, cfg, ds, data, (states, keys) = _tiny_states("td3bc", 4)
    want = [np.asarray(x) for x in jax.tree_util.tree_leaves((states, keys))]
    two = SeedPlacement.create(2, 4)
    ckpt = _Checkpoints(out / "ckpt")
    ckpt.save(7, *two.place((states, keys)), {"step": 7})
    result = {}
    for n in (1, 4):
        placement = SeedPlacement.create(n, 4)
        # other seeds' values, so that only a real restore gives back the saved arrays
        like_states, like_keys = placement.place(init_states(algo, cfg, ds.spec, list(range(10, 14)), data))
        got_states, got_keys, meta = ckpt.restore(7, like_states, like_keys)
        leaves = jax.tree_util.tree_leaves((got_states, got_keys))
        result[f"{n}dev"] = {
            "bit_equal": all(np.array_equal(np.asarray(g), w) for g, w in zip(leaves, want)),
            "devices": sorted({len(x.sharding.device_set) for x in leaves}), "step": meta["step"]}
    ckpt.close()
    return result


def scenario_continual(out: Path) -> dict:
    """The l2 method through the pendulum-gain stream, 3 seeds on 1 and on 2 devices (padded to 4)."""
    from offrl.collection import collect_stream, uniform_policy
    from offrl.continual.streams import load_stream
    from offrl.continual.trainer import ContinualConfig, train_stream
    from offrl.datasets import DatasetSpec, OfflineDataset

    datasets = []
    for i, t in enumerate(load_stream("pendulum-gain").tasks):
        arr = collect_stream(t.env_id, uniform_policy(1), 600, seed=i, n_envs=4, env_kwargs=t.kwargs)
        spec = DatasetSpec(f"local/pendulum-gain/{t.name}-medium-v0", t.env_id, (3,), "float32", (1,), "float32",
                           -1250.0, -150.0, "local", None, 200, {"env_kwargs": dict(t.kwargs)})
        datasets.append(OfflineDataset(**arr, spec=spec))
    finals = {}
    with ChunkProbe() as probe:
        for devices in (1, 2):
            cc = ContinualConfig(stream="pendulum-gain", method="l2", seeds=(0, 1, 2), steps_per_task=100,
                                 eval_every=100, chunk=100, eval_episodes=1, hp=("hidden=16,16",), batch_size=32,
                                 results_dir=str(out / f"{devices}dev"), wandb=False, progress=False, devices=devices)
            finals[f"{devices}dev"] = {"final": train_stream(cc, datasets=datasets), "dir": str(out / f"{devices}dev")}
    return {"runs": finals, "chunks": probe.calls}


SCENARIOS = {"train": scenario_train, "continual": scenario_continual}

if __name__ == "__main__":
    import jax

    name, out_dir = sys.argv[1], Path(sys.argv[2])
    jax.config.update("jax_platforms", "cpu")
    # runs of the same shapes (the resumed run, the compiled text of a chunk) compile once
    jax.config.update("jax_compilation_cache_dir", str(out_dir / "xla-cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    result = SCENARIOS[name](out_dir)
    result["local_devices"] = len(jax.local_devices())
    (out_dir / f"{name}.json").write_text(json.dumps(result, default=str))
