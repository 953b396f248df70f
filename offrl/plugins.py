"""Code from outside offrl, imported before any name is looked up: ``OFFRL_PLUGINS=mypkg.bcreg,mypkg.erlast``.

offrl finds algorithms, continual methods and sweep run kinds in registries filled on import
(:func:`offrl.algos.register`, :func:`offrl.continual.methods.base.register`,
:func:`offrl.sweep.register_kind`). A module of one's own registers its entries when it is imported;
:func:`load_plugins` imports the modules :data:`ENV_VAR` names, so that ``offrl train --algo bcreg``
finds ``bcreg``. It runs at the start of every ``offrl`` command (:mod:`offrl.cli`), in every sweep
worker process (:mod:`offrl.sweep.worker`) and in every Ray task (:func:`offrl.sweep.backends._ray_task`,
which gets the launcher's list in its payload). Guide: docs/extending.md.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable

from offrl.errors import ConfigError

__all__ = ["ENV_VAR", "PluginError", "load_plugins", "loaded_plugins", "plugin_modules"]

#: the environment variable that lists the modules to import, comma-separated
ENV_VAR = "OFFRL_PLUGINS"

# modules imported so far, in order; a failed import is not recorded, so a later call tries again
_loaded: list[str] = []


class PluginError(ConfigError):
    """A module named in :data:`ENV_VAR` could not be imported (the message is one line)."""


def plugin_modules(value: str | None = None) -> list[str]:
    """The module names in ``value`` (default: ``$OFFRL_PLUGINS``), in order, without blanks or repeats."""
    raw = os.environ.get(ENV_VAR, "") if value is None else value
    names: list[str] = []
    for part in raw.split(","):
        name = part.strip()
        if name and name not in names:
            names.append(name)
    return names


def load_plugins(modules: Iterable[str] | None = None) -> list[str]:
    """Import each of ``modules`` (default: those ``$OFFRL_PLUGINS`` names) that is not imported yet.

    Idempotent: a module is imported once per process, however often this runs. Returns every
    module loaded so far (:func:`loaded_plugins`).

    Raises:
      PluginError: a module cannot be imported, whatever the reason (not found, or an exception while
        it runs, such as registering a name that is already taken); the message names the module and
        the exception in one line.
    """
    for name in plugin_modules() if modules is None else plugin_modules(",".join(modules)):
        if name in _loaded:
            continue
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - any failure of a user's module is reported the same way
            message = " ".join(str(e).split())  # one line, whatever the exception's message holds
            raise PluginError(f"{ENV_VAR}: cannot import {name!r}: {type(e).__name__}: {message}") from None
        _loaded.append(name)
    return loaded_plugins()


def loaded_plugins() -> list[str]:
    """The modules :func:`load_plugins` has imported in this process, in order."""
    return list(_loaded)
