"""Sweep files: parse, check and expand a YAML spec into runs (one validated config per run).

A sweep file (full schema in docs/sweeps.md)::

    name: td3bc-alpha                  # required; names the sweep in messages, wandb groups and tags
    kind: train                        # optional (default train): which RunKind the runs are
    algo: td3bc                        # top-level keys of the kind (train: algo, dataset)
    datasets: [d4rl/hopper-medium-v2, d4rl/walker2d-medium-v2]   # a plural key = a search axis
    seeds: [0, 1, 2, 3, 4]             # the vmapped axis: all seeds of a config train in one process
    train: {steps: 1000000, eval_every: 5000}    # config fields shared by every run
    hp: {batch_size: 256}                        # algorithm hyperparameters shared by every run
    grid:                              # cartesian product of every listed value
      hp.alpha: [1.0, 2.5, 4.0]        # or nested: hp: {alpha: [...]}
    variants:                          # settings that go together, each crossed with the grid
      - {hp.hidden: [256, 256], hp.batch_size: 256}
      - {hp.hidden: [512, 512], hp.batch_size: 1024}
    random:                            # `count` draws from distributions, crossed with the grid
      count: 8
      seed: 0
      params:
        hp.actor_lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-3}
        hp.hidden: [[256, 256], [512, 512]]       # a list is a choice
    wandb: {project: offrl, tags: [ablation]}

Runs = (plural axes x grid x variants) x random draws; a searched value replaces the fixed value of the same
key (``train.steps`` searched overrides ``train: {steps: ...}``). Every run gets the id ``<label>-<hash of
what it computes>`` (:func:`run_id_of`), the same whenever the file expands to the same run however it is
written, so a rerun finds its results. Everything is checked while expanding, before anything runs: a bad
key, hyperparameter or dataset id fails the whole sweep with the field named and close matches suggested.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from offrl.errors import ConfigError, OffrlError, UnknownIdError, close_ids, suggest
from offrl.sweep.kinds import RunKind, get_kind

__all__ = ["DISTRIBUTIONS", "Sweep", "apply_overrides", "legacy_run_id_of", "load_sweep", "optional_keys",
           "parse_sweep", "run_id_of", "sample_random", "select_runs"]

# keys every sweep file may use whatever its kind
COMMON_KEYS = ("name", "kind", "description", "seeds", "grid", "variants", "random", "wandb")
DISTRIBUTIONS = ("uniform", "log_uniform", "int", "choice")
RANDOM_KEYS = ("count", "seed", "params")
WANDB_KEYS = ("project", "tags")
# config fields that say where a run is written, reported or computed (devices), not what it computes: not in run ids
NOT_IDENTITY = ("run_id", "results_dir", "progress", "wandb_project", "wandb_group", "wandb_tags", "devices")
SIGNIFICANT_DIGITS = 6  # random floats are rounded to this many digits: readable, exact as name=value


@dataclasses.dataclass
class Sweep:
    """An expanded sweep: ``runs[i]`` is a validated config (its ``run_id`` and ``results_dir`` set)
    and ``params[i]`` the searched values that made it (``{"hp.alpha": 2.5, "dataset": ...}``)."""

    name: str
    kind: RunKind
    runs: list
    params: list[dict[str, Any]]
    results_dir: Path
    grid: dict[str, list] = dataclasses.field(default_factory=dict)
    random: dict[str, Any] | None = None
    variants: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """``variants:`` of the file: mappings of settings that go together (each crossed with the grid)."""
    wandb: dict[str, Any] = dataclasses.field(default_factory=dict)
    path: Path | None = None
    description: str = ""
    duplicates: int = 0
    """configurations the search produced more than once (each runs once)."""

    @property
    def run_ids(self) -> list[str]:
        return [c.run_id for c in self.runs]

    @property
    def searched(self) -> list[str]:
        """The searched keys, in file order (plural axes, grid, variants, random)."""
        keys: list[str] = []
        for p in self.params:
            keys += [k for k in p if k not in keys]
        return keys

    @property
    def algo(self) -> str:
        """The algorithm of a ``train`` sweep whose runs share one (raises otherwise)."""
        algos = sorted({c.algo for c in self.runs})
        if self.kind.name != "train" or len(algos) != 1:
            raise ConfigError(f"sweep {self.name!r} has no single algorithm ({algos})")
        return algos[0]

    @property
    def algo_config(self):
        """The algorithm config of a ``train`` sweep whose runs share one hyperparameter set."""
        from offrl import algos
        from offrl.train import parse_overrides

        hps = {c.hp for c in self.runs}
        if len(hps) != 1:
            raise ConfigError(f"sweep {self.name!r} searches hyperparameters; each run has its own config")
        algo = algos.get(self.algo)
        return algo.make_config(**parse_overrides(algo, self.runs[0].hp))

    def with_eval_workers(self, workers: int | None) -> Sweep:
        """Every run evaluating with ``workers`` processes stepping its evaluation envs (None: as the file
        says). Run ids stay: the processes change where the envs step, not what they return."""
        if workers is None:
            return self
        if workers < 0:
            raise ConfigError(f"--eval-workers {workers}: a number of processes, 0 (in the run's own process) or more")
        if "eval_workers" not in {f.name for f in dataclasses.fields(self.kind.config_cls)}:
            raise ConfigError(f"runs of kind {self.kind.name!r} have no evaluation workers to set")
        return dataclasses.replace(self, runs=[dataclasses.replace(c, eval_workers=workers) for c in self.runs])

    def select(self, data_ids: tuple[str, ...] = ()) -> Sweep:
        """The runs that read one of ``data_ids`` (all runs when empty), each named as :func:`select_runs`
        takes it (with or without its source prefix)."""
        if not data_ids:
            return self
        kept = select_runs([self], datasets=data_ids, of=f"sweep {self.name!r}")
        return kept[0] if kept else dataclasses.replace(self, runs=[], params=[])


def select_runs(sweeps, *, algos=(), datasets=(), of: str = "this target") -> list[Sweep]:
    """The sweeps with only the runs of ``algos`` and ``datasets`` (all when empty); sweeps left without
    runs are dropped (``offrl sweep --datasets``, ``offrl reproduce --algos/--datasets``).

    A dataset is named as the sweeps give it (an id or a path; case does not matter) or by its end after
    a ``/``, such as its id without the source prefix (``hopper-medium-v2`` for ``d4rl/hopper-medium-v2``)
    and, where no id ends so, also without its version (``hopper-medium`` for ``local/hopper-medium-v0``),
    where that names exactly one dataset of the sweeps (a run reads the datasets its kind's ``data_ids``
    says: a continual run those of its stream's tasks). A name that matches none, or several, raises
    :class:`~offrl.errors.ConfigError` with close matches and the datasets there are; an unknown algorithm
    raises :class:`~offrl.errors.UnknownIdError`. ``of`` names the sweeps in those messages."""
    runs = [(s, c) for s in sweeps for c in s.runs]
    known_algos = sorted({str(getattr(c, "algo", "")) for _, c in runs} - {""})
    for a in algos:
        if a not in known_algos:
            raise UnknownIdError(f"algorithm of {of}", a, known_algos)
    reads = {id(c): s.kind.data_ids(c) for s, c in runs}
    known_data = sorted({d for ids in reads.values() for d in ids})
    want: set[str] = set()
    for d in datasets:
        want |= _dataset_named(d, known_data, of)
    out = []
    for s in sweeps:
        keep = [i for i, c in enumerate(s.runs)
                if (not algos or getattr(c, "algo", None) in algos) and (not want or want & set(reads[id(c)]))]
        if keep:
            out.append(dataclasses.replace(s, runs=[s.runs[i] for i in keep], params=[s.params[i] for i in keep]))
    return out


def _dataset_named(name: str, known: list[str], of: str) -> set[str]:
    """The one dataset of ``known`` that ``name`` names (:func:`select_runs`)."""
    low = name.strip().lower()
    exact = {k for k in known if k.lower() == low}
    if exact:
        return exact
    ends = {k for k in known if low and k.lower().endswith("/" + low.lstrip("/"))}
    if not ends:  # the name without its version, as `offrl collect hopper-medium` takes it
        unversioned = {k: re.sub(r"-v\d+$", "", k.lower()) for k in known}
        ends = {k for k, u in unversioned.items() if low and (u == low or u.endswith("/" + low.lstrip("/")))}
    if len(ends) == 1:
        return ends
    if ends:
        raise ConfigError(f"--datasets {name!r} names several datasets of {of}: {', '.join(sorted(ends))}; "
                          "give one of them in full")
    # names that hold it, then close ones (strictly: ids of one source share most of their letters), whole,
    # without the source prefix and without the version too, the forms --datasets takes (`hoper-medium` is
    # close to `hopper-medium`, not to `hopper-medium-v2`, whose version counts against it), in any case
    lowered = {k.lower(): k for k in known}
    short: dict[str, list[str]] = {}
    for k in known:
        end = k.lower().rsplit("/", 1)[-1]
        for form in dict.fromkeys([end, re.sub(r"-v\d+$", "", end)]):
            short.setdefault(form, []).append(k)
    end = low.rsplit("/", 1)[-1]
    hint = [k for k in known if low and low in k.lower()] + [lowered[h] for h in close_ids(low, lowered, n=3)]
    for form in dict.fromkeys([end, re.sub(r"-v\d+$", "", end)]):
        hint += [k for h in close_ids(form, short, n=3) for k in short[h]]
    hint = list(dict.fromkeys(hint))[:3]
    raise ConfigError(f"--datasets {name!r}: not a dataset of {of}"
                      + (f"; did you mean {', '.join(map(repr, hint))}?" if hint else "")
                      + f" (its datasets: {', '.join(known)})")


def load_sweep(path: str | os.PathLike, *, results_dir: str | os.PathLike | None = None,
               overrides: tuple[str, ...] | list[str] = ()) -> Sweep:
    """Parse, check and expand the sweep YAML at ``path`` (nothing runs), with ``overrides``
    (``KEY.PATH=VALUE``, :func:`apply_overrides`) applied to the file's contents first."""
    import yaml

    from offrl import yamlfile

    path = Path(path)
    try:
        spec = yamlfile.load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read sweep {path}: {e}") from None
    source = str(path)
    if overrides:
        spec = apply_overrides(spec, overrides, source)
        source += " with " + " ".join(overrides)
    return parse_sweep(spec, source=source, results_dir=results_dir, path=path)


def apply_overrides(spec: Any, overrides: tuple[str, ...] | list[str], source: str = "sweep") -> dict:
    """A copy of the sweep mapping ``spec`` with each ``KEY.PATH=VALUE`` set, VALUE read as YAML.

    ``continual.steps_per_task=30000`` sets a field of a section, ``seeds=[0,1]`` a top-level key,
    ``grid.hp.alpha=[1,2]`` a search axis (a key written flat in the file, ``hp.alpha:``, is replaced as
    written). Sections that do not exist yet are created; the result is checked like the file itself.
    """
    import copy

    import yaml

    from offrl import yamlfile

    if not isinstance(spec, dict):
        raise ConfigError(f"{source}: a sweep file is a mapping; --set cannot apply to it")
    out = copy.deepcopy(spec)
    for item in overrides:
        key, eq, raw = item.partition("=")
        if not eq or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"--set {item!r}: write KEY=VALUE, e.g. continual.steps_per_task=30000 or seeds=[0,1]")
        try:
            value = yamlfile.load(raw)
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {item!r}: the value is not YAML ({e})") from None
        node, parts = out, key.split(".")
        while True:
            rest = ".".join(parts)
            if rest in node or len(parts) == 1:
                node[rest] = value
                break
            head = parts.pop(0)
            child = node.setdefault(head, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {head!r} in {source} is {_short(child)!r}, not a section to set "
                                  f"{'.'.join(parts)!r} in")
            node = child
    return out


