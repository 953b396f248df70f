"""The fused multi-seed trainer: ``jit(vmap_seeds(scan_K(sample -> update)))``.

The dataset is placed on the device once. One jitted call runs ``chunk`` gradient steps for every
seed: batches are sampled inside ``lax.scan`` and seeds are a ``vmap`` axis, so there is no host
round trip per step. Every ``eval_every`` steps all seeds are evaluated together
(:mod:`offrl.evaluation.rollout`), metrics go to ``results/<run_id>/`` (and wandb), and an orbax
checkpoint is written; a killed run resumes from it and ends with the same numbers as an
uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import tyro

from offrl import __version__
from offrl.errors import ConfigError, DataIntegrityError, OffrlError, field_name
from offrl.logging import WandbSwitch
from offrl.sharding import DevicesOption, SeedPlacement, parse_devices

OBS_NORM_EPS = 1e-3  # CORL/TD3+BC: std + 1e-3
# Largest default chunk (gradient steps per jitted call): long enough that the host round trip between
# calls is a small part of a call, short enough that the progress bar and the NaN check stay frequent.
MAX_CHUNK = 1_000


class TrainingDiverged(OffrlError):
    """A loss or metric became NaN/inf; the last good checkpoint is kept."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What to train, for how long, and how to evaluate and record it."""

    algo: Annotated[str, tyro.conf.arg(metavar="ALGO")] = "td3bc"
    """algorithm name (the list is above)."""
    dataset: Annotated[str, tyro.conf.arg(metavar="ID|PATH")] = "local/hopper-medium-v0"
    """dataset id (offrl datasets list) or a path to dataset files."""
    data_root: Annotated[str | None, tyro.conf.arg(metavar="DIR")] = None
    """data root a dataset id is read from (default $OFFRL_DATA_DIR or ~/.offrl/data), as `offrl collect
    --data-root` writes it; a dataset path is read where it is. It says where the data are, not what a run
    computes: the run id stays the same, and a run may resume reading another root (the data's checksum is
    still compared)."""
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    """the training seeds themselves (--seeds 0 1 2 trains three); all run in one process as a vmapped axis."""
    steps: int = 1_000_000
    """gradient steps per seed."""
    eval_every: int = 5_000
    """gradient steps between evaluations (and checkpoints)."""
    eval_episodes: int = 10
    """evaluation episodes per seed (and per evaluation variant)."""
    eval_seed: int = 10_000
    """env seed of evaluation episode 0; episodes use eval_seed + i, apart from training seeds."""
    chunk: Annotated[int | None, tyro.conf.arg(metavar="INT")] = None
    """gradient steps per jitted call; must divide steps and eval_every. Default: the largest common
    divisor of steps and eval_every that is at most 1000 (and a multiple of the algorithm's
    steps_per_call): 1000 for 1M steps evaluated every 5000, 100 for 100 steps."""
    unroll: int = 1
    """lax.scan unroll factor of the update loop (fewer loop iterations; same math, more compile time)."""
    concurrent_kernels: bool = True
    """on GPUs, let independent kernels of a training step run at the same time: the chunk's loop
    becomes one CUDA graph whose kernels wait only for their inputs (offrl.train.CONCURRENT_KERNELS).
    Same kernels, same numbers; 1.1-2x faster on an H100, for up to ~1.9x the scratch memory (DT at 32
    seeds: 2.4 -> 3.8 GiB). False: one kernel after another (XLA's default), e.g. if a large run does
    not fit."""
    deterministic: bool = False
    """on GPUs, compile without XLA's non-deterministic kernels (atomic scatter-adds, e.g. the gradient
    of DT's timestep embedding), so that a run on the GPU repeats to the bit. The MLP algorithms were
    bit-identical from run to run without it; DT was not (differences ~1e-5 after 500 steps) and with it
    runs at ~0.6x the speed (benchmarks/RESULTS.md, DT throughput). On CPUs runs repeat either way."""
    normalize_obs: bool = True
    """standardise observations with dataset mean/std (+1e-3), in training and evaluation."""
    env_id: Annotated[str | None, tyro.conf.arg(metavar="ENV_ID")] = None
    """evaluation env (e.g. Hopper-v5); default: the dataset's own env id.
    A dataset that names none (e.g. a converted D4RL-format file) trains without evaluation and gets no score
    unless this is given; the run says so when it starts."""
    run_id: Annotated[str | None, tyro.conf.arg(metavar="RUN_ID")] = None
    """results/<run_id>; default derives from algo, dataset and a hash of the config."""
    results_dir: Annotated[str | None, tyro.conf.arg(metavar="DIR")] = None
    """parent of run folders, created if missing; default $OFFRL_RESULTS_DIR or ./results."""
    checkpoint: bool = True
    """write an orbax checkpoint at every evaluation (needed to resume)."""
    wandb: WandbSwitch = None
    """log to wandb, one run per seed: on (--wandb) always, offline without a wandb login; auto when
    wandb is configured (WANDB_API_KEY, WANDB_MODE, wandb login); off never. metrics.jsonl is
    written either way."""
    wandb_project: str = "offrl"
    """wandb project of the per-seed runs."""
    wandb_group: Annotated[str | None, tyro.conf.arg(metavar="GROUP")] = None
    """wandb group of the per-seed runs; default: algo, dataset and a hash of the config (seeds left out)."""
    wandb_tags: tuple[str, ...] = ()
    """wandb tags of the per-seed runs (a sweep adds its name)."""
    eval_workers: int = 0
    """env worker processes for evaluation rollouts (0 = in-process)."""
    overlap_eval: bool = False
    """evaluate in a background thread while the next chunks train, each evaluation's checkpoint written
    once it is in. Pays when training takes as long as evaluating (CQL, DT); saves at most the shorter
    of the two. With an accelerator the evaluation's policy runs on the host CPU, whose float rounding
    differs: the scores are equally valid but not bitwise those of evaluating in line (on a CPU they
    are). docs/training.md, "Evaluation beside training"."""
    hp: tuple[str, ...] = ()
    """algorithm hyperparameter overrides as name=value, e.g. for td3bc: alpha=2.5 hidden=256,256.
    The names depend on --algo: offrl train --algo ALGO --list-hp lists them with their defaults."""
    devices: DevicesOption = 1
    """devices of this host to split the seeds over (1, a count, or all): the seed axis is sharded over a
    1-D mesh, the dataset replicated on each device. Seeds that the devices do not divide are padded
    with copies of the last seed, which are dropped (docs/training.md, Several GPUs). The same numbers
    on any device count, to float32 rounding; a run may resume on another count."""
    # None by default, which --progress/--no-progress cannot name: tyro still makes the flag pair (DisallowNone)
    progress: Annotated[bool | None, tyro.conf.DisallowNone,
                        tyro.conf.arg(help_behavior_hint="(default: on a terminal only)")] = None
    """a progress bar on stderr: --progress always (e.g. watched through `2>&1 | tee LOG`), --no-progress never.
    By default only where stderr is a terminal: a log file or a pipe would keep its redraws as stray lines."""

    def __post_init__(self):
        object.__setattr__(self, "devices", parse_devices(self.devices, _field("devices")))
        for name in ("steps", "eval_every", "eval_episodes", "chunk", "unroll"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{_field(name, getattr(self, name))} must be >= 1")
        if not self.seeds:
            raise ConfigError(f"{_field('seeds')} must name at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"{_field('seeds', self.seeds)} has duplicates")
        if any(s < 0 for s in self.seeds):
            raise ConfigError(f"{_field('seeds', self.seeds)}: seeds are non-negative integers")
        if self.eval_workers < 0:
            raise ConfigError(f"{_field('eval_workers', self.eval_workers)} must be >= 0 (0: in this process)")
        if self.eval_seed < 0:  # else refused by the env only at the first evaluation, after a chunk trained
            raise ConfigError(f"{_field('eval_seed', self.eval_seed)}: env seeds are non-negative integers")
        if self.run_id is not None:
            from offrl.paths import run_folder

            run_folder(self.run_id, self.results_dir)  # one folder of the results root, checked before any work
        if self.chunk is not None and self.eval_every % self.chunk:
            raise ConfigError(f"{_field('eval_every', self.eval_every)} must be a multiple of chunk={self.chunk} "
                              f"({_field('chunk')})")
        if self.chunk is not None and self.steps % self.chunk:
            raise ConfigError(f"{_field('steps', self.steps)} must be a multiple of chunk={self.chunk} "
                              f"({_field('chunk')})")

    def resolved_chunk(self, steps_per_call: int = 1) -> int:
        """``chunk`` if given, else the largest divisor of both ``steps`` and ``eval_every`` that is at
        most :data:`MAX_CHUNK` and a multiple of ``steps_per_call`` (the algorithm's gradient steps per
        update call, e.g. TD3+BC's policy delay of 2)."""
        if self.chunk is not None:
            if self.chunk % steps_per_call:
                raise ConfigError(f"{_field('chunk', self.chunk)} must be a multiple of {self.algo}'s "
                                  f"steps_per_call={steps_per_call}")
            return self.chunk
        common = math.gcd(self.steps, self.eval_every)
        fits = [d for d in range(min(common, MAX_CHUNK), 0, -1) if common % d == 0 and d % steps_per_call == 0]
        if not fits:
            raise ConfigError(f"{_field('steps', self.steps)} and {_field('eval_every', self.eval_every)} have no "
                              f"common divisor that is a multiple of {self.algo}'s steps_per_call={steps_per_call}; "
                              f"make both multiples of {steps_per_call}")
        return fits[0]


def _field(name: str, *value) -> str:
    """A :class:`TrainConfig` field as errors name it: ``--eval-every / TrainConfig.eval_every=300``
    (:func:`offrl.errors.field_name`)."""
    return field_name("TrainConfig", name, *value)


def _tuple_item_type(cls, name: str, default: tuple) -> type:
    """The item type of a ``tuple[...]`` config field: from its annotation (an empty default has no item
    to look at), else from its default's first item, else ``str``."""
    import typing

    hint = typing.get_type_hints(cls).get(name)
    args = [a for a in typing.get_args(hint) if a is not Ellipsis]
    if args and isinstance(args[0], type):
        return args[0]
    return type(default[0]) if default else str


def parse_overrides(algo, pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``["alpha=2.5", "hidden=256,256"]`` -> typed kwargs for ``algo.make_config``."""
    fields = {f.name: f for f in dataclasses.fields(algo.config_cls)}
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"hyperparameter override {pair!r} must look like name=value")
        name, raw = pair.split("=", 1)
        if name not in fields:
            algo.make_config(**{name: None})  # raises with suggestions
        if name in out:
            raise ConfigError(f"hyperparameter {algo.name}.{name} is given twice; give it once")
        if not raw.strip():
            raise ConfigError(f"hyperparameter override {pair!r} has no value (name=value)")
        default = fields[name].default
        try:
            if isinstance(default, bool):
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(raw)
                val: Any = raw.lower() in ("true", "1")
            elif isinstance(default, tuple):
                val = tuple(_tuple_item_type(algo.config_cls, name, default)(x) for x in raw.split(",") if x.strip())
                if not val:
                    raise ValueError(raw)
            elif default is None:
                val = raw
            else:
                val = type(default)(raw)
        except ValueError:
            raise ConfigError(f"{algo.name}.{name}: cannot parse {raw!r} as {type(default).__name__}") from None
        out[name] = val
    return out


def resolve_schedule_fields(cfg, total_steps: int):
    """Fields named ``*_schedule_steps`` set to 0 mean "the run's total gradient steps"."""
    repl = {f.name: total_steps for f in dataclasses.fields(cfg)
            if f.name.endswith("_schedule_steps") and getattr(cfg, f.name) == 0}
    return dataclasses.replace(cfg, **repl) if repl else cfg


def normalize_dataset(dataset, eps: float = OBS_NORM_EPS):
    """Copy of ``dataset`` with standardised observations, plus the (mean, std) used."""
    from offrl.datasets import OfflineDataset

    obs = dataset.observations.reshape(len(dataset), -1).astype(np.float64)
    mean = obs.mean(0).astype(np.float32)
    std = (obs.std(0) + eps).astype(np.float32)
    shape = dataset.observations.shape
    norm = OfflineDataset(((dataset.observations.reshape(len(dataset), -1) - mean) / std).reshape(shape),
                          dataset.actions, dataset.rewards,
                          ((dataset.next_observations.reshape(len(dataset), -1) - mean) / std).reshape(shape),
                          dataset.terminations, dataset.truncations, spec=dataset.spec, validate=False)
    return norm, mean, std


# XLA options of the training chunk with ``TrainConfig.concurrent_kernels`` (GPU only). A step of the
# multi-seed MLP algorithms is 57-99 kernels (benchmarks/RESULTS.md), many of them too small to fill the
# GPU, and the critic, value and actor updates of one step are independent of each other. By default XLA issues
# the kernels one after another on one stream; here the scan's while loop is captured as a CUDA
# graph ("WHILE", besides the default kernel and library-call categories) and the graph's kernels are
# ordered only by their data dependencies ("CONCURRENT"), so independent kernels overlap. Same kernels,
# same numbers. Measured on an H100 (benchmarks/RESULTS.md, Training and DT throughput): float32 TD3+BC/IQL 1.41x/2.04x at one
# seed and 1.06x/1.12x at 32 seeds, bf16 IQL at 32 seeds 1.26x, DT 1.14-1.20x at one seed.
CONCURRENT_KERNELS = {
    "xla_gpu_command_buffer_scheduling_mode": "CONCURRENT",
    "xla_gpu_enable_command_buffer": "FUSION,CUBLAS,CUBLASLT,CUSTOM_CALL,CUDNN,WHILE",
}


# XLA option of the training chunk with ``TrainConfig.deterministic`` (GPU only)
DETERMINISTIC_KERNELS = {"xla_gpu_exclude_nondeterministic_ops": True}


def chunk_compiler_options(concurrent: bool, deterministic: bool = False) -> dict | None:
    """The XLA options :func:`make_chunk_fn` compiles with on a GPU: :data:`CONCURRENT_KERNELS` when
    ``concurrent``, :data:`DETERMINISTIC_KERNELS` when ``deterministic``. None elsewhere or when neither
    is asked for (XLA's defaults and ``XLA_FLAGS``)."""
    import jax

    options = {**(CONCURRENT_KERNELS if concurrent else {}), **(DETERMINISTIC_KERNELS if deterministic else {})}
    return options if options and jax.default_backend() == "gpu" else None


def make_chunk_fn(algo, cfg, spec, chunk_calls: int, unroll: int = 1, concurrent: bool = True,
                  deterministic: bool = False, placement: SeedPlacement | None = None):
    """jit(vmap over seeds) of ``chunk_calls`` sample+update calls run in ``lax.scan``.

    Signature of the result: ``(states, keys, data) -> (states, keys, metrics)`` where ``states`` and
    ``keys`` carry a leading seed axis, ``data`` is shared, and ``metrics`` are chunk means per seed.
    ``concurrent`` / ``deterministic``: XLA options on GPUs (:func:`chunk_compiler_options`).
    ``placement``: with several devices, compiled for states and keys sharded along the seeds and the
    data replicated (:meth:`offrl.sharding.SeedPlacement.jit`); default one device.
    """
    import jax
    import jax.numpy as jnp

    def one_call(carry, _):
        state, key, data = carry
        key, k_sample, k_update = jax.random.split(key, 3)
        # materialise the batch once: left to itself XLA fuses the random indices and the gather into
        # each kernel that reads the batch, repeating the hashing there (one such reduction ran at
        # 0.14 TB/s on the H100, benchmarks/notes/2026-11-throughput.md, 4c)
        batch = jax.lax.optimization_barrier(algo.sample(cfg, data, k_sample, spec))
        state, metrics = algo.update(cfg, state, batch, k_update)
        return (state, key, data), metrics

    def chunk(state, key, data):
        (state, key, _), metrics = jax.lax.scan(one_call, (state, key, data), None, length=chunk_calls,
                                                unroll=unroll)
        return state, key, jax.tree_util.tree_map(lambda m: jnp.mean(m, axis=0), metrics)

    placement = placement or SeedPlacement(1, ())  # one device: a plain jax.jit
    return placement.jit(jax.vmap(chunk, in_axes=(0, 0, None)), stacked=2, shared=1, donate_argnums=(0, 1),
                         compiler_options=chunk_compiler_options(concurrent, deterministic))


def init_states(algo, cfg, spec, seeds, data=None):
    """Per-seed initial states (leading seed axis) and per-seed training keys.

    With ``data`` (from ``algo.prepare``) the states get the algorithm's data-derived constants
    (``algo.bind_data``); pass it whenever the states will be trained or evaluated.
    """
    import jax
    import jax.numpy as jnp

    root = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    init_keys, train_keys = jax.vmap(lambda k: jax.random.split(k))(root).transpose(1, 0, 2)
    states = jax.vmap(lambda k: algo.init(k, spec, cfg))(init_keys)
    if data is not None:
        states = jax.vmap(lambda st: algo.bind_data(cfg, st, data))(states)
    # targets start equal to online params; give every leaf its own buffer so donation is safe
    return jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), states), train_keys


# TrainConfig fields that say where a run is reported, not what it computes: left out of run ids
# (so that adding them kept every earlier run's id)
REPORTING_FIELDS = ("wandb_project", "wandb_group", "wandb_tags")
# TrainConfig fields that say where or how a run computes, not what: left out of run ids (all their forms,
# earlier ones included) and of the recorded config (with progress and results_dir), so that a run keeps its
# id and records on any device count, evaluating in line or beside training, reading its data from any data
# root (the data's checksum is recorded and compared apart: data_difference)
PLACEMENT_FIELDS = ("progress", "results_dir", "devices", "overlap_eval", "data_root")


def run_id_prefix(tc: TrainConfig) -> str:
    """``<algo>-<dataset>`` of a run id, the dataset's ``/`` and ``.`` as ``_`` (its last 48 characters)."""
    return f"{tc.algo}-{tc.dataset.replace('/', '_').replace('.', '_')[-48:]}"


def train_identity(tc: TrainConfig, algo_cfg=None) -> dict:
    """What a run computes: the trainer's options less what a resume may change (:data:`RESUME_FREE_FIELDS`,
    among them the ``hp`` strings) and where it computes (:data:`PLACEMENT_FIELDS`), and the algorithm's whole
    config (``algo_cfg``, else its defaults with ``tc.hp``) in place of the ``hp`` strings. Its digest is the
    run id, from the command line and from a sweep alike (the sweep's ``train`` kind)."""
    from offrl import algos

    if algo_cfg is None:
        algo = algos.get(tc.algo)
        algo_cfg = algo.make_config(**parse_overrides(algo, tc.hp))
    left_out = (*RESUME_FREE_FIELDS, *PLACEMENT_FIELDS)
    return {"train_config": {k: v for k, v in dataclasses.asdict(tc).items() if k not in left_out},
            "algo_config": dataclasses.asdict(algo_cfg)}


def default_run_id(tc: TrainConfig, algo_cfg=None, spec=None) -> str:
    """``<algo>-<dataset>-<8 hex digits>``: the digest of :func:`train_identity` (``algo_cfg``: a config given
    instead of ``tc.hp``'s), the id ``offrl sweep`` gives the same run, so ``--eval-workers``, ``--checkpoint``
    or a default written out keep it. A run recorded under an earlier form of its id keeps its folder: until
    2026-12-05 ``offrl train`` digested its resolved options apart from the sweep's rule (``spec``: the
    dataset's, which some configs resolve against), and before that the options as written."""
    from offrl.paths import recorded_run_id
    from offrl.sweep.spec import identity_run_id

    run_id = identity_run_id("train", run_id_prefix(tc), train_identity(tc, algo_cfg))
    resolved_tc, algo, cfg = resolve_config(tc, algo_cfg)
    cfg = algo.resolve(cfg, spec) if spec is not None else cfg
    resolved = _jsonable(dataclasses.asdict(cfg))

    def earlier(left_out):
        train = _jsonable({k: v for k, v in dataclasses.asdict(resolved_tc).items() if k not in left_out})
        blob = json.dumps({"train": train, "algo": resolved}, sort_keys=True)
        return f"{run_id_prefix(tc)}-{hashlib.sha1(blob.encode()).hexdigest()[:8]}"

    return recorded_run_id(run_id, [earlier(RESUME_FREE_FIELDS), earlier(REPORTING_FIELDS)], tc.results_dir)


# TrainConfig fields a resumed run may change: they say how it computes or reports, not what it trains or
# how it is evaluated (evaluation results do not depend on the worker count); and the hp strings as
# written, whose resolved values algo_config holds (a default written out, or 1 for 1.0, is the same run)
RESUME_FREE_FIELDS = (*REPORTING_FIELDS, "run_id", "wandb", "checkpoint", "eval_workers", "concurrent_kernels",
                      "hp")


def config_difference(old: dict, new: dict) -> list[str]:
    """The settings in which a run folder's recorded ``config.json`` (``old``) and a new run's config differ
    in what they train or how they evaluate (``train_config.<field>`` for the trainer's options). A setting
    the older record does not have (recorded before it existed) is not compared."""
    new = json.loads(json.dumps(new, default=str))  # tuples -> lists, as config.json holds them
    diff = [k for k in ("algo", "dataset", "seeds", "algo_config") if old.get(k) != new.get(k)]
    old_tc, new_tc = old.get("train_config") or {}, new.get("train_config") or {}
    # where a run computes or reads its data may change too (a record written before these fields were left
    # out of it holds some of them: progress)
    diff += [f"train_config.{k}" for k, v in new_tc.items()
             if k in old_tc and k not in RESUME_FREE_FIELDS and k not in PLACEMENT_FIELDS and old_tc[k] != v]
    return diff


def describe_difference(old: dict, new: dict, keys: list[str]) -> str:
    """``keys`` (dotted paths such as ``train_config.eval_every``, as :func:`config_difference` gives them) with
    their values in ``old`` (the recorded config) and ``new``: ``train_config.eval_every: 250 then, 500 now``;
    a whole section (``algo_config``) by each of its entries that differ."""
    new = json.loads(json.dumps(new, default=str))  # tuples -> lists, as config.json holds them
    missing = "(not set)"

    def at(d: dict, key: str):
        for part in key.split("."):
            d = d.get(part, missing) if isinstance(d, dict) else missing
        return d

    def shown(v) -> str:
        return missing if v is missing else json.dumps(v, default=str)

    parts = []
    for key in keys:
        a, b = at(old, key), at(new, key)
        if isinstance(a, dict) and isinstance(b, dict):
            parts += [f"{key}.{k}: {shown(a.get(k, missing))} then, {shown(b.get(k, missing))} now"
                      for k in sorted(set(a) | set(b), key=str) if a.get(k, missing) != b.get(k, missing)]
        else:
            parts.append(f"{key}: {shown(a)} then, {shown(b)} now")
    return "; ".join(parts)


def data_difference(old: dict, new: dict) -> str | None:
    """How the data a run folder's recorded config (``old``) trained on differs from ``new``'s: the datasets'
    checksums (``dataset_spec.checksum``, or a continual run's ``dataset_checksums`` per task), compared only
    where both records have them. A run resumed or found finished on data collected again with other
    settings (``--steps``) would mix two data sets in one history, or pass the old data's scores off."""
    def checksums(c: dict) -> list:
        if "dataset_checksums" in c:
            return list(c.get("dataset_checksums") or [])
        return [(c.get("dataset_spec") or {}).get("checksum")]

    a, b = checksums(old), checksums(new)
    if len(a) != len(b):
        return None
    changed = [i for i, (x, y) in enumerate(zip(a, b)) if x and y and x != y]
    if not changed:
        return None
    which = "the dataset" if len(a) == 1 else "the data of task(s) " + ", ".join(str(i) for i in changed)
    return (f"{which} changed since it trained (checksum {a[changed[0]]} then, {b[changed[0]]} now: collected or "
            "converted again); pick another run id (--run-id), or restore the data it trained on")


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items() if k not in PLACEMENT_FIELDS}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def env_kwargs_of(spec) -> dict:
    """Keyword arguments of a dataset's env (a continual task's parameters; empty for most datasets)."""
    return dict((spec.extra or {}).get("env_kwargs") or {})


def check_continuous_actions(algo_name: str, spec) -> None:
    """Refuse data with discrete (integer) actions before anything is built: every offline learner here
    outputs continuous actions (the UAV offloading datasets are multi-agent and discrete)."""
    if np.dtype(spec.action_dtype).kind not in "iub":
        return
    uav = (" The UAV offloading datasets are multi-agent with discrete actions: load them with "
           "offrl.datasets.load for a learner of your own (docs/uav.md).") if str(spec.id).startswith("uav/") else ""
    raise ConfigError(f"{algo_name} learns continuous actions, but dataset {spec.id!r} has discrete "
                      f"({spec.action_dtype}) actions; offrl's offline learners take continuous-action data.{uav}")


def check_env_matches(spec, env_id: str, env_kwargs: dict | None = None) -> None:
    """Fail before any compilation when the eval env's spaces disagree with the dataset."""
    from offrl.envs.pool import make_env

    env = make_env(env_id, **(env_kwargs or {}))
    try:
        o, a = tuple(env.observation_space.shape or ()), tuple(env.action_space.shape or ())
    finally:
        env.close()
    if o != tuple(spec.obs_shape) or a != tuple(spec.action_shape):
        raise ConfigError(f"dataset {spec.id!r} has observations {tuple(spec.obs_shape)} and actions "
                          f"{tuple(spec.action_shape)}, but eval env {env_id!r} has {o} and {a}")


class _Checkpoints:
    """orbax checkpoints of (states, keys) plus JSON metadata (step, evaluation history)."""

    def __init__(self, directory: Path):
        import shutil

        import orbax.checkpoint as ocp

        # A process killed while saving leaves a half-written temporary folder; saving that step again
        # would read it. Only the run lock's holder gets here (offrl.runlock), so none of them is live.
        for stale in directory.glob("*orbax-checkpoint-tmp*"):
            shutil.rmtree(stale, ignore_errors=True)
        self._ocp = ocp
        self.directory = directory
        self.mngr = ocp.CheckpointManager(
            directory.resolve(), options=ocp.CheckpointManagerOptions(max_to_keep=2, enable_async_checkpointing=False))

    def latest(self) -> int | None:
        return self.mngr.latest_step()

    def save(self, step: int, states, keys, meta: dict) -> None:
        import jax

        ocp = self._ocp
        tree = {"leaves": jax.tree_util.tree_leaves(states), "keys": keys}
        self.mngr.save(step, args=ocp.args.Composite(arrays=ocp.args.StandardSave(tree),
                                                     meta=ocp.args.JsonSave(meta)))
        self.mngr.wait_until_finished()

    def restore(self, step: int, states_like, keys_like):
        import jax

        ocp = self._ocp
        leaves, treedef = jax.tree_util.tree_flatten(states_like)
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, {"leaves": leaves, "keys": keys_like})
        out = self.mngr.restore(step, args=ocp.args.Composite(arrays=ocp.args.StandardRestore(abstract),
                                                              meta=ocp.args.JsonRestore()))
        return jax.tree_util.tree_unflatten(treedef, out["arrays"]["leaves"]), out["arrays"]["keys"], out["meta"]

    def restore_latest(self, states_like, keys_like):
        """:meth:`restore` of the newest checkpoint that can be read. A damaged one (a file cut short, a disk
        error) is said on stderr and deleted, so that training writes that step again, and the one before it
        is tried; :class:`~offrl.errors.DataIntegrityError` when none can be read."""
        steps = sorted(self.mngr.all_steps(), reverse=True)
        failed: list[str] = []
        for i, step in enumerate(steps):
            try:
                restored = self.restore(step, states_like, keys_like)
            except Exception as e:  # noqa: BLE001 - orbax and tensorstore raise many types for a damaged file
                reason = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:200]}"
                failed.append(f"step {step} ({reason})")
                print(f"checkpoint at step {step} cannot be read ({reason})"
                      + ("; trying the one before it" if i + 1 < len(steps) else ""), file=sys.stderr, flush=True)
                continue
            for bad in steps[:i]:
                self.mngr.delete(bad)
            return restored
        raise DataIntegrityError(f"no checkpoint in {self.directory} can be read: {'; '.join(failed)}; delete "
                                 "that folder to start the run over")

    def close(self):
        self.mngr.close()


