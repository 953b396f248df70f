"""A sweep file as a Weights & Biases sweep config, and the agent's arguments as ``offrl train`` takes them.

``offrl sweep export-wandb FILE`` writes a wandb sweep config (``method`` grid, random or bayes)
whose command is ``python -m offrl.cli train`` with the file's fixed settings, and whose parameters are
the file's searched keys, so a lab can run ``wandb sweep CONFIG`` and ``wandb agent ID``: every
agent run is an ordinary ``offrl train`` run (all seeds in one process, the same results folder and
JSONL record). Parameter names: top-level keys as they are (``dataset``, ``algo``), trainer fields by
their own names (``steps``), hyperparameters as ``hp.<name>``.

``wandb agent`` passes each parameter as ``--name=value`` with Python's ``str`` of the value
(``--hp.hidden=[256, 256]``, ``--normalize_obs=True``). :func:`agent_args` rewrites those into
the arguments tyro parses: ``--hp.<name>=v`` into one ``--hp name=v ...`` (merged with a fixed
``--hp``), lists into separate values, booleans into ``--flag`` / ``--no-flag``.
"""

from __future__ import annotations

import ast
import dataclasses
import typing
from typing import Any

from offrl.errors import ConfigError
from offrl.sweep.spec import Sweep

__all__ = ["METHODS", "agent_args", "export_wandb"]

METHODS = ("grid", "random", "bayes")
_DISTRIBUTIONS = {"uniform": "uniform", "log_uniform": "log_uniform_values", "int": "int_uniform"}


def _param_name(key: str, sweep: Sweep) -> str:
    section, dot, name = key.partition(".")
    return name if dot and section in sweep.kind.field_sections else key


def _field_of(key: str, sweep: Sweep) -> str:
    """The config field a searched key sets."""
    section, dot, name = key.partition(".")
    if not dot:
        return key
    return name if section in sweep.kind.field_sections else section


def export_wandb(sweep: Sweep, *, method: str | None = None, metric: str = "eval/normalized_score",
                 goal: str = "maximize", project: str | None = None) -> dict[str, Any]:
    """The wandb sweep config of ``sweep`` (a dict, to be written as YAML).

    ``method`` defaults to ``grid`` for a file without ``random:``, else ``random``. ``metric`` is
    what the runs log (under ``wandb agent`` the trainer logs the mean over seeds under each metric's
    name). Random and bayes sweeps are capped at the file's number of runs (``run_cap``).
    """
    if not sweep.kind.program:
        raise ConfigError(f"{sweep.kind.name} runs have no `offrl` command to export to wandb")
    if not sweep.runs:
        raise ConfigError(f"sweep {sweep.name!r} has no runs")
    if sweep.variants:
        raise ConfigError(f"sweep {sweep.name!r} has variants: settings that go together, which a wandb sweep "
                          "cannot say (it crosses every parameter); export one file per variant instead")
    method = method or ("random" if sweep.random else "grid")
    if method not in METHODS:
        raise ConfigError(f"unknown wandb method {method!r}; choose one of {', '.join(METHODS)}")
    if goal not in ("maximize", "minimize"):
        raise ConfigError(f"goal must be maximize or minimize, not {goal!r}")
    axes = {k: v for k, v in _axes(sweep).items()}
    parameters: dict[str, Any] = {}
    for key, values in axes.items():
        parameters[_param_name(key, sweep)] = {"values": values}
    for key, dist in (sweep.random or {}).get("params", {}).items():
        name = _param_name(key, sweep)
        if dist["distribution"] == "choice":
            parameters[name] = {"values": list(dist["values"])}
        elif method == "grid":
            raise ConfigError(f"{key} is a {dist['distribution']} distribution; wandb's grid method needs "
                              "lists of values: use --method random or bayes")
        else:
            parameters[name] = {"distribution": _DISTRIBUTIONS[dist["distribution"]],
                                "min": dist["min"], "max": dist["max"]}
    for key in sweep.kind.keys:  # the run's identity, explicit in every agent run's arguments
        if key not in parameters:
            parameters[key] = {"value": getattr(sweep.runs[0], key)}
    searched_fields = {_field_of(k, sweep) for k in [*axes, *(sweep.random or {}).get("params", {})]}
    searched_pairs = {k.partition(".")[2] for k in [*axes, *(sweep.random or {}).get("params", {})]
                      if k.partition(".")[0] in sweep.kind.pair_sections}
    fixed = _fixed_args(sweep, searched_fields | set(sweep.kind.keys), searched_pairs)
    out: dict[str, Any] = {
        "name": sweep.name,
        "description": sweep.description or f"offrl sweep {sweep.name} ({len(sweep.runs)} runs)",
        "program": "offrl",
        "method": method,
        "metric": {"name": metric, "goal": goal},
        "parameters": parameters,
        "command": ["${env}", "${interpreter}", "-m", "offrl.cli", *sweep.kind.program, *fixed, "${args}"],
    }
    project = project or sweep.wandb.get("project")
    if project:
        out["project"] = str(project)
    if method != "grid":
        out["run_cap"] = len(sweep.runs)
    return out


