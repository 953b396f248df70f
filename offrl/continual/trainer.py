"""The continual trainer: N seeds (vmapped) trained through every task of a stream in one process.

Per task ``k`` the trainer runs the fused chunk of :mod:`offrl.train` (``jit(vmap_seeds(scan_K(sample ->
update)))``) on task ``k``'s device-resident data, with the update composed by the continual method
(:mod:`offrl.continual.methods`); the method's ``begin_task`` / ``end_task`` run as vmapped, jitted
functions between tasks. Every ``eval_every`` steps, and before any training, every task of the stream
(seen and unseen) is evaluated for every seed: all tasks x seeds x episodes step together in one pool
with one policy call per step. The evaluation at the end of task ``k`` is row ``k`` of the score matrix
p[k, i]. Checkpoints are written at every evaluation and after every ``end_task``; a killed run resumes
in the task it was in and ends with the same numbers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import tyro

from offrl import __version__
from offrl.errors import ConfigError, OffrlError, field_name
from offrl.logging import WandbSwitch
from offrl.sharding import DevicesOption, SeedPlacement, parse_devices


#: OER's batch size, ContinualConfig.batch_size's default.
DEFAULT_BATCH_SIZE = 1024


@dataclasses.dataclass(frozen=True)
class ContinualConfig:
    """What stream to train through, with which method and base learner, for how long, and how to
    evaluate and record it. Defaults follow OER (TD3+BC, 150k steps per task, batch 1024, multi-head)."""

    stream: str = "pendulum-gain"
    """a shipped stream (`offrl continual list`) or a stream YAML file."""
    method: str = "finetune"
    """continual method (`offrl continual list`)."""
    algo: str = "td3bc"
    """base learner: an offline-RL algorithm whose data is a packed transition table (td3bc, iql, cql, bc)."""
    quality: str = "medium"
    """per-task dataset quality: medium, medium-random (OER's two), expert, random."""
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    """training seeds; all run in one process as a vmapped axis."""
    steps_per_task: int = 150_000
    """gradient steps of the base learner per task (OER: 150,000)."""
    batch_size: int = DEFAULT_BATCH_SIZE
    """the base learner's batch size (OER: 1,024). `--hp batch_size=N` sets it too (and is recorded here);
    both at different values is refused."""
    heads: str = "multi"
    """multi (an output head per task, task id known: OER's setting), task-input (one head, one-hot task id
    in the input), agnostic (no task id at training or test)."""
    normalize: str = "none"
    """observation standardisation: none (OER), first-task (task 0's statistics for all), per-task."""
    eval_every: int = 10_000
    """gradient steps between evaluations of every task (must divide steps_per_task)."""
    eval_episodes: int = 10
    """evaluation episodes per seed and task."""
    eval_seed: int = 10_000
    """env seed of evaluation episode 0 (episodes use eval_seed + i)."""
    eval_learner: bool = False
    """also evaluate the learner on every task, for methods that deploy another policy (OER's clone):
    learner_score/<task> in the eval rows and learner_curves in final.json; twice the evaluation time."""
    chunk: int = 1_000
    """gradient steps per jitted call (must divide eval_every)."""
    hp: tuple[str, ...] = ()
    """base-learner hyperparameter overrides name=value (e.g. alpha=2.5)."""
    method_hp: tuple[str, ...] = ()
    """method option overrides name=value (e.g. buffer_size=1000 replay=rl)."""
    data_root: Annotated[str | None, tyro.conf.arg(metavar="DIR")] = None
    """data root of the per-task datasets (default $OFFRL_DATA_DIR or ~/.offrl/data)."""
    run_id: Annotated[str | None, tyro.conf.arg(metavar="RUN_ID")] = None
    """results/<run_id>; default derives from method, stream, quality and a hash of the config."""
    results_dir: Annotated[str | None, tyro.conf.arg(metavar="DIR")] = None
    """parent of run folders; default $OFFRL_RESULTS_DIR or ./results."""
    checkpoint: bool = True
    """write orbax checkpoints at every evaluation and task end (needed to resume)."""
    wandb: WandbSwitch = None
    """log to wandb, one run per seed (as offrl train: on, off, or auto = when wandb is configured)."""
    eval_workers: int = 0
    """env worker processes for the evaluation rollouts (0 = in-process)."""
    concurrent_kernels: bool = True
    """on GPUs, let independent kernels of a step run concurrently (as offrl train)."""
    deterministic: bool = False
    """on GPUs, no non-deterministic XLA kernels (as offrl train)."""
    devices: DevicesOption = 1
    """devices of this host to split the seeds over (1, a count, or all), as offrl train --devices."""
    # None by default, which --progress/--no-progress cannot name: tyro still makes the flag pair (DisallowNone)
    progress: Annotated[bool | None, tyro.conf.DisallowNone,
                        tyro.conf.arg(help_behavior_hint="(default: on a terminal only)")] = None
    """a progress bar on stderr: --progress always, --no-progress never.
    By default only where stderr is a terminal: a log file or a pipe would keep its redraws as stray lines."""

    def __post_init__(self):
        object.__setattr__(self, "devices", parse_devices(self.devices, _field("devices")))
        from offrl.continual.data import NORMALIZATIONS
        from offrl.continual.methods import HEADS
        from offrl.continual.streams import check_quality

        self._take_batch_size_from_hp()
        for name in ("steps_per_task", "eval_every", "eval_episodes", "chunk", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{_field(name, getattr(self, name))} must be >= 1")
        if not self.seeds:
            raise ConfigError(f"{_field('seeds')} is empty: name at least one seed (--seeds 0 1 2 3 4)")
        if len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise ConfigError(f"{_field('seeds', self.seeds)} must name distinct non-negative seeds")
        if self.eval_workers < 0:
            raise ConfigError(f"{_field('eval_workers', self.eval_workers)} must be >= 0 (0: in this process)")
        if self.eval_seed < 0:
            raise ConfigError(f"{_field('eval_seed', self.eval_seed)}: env seeds are non-negative integers")
        if self.run_id is not None:
            from offrl.paths import run_folder

            run_folder(self.run_id, self.results_dir)  # one folder of the results root, checked before any work
        if self.steps_per_task % self.eval_every:
            fit = _fitting_eval_every(self.steps_per_task, self.eval_every, self.chunk)
            # an interval the chunk does not divide would only be refused next: both options in one answer
            chunk = "" if fit % self.chunk == 0 else f" --chunk {_fitting_chunk(fit, self.chunk)}"
            in_file = f"continual.eval_every: {fit}" + (f" and continual.chunk: {chunk.split()[-1]}" if chunk else "")
            raise ConfigError(f"{_field('eval_every', self.eval_every)} must divide steps_per_task="
                              f"{self.steps_per_task} (the evaluation at a task's end is its row of the score matrix); "
                              f"pass --eval-every {fit}{chunk} ({in_file} in a sweep file), or a "
                              "steps_per_task that it divides")
        if self.eval_every % self.chunk:
            fit = _fitting_chunk(self.eval_every, self.chunk)
            raise ConfigError(f"{_field('eval_every', self.eval_every)} must be a multiple of chunk={self.chunk} "
                              f"(the steps trained per compiled call); pass --chunk {fit} (continual.chunk: {fit} "
                              "in a sweep file), or an eval_every that chunk divides")
        if self.heads not in HEADS:
            raise ConfigError(f"{_field('heads', self.heads)} is not one of {list(HEADS)}")
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError(f"{_field('normalize', self.normalize)} is not one of {list(NORMALIZATIONS)}")
        check_quality(self.quality)

    def _take_batch_size_from_hp(self) -> None:
        """``hp`` naming ``batch_size`` sets :attr:`batch_size` as well, so that the recorded
        ``continual_config.batch_size`` is the batch the learner trained with; a different explicit
        ``batch_size`` beside it is refused (the default cannot be told from an explicit 1,024)."""
        given = [raw for name, _, raw in (str(p).partition("=") for p in self.hp) if name.strip() == "batch_size"]
        if not given:
            return
        try:
            size = int(given[-1])
        except ValueError:
            return  # not a number: the base learner's parser says so, naming the option
        if size == self.batch_size:
            return
        if self.batch_size != DEFAULT_BATCH_SIZE:
            raise ConfigError(f"{_field('batch_size', self.batch_size)} and hp batch_size={size} disagree: give "
                              f"the batch size once (--batch-size {size}; continual.batch_size: {size} in a sweep file)")
        object.__setattr__(self, "batch_size", size)


def _field(name: str, *value) -> str:
    """A :class:`ContinualConfig` field as errors name it: ``--eval-every / ContinualConfig.eval_every=300``
    (:func:`offrl.errors.field_name`)."""
    return field_name("ContinualConfig", name, *value)


def _fitting_eval_every(steps_per_task: int, eval_every: int, chunk: int) -> int:
    """The largest evaluation interval up to ``eval_every`` that divides ``steps_per_task`` and that ``chunk``
    divides (else the largest that divides ``steps_per_task``): what an eval_every that does not fit should be."""
    divisors = {d for i in range(1, int(steps_per_task ** 0.5) + 1) if steps_per_task % i == 0
                for d in (i, steps_per_task // i)}
    below = sorted(d for d in divisors if d <= eval_every)
    return max((d for d in below if d % chunk == 0), default=below[-1])


def _fitting_chunk(eval_every: int, chunk: int) -> int:
    """The largest chunk up to ``chunk`` that divides ``eval_every``."""
    return max(d for d in range(1, min(chunk, eval_every) + 1) if eval_every % d == 0)


def parse_method_overrides(method, pairs) -> dict[str, Any]:
    """``["buffer_size=1000"]`` -> typed kwargs for ``method.make_config`` (as ``offrl.train.parse_overrides``)."""
    from offrl.train import parse_overrides

    return parse_overrides(method, pairs)


@dataclasses.dataclass
class _Setup:
    """Everything validated before compilation."""

    stream: Any
    method: Any
    algo: Any
    cfg: Any
    mcfg: Any
    data: Any
    run_id: str
    run_dir: Path
    config: dict


def setup(cc: ContinualConfig, datasets=None) -> _Setup:
    """Validate the whole configuration and load the data; nothing is compiled or written."""
    from offrl import algos
    from offrl.continual.data import prepare_stream_data
    from offrl.continual.methods import METHODS
    from offrl.continual.methods.base import check_buffer_fits
    from offrl.continual.streams import check_spaces, load_stream
    from offrl.paths import run_folder
    from offrl.train import resolve_schedule_fields

    SeedPlacement.create(cc.devices, len(cc.seeds), _field("devices"))  # the devices exist
    stream = load_stream(cc.stream)
    method = METHODS[cc.method]
    algo = algos.get(cc.algo)
    check_method_fits(cc, method)
    cfg = resolve_schedule_fields(learner_config(cc, algo), cc.steps_per_task * len(stream.tasks))
    mcfg = method_config(cc, method)
    if cc.chunk % cfg.steps_per_call:
        raise ConfigError(f"{_field('chunk', cc.chunk)} must be a multiple of {cc.algo}'s "
                          f"steps_per_call={cfg.steps_per_call}")
    check_spaces(stream)
    data = prepare_stream_data(stream, cc.quality, algo=algo, cfg=cfg, heads=cc.heads, normalize=cc.normalize,
                               root=cc.data_root, datasets=datasets)
    if hasattr(mcfg, "buffer_size"):
        check_buffer_fits(mcfg.buffer_size, data.sizes, stream.task_names)
    cfg = algo.resolve(cfg, data.spec)
    config = {"kind": "continual", "stream": stream.name, "method": method.name, "algo": algo.name,
              "quality": cc.quality, "tasks": stream.task_names, "seeds": list(cc.seeds),
              "steps_per_task": cc.steps_per_task, "heads": cc.heads, "dataset": f"{stream.name}/{cc.quality}",
              "dataset_ids": data.dataset_ids, "dataset_checksums": data.checksums,
              "stream_definition": stream.to_dict(),
              "continual_config": _jsonable({k: v for k, v in dataclasses.asdict(cc).items() if k != "devices"}),
              "method_config": _jsonable(dataclasses.asdict(mcfg)), "algo_config": _jsonable(dataclasses.asdict(cfg)),
              "references": {t: list(r) for t, r in zip(stream.task_names, data.refs)}, "offrl_version": __version__}
    run_id = cc.run_id or _default_run_id(cc, config)
    config["run_id"] = run_id
    return _Setup(stream, method, algo, cfg, mcfg, data, run_id, run_folder(run_id, cc.results_dir), config)


def learner_config(cc: ContinualConfig, algo):
    """The base learner's config as ``cc`` gives it, before its schedule and data are known: its defaults,
    ``cc.batch_size`` where it has a batch size, then ``cc.hp``."""
    from offrl.train import parse_overrides

    overrides = parse_overrides(algo, cc.hp)
    if "batch_size" in {f.name for f in dataclasses.fields(algo.config_cls)}:
        overrides = {"batch_size": cc.batch_size, **overrides}
    return algo.make_config(**overrides)


def method_config(cc: ContinualConfig, method):
    """The continual method's config: its defaults, then ``cc.method_hp``."""
    return method.make_config(**parse_method_overrides(method, cc.method_hp))


# progress among them: runs recorded before its default became None (auto) hold true there, and must keep
# their ids and resume under the new default
NOT_HASHED = ("progress", "results_dir", "run_id", "eval_workers", "wandb", "data_root", "eval_learner")
# ContinualConfig fields a resumed (or found finished) run may differ in besides those: how it computes (no
# number changes), and the option strings as written, whose resolved values algo_config and method_config hold
RESUME_FREE = ("checkpoint", "concurrent_kernels", "hp", "method_hp")


def check_method_fits(cc: ContinualConfig, method) -> None:
    """The checks of ``cc`` that depend on its method (shared by :func:`setup` and sweep files)."""
    if method.needs_task_id and cc.heads == "agnostic":
        raise ConfigError(f"method {method.name!r} needs the task id (heads 'multi' or 'task-input')")
    from offrl.continual.methods.base import Method

    if cc.eval_learner and method.policy is Method.policy:  # the default: the learner is what is deployed
        raise ConfigError(f"eval_learner: method {method.name!r} deploys its learner, which every evaluation "
                          "already scores (it is for methods that deploy another policy, e.g. oer)")


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def run_identity(config: dict, left_out: tuple[str, ...] = (*NOT_HASHED, *RESUME_FREE)) -> dict:
    """What a run's recorded ``config`` says it trains and how it is evaluated: everything but where and how
    it computes and records (``left_out`` of ``continual_config``) and the package version. Its digest is the
    default run id; a run resumes only into a folder whose record has the same identity."""
    # the data's checksums are compared apart (offrl.train.data_difference): in the id, data collected again on
    # another platform would give a finished run a new id
    identity = {k: v for k, v in config.items()
                if k not in ("run_id", "offrl_version", "continual_config", "dataset_checksums")}
    identity["continual_config"] = {k: v for k, v in config["continual_config"].items() if k not in left_out}
    return identity


def run_id_prefix(cc: ContinualConfig) -> str:
    """``<method>-<stream>-<quality>`` of a run id (a stream file: its file name without ``.yaml``)."""
    return f"{cc.method}-{cc.stream.rsplit('/', 1)[-1].removesuffix('.yaml')}-{cc.quality}"


def continual_identity(cc: ContinualConfig) -> dict:
    """What a continual run computes: ``cc`` less where and how it computes and records (what
    :func:`identity_difference` lets a run change), the base learner's and the method's whole configs (as
    the trainer builds them) in place of their option strings, and, for a stream file of one's own, its
    definition (editing the file makes other runs; a shipped stream's is fixed by the package). Its digest
    is the run id, from the command line and from a sweep alike (the sweep's ``continual`` kind)."""
    from offrl import algos
    from offrl.continual.methods import METHODS
    from offrl.continual.streams import is_stream_file, load_stream

    left_out = (*NOT_HASHED, *RESUME_FREE, "devices")
    identity = {"continual_config": {k: v for k, v in dataclasses.asdict(cc).items() if k not in left_out},
                "algo_config": dataclasses.asdict(learner_config(cc, algos.get(cc.algo))),
                "method_config": dataclasses.asdict(method_config(cc, METHODS[cc.method]))}
    if is_stream_file(cc.stream):
        identity["stream_definition"] = load_stream(cc.stream).to_dict()
    return identity


def _default_run_id(cc: ContinualConfig, config: dict) -> str:
    """The digest of :func:`continual_identity`, the id ``offrl sweep`` gives the same run. A run recorded
    under an earlier form of its id keeps its folder: until 2026-12-05 the trainer digested its recorded
    config (:func:`run_identity`) apart from the sweep's rule, and before that the option strings as written
    and :data:`RESUME_FREE`'s settings too."""
    from offrl.paths import recorded_run_id
    from offrl.sweep.spec import identity_run_id

    def earlier(left_out):
        blob = json.dumps(run_identity(config, left_out), sort_keys=True, default=str)
        return f"{config['method']}-{config['stream']}-{cc.quality}-{hashlib.sha1(blob.encode()).hexdigest()[:8]}"

    run_id = identity_run_id("continual", run_id_prefix(cc), continual_identity(cc))
    return recorded_run_id(run_id, [earlier((*NOT_HASHED, *RESUME_FREE)), earlier(NOT_HASHED)], cc.results_dir)


def _identities(old: dict, new: dict) -> tuple[dict, dict]:
    """:func:`run_identity` of a recorded config and of a new one (its tuples as config.json holds them)."""
    as_recorded = json.loads(json.dumps(new, default=str))
    return run_identity({"continual_config": {}, **old}), run_identity(as_recorded)


def identity_difference(old: dict, new: dict) -> list[str]:
    """The settings in which two recorded configs' :func:`run_identity` differ (``continual_config.<field>``
    for the trainer's own options, e.g. ``continual_config.eval_episodes``). A setting the older record does
    not have (recorded before it existed) is not compared."""
    a, b = _identities(old, new)
    diff = [k for k in b if k != "continual_config" and k in a and a[k] != b[k]]
    diff += [f"continual_config.{k}" for k, v in b["continual_config"].items()
             if k in a["continual_config"] and a["continual_config"][k] != v]
    return diff


def _stack_policy(method, ctx, mcfg):
    import jax

    return jax.jit(jax.vmap(lambda st: method.policy(ctx, mcfg, st)))


class TaskEvaluator:
    """Every task of a stream evaluated for every seed at once: tasks x seeds x episodes envs in one
    pool (seed-major, then task, then episode), one batched policy call per step."""

    def __init__(self, algo, cfg, data, n_seeds: int, episodes: int, eval_seed: int, workers: int = 0):
        from offrl.envs.pool import EnvPool
        from offrl.evaluation.rollout import make_policy_fn

        self.algo, self.cfg, self.data = algo, cfg, data
        self.n_seeds, self.episodes, self.eval_seed = n_seeds, episodes, eval_seed
        tasks = data.stream.tasks
        self.n_tasks = len(tasks)
        per_seed = [(t.env_id, dict(t.kwargs)) for t in tasks for _ in range(episodes)]
        self.pool = EnvPool.mixed(per_seed * n_seeds, workers=workers)
        self.env_task = np.tile(np.repeat(np.arange(self.n_tasks), episodes), n_seeds)
        self.policy_fn = make_policy_fn(algo, cfg)
        self.refs = np.asarray(data.refs, np.float64)

    def _obs_fn(self, o: np.ndarray) -> np.ndarray:
        out = np.empty((len(o), self.data.indicator_dim + self.data.obs_dim), np.float32)
        for k in range(self.n_tasks):
            rows = self.env_task == k
            out[rows] = self.data.observations_for(k, o[rows])
        return out

    def __call__(self, policy_states) -> tuple[np.ndarray, np.ndarray]:
        """(normalised scores, raw returns), each (seeds, tasks): means over the episodes."""
        import jax

        from offrl.evaluation.rollout import init_carries, run_episodes

        carry = init_carries(self.algo, self.cfg, policy_states, self.n_tasks * self.episodes, [("default", {})])
        seeds = [self.eval_seed + (i % self.episodes) for i in range(self.pool.n)]
        returns, _ = run_episodes(self.policy_fn, policy_states, carry, self.pool, env_seeds=seeds,
                                  obs_fn=self._obs_fn, key=jax.random.PRNGKey(self.eval_seed))
        ret = returns.reshape(self.n_seeds, self.n_tasks, self.episodes).mean(-1)
        lo, hi = self.refs[:, 0], self.refs[:, 1]
        return 100.0 * (ret - lo) / (hi - lo), ret

    def close(self):
        self.pool.close()


def train_stream(cc: ContinualConfig, *, datasets=None) -> dict:
    """Train ``cc.method`` through ``cc.stream`` for every seed; returns the final results dict.

    ``datasets`` may give every task's :class:`~offrl.datasets.OfflineDataset` in stream order (else
    they are loaded). Everything is validated before compilation. A run folder with checkpoints
    resumes in the task it stopped in; a finished one is returned as it is and never rewritten. Either
    way the folder's recorded config must have the same :func:`run_identity` as ``cc``'s, else
    :class:`~offrl.errors.OffrlError` names the settings that differ (:func:`identity_difference`).
    """
    import contextlib

    s = setup(cc, datasets)
    if (finished := _finished_results(s)) is not None:
        print(f"{s.run_id}: already finished; results in {s.run_dir}")
        _say_if_no_learner_scores(cc, finished)
        return finished
    from offrl.runlock import run_lock

    with contextlib.ExitStack() as held:  # one trainer per run folder (offrl.runlock)
        held.enter_context(run_lock(s.run_dir, s.run_id))
        if (finished := _finished_results(s)) is not None:  # finished by the process that held the lock before us
            _say_if_no_learner_scores(cc, finished)
            return finished
        return _say_if_no_learner_scores(cc, _train_stream(cc, s))


def _say_if_no_learner_scores(cc: ContinualConfig, final: dict) -> dict:
    """Say so when ``eval_learner`` was asked but ``final`` has no learner curves: the run finished, or
    evaluated before a restart, without it (eval_learner is out of the run id, so the run is the same)."""
    if cc.eval_learner and "learner_curves" not in final:
        print(f"{final.get('run_id', cc.run_id)}: no learner scores (eval_learner): the run was trained, or began "
              "before a restart, without them, and every evaluation needs them; to record them, train it under "
              "another run id (--run-id NAME)")
    return final


def _check_learner_scores_resumable(cc: ContinualConfig, run_id: str, history: list[dict]) -> None:
    """Refuse ``eval_learner`` for a resume whose checkpointed evaluations have no learner scores (the run began
    without it; it is out of the run id, so the folder is the same): the learner would be evaluated for the rest
    of the run, at twice the evaluation time, and final.json would still hold no learner curves, which need
    every evaluation."""
    if cc.eval_learner and any("learner_scores" not in h for h in history):
        raise OffrlError(f"{run_id}: --eval-learner (eval_learner) on resuming a run that began without it: its "
                         "earlier evaluations have no learner scores, so it would end without learner curves; "
                         "resume it without --eval-learner, or train under another run id (--run-id NAME) to "
                         "record them from the start")


def _check_identity(s: _Setup, finished: bool) -> None:
    """Refuse a run folder whose recorded config trains or evaluates otherwise than ``s`` (an explicit run
    id may name any folder): a resume would mix two protocols in one history, and a finished run's scores
    would be passed off as another method's or evaluation's."""
    path = s.run_dir / "config.json"
    if not path.is_file():
        return
    from offrl.train import data_difference, describe_difference

    old = json.loads(path.read_text())
    if diff := identity_difference(old, s.config):
        raise OffrlError(f"{s.run_dir} holds a {'finished ' if finished else ''}continual run with a different "
                         f"configuration ({describe_difference(*_identities(old, s.config), diff)}); pick another "
                         f"{_field('run_id')}")
    if changed := data_difference(old, s.config):
        raise OffrlError(f"{s.run_dir} holds a {'finished' if finished else 'stopped'} continual run, but {changed}")


def _finished_results(s: _Setup) -> dict | None:
    """``final.json`` of ``s``'s run folder when that run has finished (checked against ``s``'s identity),
    else None."""
    final = s.run_dir / "final.json"
    if not final.is_file():
        return None
    _check_identity(s, finished=True)
    return json.loads(final.read_text())


def _train_stream(cc: ContinualConfig, s: _Setup) -> dict:
    import jax
    import jax.numpy as jnp

    from offrl.cli import progress_bar_drawn
    from offrl.continual.methods.base import ContinualState, Context, base_update
    from offrl.logging import EVALUATION_CHECKPOINTED, RunLogger, TimeSpent, run_timing
    from offrl.train import _Checkpoints, host_metrics, init_states, make_chunk_fn

    run_dir, config = s.run_dir, s.config
    placement = SeedPlacement.create(cc.devices, len(cc.seeds), _field("devices"))
    resume = (run_dir / "config.json").exists()
    if resume:
        _check_identity(s, finished=False)

    algo, cfg, method, mcfg, data = s.algo, s.cfg, s.method, s.mcfg, s.data
    n_tasks, S = data.n_tasks, cc.steps_per_task
    spec = data.spec
    tables = [placement.replicate(t) for t in data.tables]
    ctx = Context.of(algo, cfg, data)

    learners, keys = init_states(algo, cfg, spec, cc.seeds, {"table": tables[0]})
    learners = jax.vmap(lambda lr: method.prepare_learner(ctx, mcfg, lr))(learners)
    extra_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
    extra = jax.vmap(lambda lr, k: method.init_extra(ctx, mcfg, lr, k))(learners, extra_keys)
    states = ContinualState(learners, extra)
    states = jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), states)
    states, keys = placement.place((states, keys))  # seeds on their devices (offrl.sharding)

    def per_task_hook(fn, k):
        """jit(vmap) of a begin/end-task function for task k: (states, keys, data) -> (states, keys)."""

        def one(state, key, data_k):
            key, sub = jax.random.split(key)
            return fn(ctx, mcfg, state, k, data_k, sub), key

        return placement.jit(jax.vmap(one, in_axes=(0, 0, None)), stacked=2, shared=1)

    compiled_chunks: dict = {}

    def chunk_fn_for(k):
        """The fused chunk of task k (compiled once for all tasks when the update does not depend on k)."""
        key = k if method.update_varies_with_task else None
        if key not in compiled_chunks:
            update = method.make_update(ctx, mcfg, k) if method.make_update else base_update(ctx)
            compiled_chunks[key] = make_chunk_fn(dataclasses.replace(algo, update=update), cfg, spec,
                                                 cc.chunk // cfg.steps_per_call, concurrent=cc.concurrent_kernels,
                                                 deterministic=cc.deterministic, placement=placement)
        return compiled_chunks[key]

    policy_of = _stack_policy(method, ctx, mcfg)
    learner_of = jax.jit(jax.vmap(lambda st: st.learner)) if cc.eval_learner else None
    ckpt = _Checkpoints(run_dir / "checkpoints") if cc.checkpoint else None
    task, task_step, history, resumed_step, earlier_wall = 0, 0, [], -1, 0.0
    if resume and ckpt is not None and ckpt.latest() is not None:
        states, keys, meta = ckpt.restore_latest(*placement.unpad((states, keys)))
        states, keys = placement.place((states, keys))
        task, task_step, history, resumed_step = (int(meta["task"]), int(meta["task_step"]), meta["history"],
                                                  int(meta["step"]))
        earlier_wall = float(meta.get("wall_s", 0.0))  # checkpoints written before it was kept: 0
        _check_learner_scores_resumable(cc, s.run_id, history)
        print(f"resuming {s.run_id} in task {task + 1}/{n_tasks} "
              f"({data.stream.task_names[min(task, n_tasks - 1)]}) at step {task * S + task_step}")
    # a rerun continues the same records: rows after the checkpoint are dropped, as they are logged again
    logger = RunLogger(run_dir, config, list(cc.seeds), use_wandb=cc.wandb, resume=resume,
                       resume_from_step=resumed_step if resume else None)
    if not resume:
        logger.write_config()
    evaluator = TaskEvaluator(algo, cfg, data, len(cc.seeds), cc.eval_episodes, cc.eval_seed, cc.eval_workers)
    names = data.stream.task_names
    t0 = time.time()
    bar = None
    if progress_bar_drawn(cc.progress):  # by default only on a terminal: redraws would stay in a log file
        from tqdm.auto import tqdm

        bar = tqdm(total=n_tasks * S, initial=task * S + task_step, desc=f"{method.name} {data.stream.name}",
                   unit="step", dynamic_ncols=True)

    # where the wall time goes (final.json's "time_s", and a line per task): training chunks, each task's
    # first chunk apart (it includes compiling the task's update when the method's update changes with
    # the task), evaluations, the methods' task boundaries (e.g. OER's model fit and selection), checkpoints
    timing = TimeSpent(("train", "first_chunks", "eval", "task_boundaries", "checkpoints"))

    def report_task(k: int) -> None:
        # wall time of the whole run, restarts included (earlier_wall: before the last restart), as final.json's
        # wall_time_s; the split in brackets is this process's
        since = f"{time.time() - t0:.0f} s since the restart, " if earlier_wall else ""
        line = (f"{s.run_id}: task {k + 1}/{n_tasks} ({names[k]}) done at {earlier_wall + time.time() - t0:.0f} s "
                f"({since}{timing.line()})")
        (bar.write if bar is not None else print)(line)

    def per_task(prefix: str, scores, returns) -> dict:
        return {**{f"{prefix}score/{n}": scores[:, i] for i, n in enumerate(names)},
                **{f"{prefix}return/{n}": returns[:, i] for i, n in enumerate(names)}}

    def evaluate(step: int, k: int) -> None:
        with timing("eval"):
            live = placement.unpad(states)  # once: with padded seeds it goes by way of the host
            scores, returns = evaluator(policy_of(live))
        ev = per_task("", scores, returns)
        entry = {"step": step, "task": k, "scores": scores.tolist(), "returns": returns.tolist()}
        if learner_of is not None:  # the learner beside the deployed policy (e.g. OER's distillation gap)
            with timing("eval"):
                l_scores, l_returns = evaluator(learner_of(live))
            ev.update(per_task("learner_", l_scores, l_returns))
            entry.update(learner_scores=l_scores.tolist(), learner_returns=l_returns.tolist())
        logger.log(step, {**ev, "task": k}, kind="eval")
        history.append(entry)
        if bar is not None:
            bar.set_postfix(task=names[k], seen=f"{scores[:, : k + 1].mean():.1f}")

    def save(step: int, k: int, ks: int) -> None:
        if ckpt is not None:
            meta = {"step": step, "task": k, "task_step": ks, "history": history,
                    "wall_s": earlier_wall + time.time() - t0}
            with timing("checkpoints"), logger.uninterrupted():  # a kill never leaves a half-written checkpoint
                ckpt.save(step, *placement.unpad((states, keys)), meta)
                # the checkpoint after a task's end work is numbered one past the task's last step (k * S + 1):
                # named by the task it closes, not by a step no one trained
                logger.checkpointed(step, f"the end of task {k} ({names[k - 1]}, step {k * S:,})"
                                    if ks == 0 and k > 0 else None)

    def evaluate_and_save(step: int, k: int, ks: int) -> None:
        # an interrupt meanwhile lets the evaluation end and be checkpointed (logger.finishing): the training
        # before it is kept, rather than resumed from the checkpoint one evaluation interval earlier
        with logger.finishing(EVALUATION_CHECKPOINTED):
            evaluate(step, k)
            save(step, k, ks)

    try:
        logger.catch_interrupts()  # kill = Ctrl-C: both end with "rerun the same command to resume"
        if not history:
            evaluate_and_save(0, 0, 0)
        for k in range(task, n_tasks):
            data_k = {"table": method.task_data(ctx, k, tables)}
            if task_step == 0 and method.begin_task is not None and (k > 0 or method.begin_first_task):
                with timing("task_boundaries"):
                    states, keys = per_task_hook(method.begin_task, k)(states, keys, data_k)
            chunk_fn = chunk_fn_for(k) if task_step < S else None
            first_chunk = True
            while task_step < S:
                with timing("first_chunks" if first_chunk else "train"):  # host_metrics waits for the chunk
                    first_chunk = False
                    states, keys, metrics = chunk_fn(states, keys, data_k)
                    task_step += cc.chunk
                    step = k * S + task_step
                    m = host_metrics(placement.unpad(metrics), cc.seeds, step, cc.chunk, ckpt, run_dir)
                logger.log(step, {**m, "task": k}, kind="train")
                if bar is not None:
                    bar.update(cc.chunk)
                if task_step % cc.eval_every == 0:
                    evaluate_and_save(step, k, task_step)
            # the last task's end work (OER: a model fit and a selection) feeds no later task: skipped
            last = k == n_tasks - 1
            if method.end_task_host is not None and not last:
                with timing("task_boundaries"):
                    states, keys, m = method.end_task_host(ctx, mcfg, states, keys, k, data_k)
                    # a host-side hook may leave two leaves on one buffer (e.g. a copied network); the next
                    # chunk donates every leaf, so give each its own, placed on the seeds' devices again
                    states, keys = placement.place(jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True),
                                                                          (states, keys)))
                    jax.block_until_ready(states)
                if m:
                    # logged at the step of the checkpoint that follows, so that a rerun of this task end
                    # (killed before that checkpoint) drops these rows with the rest
                    logger.log((k + 1) * S + 1, {**placement.unpad(m), "task": k}, kind="end_task")
            elif method.end_task is not None and not last:
                with timing("task_boundaries"):
                    states, keys = jax.block_until_ready(per_task_hook(method.end_task, k)(states, keys, data_k))
            task_step = 0
            save((k + 1) * S + 1, k + 1, 0)  # after end_task: a distinct checkpoint step
            report_task(k)
    except BaseException as e:
        if bar is not None:
            bar.close()  # before the interrupt message, so that the message is not drawn into the bar
        logger.abort(e)
        raise
    finally:
        if bar is not None:
            bar.close()
        evaluator.close()
        if ckpt is not None:
            ckpt.close()

    final = summarize(config, history, n_tasks, S)
    final.update(run_timing(t0, earlier_wall, resumed_step if resumed_step >= 0 else None, timing))
    logger.finish(final)
    return final