def host_metrics(metrics, seeds, step: int, chunk: int, ckpt, run_dir: Path) -> dict[str, np.ndarray]:
    """A chunk's metrics as host arrays; :class:`TrainingDiverged` naming the metric and seeds when one
    is NaN/inf (the last good checkpoint is kept)."""
    m = {k: np.asarray(v) for k, v in metrics.items()}
    bad = {k: np.flatnonzero(~np.isfinite(v)) for k, v in m.items() if not np.isfinite(v).all()}
    if bad:
        k, seeds_idx = next(iter(bad.items()))
        last = ckpt.latest() if ckpt else None
        raise TrainingDiverged(
            f"{k} became non-finite for seed(s) {[seeds[i] for i in seeds_idx]} between steps "
            f"{step - chunk} and {step}; stopped. Last good checkpoint: "
            + (f"step {last} in {run_dir / 'checkpoints'}" if last is not None else "none"))
    return m


def resolve_config(tc: TrainConfig, algo_config=None):
    """``(tc, algo, cfg)``: ``tc`` with its chunk chosen (:meth:`TrainConfig.resolved_chunk`), the
    registered algorithm, and its config (``algo_config``, else defaults + ``tc.hp`` overrides) with
    schedule fields resolved. Needs no data; unknown names and bad values raise here."""
    from offrl import algos

    algo = algos.get(tc.algo)
    cfg = algo_config if algo_config is not None else algo.make_config(**parse_overrides(algo, tc.hp))
    cfg = resolve_schedule_fields(cfg, tc.steps)
    return dataclasses.replace(tc, chunk=tc.resolved_chunk(cfg.steps_per_call)), algo, cfg


