"""Reproduction targets: a published table (a source of ``published_scores.csv``) and the sweep
specs whose runs reproduce its rows.

Every target lists its runs as sweep specs (mappings, as a sweep file holds them: docs/sweeps.md),
either the YAML files under ``sweeps/`` or specs built here, so that its runs go through
:mod:`offrl.sweep` on any backend, resume across invocations and share run ids with the same
configuration run by ``offrl sweep``. :data:`TARGETS` holds them; :func:`get_target` finds one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from offrl.errors import ConfigError, OffrlError, UnknownIdError
from offrl.quickstart import ENV_LEVEL, dataset_id
from offrl.registry import Registry
from offrl.reproduce.verdict import Tolerance
from offrl.sweep.spec import select_runs  # shared with `offrl sweep --datasets`

__all__ = ["QUICK_DATASET", "QUICK_DATASET_ID", "QUICK_TRANSITIONS", "TARGETS", "Context", "SweepSpec", "Target",
           "get_target", "prepare_quick_data", "select_runs", "sweeps_dir"]

SCORES = ("last", "best")
GYM_ENVS = ("halfcheetah", "hopper", "walker2d")
CORE_LEVELS = ("medium", "medium-replay", "medium-expert")
D4RL_GYM = tuple(f"d4rl/{env}-{level}-v2" for env in GYM_ENVS for level in CORE_LEVELS)
NEORL2_TASKS = ("Pipeline", "Simglucose", "RocketRecovery", "RandomFrictionHopper", "DMSD", "Fusion",
                "SafetyHalfCheetah")

QUICK_DATASET = ENV_LEVEL
"""what the quick check's data are collected from: the shipped hopper medium policy (the quickstart's)."""
QUICK_TRANSITIONS = 20_000
QUICK_DATASET_ID = dataset_id(QUICK_TRANSITIONS)
"""the quick check's data: :data:`QUICK_TRANSITIONS` rows of hopper-medium, under an id that names their size
(as the quickstart's ``local/hopper-medium-50k-v0``, :func:`offrl.quickstart.dataset_id`) so that they never
stand in for the 1M-row ``local/hopper-medium-v0``, and so that the runs' ids do not depend on where the data
root is."""
QUICK_SPEC: dict[str, Any] = {
    "name": "offrl-local-v0-quick",
    "description": "the quick CPU check of offrl-local-v0: BC and TD3+BC, small networks, short budgets",
    "algos": ["bc", "td3bc"],
    "dataset": QUICK_DATASET_ID,
    "seeds": [0, 1, 2, 3, 4],
    "train": {"steps": 3000, "chunk": 500, "eval_every": 1000, "eval_episodes": 10, "normalize_obs": True},
    "hp": {"hidden": [64, 64]},
}
"""The quick rows (their data made by :func:`prepare_quick_data`); their references, source
``offrl-local-v0-quick``, were recorded with exactly these settings on other seeds (docs/reproduce.md)."""


@dataclasses.dataclass(frozen=True)
class Context:
    """What building a target's specs may depend on."""

    sweeps_dir: Path | None = None
    """the folder of the sweep YAML files (default: ``sweeps/`` of the offrl checkout, :func:`sweeps_dir`)."""


@dataclasses.dataclass(frozen=True)
class Target:
    """One table to reproduce.

    Args:
      name: what ``offrl reproduce NAME`` says.
      description: one line for ``offrl reproduce list`` and the report.
      source: the ``published_scores.csv`` source id of the reference rows.
      scores: which of our per-seed scores the reference reports (``last``: final evaluation;
        ``best``: best evaluation over training), compared one row each.
      specs: ``specs(context) -> [SweepSpec, ...]``: the runs of the table.
      tolerance: the default band of the verdict rule (``--std-multiple`` / ``--min-points`` override).
      provenance: where the reference numbers come from, for the report.
      recordable: our own measured table: ``--record`` writes its rows into ``published_scores.csv``.
      quick: the target ``--quick`` runs instead (short CPU rows against recorded references).
      env_hint: added to the message when an evaluation env cannot be made.
      needs_quick_data: its specs read the quick check's dataset (:func:`prepare_quick_data`).
      check_seeds: the seeds the target's runs train (a check's seeds); ``--record`` must then train
        others (``--seeds``), or the check would compare runs with themselves.
      reference_seeds: how many seeds each reference row averages when its ``published_scores.csv`` line
        does not say (the report's estimate of the rows flagged by chance needs it).
    """

    name: str
    description: str
    source: str
    scores: tuple[str, ...]
    specs: Callable[[Context], list[SweepSpec]]
    tolerance: Tolerance = Tolerance()
    provenance: str = ""
    recordable: bool = False
    quick: str | None = None
    env_hint: str = ""
    needs_quick_data: bool = False
    check_seeds: tuple[int, ...] = ()
    reference_seeds: int | None = None


TARGETS: Registry[Target] = Registry("reproduce target")


def get_target(name: str, *, quick: bool = False) -> Target:
    """The target ``name`` (unknown names raise with close matches); with ``quick``, its quick variant."""
    if name not in TARGETS:
        raise UnknownIdError(TARGETS.kind, name, TARGETS.names())
    target = TARGETS[name]
    if quick:
        if target.quick is None:
            have = [n for n, t in TARGETS.items() if t.quick]
            raise ConfigError(f"--quick: target {name!r} has no quick check (targets with one: {', '.join(have)})")
        target = TARGETS[target.quick]
    return target


def sweeps_dir(path: str | Path | None = None) -> Path:
    """The folder of the sweep files: ``path``, else ``sweeps/`` beside the installed package (a
    checkout of offrl)."""
    d = Path(path) if path is not None else Path(__file__).resolve().parents[2] / "sweeps"
    if not d.is_dir():
        raise OffrlError(f"sweep files not found at {d}: run from a checkout of offrl, or pass --sweeps-dir "
                         "with the folder holding sweeps/*.yaml")
    return d


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A sweep spec as a sweep file holds it, and the file it was read from (None: built in code)."""

    spec: dict[str, Any]
    path: Path | None = None


def _yaml(ctx: Context, name: str) -> SweepSpec:
    import yaml

    from offrl import yamlfile

    path = sweeps_dir(ctx.sweeps_dir) / name
    try:
        spec = yamlfile.load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read sweep {path}: {e}") from None
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: a sweep file is a mapping")
    return SweepSpec(spec, path)


def _glob(ctx: Context, pattern: str) -> list[SweepSpec]:
    folder = sweeps_dir(ctx.sweeps_dir)
    files = sorted(p.name for p in folder.glob(pattern))
    if not files:
        raise OffrlError(f"no sweep files {pattern} in {folder}")
    return [_yaml(ctx, f) for f in files]


# --------------------------------------------------------------------------------------------------
# the targets
# --------------------------------------------------------------------------------------------------
def _corl_specs(ctx: Context) -> list[SweepSpec]:
    # CORL's offline gym-MuJoCo settings (corl-team/CORL configs/offline/*/*_v2.yaml): 1M steps, 4 seeds,
    # 10 evaluation episodes every 5000 steps; our algorithm defaults are CORL's (docs/training.md).
    mlp = {"name": "corl-mlp", "algos": ["bc", "td3bc", "iql", "cql"], "datasets": list(D4RL_GYM), "seeds": 4,
           "train": {"steps": 1_000_000, "chunk": 1000, "eval_every": 5000, "eval_episodes": 10,
                     "normalize_obs": True}}
    return [SweepSpec(mlp), _yaml(ctx, "dt_corl.yaml")]


def _neorl2_specs(ctx: Context) -> list[SweepSpec]:
    # NeoRL-2's benchmark: seeds 7/42/210, the last evaluation. Its environments are registered by the
    # neorl2 package; "neorl2:<Task>" makes gymnasium import it in every process that evaluates.
    return [SweepSpec({"name": f"neorl2-{task}", "algos": ["bc", "cql", "td3bc"], "dataset": f"neorl2/{task}-train",
             "seeds": [7, 42, 210],
             "train": {"steps": 1_000_000, "chunk": 1000, "eval_every": 5000, "eval_episodes": 10,
                       "normalize_obs": True, "env_id": f"neorl2:{task}"}}) for task in NEORL2_TASKS]


def _quick_specs(ctx: Context) -> list[SweepSpec]:
    return [SweepSpec(dict(QUICK_SPEC))]


def _register(t: Target) -> Target:
    return TARGETS.register(t.name, t)


_register(Target(
    name="offrl-local-v0",
    description="our reference table on regenerable data: local/{hopper,halfcheetah,walker2d}-* x BC, TD3+BC, IQL, "
                "CQL, DT, MO-DT, 5 seeds",
    source="offrl-local-v0", scores=SCORES,
    specs=lambda ctx: _glob(ctx, "offrl_local_v0_*.yaml"),
    provenance="offrl's own runs (sweeps/offrl_local_v0_*.yaml), recorded with `offrl reproduce offrl-local-v0 "
               "--record`; the card, date, offrl version and command of each row are in published_scores.csv. "
               "The band is 2 reference stds: with 5 seeds on each side, 1 std judges about 17% of an unchanged "
               "install's rows not consistent by seed noise alone, 2 std about 4% (docs/reproduce.md)",
    tolerance=Tolerance(std_multiple=2.0), recordable=True, quick="offrl-local-v0-quick"))
_register(Target(
    name="offrl-local-v0-quick",
    description=f"CPU regression check: BC and TD3+BC on {QUICK_DATASET_ID} ({QUICK_TRANSITIONS:,} transitions), "
                "3k steps, small networks (`offrl reproduce offrl-local-v0 --quick`)",
    source="offrl-local-v0-quick", scores=SCORES, specs=_quick_specs, tolerance=Tolerance(std_multiple=2.0),
    provenance="quick references recorded on a CPU with `offrl reproduce offrl-local-v0 --quick --seeds ... "
               "--record` on 20 seeds the check does not use; the band is 2 reference stds so that an unchanged "
               "install on another CPU does not fail by chance (docs/reproduce.md)",
    recordable=True, needs_quick_data=True, check_seeds=tuple(QUICK_SPEC["seeds"])))
_register(Target(
    name="corl-last",
    description="CORL's D4RL gym table, last evaluation: BC, TD3+BC, IQL, CQL (1M steps), DT (100k), 4 seeds",
    source="corl-last", scores=("last",), specs=_corl_specs,
    provenance="corl-team/CORL README tables (D4RL v2 datasets on gym-MuJoCo v2 envs, 4 seeds); we evaluate on "
               "Gymnasium MuJoCo v5 envs with the same observations", reference_seeds=4))
_register(Target(
    name="corl-best",
    description="CORL's D4RL gym table, best evaluation over training (same runs as corl-last)",
    source="corl-best", scores=("best",), specs=_corl_specs,
    provenance="corl-team/CORL README tables, best evaluation per seed averaged over 4 seeds", reference_seeds=4))
_register(Target(
    name="dt-paper",
    description="the Decision Transformer paper's D4RL gym table (Chen et al. 2021, Table 2), 3 seeds, 100k steps",
    source="dt-paper", scores=("last",), specs=lambda ctx: [_yaml(ctx, "dt_paper.yaml")],
    tolerance=Tolerance(std_multiple=2.0, min_points=3.0),
    provenance="Chen et al. 2021 (arXiv 2106.01345) Table 2, mean ± std over 3 seeds, compared with our last "
               "evaluation; the band follows the guidance of 2 paper std, at least 3 "
               "points (the paper's std is below 1 on several rows)", reference_seeds=3))
_register(Target(
    name="neorl2",
    description="NeoRL-2's benchmark table: BC, CQL, TD3+BC on its 7 tasks, seeds 7/42/210",
    source="neorl2", scores=("last",), specs=_neorl2_specs,
    provenance="polixir/NeoRL2 benchmark/task_score.csv: the best configuration of a grid search, mean ± std over "
               "3 seeds; we train the default configuration, so rows lower than the reference can reflect the "
               "search rather than the code", reference_seeds=3,
    env_hint="NeoRL-2's environments come from the neorl2 package of github.com/polixir/NeoRL2 (the PyPI wheel "
             "0.0.1 lacks its reward, terminal and data modules); install it from the repository to evaluate"))


# --------------------------------------------------------------------------------------------------
# the quick check's data and the selection of rows
# --------------------------------------------------------------------------------------------------
def prepare_quick_data(data_root: str | Path | None = None, *, make: bool = True, progress: bool = True,
                       out=None) -> Path:
    """The quick check's dataset :data:`QUICK_DATASET_ID` in the data root, collected from the shipped
    hopper policy when absent (a few seconds, saved under that id: :func:`offrl.collection.collect`'s
    ``dataset_id``; not with ``make=False``); returns its folder. Other data saved under that id are refused,
    never overwritten (:func:`offrl.quickstart.quickstart_dataset`)."""
    from offrl.collection import collect
    from offrl.datasets import local_dataset_dir
    from offrl.quickstart import quickstart_dataset

    path = local_dataset_dir(QUICK_DATASET_ID, data_root)
    if not make:
        return path
    if path.exists():
        quickstart_dataset(QUICK_TRANSITIONS, root=data_root, progress=progress)  # checks the size
        return path
    if out is not None:
        print(f"collecting the quick check's data: {QUICK_TRANSITIONS:,} transitions of `offrl collect "
              f"{QUICK_DATASET}` as {QUICK_DATASET_ID} into {path.parent.parent}", file=out, flush=True)
    collect(QUICK_DATASET, steps=QUICK_TRANSITIONS, dataset_id=QUICK_DATASET_ID, root=data_root, minari=False,
            progress=progress)
    return path