def parse_sweep(spec: Any, *, source: str = "sweep", results_dir: str | os.PathLike | None = None,
                path: Path | None = None) -> Sweep:
    """Check and expand a sweep given as a mapping (what the YAML holds)."""
    from offrl.paths import recorded_run_id, results_root

    if not isinstance(spec, dict):
        raise ConfigError(f"{source}: a sweep file is a mapping with the keys name, algo, datasets, seeds ...")
    kind = get_kind(str(spec.get("kind", "train")))
    allowed = (*COMMON_KEYS, *kind.keys, *kind.plurals, *kind.sections)
    for key in spec:
        if key not in allowed:
            hint = suggest(str(key), allowed)
            raise ConfigError(f"{source}: unknown key {key!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
                              + f" (a {kind.name} sweep knows: {', '.join(allowed)})")
    grid = _flatten_axes(spec.get("grid"), kind, f"{source}: grid")
    variants = _parse_variants(spec.get("variants"), kind, source)
    random = _parse_random(spec.get("random"), kind, source)
    varied = {k for v in variants for k in v}
    searched = set(grid) | varied | set(random["params"] if random else ())
    missing = [k for k in ("name", *kind.required, "seeds") if k not in spec
               and (k in ("name", "seeds") or (k not in searched and _plural_of(kind, k) not in spec))]
    if missing:
        raise ConfigError(f"{source}: a {kind.name} sweep needs the keys {['name', *kind.required, 'seeds']} "
                          f"(missing: {', '.join(_with_plural(kind, k) for k in missing)}; "
                          f"optional: {', '.join(optional_keys(kind))}; docs/sweeps.md)")
    name = spec["name"]
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{source}: name must be a non-empty string")
    seeds = _parse_seeds(spec["seeds"], source)

    base: dict[str, Any] = {k: spec[k] for k in kind.keys if k in spec}
    sections = {s: _mapping(spec.get(s), f"{source}: {s}") for s in kind.sections}
    axes: dict[str, list] = {}
    for plural, single in kind.plurals.items():
        if plural not in spec:
            continue
        if single in spec:
            raise ConfigError(f"{source}: give either {single} or {plural}, not both")
        axes[single] = _values(spec[plural], f"{source}: {plural}")
    for key in [*grid, *sorted(varied), *(random["params"] if random else ())]:
        if key in axes:  # searched values replace a fixed value, but two lists for one axis are ambiguous
            raise ConfigError(f"{source}: {key} is listed by its plural key and searched again; keep one")
    random_keys = set(random["params"]) if random else set()
    for one, other, first, second in [("grid", "random", set(grid), random_keys),
                                      ("variants", "grid", varied, set(grid)),
                                      ("variants", "random", varied, random_keys)]:
        both = sorted(first & second)
        if both:
            raise ConfigError(f"{source}: {both} in both {one} and {other}; keep one")
    axes.update(grid)

    wandb = _mapping(spec.get("wandb"), f"{source}: wandb")
    for key in wandb:
        if key not in WANDB_KEYS:
            raise ConfigError(f"{source}: wandb.{key} is not a sweep setting (known: {', '.join(WANDB_KEYS)})")
    tags = wandb.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(f"{source}: wandb.tags must be a list of strings")

    root = results_root(results_dir).absolute()
    draws = sample_random(random) if random else [{}]
    runs, params, seen = [], [], set()
    for point, variant, draw in itertools.product(
            itertools.product(*[[(k, v) for v in vs] for k, vs in axes.items()]), variants or [{}], draws):
        values = {**dict(point), **variant, **draw}
        run_spec = _apply(base, sections, values, seeds)
        try:
            config = kind.build(run_spec)
        except OffrlError as e:  # a bad value or an unknown id (algorithm, dataset): name the run either way
            where = f" (run {len(runs) + 1}: {_show(values)})" if values else ""
            if isinstance(e, UnknownIdError):  # keeps its type and close matches, the file and run named first
                e.args = (f"{source}{where}: {e}",)
                raise
            raise ConfigError(f"{source}{where}: {e}") from None
        run_id = run_id_of(kind, config)
        if run_id in seen:
            continue
        seen.add(run_id)
        run_id = recorded_run_id(run_id, legacy_run_id_of(kind, config), root)
        config = _place(config, run_id, root, name, wandb)
        runs.append(config)
        params.append(values)
    duplicates = math.prod(len(v) for v in axes.values()) * max(1, len(variants)) * len(draws) - len(runs)
    return Sweep(name, kind, runs, params, root, grid=grid, random=random, variants=variants, wandb=dict(wandb),
                 path=path,
                 description=str(spec.get("description") or ""), duplicates=duplicates)