def run_dir_for(tc: TrainConfig, spec, algo_config=None) -> Path:
    """The folder :func:`train` writes ``tc``'s run to, for a dataset with this ``spec``:
    ``<results root>/<tc.run_id or default_run_id(...)>``."""
    from offrl.paths import run_folder

    return run_folder(tc.run_id or default_run_id(tc, algo_config, spec), tc.results_dir)


# TrainConfig fields that only matter when a run is evaluated
EVALUATION_FIELDS = ("eval_episodes", "eval_seed", "eval_workers", "overlap_eval")


def no_evaluation_note(tc: TrainConfig, run_dir: str | Path) -> str:
    """The line a run prints when neither ``tc.env_id`` nor its dataset names an evaluation env: it trains
    without evaluation and gets no score; how to evaluate; and which evaluation settings it then ignores."""
    defaults = TrainConfig()
    ignored = [f"--{n.replace('_', '-')}" for n in EVALUATION_FIELDS if getattr(tc, n) != getattr(defaults, n)]
    asked = ""
    if ignored or tc.eval_every != defaults.eval_every:
        asked = (f" ({', '.join(ignored) + ' ignored; ' if ignored else ''}--eval-every only sets how often "
                 "checkpoints are written)")
    return (f"note: dataset {tc.dataset} names no evaluation environment, so this run trains without evaluation "
            f"and gets no score{asked}; to evaluate, pass --env-id ENV (the env the data came from, e.g. "
            f"Hopper-v5), or score the finished run with: offrl eval {run_dir} --env-id ENV")


