"""Run kinds: what one run of a sweep is (a config dataclass), how it is built, checked and run.

A sweep file names its kind (``kind: train``, the default). The sweep layer knows nothing about
algorithms or trainers: it expands the file's search space into nested mappings and hands each to
the kind, which turns it into a validated config; the backends hand configs back to the kind's
``run``. :data:`KINDS` holds them; ``train`` (:class:`offrl.train.TrainConfig` run by
:func:`offrl.train.train`) is registered here, and another trainer registers its own kind with
:func:`register_kind` the same way.

How a sweep file maps onto a config (``kind.build``):

* a key of ``keys`` (``algo``, ``dataset``) is the config field of that name;
* ``seeds`` is the config's ``seeds`` field (the vmapped axis: one process trains them all);
* the entries of a ``field_sections`` mapping (``train:``) are config fields of their own names;
* the entries of a ``pair_sections`` mapping (``hp:``) become the config field of the section's
  name as ``name=value`` strings, the form the trainer's CLI takes, so that a run's record and the
  command line that repeats it say the same thing;
* a list under a ``plurals`` key (``datasets:``) is a search axis over its singular key.

Every config must have the fields ``run_id``, ``results_dir`` and ``seeds``; the sweep sets the first
two. Fields ``wandb_project``, ``wandb_group`` and ``wandb_tags``, where a config has them, receive the
sweep's wandb settings.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from offrl.errors import ConfigError, suggest
from offrl.registry import Registry

__all__ = ["KINDS", "RunKind", "coerce_fields", "format_pair_value", "get_kind", "register_kind"]


@dataclasses.dataclass(frozen=True)
class RunKind:
    """A kind of run a sweep can expand to.

    Args:
      name: what ``kind:`` in a sweep file says.
      config_cls: the frozen config dataclass of one run (all its seeds).
      run: ``run(config) -> final dict``; trains (or resumes) the run, returns its ``final.json``.
      validate: ``validate(config, pairs)`` raises :class:`~offrl.errors.ConfigError` /
        :class:`~offrl.errors.UnknownIdError` for anything wrong beyond field types (unknown
        hyperparameters, out-of-range values, unknown dataset ids). ``pairs`` holds the typed
        values of each pair section as written in the file, e.g. ``{"hp": {"alpha": 2.5}}``.
      data_ids: the dataset ids (or paths) a run reads; the launcher checks they are present.
      data_root: ``data_root(config) -> str | None``: the data root a run reads its datasets from (as the
        ``root`` of :func:`offrl.datasets.load`); None, the default, for the default root (``$OFFRL_DATA_DIR``
        or ``~/.offrl/data``). Presence checks, missing-data hints, ``--download`` and ``--collect`` use it.
      label: a short readable prefix of the run id (e.g. ``td3bc-d4rl_hopper-medium-v2``).
      columns: the values shown for a run in ``offrl sweep plan`` (e.g. algorithm and dataset).
      work: what a run costs, for time estimates: a :class:`offrl.sweep.plan.Work` (or a plain
        ``(algorithm, gradient steps per seed)`` pair).
      keys / field_sections / pair_sections / plurals: the sweep file's vocabulary (module docstring).
      required: keys a sweep file must set (directly, through a plural, or as a search axis).
      program: the ``offrl`` sub-command that runs one config from the command line (``("train",)``),
        for ``offrl sweep export-wandb``; empty if there is none.
      not_identity: config fields that change what a run records but not what it trains (e.g. an extra
        evaluation): left out of the fields' digest (run ids of kinds without ``identity``, and the ids runs
        were recorded under before ``identity`` existed), so that adding such a field keeps earlier ids.
      identity: ``identity(config) -> dict``: what the run computes, in canonical form (the algorithm's and
        method's options with their defaults filled in and in their fields' types; no setting that only
        says how the run computes or records, such as evaluation workers, checkpoints or wandb). Its
        digest is the run id, so that writing a default out, ``1`` for ``1.0`` or changing a bookkeeping
        setting keeps a run's id. It may leave out only what the kind's resume check lets a run change,
        or a rerun would find a folder it must refuse. None: the config's fields as given.
    """

    name: str
    config_cls: type
    run: Callable[[Any], dict]
    validate: Callable[[Any, Mapping[str, Mapping[str, Any]]], None]
    data_ids: Callable[[Any], list[str]]
    label: Callable[[Any], str]
    columns: Callable[[Any], dict[str, str]]
    work: Callable[[Any], Any]
    keys: tuple[str, ...] = ()
    field_sections: tuple[str, ...] = ()
    pair_sections: tuple[str, ...] = ()
    plurals: Mapping[str, str] = dataclasses.field(default_factory=dict)
    required: tuple[str, ...] = ()
    program: tuple[str, ...] = ()
    description: str = ""
    not_identity: tuple[str, ...] = ()
    identity: Callable[[Any], dict] | None = None
    data_root: Callable[[Any], str | None] = dataclasses.field(default=lambda config: None)  # the default root

    @property
    def sections(self) -> tuple[str, ...]:
        return self.field_sections + self.pair_sections

    def build(self, spec: Mapping[str, Any]) -> Any:
        """A validated config from one run's nested mapping (top-level keys, ``seeds``, sections)."""
        values: dict[str, Any] = {k: spec[k] for k in self.keys if k in spec}
        values["seeds"] = spec["seeds"]
        for section in self.field_sections:
            for name, value in (spec.get(section) or {}).items():
                if name in self.keys or name == "seeds":
                    raise ConfigError(f"{section}.{name}: set {name} at the top level of the sweep file")
                if name in self.pair_sections:
                    raise ConfigError(f"{section}.{name}: write these in the {name}: section")
                if name in ("run_id", "results_dir"):
                    raise ConfigError(f"{section}.{name}: the sweep sets it (choose the root with --results-dir)")
                values[name] = value
        pairs: dict[str, dict[str, Any]] = {}
        for section in self.pair_sections:
            typed = dict(spec.get(section) or {})
            pairs[section] = typed
            values[section] = tuple(f"{k}={format_pair_value(v, f'{section}.{k}')}" for k, v in sorted(typed.items()))
        config = self.config_cls(**coerce_fields(self.config_cls, values))
        self.validate(config, pairs)
        return config

    def from_dict(self, values: Mapping[str, Any]) -> Any:
        """The config back from ``dataclasses.asdict`` output that went through JSON (lists -> tuples)."""
        return self.config_cls(**coerce_fields(self.config_cls, values))


