"""YAML with line numbers, so configuration errors can say "shipyard.yaml line 12": the one YAML reader of
shipyard.yaml, params.yaml, serving.yaml and monitoring.yaml (decoded as UTF-8 strictly by :mod:`.text`).

:func:`load_yaml` returns mappings that remember the line of each key; :func:`error_at` turns a message about a
key path ("deployments.churn.variants[1].weight") into a :class:`~shipyard.errors.ConfigError` naming the line
of that key, so a validator writes each message once and gets the line for free. PyYAML is imported on first
read: validators import this module at start-up.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .text import read_text


class LinedDict(dict[str, Any]):
    """A mapping that remembers the (1-based) line of each key (``lines``) and of its first key (``line``)."""

    lines: dict[str, int]
    line: int


@functools.cache
def _loader() -> type:
    """A SafeLoader (no arbitrary objects) whose mappings are :class:`LinedDict` and refuse a key written twice."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: Loader, node: yaml.MappingNode) -> LinedDict:
        written = {id(key_node) for key_node, _ in node.value}
        loader.flatten_mapping(node)  # `<<: *anchor` as yaml.safe_load reads it: merged pairs first
        mapping = LinedDict()
        mapping.lines = {}
        mapping.line = node.start_mark.line + 1
        explicit: set[Any] = set()
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, "found unhashable key",
                                                        key_node.start_mark) from None
            line = key_node.start_mark.line + 1
            if id(key_node) in written:  # a merged key may be overridden; one written twice is a mistake
                if key in explicit:
                    raise ConfigError(f"line {line}: the key {key!r} appears twice.")
                explicit.add(key)
            mapping[key] = loader.construct_object(value_node, deep=True)
            mapping.lines[str(key)] = line
        return mapping

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return Loader


def load_yaml(path: Path, source: str | None = None, *, not_yaml: str = "invalid YAML") -> Any:
    """Parse ``path``; errors name ``source`` (default: the file's name), the line and, for syntax, the column.

    ``not_yaml`` words a syntax error ("serving.yaml line 3, column 1: NOT_YAML (expected ...)."): each file keeps
    the words its users and tests already know.

    Raises:
        ConfigError: it is not YAML, cannot be read, or a key is written twice in one mapping.
        TextEncodingError: it is not UTF-8.
    """
    import yaml

    name = source or path.name
    try:
        text = read_text(path, name)  # UTF-8, strictly: a byte that is not names its line and offset
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}.") from exc
    try:
        return yaml.load(text, Loader=_loader())  # a SafeLoader subclass: no arbitrary objects
    except ConfigError as exc:
        raise ConfigError(f"{name} {exc.message}") from None
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text, name, not_yaml) from None


def _syntax_error(exc: Any, text: str, name: str, not_yaml: str) -> ConfigError:
    """One line naming the line and column: PyYAML's own text spans lines and says "<unicode string>"."""
    import yaml

    mark = getattr(exc, "problem_mark", None)
    line = column = None
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
        problem = getattr(exc, "problem", None) or str(exc)
    elif isinstance(exc, yaml.reader.ReaderError):  # a control character: PyYAML gives its offset only
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        problem = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
    else:
        problem = " ".join(str(exc).split())
    where = f" line {line}, column {column}" if line is not None else ""
    return ConfigError(f"{name}{where}: {not_yaml} ({problem}).")


def line_of(mapping: Any, key: str) -> int | None:
    """The line of ``key`` in a mapping :func:`load_yaml` returned (the mapping's own line if it has no keys)."""
    lines = getattr(mapping, "lines", None)
    return lines.get(key) if lines else getattr(mapping, "line", None)


_INDEX = re.compile(r"\[(\d+)\]")


def line_at(root: Any, path: str) -> int | None:
    """The line of the deepest part of ``path`` (keys joined by ``.``, list items as ``[i]``) that ``root`` has.

    ``root`` is what :func:`load_yaml` returned; data without lines (a plain dict) gives None. A key the file
    lacks gives the line of its parent, an item of a list the line of its first key (or, for a plain item, of
    its list's key). Keys that contain ``.`` or ``[`` (a deployment ``churn.v2``) are matched longest first.
    """
    node, line, rest = root, None, path
    while rest:
        if isinstance(node, dict):
            key = max((key for key in node if _starts_with_key(rest, str(key))), key=lambda key: len(str(key)),
                      default=None)
            if key is None:
                break
            found = getattr(node, "lines", {}).get(str(key))
            line = found if found is not None else line
            node, rest = node[key], rest[len(str(key)):].removeprefix(".")
        elif isinstance(node, list) and (match := _INDEX.match(rest)) and int(match.group(1)) < len(node):
            node, rest = node[int(match.group(1))], rest[match.end():].removeprefix(".")
            line = getattr(node, "line", line)
        else:
            break
    return line


def _starts_with_key(path: str, key: str) -> bool:
    return path.startswith(key) and (len(path) == len(key) or path[len(key)] in ".[")


def error_at(source: str, root: Any, path: str, message: str) -> ConfigError:
    """``message`` about the key at ``path`` of ``root``, as "SOURCE line N: MESSAGE" (without a line when the
    data has none, as when a test passes a plain dict)."""
    line = line_at(root, path)
    return ConfigError(f"{source} line {line}: {message}" if line is not None else f"{source}: {message}")