def load_dataset(tc: TrainConfig):
    """``tc.dataset`` as :func:`train` trains on it: an id read from the data root ``tc.data_root`` (default
    ``$OFFRL_DATA_DIR`` or ``~/.offrl/data``), a path where it is.

    Refused before anything is read, each with what to do in that root: a data root that cannot be a folder
    (:func:`~offrl.datasets.registry.check_data_root`, read only, as ``offrl continual train`` refuses it),
    when it is given or an id is read from it; and a downloadable dataset that is not there, with the command
    that downloads it into that root (the line ``offrl sweep plan`` gives it). A local dataset that is
    missing or damaged is said by :func:`offrl.datasets.load`, with the command that makes it in that root."""
    from offrl.datasets import load
    from offrl.datasets import registry as R
    from offrl.datasets.api import is_registry_id, missing_data_lines

    if tc.data_root is not None or is_registry_id(tc.dataset):
        R.check_data_root(tc.data_root, write=False)  # in the words of offrl continual train
    # load's own words for these ("pass download=True or run `offrl datasets download ID`") name no root;
    # local data (collected) and UAV data (made by `offrl uav datasets`) are said by load, root named
    if is_registry_id(tc.dataset, tc.data_root) and R.get_info(tc.dataset).source not in ("local", "uav"):
        if missing := missing_data_lines([tc.dataset], root=tc.data_root):
            raise OffrlError(missing[0])
    return load(tc.dataset, root=tc.data_root)