def run_id_of(kind: RunKind, config) -> str:
    """``<kind label>-<8 hex digits>``: a digest of what the run computes, the kind's
    :attr:`~offrl.sweep.kinds.RunKind.identity` (defaults filled in, values in their fields' types, no
    bookkeeping settings), so that the same run has one id however a file writes it."""
    if kind.identity is None:
        return legacy_run_id_of(kind, config)
    return identity_run_id(kind.name, kind.label(config), kind.identity(config))


def identity_run_id(kind_name: str, label: str, identity: Mapping[str, Any]) -> str:
    """``<label>-<8 hex digits>``, the digest of a run kind's ``identity``: the one rule behind a sweep's run
    ids and the trainers' default ones (``offrl train``, ``offrl continual train``), so that the same run
    has the same id from the command line and from a sweep file."""
    from offrl.logging import to_jsonable

    blob = json.dumps({"kind": kind_name, "identity": to_jsonable(identity)}, sort_keys=True)
    return f"{label}-{hashlib.sha1(blob.encode()).hexdigest()[:8]}"


def legacy_run_id_of(kind: RunKind, config) -> str:
    """The id runs were recorded under before run ids digested :attr:`RunKind.identity`: a digest of the
    config's fields as the file gave them (less where the run is written or reported), so that a default
    written out, ``1`` for ``1.0`` or an evaluation worker count made another id. Expanding a sweep uses
    it where a folder of that name exists and none of the run's id does, so earlier runs are found."""
    from offrl.logging import to_jsonable

    fields = {k: v for k, v in dataclasses.asdict(config).items()
              if k not in NOT_IDENTITY and k not in kind.not_identity}
    blob = json.dumps({"kind": kind.name, "config": to_jsonable(fields)}, sort_keys=True)
    return f"{kind.label(config)}-{hashlib.sha1(blob.encode()).hexdigest()[:8]}"


