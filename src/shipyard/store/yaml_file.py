"""YAML with line numbers, so configuration errors can say "shipyard.yaml line 12": the one YAML reader of
shipyard.yaml, params.yaml, serving.yaml and monitoring.yaml (decoded as UTF-8 strictly by :mod:`.text`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from .text import read_text


class LinedDict(dict[str, Any]):
    """A mapping that remembers the (1-based) line of each key."""

    lines: dict[str, int]
    line: int


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LinedDict:
    mapping = LinedDict()
    mapping.lines = {}
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise ConfigError(f"line {key_node.start_mark.line + 1}: the key {key!r} appears twice.")
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[str(key)] = key_node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    """Parse ``path``; a syntax error names the file, line and column."""
    try:
        text = read_text(path, path.name)  # UTF-8, strictly: a byte that is not names its line and offset
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}.") from exc
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    except ConfigError as exc:
        raise ConfigError(f"{path.name} {exc.message}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path.name}{where}: invalid YAML ({problem}).") from None


def line_of(mapping: Any, key: str) -> int | None:
    lines = getattr(mapping, "lines", None)
    return lines.get(key) if lines else getattr(mapping, "line", None)