def finished_results(run_dir: str | Path) -> dict | None:
    """The content of ``run_dir/final.json`` when that run has finished, else None."""
    p = Path(run_dir) / "final.json"
    return json.loads(p.read_text()) if p.is_file() else None


def train(tc: TrainConfig, *, dataset=None, algo_config=None) -> dict:
    """Train ``tc.algo`` on ``tc.dataset`` for every seed; returns the final results dict.

    ``dataset`` may be a loaded :class:`~offrl.datasets.OfflineDataset` (else ``tc.dataset`` is
    loaded); ``algo_config`` a ready config (else defaults + ``tc.hp`` overrides). Everything is
    validated before compilation. A run folder with checkpoints resumes; a finished one is returned
    as it is and never rewritten (:func:`run_dir_for` and :func:`finished_results` tell beforehand).
    While it trains, the run folder is locked (:mod:`offrl.runlock`): a second process on the same run
    fails with :class:`~offrl.runlock.RunLockedError`.
    """
    import contextlib

    with contextlib.ExitStack() as held:  # holds the run folder's lock once the run id is known
        return _train(tc, dataset, algo_config, held)


def _train(tc: TrainConfig, dataset, algo_config, held) -> dict:
    from offrl.cli import progress_bar_drawn
    from offrl.evaluation.rollout import evaluate, make_policy_fn
    from offrl.logging import EVALUATION_CHECKPOINTED, RunLogger, TimeSpent, run_timing
    from offrl.paths import run_folder

    chosen = tc.chunk is None
    given = tc  # the options as given: the run id digests them, as a sweep's does (chunk unresolved)
    tc, algo, cfg = resolve_config(tc, algo_config)
    if chosen and tc.chunk < 100 and tc.steps > tc.chunk:
        print(f"note: training in chunks of {tc.chunk} steps, the largest common divisor of steps={tc.steps} and "
              f"eval_every={tc.eval_every}; many small jitted calls train slower", file=sys.stderr)
    calls_per_chunk = tc.chunk // cfg.steps_per_call
    placement = SeedPlacement.create(tc.devices, len(tc.seeds), _field("devices"))
    if dataset is None:
        dataset = load_dataset(tc)
    spec = dataset.spec
    check_continuous_actions(algo.name, spec)
    cfg = algo.resolve(cfg, spec)
    warmup = getattr(cfg, "warmup_steps", 0)  # a learning-rate warmup (DT, MO-DT, plugins' transformers)
    if warmup > tc.steps:
        print(f"note: warmup_steps={warmup} is more than steps={tc.steps}: the learning rate rises to "
              f"{tc.steps / warmup:.0%} of lr={getattr(cfg, 'lr', '?')} and never reaches it "
              f"(--hp warmup_steps=N with N < {tc.steps})", file=sys.stderr)
    env_id = tc.env_id or spec.env_id
    env_kwargs = env_kwargs_of(spec) if env_id == spec.env_id else {}
    if env_id:
        check_env_matches(spec, env_id, env_kwargs)

    run_id = tc.run_id or default_run_id(given, algo_config, spec)
    run_dir = run_folder(run_id, tc.results_dir)
    config = {"run_id": run_id, "algo": tc.algo, "dataset": tc.dataset, "seeds": list(tc.seeds),
              "algo_config": _jsonable(dataclasses.asdict(cfg)), "train_config": _jsonable(dataclasses.asdict(tc)),
              "env_id": env_id, "dataset_spec": spec.to_dict(), "offrl_version": __version__}
    def finished_here() -> dict | None:
        finished = finished_results(run_dir)
        if finished is not None:
            # an explicit run_id may name a finished run of another configuration (other evaluation episodes,
            # env, normalisation...): never pass its scores off as this one's. The same comparison as a
            # resume, so that a run is accepted finished exactly when it would be accepted unfinished.
            old = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").is_file() else config
            if diff := config_difference(old, config):
                raise OffrlError(f"{run_dir} holds a finished run with a different configuration "
                                 f"({describe_difference(old, config, diff)}); "
                                 f"pick another {_field('run_id')}")
            if changed := data_difference(old, config):
                raise OffrlError(f"{run_dir} holds a finished run, but {changed}")
        return finished

    if (finished := finished_here()) is not None:
        return finished
    from offrl.runlock import run_lock

    held.enter_context(run_lock(run_dir, run_id))
    if (finished := finished_here()) is not None:  # finished by the process that held the lock before us
        return finished
    resume = (run_dir / "config.json").exists()
    if resume:
        old = json.loads((run_dir / "config.json").read_text())
        if diff := config_difference(old, config):
            raise OffrlError(f"{run_dir} holds a run with a different configuration "
                             f"({describe_difference(old, config, diff)}); "
                             f"pick another {_field('run_id')}")
        if changed := data_difference(old, config):
            raise OffrlError(f"{run_dir} holds a stopped run, but {changed}")
    if not env_id:  # said once, before training: the run would otherwise end with no score and no reason
        print(no_evaluation_note(tc, run_dir), file=sys.stderr, flush=True)

    if tc.normalize_obs:
        norm_ds, obs_mean, obs_std = normalize_dataset(dataset)
    else:
        norm_ds, obs_mean, obs_std = dataset, None, None
    data = placement.replicate(algo.prepare(norm_ds, cfg))
    del norm_ds
    # seeds on their devices (padded, see offrl.sharding); checkpoints hold the real seeds only
    states, keys = placement.place(init_states(algo, cfg, spec, tc.seeds, data))
    chunk_fn = make_chunk_fn(algo, cfg, spec, calls_per_chunk, unroll=tc.unroll, concurrent=tc.concurrent_kernels,
                             deterministic=tc.deterministic, placement=placement)
    policy_fn = make_policy_fn(algo, cfg)
    if placement.sharded:
        print(f"{tc.algo}: {placement.describe()}", file=sys.stderr, flush=True)

    ckpt = _Checkpoints(run_dir / "checkpoints") if tc.checkpoint else None
    start, history, earlier_wall, resumed_from = 0, [], 0.0, None
    if resume and ckpt is not None and ckpt.latest() is not None:
        # restored straight into this run's placement, whatever the device count it was written on
        states, keys, meta = ckpt.restore_latest(*placement.unpad((states, keys)))
        states, keys = placement.place((states, keys))
        start, history = int(meta["step"]), meta["history"]
        earlier_wall = float(meta.get("wall_s", 0.0))  # checkpoints written before it was kept: 0
        resumed_from = start
    # a rerun continues the same records: rows after the checkpoint are dropped, as they are logged again
    logger = RunLogger(run_dir, config, list(tc.seeds), use_wandb=tc.wandb, resume=resume,
                       resume_from_step=start if resume else None, project=tc.wandb_project,
                       group=tc.wandb_group, tags=tc.wandb_tags)
    if not resume:
        logger.write_config()

    pool = None
    if env_id:
        from offrl.envs.pool import EnvPool

        pool = EnvPool(env_id, len(tc.seeds) * len(algo.eval_variants(cfg)) * tc.eval_episodes,
                       workers=tc.eval_workers, env_kwargs=env_kwargs)
    has_ref = spec.ref_min is not None and spec.ref_max is not None
    # where the wall time goes (final.json's "time_s"): the first chunk apart, as it includes compilation;
    # "eval" is the time training waited for evaluations (all of it when they run in line)
    timing = TimeSpent(("train", "first_chunk", "eval", "checkpoints"))
    background = None
    if pool is not None and tc.overlap_eval:
        from offrl.evaluation.background import BackgroundEvaluation, snapshot

        background = BackgroundEvaluation()
    # beside training, train rows wait for the evaluation of their interval: the records (and wandb, whose
    # steps only go forward) get them in step order, each evaluation step's train and eval rows together
    deferred: list[tuple[int, dict]] = []

    def evaluate_states(seed_states) -> dict:
        res = evaluate(algo, cfg, seed_states, env_id, episodes=tc.eval_episodes, eval_seed=tc.eval_seed,
                       obs_mean=obs_mean, obs_std=obs_std, pool=pool, policy_fn=policy_fn)
        # first variant is the headline (e.g. DT's largest target return, as CORL reports)
        rets = res.returns[:, 0]
        ev = {"return_mean": rets.mean(1), "return_std": rets.std(1),
              "episodes": np.full(len(tc.seeds), tc.eval_episodes), "length_mean": res.lengths[:, 0].mean(1)}
        if has_ref:
            ev["normalized_score"] = spec.normalize(rets).mean(1)
        for vi, name in enumerate(res.variants[1:], start=1):
            ev[f"{name}/return_mean"] = res.returns[:, vi].mean(1)
            if has_ref:
                ev[f"{name}/normalized_score"] = spec.normalize(res.returns[:, vi]).mean(1)
        return ev

    def log_deferred(upto: float) -> None:
        while deferred and deferred[0][0] <= upto:
            row_step, row = deferred.pop(0)
            logger.log(row_step, row, kind="train")

    def record(step: int, ev: dict | None, states_keys, next_eval: int | None = None) -> None:
        """Log step's evaluation after the train rows up to it, checkpoint step's states, then log the
        train rows held back after it (those before ``next_eval``, the evaluation starting next)."""
        log_deferred(step)
        entry = {"step": step}
        if ev is not None:
            logger.log(step, ev, kind="eval")
            entry.update({k: np.asarray(v, dtype=float).tolist() for k, v in ev.items()})
            if bar is not None:
                score = ev.get("normalized_score", ev["return_mean"])
                bar.set_postfix(score=f"{np.mean(score):.1f}")
        history.append(entry)
        if ckpt is not None:
            with timing("checkpoints"), logger.uninterrupted():  # a kill never leaves a half-written one
                ckpt.save(step, *placement.unpad(states_keys),
                          {"step": step, "history": history, "wall_s": earlier_wall + time.time() - t0})
                logger.checkpointed(step)
        log_deferred(float("inf") if next_eval is None else next_eval - 1)  # past the checkpoint: dropped on resume

    def collect_background(next_eval: int | None = None) -> None:
        with timing("eval"):
            step_done, (ev, snap) = background.wait()
        record(step_done, ev, snap, next_eval)

    t0 = time.time()
    bar = None
    if progress_bar_drawn(tc.progress):  # by default only on a terminal: redraws would stay in a log file
        from tqdm.auto import tqdm

        bar = tqdm(total=tc.steps, initial=start, desc=f"{tc.algo} {tc.dataset}", unit="step", dynamic_ncols=True)
    try:
        logger.catch_interrupts()  # kill = Ctrl-C: both end with "rerun the same command to resume"
        step = start
        while step < tc.steps:
            with timing("first_chunk" if step == start else "train"):  # host_metrics waits for the chunk
                states, keys, metrics = chunk_fn(states, keys, data)
                step += tc.chunk
                try:
                    m = host_metrics(placement.unpad(metrics), tc.seeds, step, tc.chunk, ckpt, run_dir)
                except TrainingDiverged:
                    if background is None or not background.pending:
                        raise
                    collect_background()  # its checkpoint is the last good one: written, then named
                    host_metrics(placement.unpad(metrics), tc.seeds, step, tc.chunk, ckpt, run_dir)
                    raise
            eval_now = step % tc.eval_every == 0 or step == tc.steps
            if background is not None and (background.pending or eval_now):
                deferred.append((step, m))
            else:
                logger.log(step, m, kind="train")
            if bar is not None:
                bar.update(tc.chunk)
            if eval_now:
                if pool is None:
                    record(step, None, (states, keys))
                elif background is None:
                    # an interrupt meanwhile lets the evaluation end and be checkpointed: training kept
                    with logger.finishing(EVALUATION_CHECKPOINTED):
                        with timing("eval"):
                            ev = evaluate_states(placement.unpad(states))
                        record(step, ev, (states, keys))
                else:
                    if background.pending:
                        collect_background(next_eval=step)
                    snap = snapshot((states, keys))  # the chunks donate their inputs: evaluate a copy
                    background.start(lambda st, snap=snap: (evaluate_states(st), snap), placement.unpad(snap[0]),
                                     tag=step)
        if background is not None and background.pending:
            collect_background()
    except BaseException as e:
        if bar is not None:
            bar.close()  # before the interrupt message, so that the message is not drawn into the bar
        if isinstance(e, KeyboardInterrupt) and background is not None and background.pending:
            # the evaluation under way is of a later step than the last checkpoint: let it end and checkpoint
            # its step, so that the rerun keeps the training up to it (a second interrupt: stop now)
            print(f"{run_dir.name}: stopping once the evaluation under way is done and checkpointed (send the "
                  "interrupt again to stop now)", file=sys.stderr, flush=True)
            try:
                with logger.finishing(EVALUATION_CHECKPOINTED):
                    collect_background()
            except KeyboardInterrupt:
                pass
            except Exception as failed:  # the run stops either way; say why this checkpoint is missing
                print(f"{run_dir.name}: the evaluation under way failed, so its step has no checkpoint: {failed!r}",
                      file=sys.stderr, flush=True)
        logger.abort(e)
        raise
    finally:
        if bar is not None:
            bar.close()
        # an evaluation still running (the run was interrupted) keeps its envs: closing them under it
        # could crash MuJoCo; its daemon thread ends with the process, which then skips the interpreter's
        # teardown (offrl.process: that crashed under the thread, status 134)
        if background is not None and background.pending:
            from offrl.process import leave_running

            leave_running("an evaluation (--overlap-eval)")
        elif pool is not None:
            pool.close()
        if ckpt is not None:
            ckpt.close()

    final = summarize(config, history, has_ref)
    final.update(run_timing(t0, earlier_wall, resumed_from, timing), steps=tc.steps)
    if background is not None:  # the evaluations' own time, most of it beside training
        final["eval_background_s"] = background.seconds
    # final.json is the run's commit marker (a run with it is finished and never trained again), so it is
    # written last: a run killed before it has its last checkpoint and a rerun writes these files again
    try:
        if obs_mean is not None:
            from offrl.atomic import atomic_file

            with atomic_file(run_dir / "obs_normalization.npz") as tmp, open(tmp, "wb") as f:
                np.savez(f, mean=obs_mean, std=obs_std)
        _save_params(run_dir / "final_state.npz", placement.unpad(states))
    except BaseException as e:
        logger.abort(e)  # an interrupt here says "rerun the same command to resume", as one during training
        raise
    logger.finish(final)
    return final


