"""Task streams as data: an ordered list of (task name, env id + kwargs, dataset id), read from YAML.

A stream file::

    name: cheetah-vel
    description: ...
    env: offrl/CheetahVel-v0          # default env id of the tasks (a task may name its own `env`)
    pad: zeros                        # optional: zero-pad tasks whose spaces differ (default: refuse)
    tasks:
      - {name: v0.5, kwargs: {target_velocity: 0.5}}
      - {name: v1.0, kwargs: {target_velocity: 1.0}, dataset: "local/cheetah-vel/v1.0-{quality}-v0"}

A task's dataset defaults to ``local/<stream>/<task>-<quality>-v0``, the per-task data that
``offrl collect <stream>/<task>-<quality>`` makes from the shipped behaviour policies; ``{quality}`` in
an explicit ``dataset`` is filled in by the quality the trainer is asked for. The streams that ship with
offrl live in ``offrl/continual/streams/*.yaml``; any other YAML file can be passed by path.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from offrl.errors import ConfigError, OffrlError, UnknownIdError

#: Dataset qualities of the per-task data: OER's two (``medium``, ``medium-random``), ``expert`` for
#: references, ``random`` (uniform actions). ``medium-random`` concatenates the medium and random data.
QUALITIES = ("medium", "medium-random", "expert", "random")

STREAMS_DIR = Path(__file__).resolve().parent / "streams"
_TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+]*$")
_STREAM_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_LOCAL_TASK_ID = re.compile(r"^local/(?P<stream>[a-z0-9][a-z0-9-]*)/(?P<task>[A-Za-z0-9][A-Za-z0-9_.+]*)-"
                            r"(?P<quality>" + "|".join(sorted(QUALITIES, key=len, reverse=True)) + r")-v0$")
PAD_RULES = ("zeros",)


@dataclasses.dataclass(frozen=True)
class Task:
    """One task of a stream: its env (id and keyword arguments) and where its data comes from."""

    name: str
    env_id: str
    kwargs: Mapping[str, Any]
    dataset: str | None = None
    """explicit dataset id (``{quality}`` is substituted); None = ``local/<stream>/<task>-<quality>-v0``."""

    def dataset_id(self, stream: str, quality: str) -> str:
        """The id of this task's dataset of ``quality``; an explicit dataset without ``{quality}`` whose id
        names another quality (``local/s/t-medium-v0`` asked for ``expert``) is refused, or the run would be
        filed under the quality asked for while it trained on the other."""
        if self.dataset is not None:
            if "{quality}" not in self.dataset:
                parsed = parse_task_dataset_id(self.dataset)
                if parsed is not None and parsed[2] != quality:
                    raise ConfigError(f"task {self.name!r} of stream {stream!r} reads {self.dataset}, "
                                      f"{parsed[2]} data, but quality {quality!r} was asked for: write "
                                      "{quality} in the task's dataset id to follow --quality, or ask for "
                                      f"--quality {parsed[2]}")
            return self.dataset.replace("{quality}", quality)
        return task_dataset_id(stream, self.name, quality)


@dataclasses.dataclass(frozen=True)
class Stream:
    """An ordered sequence of tasks (see the module docstring for the YAML schema)."""

    name: str
    tasks: tuple[Task, ...]
    description: str = ""
    pad: str | None = None
    """how tasks whose observation or action sizes differ are combined: ``zeros`` pads each to the
    largest with zeros (padded action dimensions are dropped before the env sees them); None refuses."""
    path: str | None = None

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def task(self, name: str) -> Task:
        """The task called ``name`` (unknown names get suggestions)."""
        for t in self.tasks:
            if t.name == name:
                return t
        raise UnknownIdError(f"task of stream {self.name!r}", name, self.task_names)

    def dataset_ids(self, quality: str) -> list[str]:
        """Every task's dataset id of ``quality``, in stream order."""
        check_quality(quality)
        return [t.dataset_id(self.name, quality) for t in self.tasks]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "pad": self.pad,
                "tasks": [{"name": t.name, "env": t.env_id, "kwargs": dict(t.kwargs), "dataset": t.dataset}
                          for t in self.tasks]}


def check_quality(quality: str) -> str:
    if quality not in QUALITIES:
        raise UnknownIdError("dataset quality", quality, QUALITIES)
    return quality


def task_dataset_id(stream: str, task: str, quality: str) -> str:
    """``local/<stream>/<task>-<quality>-v0``; inverse of :func:`parse_task_dataset_id`."""
    return f"local/{stream}/{task}-{check_quality(quality)}-v0"


def parse_task_dataset_id(dataset_id: str) -> tuple[str, str, str] | None:
    """``"local/cheetah-vel/v0.5-medium-v0"`` -> ``("cheetah-vel", "v0.5", "medium")``; None if not such an id."""
    m = _LOCAL_TASK_ID.match(dataset_id)
    return (m["stream"], m["task"], m["quality"]) if m else None