def sample_random(random: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``random["count"]`` draws of every parameter from a ``numpy`` generator seeded with
    ``random["seed"]`` (the same file always draws the same values). Floats keep
    :data:`SIGNIFICANT_DIGITS` digits."""
    rng = np.random.default_rng(random["seed"])
    draws = []
    for _ in range(random["count"]):
        draw = {}
        for key, dist in random["params"].items():
            kind = dist["distribution"]
            if kind == "choice":
                draw[key] = dist["values"][int(rng.integers(len(dist["values"])))]
            elif kind == "int":
                draw[key] = int(rng.integers(dist["min"], dist["max"] + 1))
            else:
                lo, hi = float(dist["min"]), float(dist["max"])
                x = rng.uniform(lo, hi) if kind == "uniform" else math.exp(rng.uniform(math.log(lo), math.log(hi)))
                draw[key] = float(f"{x:.{SIGNIFICANT_DIGITS}g}")
        draws.append(draw)
    return draws


def optional_keys(kind: RunKind) -> list[str]:
    """The keys a sweep file of ``kind`` may leave out, in the order docs/sweeps.md lists them (a key of the
    kind with a plural form as ``quality or qualities``)."""
    own = [k for k in kind.keys if k not in kind.required]
    return ["description", "kind", *(_with_plural(kind, k, "or") for k in own), *kind.sections, "grid",
            "variants", "random", "wandb"]


# ------------------------------------------------------------------------ helpers
def _plural_of(kind: RunKind, single: str) -> str | None:
    return next((p for p, s in kind.plurals.items() if s == single), None)


def _with_plural(kind: RunKind, key: str, style: str = "missing") -> str:
    """``key`` named with its plural form: ``algo (or algos: [...], or searched)`` for a missing key,
    ``quality or qualities`` in a list of optional ones."""
    plural = _plural_of(kind, key)
    if style == "or":
        return f"{key} or {plural}" if plural else key
    if key in ("name", "seeds"):
        return key
    return f"{key} (or {plural}: [...], or searched)" if plural else f"{key} (or searched)"


def _mapping(x: Any, where: str) -> dict:
    if x is None:
        return {}
    if not isinstance(x, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(x).__name__}")
    return dict(x)


def _values(x: Any, where: str) -> list:
    if not isinstance(x, list) or not x:
        raise ConfigError(f"{where} must be a non-empty list of values")
    return list(x)


def _parse_seeds(x: Any, source: str) -> list[int]:
    if isinstance(x, int) and not isinstance(x, bool) and x > 0:
        return list(range(x))
    if (not isinstance(x, list) or not x
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in x)):
        raise ConfigError(f"{source}: seeds must be a list of non-negative integers (or a count), got {x!r}")
    if len(set(x)) != len(x):
        raise ConfigError(f"{source}: seeds {x} has duplicates")
    return list(x)


def _check_key(key: str, kind: RunKind, where: str) -> None:
    """A searchable key: a top-level key of the kind, or ``<section>.<name>``."""
    if key == "seeds":
        raise ConfigError(f"{where}: seeds are not searched: every run trains all of them at once "
                          "(vmapped); list them under seeds:")
    if key in kind.keys:
        return
    section, dot, name = key.partition(".")
    if dot and name and section in kind.sections:
        return
    if key in kind.plurals:
        raise ConfigError(f"{where}: search {kind.plurals[key]!r}, not {key!r}")
    known = [*kind.keys, *(f"{s}.<name>" for s in kind.sections)]
    hint = suggest(key, [*kind.keys, *kind.sections])
    raise ConfigError(f"{where}: cannot search {key!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
                      + f" (searchable: {', '.join(known)})")


def _flatten(x: Any, kind: RunKind, where: str) -> dict[str, Any]:
    """``{hp: {alpha: v}}`` and ``{hp.alpha: v}`` both become ``{"hp.alpha": v}``."""
    out: dict[str, Any] = {}
    for key, value in _mapping(x, where).items():
        key = str(key)
        if key in kind.sections and isinstance(value, dict):
            for name, v in value.items():
                out[f"{key}.{name}"] = v
        else:
            out[key] = value
    for key in out:
        _check_key(key, kind, where)
    return out


def _flatten_axes(x: Any, kind: RunKind, where: str) -> dict[str, list]:
    return {k: _values(v, f"{where}.{k}") for k, v in _flatten(x, kind, where).items()}


def _parse_variants(x: Any, kind: RunKind, source: str) -> list[dict[str, Any]]:
    """``variants:``: a non-empty list of non-empty mappings, each flattened and checked like ``grid:``."""
    if x is None:
        return []
    if not isinstance(x, list) or not x:
        raise ConfigError(f"{source}: variants is a non-empty list of mappings, e.g. "
                          "[{method: er, method_hp.replay: rl}, {method: oer}]")
    out = []
    for i, v in enumerate(x):
        where = f"{source}: variants[{i}]"
        if not isinstance(v, dict) or not v:
            raise ConfigError(f"{where}: each variant is a non-empty mapping of settings (key: value)")
        flat = _flatten(v, kind, where)
        for key, value in flat.items():
            if isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: a value, not a mapping")
        out.append(flat)
    return out


def _parse_random(x: Any, kind: RunKind, source: str) -> dict[str, Any] | None:
    if x is None:
        return None
    where = f"{source}: random"
    r = _mapping(x, where)
    for key in r:
        if key not in RANDOM_KEYS:
            raise ConfigError(f"{where}.{key}: random takes {', '.join(RANDOM_KEYS)} "
                              "(put the distributions under params:)")
    count, seed = r.get("count"), r.get("seed", 0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ConfigError(f"{where}.count must be a positive integer (how many configurations to draw)")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"{where}.seed must be an integer")
    params = {k: _distribution(v, f"{where}.params.{k}") for k, v in _flatten(r.get("params"), kind,
                                                                                f"{where}.params").items()}
    if not params:
        raise ConfigError(f"{where}.params must name at least one distribution")
    return {"count": count, "seed": seed, "params": params}


def _distribution(d: Any, where: str) -> dict[str, Any]:
    if isinstance(d, list):
        d = {"distribution": "choice", "values": d}
    if not isinstance(d, dict) or "distribution" not in d:
        raise ConfigError(f"{where}: a distribution is {{distribution: uniform|log_uniform|int|choice, ...}} "
                          "or a list of choices")
    kind = d["distribution"]
    if kind not in DISTRIBUTIONS:
        hint = suggest(str(kind), DISTRIBUTIONS)
        raise ConfigError(f"{where}: unknown distribution {kind!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
                          + f" (known: {', '.join(DISTRIBUTIONS)})")
    want = ("values",) if kind == "choice" else ("min", "max")
    extra = sorted(set(d) - {"distribution", *want})
    if extra or any(k not in d for k in want):
        raise ConfigError(f"{where}: a {kind} distribution takes exactly {list(want)}" +
                          (f" (not {extra})" if extra else ""))
    if kind == "choice":
        return {"distribution": kind, "values": _values(d["values"], f"{where}.values")}
    lo, hi = d["min"], d["max"]
    number = int if kind == "int" else (int, float)
    if not all(isinstance(v, number) and not isinstance(v, bool) for v in (lo, hi)):
        raise ConfigError(f"{where}: min and max of a {kind} distribution must be "
                          + ("integers" if kind == "int" else "numbers"))
    if not lo < hi:
        raise ConfigError(f"{where}: min {lo} must be below max {hi}")
    if kind == "log_uniform" and lo <= 0:
        raise ConfigError(f"{where}: a log_uniform distribution needs min > 0")
    return {"distribution": kind, "min": lo, "max": hi}


def _apply(base: dict, sections: dict, values: dict, seeds: list[int]) -> dict:
    spec = {**base, **{s: dict(v) for s, v in sections.items()}, "seeds": list(seeds)}
    for key, value in values.items():
        section, dot, name = key.partition(".")
        if dot and section in sections:
            spec[section][name] = value
        else:
            spec[key] = value
    return spec


def _place(config, run_id: str, root: Path, sweep_name: str, wandb: dict):
    """The config with the sweep's run id, results root and wandb settings."""
    names = {f.name for f in dataclasses.fields(config)}
    repl: dict[str, Any] = {"run_id": run_id, "results_dir": str(root)}
    if "wandb_group" in names:
        repl["wandb_group"] = f"{sweep_name}/{run_id}"[:128]
    if "wandb_tags" in names:
        repl["wandb_tags"] = tuple(dict.fromkeys([sweep_name, *getattr(config, "wandb_tags"), *wandb.get("tags", [])]))
    if "wandb_project" in names and wandb.get("project"):
        repl["wandb_project"] = str(wandb["project"])
    return dataclasses.replace(config, **repl)


def _show(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in values.items())


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list | tuple):
        return ",".join(_short(x) for x in v)
    return str(v)