def summarize(config: dict, history: list[dict], has_ref: bool) -> dict:
    """final.json content: per-seed last/best/curve of normalized score and return."""
    evals = [h for h in history if "return_mean" in h]
    out: dict[str, Any] = {k: config[k] for k in ("run_id", "algo", "dataset", "seeds")}
    out["eval_steps"] = [h["step"] for h in evals]
    for key, name in (("normalized_score", "normalized_score"), ("return_mean", "return")):
        if not evals or (key == "normalized_score" and not has_ref):
            out[name] = None
            continue
        curve = np.asarray([h[key] for h in evals]).T  # (seeds, evals)
        out[name] = {"last": curve[:, -1].tolist(), "best": curve.max(1).tolist(), "curve": curve.tolist()}
    return out


def _save_params(path: Path, states) -> None:
    """The final per-seed state leaves, for ``offrl eval`` (flat npz, keyed by leaf index)."""
    import jax

    from offrl.atomic import atomic_file

    leaves = jax.tree_util.tree_leaves(states)
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{f"leaf_{i:04d}": np.asarray(x) for i, x in enumerate(leaves)})


def _field_docstrings(cls) -> dict[str, str]:
    """The docstrings written under a dataclass's fields (``x: int = 1`` then ``\"\"\"...\"\"\"``), of ``cls``
    and its bases; empty where the source cannot be read."""
    import ast
    import inspect
    import textwrap

    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__[:-1]):  # a subclass's docstring wins over its base's
        try:
            body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        except (OSError, TypeError, SyntaxError, IndexError, AttributeError):
            continue
        for field, doc in zip(body, body[1:]):
            if (isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name) and isinstance(doc, ast.Expr)
                    and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str)):
                docs[field.target.id] = inspect.cleandoc(doc.value.value).replace("``", "")  # reST literals
    return docs


