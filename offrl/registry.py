"""A tiny generic registry: name -> object, with close-match suggestions on unknown names.

Datasets, algorithms and environments each keep one :class:`Registry`; the trainer, CLI and
sweeps look things up here and never branch on names with if/elif.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from offrl.errors import UnknownIdError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to entries; ``registry[name]`` raises :class:`UnknownIdError` with suggestions."""

    def __init__(self, kind: str, *, unknown_hint: str | None = None):
        """``unknown_hint``: said after the suggestions for a name the registry does not know (e.g. how
        entries of one's own are registered)."""
        self.kind = kind
        self.unknown_hint = unknown_hint
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T, *, overwrite: bool = False) -> T:
        """Add ``entry`` under ``name``; re-registering a name is an error unless ``overwrite``."""
        if name in self._entries and not overwrite:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@registry.decorator("name")`` registers the decorated object."""
        return lambda entry: self.register(name, entry)

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownIdError(self.kind, name, self._entries, self.unknown_hint) from None

    def get(self, name: str, default: T | None = None) -> T | None:
        return self._entries.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._entries.items())
