"""Exception types shared by every offrl package.

Every error a user can trigger with bad input derives from :class:`OffrlError`, so the CLI can print
it as one clear line instead of a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

#: exit status of an offrl command (or a sweep's worker) stopped by Ctrl-C or SIGINT, as a shell reports a
#: process ended by SIGINT; what finished before the interrupt is kept
EXIT_INTERRUPTED = 130


class OffrlError(Exception):
    """Base class of all user-facing offrl errors."""


class UnknownIdError(OffrlError, KeyError):
    """An id (dataset, algorithm, env, level) that no registry knows; carries close matches."""

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str | None = None):
        self.kind, self.name = kind, name
        self.known = sorted(known)
        self.suggestions = suggest(name, self.known)
        msg = f"unknown {kind} {name!r}"
        if self.suggestions:
            msg += "; did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        elif len(self.known) <= 30:
            msg += "; known: " + ", ".join(self.known)
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0]


class DataIntegrityError(OffrlError):
    """A file is corrupt, truncated, has the wrong checksum, or holds inconsistent arrays."""


class DownloadError(OffrlError):
    """A download failed (no network, HTTP error, server dropped the connection)."""


class ConfigError(OffrlError, ValueError):
    """An invalid configuration value; the message names the offending field (:func:`field_name`)."""


_NO_VALUE = object()


def field_name(config: str, field: str, value: Any = _NO_VALUE) -> str:
    """How an error names a field of a command's config: by the option that sets it on the command line
    and by its Python name, ``--eval-every / TrainConfig.eval_every=300`` (``value`` given) or
    ``--eval-every / TrainConfig.eval_every``. One message then reads right for whoever typed
    ``offrl train --eval-every 300``, built ``TrainConfig(eval_every=300)`` or wrote ``eval_every: 300``
    in a sweep file. The option is the field's name with dashes, as tyro spells it."""
    text = f"--{field.replace('_', '-')} / {config}.{field}"
    return text if value is _NO_VALUE else f"{text}={value!r}"


class UnsafeFileError(OffrlError):
    """A file needs pickle to load and the caller did not opt in."""


def close_ids(name: str, known: Iterable[str], n: int = 1) -> list[str]:
    """Close matches of a dataset id among ``known`` ids with a strict cutoff: ids share their source
    prefix and version suffix (``local/``, ``-v0``), so :func:`suggest`'s loose matches would name almost
    any id of the same source."""
    return difflib.get_close_matches(name, list(known), n=n, cutoff=0.85)


def suggest(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Close matches of ``name`` among ``known`` (substring hits first, then fuzzy matches)."""
    known = list(known)
    low = name.lower()
    hits = [k for k in known if low and low in k.lower()]
    fuzzy = difflib.get_close_matches(name, known, n=n, cutoff=0.5)
    out: list[str] = []
    for k in fuzzy + hits:
        if k not in out:
            out.append(k)
    return out[:n]
