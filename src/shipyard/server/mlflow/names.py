"""The small filters MLflow clients send for experiments, registered models and model versions.

``name = 'churn'``, ``name LIKE 'churn%'``, ``run_id = '...'``, ``tags.key != 'x'``, joined by ``AND``: what
``search_experiments``, ``search_registered_models`` and ``search_model_versions`` are used for. Anything else
is refused naming the filter and what is accepted, never ignored.
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import ValidationError

_CLAUSE = re.compile(r"\s*(?:attributes?\.)?(tags?\.(?:`[^`]+`|[\w.]+)|[a-z_]+)\s*(=|!=|like|ilike)\s*"
                     r"(['\"])(.*?)\3\s*", re.IGNORECASE)
_AND = re.compile(r"and\b", re.IGNORECASE)

Clause = tuple[str, str, str]  # field, operator (lower case), value


def parse(text: str | None, fields: tuple[str, ...], what: str) -> list[Clause]:
    """The clauses of ``text`` (none for an empty filter); every field must be one of ``fields``."""
    if not text or not text.strip():
        return []
    clauses: list[Clause] = []
    position = 0
    while True:
        match = _CLAUSE.match(text, position)
        field = _field(match.group(1)) if match is not None else ""
        if match is None or (field not in fields and not field.startswith("tag:")):
            raise ValidationError(
                f"Unsupported {what} filter {text!r}: Shipyard accepts {' or '.join(fields)} compared with =, !=, "
                "LIKE or ILIKE to a quoted value, joined by AND.", field="filter")
        clauses.append((field, match.group(2).lower(), match.group(4)))
        position = match.end()
        if position == len(text):
            return clauses
        joined = _AND.match(text, position)
        if joined is None:
            raise ValidationError(f"Unsupported {what} filter {text!r}: join conditions with AND.", field="filter")
        position = joined.end()


def matches(clauses: list[Clause], values: dict[str, Any]) -> bool:
    """Whether every clause holds for an object with these field values.

    A tag the object does not have (these objects have none: Shipyard keeps no tags on experiments and registered
    models) matches only ``!=``: the client's own ``tag.`mlflow.prompt.is_prompt` != 'true'`` keeps every model.
    """
    return all(op == "!=" if values.get(field) is None else _holds(str(values[field]), op, expected)
               for field, op, expected in clauses)


def _field(text: str) -> str:
    """``name``, or ``tag:<key>`` for ``tag.key``, ``tags.`key```."""
    head, _, key = text.partition(".")
    if head.lower() in ("tag", "tags") and key:
        return "tag:" + key.strip("`")
    return text.lower()


def _holds(actual: str, op: str, expected: str) -> bool:
    if op == "=":
        return actual == expected
    if op == "!=":
        return actual != expected
    regex = "".join(".*" if char == "%" else "." if char == "_" else re.escape(char) for char in expected)
    return re.fullmatch(regex, actual, re.IGNORECASE if op == "ilike" else 0) is not None
