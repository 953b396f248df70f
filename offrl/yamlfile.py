"""YAML as offrl reads its files (sweeps, streams, reproduction targets): safe, and a key given twice in one
mapping is an error. PyYAML keeps the last of two equal keys silently, so a sweep with two ``hp:`` blocks
would drop the first one's settings without a word."""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["load"]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (merge keys ``<<`` keep their YAML meaning)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    first_line: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            seen = key in first_line
        except TypeError:  # an unhashable key: SafeLoader's own error says so below
            continue
        if seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark,
                f"found the key {key!r} twice (first on line {first_line[key] + 1}); give it once",
                key_node.start_mark)
        first_line[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load(text: str) -> Any:
    """``yaml.safe_load(text)`` that raises :class:`yaml.YAMLError` (with the line) on a duplicate key."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