KINDS: Registry[RunKind] = Registry(
    "sweep run kind", unknown_hint="one of your own is known once its module is named in OFFRL_PLUGINS: "
                     "docs/extending.md")


def register_kind(kind: RunKind, *, overwrite: bool = False) -> RunKind:
    """Make ``kind:`` ``kind.name`` usable in sweep files."""
    return KINDS.register(kind.name, kind, overwrite=overwrite)


# Kinds whose trainers live in other packages, registered when first named (so that importing the
# sweep layer does not import every trainer).
_PROVIDERS = {"continual": "offrl.continual.sweep_kind"}


def get_kind(name: str) -> RunKind:
    """The registered kind ``name`` (unknown names raise with suggestions)."""
    if name not in KINDS and name in _PROVIDERS:
        import importlib

        importlib.import_module(_PROVIDERS[name])
    if name not in KINDS:
        from offrl.errors import UnknownIdError

        raise UnknownIdError(KINDS.kind, name, sorted({*KINDS.names(), *_PROVIDERS}), KINDS.unknown_hint)
    return KINDS[name]


# ------------------------------------------------------------------------ values and types
def format_pair_value(value: Any, where: str) -> str:
    """A YAML value in the ``name=value`` form (lists as ``a,b``; booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, list | tuple) and value and all(not isinstance(x, list | tuple | dict) for x in value):
        return ",".join(format_pair_value(x, where) for x in value)
    raise ConfigError(f"{where}: {value!r} cannot be written as name=value (use a number, a string, "
                      "true/false or a flat list)")


def coerce_fields(config_cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` checked against ``config_cls``'s field types (YAML/JSON lists become tuples).

    Raises:
      ConfigError: an unknown field (with close matches) or a value of the wrong type.
    """
    hints = typing.get_type_hints(config_cls)
    names = [f.name for f in dataclasses.fields(config_cls)]
    out = {}
    for name, value in values.items():
        if name not in hints or name not in names:
            hint = suggest(name, names)
            raise ConfigError(f"{config_cls.__name__} has no field {name!r}"
                              + (f"; did you mean {hint[0]!r}?" if hint else ""))
        out[name] = _coerce(value, hints[name], f"{config_cls.__name__}.{name}")
    return out


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for member in args:
            try:
                return _coerce(value, member, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}={value!r}: expected {_type_name(hint)}")
    if hint is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}={value!r}: expected None")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}={value!r}: expected a list")
        item = args[0] if args and (len(args) == 2 and args[1] is Ellipsis) else Any
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{where}={value!r}: expected one of {list(args)}")
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif isinstance(hint, type) and isinstance(value, hint):
        return value
    raise ConfigError(f"{where}={value!r}: expected {_type_name(hint)}")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


# ------------------------------------------------------------------------ the train kind
def _train_run(tc) -> dict:
    from offrl.train import train

    return train(tc)


