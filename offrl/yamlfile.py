"""YAML as offrl reads its files (sweeps, streams, reproduction targets) and ``--set`` values: safe, a key
given twice in one mapping is an error, and ``3e-4`` is a number. PyYAML keeps the last of two equal keys
silently, so a sweep with two ``hp:`` blocks would drop the first one's settings without a word; and it
follows YAML 1.1, where a float needs a dot (``3.0e-4``), so the learning rate everyone writes as ``3e-4``
would read as the string ``"3e-4"`` (YAML 1.2, and Python, read it as 0.0003)."""

from __future__ import annotations

import re
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
# numbers with an exponent and no dot (3e-4, 1E6, -2e+3) as floats, as YAML 1.2 reads them; the subclass gets
# its own copy of the resolvers, so yaml.SafeLoader itself is unchanged
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def load(text: str) -> Any:
    """``yaml.safe_load(text)`` that raises :class:`yaml.YAMLError` (with the line) on a duplicate key and
    reads ``3e-4`` as a float."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