def summarize(config: dict, history: list[dict], n_tasks: int, steps_per_task: int) -> dict:
    """final.json of a continual run (the continual results contract, docs/continual.md)."""
    from offrl.evaluation.continual import per_seed_metrics

    steps = [h["step"] for h in history]
    curves = np.transpose(np.asarray([h["scores"] for h in history], np.float64), (1, 0, 2))  # seeds, T, N
    raw = np.transpose(np.asarray([h["returns"] for h in history], np.float64), (1, 0, 2))
    bounds = [k * steps_per_task for k in range(n_tasks + 1)]
    at = {st: t for t, st in enumerate(steps)}
    matrix = np.stack([curves[:, at[b]] for b in bounds[1:]], axis=1)
    matrix_return = np.stack([raw[:, at[b]] for b in bounds[1:]], axis=1)
    initial = curves[:, at[0]]
    metrics = per_seed_metrics(matrix, initial=initial, curves=curves, eval_steps=steps, task_boundaries=bounds)
    out = {k: config[k] for k in ("run_id", "stream", "method", "algo", "quality", "seeds", "tasks", "heads")}
    # the data beside the numbers (as config.json has them): runs compared across machines or collections show
    # whether they trained on the same arrays; the machine comes with the timing (offrl.logging.run_timing)
    out.update({k: config[k] for k in ("dataset_ids", "dataset_checksums") if k in config})
    out.update({"kind": "continual", "dataset": config["dataset"], "steps_per_task": steps_per_task,
                "task_boundaries": bounds, "eval_steps": steps, "curves": curves.tolist(),
                "matrix": matrix.tolist(), "matrix_return": matrix_return.tolist(), "initial": initial.tolist(),
                "metrics": {k: np.asarray(v).tolist() for k, v in metrics.items()},
                "summary": {k: float(np.nanmean(v)) if np.isfinite(v).any() else None for k, v in metrics.items()}})
    if history and all("learner_scores" in h for h in history):  # eval_learner: the learner's own curves
        out["learner_curves"] = np.transpose(np.asarray([h["learner_scores"] for h in history], np.float64),
                                             (1, 0, 2)).tolist()
    return out
