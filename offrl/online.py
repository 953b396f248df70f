"""Online SAC over several Gymnasium tasks and seeds at once, on one accelerator.

Every (task, seed) pair is a *slot*; all slots share one vmapped SAC update. Tasks with smaller
observation or action spaces are zero-padded to the largest, and SAC's ``act_mask`` drops padded
action dimensions from the policy and its entropy target, so e.g. Hopper, HalfCheetah and Walker2d
train in one jitted call. Envs step in worker processes while the accelerator runs the previous
iteration's updates (the host dispatches the update asynchronously, then waits for the envs).

This trains the behaviour policies of the ``local/*`` datasets; snapshots of each actor are kept so
that medium, expert and medium-replay data can be regenerated on a CPU from shipped weights.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np

from offrl.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class OnlineConfig:
    """Online SAC run over several tasks and seeds."""

    envs: tuple[str, ...] = ("Hopper-v5", "HalfCheetah-v5", "Walker2d-v5")
    """Gymnasium env ids trained together (ignored when --stream is given)."""
    stream: tuple[str, ...] = ()
    """continual task streams (`offrl continual list`) or single tasks (cheetah-vel/v0.5) to train
    instead of --envs: one slot per task and seed, snapshots written to <out>/<stream>/<task>.npz."""
    seeds: tuple[int, ...] = (0, 1)
    """seeds per env (each env x seed pair is one vmapped slot)."""
    env_steps: int = 1_000_000
    """environment steps per slot."""
    envs_per_slot: int = 8
    """parallel envs per slot; one iteration steps each once and runs envs_per_slot * utd updates."""
    start_steps: int = 10_000
    """uniformly random actions for the first steps of each slot; updates start after them."""
    utd: int = 1
    """gradient updates per environment step."""
    buffer_size: int = 1_000_000
    """replay capacity per slot (rounded up to a multiple of envs_per_slot)."""
    snapshot_every: int = 10_000
    """env steps per slot between actor snapshots."""
    keep_snapshots_until: int = 400_000
    """export every snapshot up to this step (medium and medium-replay come from these)."""
    keep_last: int = 10
    """also export the last this-many snapshots (expert candidates)."""
    workers: int = 0
    """env worker processes in total (split across envs; 0 = in-process)."""
    max_seconds: float = math.inf
    """stop training after this wall time (snapshots so far are still exported)."""
    out: str = "results/sac"
    """output directory."""
    log_every_s: float = 15.0
    """seconds between progress lines."""
    hp: tuple[str, ...] = ()
    """SAC hyperparameter overrides name=value."""

    def __post_init__(self):
        if self.envs_per_slot < 1 or self.utd < 1 or self.env_steps < self.envs_per_slot:
            raise ConfigError("OnlineConfig: envs_per_slot, utd must be >= 1 and env_steps >= envs_per_slot")


def _pad(x: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros(x.shape[:-1] + (width,), np.float32)
    out[..., : x.shape[-1]] = x
    return out


def slot_groups(cfg: OnlineConfig) -> list[tuple[str, str, dict]]:
    """The (name, env id, env kwargs) of every group of slots: an env of ``cfg.envs`` (name: its
    lower-case stem, e.g. ``hopper``) or every task of ``cfg.stream`` (name: ``<stream>/<task>``)."""
    if not cfg.stream:
        return [(env.split("-")[0].lower(), env, {}) for env in cfg.envs]
    from offrl.continual.streams import load_stream

    groups = []
    for item in cfg.stream:
        stream_name, _, task_name = item.partition("/")
        stream = load_stream(stream_name)
        tasks = [stream.task(task_name)] if task_name else list(stream.tasks)
        groups += [(f"{stream.name}/{t.name}", t.env_id, dict(t.kwargs)) for t in tasks]
    names = [g[0] for g in groups]
    if len(set(names)) != len(names):
        raise ConfigError(f"OnlineConfig.stream names a task twice: {names}")
    return groups


def train_online(cfg: OnlineConfig) -> dict:
    """Run online SAC; writes ``<out>/<name>.npz`` (actor snapshots, one file per env or task; see
    :func:`slot_groups` for the names) and ``<out>/summary.json``."""
    import jax
    import jax.numpy as jnp

    from offrl.algos import sac
    from offrl.datasets import DatasetSpec
    from offrl.envs.pool import EnvPool
    from offrl.policies import TanhGaussianPolicy, save_policies
    from offrl.train import parse_overrides

    algo = sac.ALGO
    scfg = algo.make_config(**parse_overrides(algo, cfg.hp))
    E, nseed = cfg.envs_per_slot, len(cfg.seeds)
    groups = slot_groups(cfg)
    group_names = [g[0] for g in groups]
    slots = [(name, seed) for name in group_names for seed in cfg.seeds]
    S = len(slots)
    per_env_workers = [0] * len(groups)
    if cfg.workers:
        for i in range(cfg.workers):
            per_env_workers[i % len(groups)] += 1
    pools = [EnvPool(env_id, nseed * E, workers=w, env_kwargs=kw) for (_, env_id, kw), w in zip(groups, per_env_workers)]
    obs_dims = [int(np.prod(p.observation_space.shape)) for p in pools]
    act_dims = [int(np.prod(p.action_space.shape)) for p in pools]
    for p in pools:
        if not np.allclose(p.action_space.high, 1.0) or not np.allclose(p.action_space.low, -1.0):
            raise ConfigError(f"{p.env_id}: online SAC expects actions in [-1, 1]")
    Do, Da = max(obs_dims), max(act_dims)
    D = 2 * Do + Da + 2
    spec = DatasetSpec("online", None, (Do,), "float32", (Da,), "float32")
    masks = np.zeros((S, Da), np.float32)
    for s, (env, _) in enumerate(slots):
        masks[s, : act_dims[group_names.index(env)]] = 1.0
    cap = int(math.ceil(cfg.buffer_size / E) * E)

    keys = jnp.stack([jax.random.PRNGKey(seed * 1009 + i) for i, (_, seed) in enumerate(slots)])
    init_keys, train_keys = jax.vmap(jax.random.split)(keys).transpose(1, 0, 2)
    states = jax.vmap(lambda k, m: algo.init(k, spec, scfg, act_mask=m))(init_keys, jnp.asarray(masks))
    states = jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), states)
    buffer = jnp.zeros((S, cap, D), jnp.float32)
    lay = {"observations": slice(0, Do), "actions": slice(Do, Do + Da), "rewards": slice(Do + Da, Do + Da + 1),
           "next_observations": slice(Do + Da + 1, 2 * Do + Da + 1), "terminations": slice(2 * Do + Da + 1, D)}

    @jax.jit
    def act_fn(states, obs, key, random_phase):
        def one(state, o, k):
            k1, k2 = jax.random.split(k)
            a, _ = sac.sample_action(state, state.actor.params, o, k1)
            u = jax.random.uniform(k2, a.shape, minval=-1.0, maxval=1.0) * state.act_mask
            return jnp.where(random_phase, u, a)
        return jax.vmap(one)(states, obs, jax.random.split(key, S))

    @jax.jit
    def add_fn(buffer, rows, ptr):
        return jax.lax.dynamic_update_slice(buffer, rows, (0, ptr, 0))

    n_updates = E * cfg.utd

    def slot_updates(state, key, table, size):
        def body(carry, _):
            st, k = carry
            k, ks, ku = jax.random.split(k, 3)
            rows = jnp.take(table, jax.random.randint(ks, (scfg.batch_size,), 0, size), axis=0)
            b = {n: rows[:, sl] for n, sl in lay.items()}
            b["rewards"], b["terminations"] = b["rewards"][:, 0], b["terminations"][:, 0]
            st, m = algo.update(scfg, st, b, ku)
            return (st, k), m
        (state, key), m = jax.lax.scan(body, (state, key), None, length=n_updates)
        return state, key, jax.tree_util.tree_map(lambda x: x.mean(0), m)

    update_fn = jax.jit(jax.vmap(slot_updates, in_axes=(0, 0, 0, None)), donate_argnums=(0, 1))

    # --- reset: env j of slot s gets seed 1_000_003 * seed + j (distinct from evaluation seeds)
    obs = np.zeros((S, E, Do), np.float32)
    for ei, pool in enumerate(pools):
        seeds = [1_000_003 * seed + 7919 * ei + j for seed in cfg.seeds for j in range(E)]
        o = pool.reset(seeds).reshape(nseed, E, -1)
        obs[ei * nseed:(ei + 1) * nseed] = _pad(o, Do)
    ep_ret = np.zeros((S, E))
    ep_len = np.zeros((S, E), np.int64)
    finished: list[list[tuple[int, float, int]]] = [[] for _ in range(S)]  # (step, return, length)
    snapshots: list[dict[int, TanhGaussianPolicy]] = [{} for _ in range(S)]
    last_metrics: dict = {}
    rng_key = jax.random.PRNGKey(12345)
    ptr, size, step = 0, 0, 0
    t0 = last_log = time.time()
    update_time = 0.0
    n_iters = cfg.env_steps // E
    stopped_early = False
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)

    def snapshot(step_now: int):
        params = jax.device_get(states.actor.params)
        for s, (env, _) in enumerate(slots):
            ei = group_names.index(env)
            p = jax.tree_util.tree_map(lambda x: x[s], params)
            snapshots[s][step_now] = TanhGaussianPolicy.from_flax(p, obs_dims[ei], act_dims[ei])

    snapshot(0)
    for it in range(n_iters):
        rng_key, k_act = jax.random.split(rng_key)
        actions = np.asarray(act_fn(states, jnp.asarray(obs), k_act, step < cfg.start_steps))
        for ei, pool in enumerate(pools):
            a = actions[ei * nseed:(ei + 1) * nseed, :, : act_dims[ei]].reshape(nseed * E, -1)
            pool.step_async(a, autoreset=True)
        if size >= cfg.start_steps:
            tu = time.time()
            states, train_keys, metrics = update_fn(states, train_keys, buffer, size)
            update_time += time.time() - tu
        else:
            metrics = None
        nxt = np.zeros((S, E, Do), np.float32)
        reset_obs = np.zeros((S, E, Do), np.float32)
        rew = np.zeros((S, E), np.float32)
        term = np.zeros((S, E), bool)
        trunc = np.zeros((S, E), bool)
        for ei, pool in enumerate(pools):
            o2, r, te, tr, ro = pool.step_wait()
            sl = slice(ei * nseed, (ei + 1) * nseed)
            nxt[sl] = _pad(o2.reshape(nseed, E, -1), Do)
            reset_obs[sl] = _pad(ro.reshape(nseed, E, -1), Do)
            rew[sl], term[sl], trunc[sl] = r.reshape(nseed, E), te.reshape(nseed, E), tr.reshape(nseed, E)
        rows = np.concatenate([obs, actions, rew[..., None], nxt, term[..., None].astype(np.float32)], axis=-1)
        buffer = add_fn(buffer, jnp.asarray(rows), ptr)
        ptr = (ptr + E) % cap
        size = min(size + E, cap)
        step += E
        done = term | trunc
        ep_ret += rew
        ep_len += 1
        for s, j in zip(*np.nonzero(done)):
            finished[s].append((step, float(ep_ret[s, j]), int(ep_len[s, j])))
        ep_ret[done], ep_len[done] = 0.0, 0
        obs = np.where(done[..., None], reset_obs, nxt)
        if metrics is not None and (it % 200 == 0):
            last_metrics = {k: np.asarray(v).tolist() for k, v in metrics.items()}
        if step % cfg.snapshot_every == 0:
            snapshot(step)
        now = time.time()
        if now - last_log > cfg.log_every_s or it == n_iters - 1:
            last_log = now
            recent = [np.mean([r for (_, r, _) in f[-10:]]) if f else float("nan") for f in finished]
            print(f"[online] step {step}/{cfg.env_steps} {step / (now - t0):.0f} steps/s/slot "
                  f"host {1e3 * update_time / max(it, 1):.2f} ms/iter in update calls | " +
                  " ".join(f"{env.split('-')[0][-8:]}/{seed}={r:.0f}" for (env, seed), r in zip(slots, recent)),
                  flush=True)
        if now - t0 > cfg.max_seconds:
            stopped_early = True
            break
    if step % cfg.snapshot_every:
        snapshot(step)
    for p in pools:
        p.close()
    wall = time.time() - t0

    # --- export: per env, the seed with the best final returns
    summary = {"config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()},
               "sac_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(scfg).items()},
               "env_steps_done": step, "wall_time_s": wall, "stopped_early": stopped_early,
               "host_ms_per_iter_in_update_calls": 1e3 * update_time / max(n_iters, 1), "last_metrics": last_metrics,
               "device": str(jax.devices()[0]), "envs": {}}
    for ei, (name, env, _) in enumerate(groups):
        slot_ids = [i for i, (e, _) in enumerate(slots) if e == name]
        tail = [np.mean([r for (st, r, _) in finished[s] if st > 0.9 * step] or [-np.inf]) for s in slot_ids]
        best = slot_ids[int(np.argmax(tail))]
        snaps = snapshots[best]
        keep_steps = sorted(k for k in snaps if k <= cfg.keep_snapshots_until)
        keep_steps = sorted(set(keep_steps) | set(sorted(snaps)[-cfg.keep_last:]))
        curve = _window_returns(finished[best], cfg.snapshot_every, step)
        meta = {"env_id": env, "env_kwargs": groups[ei][2], "seed": slots[best][1], "obs_dim": obs_dims[ei], "act_dim": act_dims[ei],
                "snapshot_every": cfg.snapshot_every, "start_steps": cfg.start_steps,
                "envs_per_slot": E, "env_steps": step, "curve": curve,
                "final_return_by_seed": {str(slots[s][1]): float(t) for s, t in zip(slot_ids, tail)}}
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        early = [k for k in keep_steps if k <= cfg.keep_snapshots_until]
        late = [k for k in keep_steps if k > cfg.keep_snapshots_until]
        # two files per env keep each under the accelerator machine's 16 MiB transfer limit
        save_policies(out / f"{name}.npz", {f"snap_{k:07d}": snaps[k] for k in early}, meta)
        if late:
            save_policies(out / f"{name}_late.npz", {f"snap_{k:07d}": snaps[k] for k in late}, meta)
        key = name if cfg.stream else env  # stream tasks share an env id
        summary["envs"][key] = {k: v for k, v in meta.items() if k != "curve"}
        summary["envs"][key]["curves"] = {str(slots[s][1]): _window_returns(finished[s], cfg.snapshot_every, step)
                                          for s in slot_ids}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _window_returns(finished, every: int, last: int) -> list[list[float]]:
    """[(window end step, mean return, episodes)] of episodes finished in each snapshot window."""
    out = []
    for end in range(every, last + every, every):
        r = [ret for (st, ret, _) in finished if end - every < st <= end]
        out.append([end, float(np.mean(r)) if r else float("nan"), len(r)])
    return out


def main(argv: list[str]) -> int:
    """``offrl online``: train SAC behaviour policies."""
    import tyro

    train_online(tyro.cli(OnlineConfig, args=argv, prog="offrl online"))
    return 0