def _axes(sweep: Sweep) -> dict[str, list]:
    """Plural axes and grid lists, with the values the runs actually took (in order)."""
    random_keys = set((sweep.random or {}).get("params", {}))
    axes: dict[str, list] = {}
    for p in sweep.params:
        for key, value in p.items():
            if key in random_keys:
                continue
            vals = axes.setdefault(key, [])
            if value not in vals:
                vals.append(value)
    return axes


def _fixed_args(sweep: Sweep, searched_fields: set[str], searched_pairs: set[str]) -> list[str]:
    """The first run's settings that are not searched and differ from the defaults, as CLI arguments."""
    config = sweep.runs[0]
    hints = typing.get_type_hints(type(config))
    skip = {"run_id", "results_dir", "progress", "wandb_project", "wandb_group", "wandb_tags"}
    args: list[str] = []
    for f in dataclasses.fields(config):
        if f.name in skip or f.name in searched_fields and f.name not in sweep.kind.pair_sections:
            continue
        value = getattr(config, f.name)
        if f.name in sweep.kind.pair_sections:
            pairs = [p for p in value if p.partition("=")[0] not in searched_pairs]
            if pairs:
                args += [f"--{f.name}", *pairs]
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        if value == default and f.name != "seeds":
            continue
        flag = "--" + f.name.replace("_", "-")
        if hints.get(f.name) is bool:
            args.append(flag if value else "--no-" + f.name.replace("_", "-"))
        elif isinstance(value, tuple):
            args += [flag, *map(str, value)]
        else:
            args += [flag, str(value)]
    return args


def _plain(raw: str) -> str:
    """``"[256, 256]"`` -> ``"256,256"``; ``"True"`` -> ``"true"``; anything else unchanged."""
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            items = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return raw
        return ",".join(_plain(str(x)) for x in items)
    if text in ("True", "False"):
        return text.lower()
    return raw


def _set_pair(kv: dict[str, str], name: str, value: str, flag: str) -> None:
    """One override into ``kv``; a name given twice is refused (the last would silently win)."""
    if name in kv:
        raise ConfigError(f"{flag}: {name!r} is given twice ({name}={kv[name]} and {name}={value}); give it once")
    kv[name] = value


def agent_args(argv: list[str], config_cls: type) -> list[str]:
    """``argv`` with wandb agent's ``--name=value`` arguments rewritten for tyro (module docstring).
    Arguments tyro already understands pass through unchanged."""
    hints = typing.get_type_hints(config_cls)
    pair_fields = [n for n, h in hints.items() if typing.get_origin(h) is tuple and n in ("hp", "method_hp")]
    out: list[str] = []
    pairs: dict[str, dict[str, str]] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, raw = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        field, dot, sub = name.partition(".")
        field_name = field.replace("-", "_")
        if arg.startswith("--") and field_name in pair_fields and dot and eq:  # --hp.alpha=2.5
            _set_pair(pairs.setdefault(field_name, {}), sub, _plain(raw), f"--{field}")
        elif arg.startswith("--") and field_name in pair_fields and not dot and not eq:  # --hp a=1 b=2
            while i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                i += 1
                k, eq_item, v = argv[i].partition("=")
                if not eq_item or not k:
                    raise ConfigError(f"--{field} {argv[i]!r}: each override must look like name=value")
                _set_pair(pairs.setdefault(field_name, {}), k, v, f"--{field}")
        elif arg.startswith("--") and eq and not dot and hints.get(field_name) is bool:
            value = raw.strip().lower()
            if value not in ("true", "false", "1", "0"):
                raise ConfigError(f"{arg}: expected true or false")
            out.append("--" + field.replace("_", "-") if value in ("true", "1")
                       else "--no-" + field.replace("_", "-"))
        elif arg.startswith("--") and eq and not dot and typing.get_origin(hints.get(field_name)) is tuple \
                and raw.strip().startswith("["):
            out += ["--" + field, *_plain(raw).split(",")]
        else:
            out.append(arg)
        i += 1
    for field_name, kv in pairs.items():
        out += [f"--{field_name}", *(f"{k}={v}" for k, v in kv.items())]
    return out