def _as_override(value) -> str:
    """A default as ``--hp`` spells it (``256,256`` for a tuple)."""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) if value else "(none)"
    return str(value)


def hyperparameter_table(algo) -> str:
    """What ``offrl train --algo NAME --list-hp`` prints: each hyperparameter of ``algo`` that ``--hp``
    takes, with its default and the first line of its help (``hp(..., doc)``, else the field's docstring)."""
    docs = _field_docstrings(algo.config_cls)
    from offrl.algos.base import FIXED_FIELDS

    fields = [f for f in dataclasses.fields(algo.config_cls) if f.name not in FIXED_FIELDS]
    rows = [(f.name, _as_override(f.default if f.default is not dataclasses.MISSING else f.default_factory()),
             ((f.metadata.get("help") or docs.get(f.name) or "").strip().splitlines() or [""])[0]) for f in fields]
    name_w, default_w = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    lines = [f"{algo.name} hyperparameters (--hp name=value ...):",
             f"  {'name':<{name_w}}  {'default':<{default_w}}  help"]
    lines += [f"  {n:<{name_w}}  {d:<{default_w}}  {h}".rstrip() for n, d, h in rows]
    return "\n".join(lines)


LIST_HP_FLAG = "--list-hp"


def check_results_root(tc: TrainConfig) -> None:
    """Refuse a results folder that cannot be written (a file in its way, a parent that is not writable)
    with one :class:`~offrl.errors.OffrlError` naming it, before the data is loaded; what only creating it
    finds out (``/proc/x``) is refused when the run folder is created (:class:`~offrl.runlock.RunFolderError`)."""
    from offrl.paths import results_root
    from offrl.runlock import folder_problem

    root = results_root(tc.results_dir)
    if problem := folder_problem(root):
        where = f"--results-dir {root}" if tc.results_dir is not None else \
            f"results folder {root} (from $OFFRL_RESULTS_DIR, else ./results)"
        raise OffrlError(f"{where} {problem}; pass --results-dir DIR, a folder you can write to")