def _train_validate(tc, pairs: Mapping[str, Mapping[str, Any]]) -> None:
    """Algorithm, hyperparameters (names with suggestions, ranges), chunk vs the algorithm's update
    size, and the dataset id, all without loading data."""
    from offrl import algos
    from offrl.train import parse_overrides

    algo = algos.get(tc.algo)
    typed = {k: tuple(v) if isinstance(v, list) else v for k, v in (pairs.get("hp") or {}).items()}
    _check_list_fields(algo, typed)
    try:
        cfg = algo.make_config(**typed)
    except TypeError as e:  # a value of another type than the field's, which its checks cannot compare
        raise ConfigError(f"{tc.algo} hyperparameters {typed}: {e}") from None
    parsed = parse_overrides(algo, tc.hp)
    bad = [k for k in typed if parsed[k] != getattr(cfg, k)]
    if bad:  # the run's record and `offrl train --hp ...` must mean the same config
        raise ConfigError(f"{tc.algo} hyperparameter(s) {bad}: the name=value form "
                          f"{[p for p in tc.hp if p.split('=', 1)[0] in bad]} reads back as "
                          f"{[parsed[k] for k in bad]}; write the value as the field's type")
    tc.resolved_chunk(cfg.steps_per_call)  # a chunk that does not fit the algorithm's update raises here
    _check_dataset_id(tc.dataset)


def _check_list_fields(algo, typed: Mapping[str, Any]) -> None:
    """A list-valued hyperparameter (``hidden: [256, 256]``) must be given as a non-empty list of its item
    type: a string (``"32,32"``) or a number would otherwise reach the config as another type."""
    import dataclasses

    from offrl.train import _tuple_item_type

    fields = {f.name: f for f in dataclasses.fields(algo.config_cls)}
    for name, value in typed.items():
        default = fields[name].default if name in fields else None
        if not isinstance(default, tuple):
            continue
        item = _tuple_item_type(algo.config_cls, name, default)
        example = list(default) or f"[a {item.__name__}, ...]"
        if not isinstance(value, tuple) or not value:
            raise ConfigError(f"{algo.name}.{name}: a non-empty list, e.g. {example}; got {value!r}")
        allowed = {int: (int,), float: (int, float)}.get(item, (item,))  # YAML writes 1.0 as 1 too
        if not all(isinstance(x, allowed) and not (isinstance(x, bool) and item is not bool) for x in value):
            raise ConfigError(f"{algo.name}.{name}: a list of {item.__name__}s, e.g. {example}; got {list(value)!r}")


def _train_work(tc):
    from offrl import algos
    from offrl.sweep.plan import Work, batch_label
    from offrl.train import parse_overrides

    algo = algos.get(tc.algo)
    batch = getattr(algo.make_config(**parse_overrides(algo, tc.hp)), "batch_size", None)
    return Work(batch_label(tc.algo, batch), tc.steps, tc.algo, batch)


def _check_dataset_id(source: str) -> None:
    from pathlib import Path

    from offrl.datasets import registry as R
    from offrl.datasets.api import is_registry_id

    if is_registry_id(source):
        R.get_info(source)  # unknown ids raise with suggestions
    elif "/" not in source and not Path(source).exists():
        raise ConfigError(f"dataset {source!r} is neither a registered id (e.g. d4rl/hopper-medium-v2) nor a path"
                          + (f"; did you mean {suggest(source, R.DATASETS.names())[0]!r}?"
                             if suggest(source, R.DATASETS.names()) else ""))


def _train_identity(tc) -> dict:
    """:func:`offrl.train.train_identity` of ``tc`` with the algorithm's config its ``hp`` strings give."""
    from offrl.train import train_identity

    return train_identity(tc)


def _train_label(tc) -> str:
    from offrl.train import run_id_prefix

    return run_id_prefix(tc)


def _make_train_kind() -> RunKind:
    from offrl.train import TrainConfig

    return RunKind(
        name="train",
        config_cls=TrainConfig,
        run=_train_run,
        validate=_train_validate,
        data_ids=lambda tc: [tc.dataset],
        data_root=lambda tc: tc.data_root,  # `train.data_root:` of the file, as `--data-root` of `offrl train`
        label=_train_label,
        columns=lambda tc: {"algo": tc.algo, "dataset": tc.dataset},
        work=_train_work,
        identity=_train_identity,
        # where the data are, not what a run computes (TrainConfig.data_root): out of the ids that runs were
        # recorded under before identity existed as well, which it would otherwise change even when unset
        not_identity=("data_root",),
        keys=("algo", "dataset"),
        field_sections=("train",),
        pair_sections=("hp",),
        plurals={"datasets": "dataset", "algos": "algo"},
        required=("algo", "dataset"),
        program=("train",),
        description="offrl.train.TrainConfig run by offrl.train.train (`offrl train`)",
    )


register_kind(_make_train_kind())
