"""``offrl eval``: evaluate a finished (or checkpointed) run's policies by the standard protocol."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import Annotated

import numpy as np
import tyro

from offrl.errors import ConfigError, DataIntegrityError, OffrlError


@dataclasses.dataclass(frozen=True)
class EvalArgs:
    """Evaluate the final policies of a training run (all seeds together)."""

    run: tyro.conf.Positional[Path]
    """a results/<run_id> folder written by `offrl train`."""
    episodes: int = 10
    """evaluation episodes per seed (and per evaluation variant)."""
    eval_seed: int = 10_000
    """env seed of episode 0 (episodes use eval_seed + i)."""
    env_id: Annotated[str | None, tyro.conf.arg(metavar="ENV_ID")] = None
    """override the evaluation env (default: the run's)."""
    workers: int = 0
    """env worker processes."""
    target_returns: Annotated[tuple[float, ...], tyro.conf.arg(metavar="RETURN")] = ()
    """DT / MO-DT runs: evaluate at these target returns instead of the run's (e.g. 3600 1800 900: the
    return reached against the return asked for); one variant each."""


def load_trained(run_dir: Path):
    """(algo, cfg, spec, states, obs_mean, obs_std) rebuilt from a run folder's final state."""
    import jax

    from offrl import algos
    from offrl.datasets import DatasetSpec

    cfg_path, state_path = run_dir / "config.json", run_dir / "final_state.npz"
    if not cfg_path.is_file():
        raise OffrlError(f"{run_dir} is not a run folder (no config.json)")
    try:
        config = json.loads(cfg_path.read_text())
    except (OSError, ValueError) as e:
        raise DataIntegrityError(f"{cfg_path} cannot be read: {e}") from None
    if config.get("kind") == "continual":
        raise OffrlError(f"{run_dir} is a continual run: `offrl eval` re-evaluates single-task runs; a continual "
                         "run's scores on every task are in its final.json (`offrl report` tabulates them)")
    if not state_path.is_file():
        raise OffrlError(f"{run_dir} has no final_state.npz: the run has not finished (resume it with offrl train)")
    algo = algos.get(config["algo"])
    fields = {f.name for f in dataclasses.fields(algo.config_cls)}
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in config["algo_config"].items() if k in fields}
    cfg = algo.config_cls(**kw)
    spec = DatasetSpec.from_dict(config["dataset_spec"])
    like = jax.vmap(lambda k: algo.init(k, spec, cfg))(jax.random.split(jax.random.PRNGKey(0), len(config["seeds"])))
    leaves, treedef = jax.tree_util.tree_flatten(like)
    try:
        with np.load(state_path) as z:
            saved = [z[f"leaf_{i:04d}"] for i in range(len(z.files))]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise DataIntegrityError(f"{state_path} is damaged and cannot be evaluated ({type(e).__name__}: {e})") from None
    # np.savez writes bfloat16 (the stored bf16 weight copies) as raw 2-byte records: view them back
    saved = [x.view(ref.dtype) if x.dtype.kind == "V" and x.dtype.itemsize == ref.dtype.itemsize else x
             for x, ref in zip(saved, leaves)]
    if len(saved) != len(leaves) or any(a.shape != b.shape or a.dtype != b.dtype for a, b in zip(saved, leaves)):
        raise OffrlError(f"{state_path} does not match {config['algo']}'s state layout")
    states = jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(x) for x in saved])
    mean = std = None
    norm_path = run_dir / "obs_normalization.npz"
    if norm_path.is_file():
        try:
            with np.load(norm_path) as z:
                mean, std = z["mean"], z["std"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise DataIntegrityError(f"{norm_path} is damaged and cannot be read ({type(e).__name__}: {e})") from None
    elif config.get("train_config", {}).get("normalize_obs"):
        # the policies take normalized observations: raw ones would score them far below what they reached
        raise DataIntegrityError(f"{norm_path} is missing: the run normalized observations (normalize_obs), and its "
                                 "policies cannot be evaluated without the statistics it normalized them by")
    return algo, cfg, spec, states, mean, std, config


def main(argv: list[str]) -> int:
    from offrl.evaluation.rollout import evaluate

    a = tyro.cli(EvalArgs, args=argv, prog="offrl eval")
    if a.episodes < 1:
        raise ConfigError(f"--episodes {a.episodes}: evaluate at least one episode per seed")
    if a.eval_seed < 0:
        raise ConfigError(f"--eval-seed {a.eval_seed}: env seeds are non-negative integers")
    if a.workers < 0:
        raise ConfigError(f"--workers {a.workers} must be >= 0 (0: in this process)")
    algo, cfg, spec, states, mean, std, config = load_trained(a.run)
    if a.target_returns:
        if "target_returns" not in {f.name for f in dataclasses.fields(cfg)}:
            raise OffrlError(f"--target-returns: {config['algo']} is not conditioned on a target return "
                             "(dt and modt are)")
        cfg = dataclasses.replace(cfg, target_returns=a.target_returns)  # checked as a config field is
    env_id = a.env_id or config.get("env_id") or spec.env_id
    if not env_id:
        raise OffrlError("the run has no evaluation env; pass --env-id")
    from offrl.train import check_env_matches, env_kwargs_of

    # a task dataset's env parameters (Cheetah-Vel's velocity, ...), as training evaluated it
    env_kwargs = env_kwargs_of(spec) if env_id == spec.env_id else {}
    check_env_matches(spec, env_id, env_kwargs)
    res = evaluate(algo, cfg, states, env_id, episodes=a.episodes, eval_seed=a.eval_seed, obs_mean=mean, obs_std=std,
                   workers=a.workers, env_kwargs=env_kwargs)
    has_ref = spec.ref_min is not None and spec.ref_max is not None
    print(f"{config['algo']} on {config['dataset']} ({env_id}), {a.episodes} episode{'s' * (a.episodes != 1)} per seed")
    print("| variant | seed | return | normalized |\n|---|---|---|---|")
    for vi, name in enumerate(res.variants):
        for si, seed in enumerate(config["seeds"]):
            r = res.returns[si, vi]
            ns = f"{spec.normalize(r).mean():.1f}" if has_ref else "-"
            print(f"| {name} | {seed} | {r.mean():.1f} ± {r.std():.1f} | {ns} |")
    return 0