def list_streams() -> list[str]:
    """Names of the streams shipped with offrl."""
    return sorted(p.stem for p in STREAMS_DIR.glob("*.yaml"))


def is_stream_file(name_or_path: str | Path) -> bool:
    """Whether :func:`load_stream` reads ``name_or_path`` as a stream file of one's own (a path ending in
    ``.yaml``/``.yml``, or an existing file) rather than as a shipped stream's name."""
    s = str(name_or_path)
    return s.endswith((".yaml", ".yml")) or Path(s).is_file()


def load_stream(name_or_path: str | Path) -> Stream:
    """A shipped stream by name (``cheetah-vel``) or a stream YAML by path; validated, with clear errors."""
    s = str(name_or_path)
    path = Path(s)
    if not is_stream_file(s):
        path = STREAMS_DIR / f"{s}.yaml"
        if not path.is_file():
            raise UnknownIdError("stream", s, list_streams())
    import yaml

    from offrl import yamlfile

    try:
        raw = yamlfile.load(path.read_text())
    except FileNotFoundError:
        raise OffrlError(f"stream file {path} does not exist (shipped streams: {', '.join(list_streams())})") from None
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read stream file {path}: {e}") from None
    return parse_stream(raw, source=str(path))


def parse_stream(raw: Any, source: str = "<stream>") -> Stream:
    """Validate a stream's YAML content (a dict) and build the :class:`Stream`."""
    where = f"stream {source}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping with keys name, tasks (optional: env, pad, description)")
    known = {"name", "description", "env", "pad", "tasks"}
    extra = sorted(set(raw) - known)
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {extra}; known: {sorted(known)}")
    for key in ("name", "tasks"):
        if key not in raw:
            raise ConfigError(f"{where}: missing required key {key!r}")
    name = str(raw["name"])
    if not _STREAM_NAME.match(name):
        raise ConfigError(f"{where}: name {name!r} must be lower-case letters, digits and '-'")
    pad = raw.get("pad")
    if pad is not None and pad not in PAD_RULES:
        raise ConfigError(f"{where}: pad={pad!r} is not one of {list(PAD_RULES)}")
    tasks_raw = raw["tasks"]
    if not isinstance(tasks_raw, list) or not tasks_raw:
        raise ConfigError(f"{where}: tasks must be a non-empty list")
    default_env = raw.get("env")
    tasks = []
    for i, t in enumerate(tasks_raw):
        here = f"{where}, task {i}"
        if not isinstance(t, Mapping):
            raise ConfigError(f"{here}: expected a mapping with keys name, kwargs (optional: env, dataset)")
        extra = sorted(set(t) - {"name", "env", "kwargs", "dataset"})
        if extra:
            raise ConfigError(f"{here}: unknown key(s) {extra}; known: ['dataset', 'env', 'kwargs', 'name']")
        if "name" not in t:
            raise ConfigError(f"{here}: missing required key 'name'")
        tname = str(t["name"])
        if not _TASK_NAME.match(tname):
            raise ConfigError(f"{here}: task name {tname!r} must be letters, digits, '_', '.', '+' (no '-' or '/')")
        env_id = t.get("env", default_env)
        if not env_id:
            raise ConfigError(f"{here} ({tname}): no env id (give the stream an `env` or the task an `env`)")
        kwargs = t.get("kwargs") or {}
        if not isinstance(kwargs, Mapping):
            raise ConfigError(f"{here} ({tname}): kwargs must be a mapping")
        tasks.append(Task(tname, str(env_id), dict(kwargs), t.get("dataset")))
    names = [t.name for t in tasks]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{where}: duplicate task name(s) {dup}")
    return Stream(name, tuple(tasks), str(raw.get("description") or ""), pad, source)


def task_spaces(task: Task) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(observation shape, action shape) of ``task``'s env (makes the env once)."""
    from offrl.envs.pool import make_env

    env = make_env(task.env_id, **task.kwargs)
    try:
        return tuple(env.observation_space.shape or ()), tuple(env.action_space.shape or ())
    finally:
        env.close()


def check_spaces(stream: Stream) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every task's spaces; an error (before anything is compiled) when they differ and the stream
    declares no padding rule."""
    spaces = [task_spaces(t) for t in stream.tasks]
    if len(set(spaces)) > 1 and stream.pad is None:
        detail = ", ".join(f"{t.name}: obs {o} act {a}" for t, (o, a) in zip(stream.tasks, spaces))
        raise ConfigError(f"stream {stream.name!r}: tasks have different observation/action spaces ({detail}); "
                          f"declare a padding rule (`pad: zeros`) in the stream file to combine them")
    return spaces