def _option_given(argv: list[str], option: str) -> bool:
    """Whether ``argv`` gives ``option`` (``--algo x`` or ``--algo=x``) before any bare ``--``."""
    for token in argv:
        if token == "--":
            return False
        if token == option or token.startswith(option + "="):
            return True
    return False


def main(argv: list[str]) -> int:
    """``offrl train``: parse a :class:`TrainConfig` and run it, or show the finished run it names; with
    ``--list-hp``, list the hyperparameters of ``--algo`` instead (:func:`hyperparameter_table`), after a line
    saying that they are the default algorithm's when ``--algo`` is not given."""
    from offrl import algos
    from offrl.cli import note_single_seed
    from offrl.sweep.wandb_export import agent_args

    names = "\n".join(f"  {n:<6} {algos.get(n).description}" for n in algos.names())
    # --list-hp is no TrainConfig field: a field would enter every run's recorded config and run id
    list_hp = LIST_HP_FLAG in argv
    argv = [a for a in argv if a != LIST_HP_FLAG]
    tc = tyro.cli(TrainConfig, args=agent_args(argv, TrainConfig), prog="offrl train",
                  description=f"{TrainConfig.__doc__}\n\nAlgorithms (--algo):\n{names}\n\n"
                              f"{LIST_HP_FLAG}: list the hyperparameters of --algo that --hp takes (name, default, "
                              "help) and exit.\n\nA dataset that names no evaluation env trains without "
                              "evaluation and gets no score unless --env-id is given.")
    if list_hp:
        if not _option_given(argv, "--algo"):  # unsaid, the default's list reads as the only one, or as all of them
            print(f"hyperparameters of {tc.algo}, the default --algo (--algo NAME --list-hp for another's: "
                  f"{', '.join(algos.names())})")
        print(hyperparameter_table(algos.get(tc.algo)))
        return 0
    note_single_seed(tc.seeds)
    resolve_config(tc)  # an unknown algorithm or hyperparameter fails here, before any data is read
    SeedPlacement.create(tc.devices, len(tc.seeds), _field("devices"))  # so do missing devices
    check_results_root(tc)  # and a results folder that cannot be written
    dataset = load_dataset(tc)  # and a data root that cannot be a folder, before any data is read
    check_continuous_actions(tc.algo, dataset.spec)  # refused before the "training ..." line, not after it
    run_dir = run_dir_for(tc, dataset.spec)
    was_finished = finished_results(run_dir) is not None
    if not was_finished:
        print(f"training {tc.algo} on {tc.dataset} for {tc.steps:,} steps x {len(tc.seeds)} seed(s) into {run_dir}")
    final = train(tc, dataset=dataset)  # a finished run comes back as it is (checked against this config)
    if was_finished:
        print(f"already finished: {run_dir} holds this run, so nothing was trained "
              "(another --run-id or --results-dir trains it again)")
    ns = final.get("normalized_score") or final.get("return")
    if ns:
        last = np.asarray(ns["last"])
        kind = "normalized score" if final.get("normalized_score") else "return"
        print(f"{tc.algo} on {tc.dataset}: {kind} at the last evaluation {last.mean():.2f} ± {last.std():.2f} "
              f"over {len(last)} seed(s) (best {np.mean(ns['best']):.2f})")
    env_hint = "" if tc.env_id or dataset.spec.env_id else " --env-id ENV"  # offrl eval needs one, as training did
    print(f"results: {run_dir}  (offrl report {run_dir}; offrl eval {run_dir}{env_hint})")
    return 0
