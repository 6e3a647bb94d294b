"""Checks on names and values before anything is written.

Keys follow MLflow's rules (letters, digits, ``_ - . / :`` and spaces, at most 250 characters) so that
keys move between the tools unchanged. Limits are generous but finite so a stray DataFrame passed as a
param is refused with a clear message instead of filling the database.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

from ..errors import ValidationError

MAX_KEY_LENGTH = 250
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000
MAX_NAME_LENGTH = 250
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-./: ]+$")
_valid_keys: set[str] = set()


def check_key(key: Any, kind: str) -> str:
    """Return ``key`` if it is a valid metric, param or tag key, else raise naming the problem."""
    if key in _valid_keys:
        return str(key)
    if not isinstance(key, str):
        raise ValidationError(f"A {kind} key must be a string, got {type(key).__name__} {key!r}.", field=kind)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationError(
            f"The {kind} key {key[:60]!r} must be 1 to {MAX_KEY_LENGTH} characters long (it has {len(key)}).",
            field=kind,
        )
    if not _KEY_RE.match(key) or key.startswith("/") or ".." in key.split("/"):
        raise ValidationError(
            f"The {kind} key {key!r} may only contain letters, digits, spaces and _ - . / : "
            "and must not start with '/' or contain '..'.",
            field=kind,
        )
    if len(_valid_keys) < 100_000:
        _valid_keys.add(key)
    return key


def check_text(value: Any, kind: str, key: str, limit: int) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise ValidationError(
            f"The {kind} {key!r} has a value of {len(text)} characters; the limit is {limit}. "
            "Log long values as an artifact instead (shipyard.log_text).",
            field=f"{kind}s.{key}",
        )
    return text


def check_metric_value(key: str, value: Any) -> float | None:
    """The value as a float, or ``None`` for NaN (the storage form); anything non-numeric is refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        try:
            value = float(value)  # numpy 0-d arrays, Decimal, tensors with __float__
        except (TypeError, ValueError):
            raise ValidationError(
                f"The metric {key!r} must be a number, got {type(value).__name__} {str(value)[:60]!r}.",
                field=f"metrics.{key}",
            ) from None
    number = float(value)
    return None if math.isnan(number) else number


def check_step(key: str, step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise ValidationError(
            f"The step of metric {key!r} must be an integer, got {type(step).__name__} {step!r}.",
            field="step",
        )
    number = int(step)
    if not -(2**63) <= number < 2**63:
        raise ValidationError(f"The step {number} of metric {key!r} does not fit in 64 bits.", field="step")
    return number


def check_name(value: Any, kind: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"The {kind} name must be a non-empty string, got {value!r}.", field=kind)
    if len(value) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"The {kind} name {value[:60]!r}... is {len(value)} characters; the limit is {MAX_NAME_LENGTH}.",
            field=kind,
        )
    return value
