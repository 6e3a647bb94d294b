"""The three roles of a token, in order: each may do everything the ones before it may.

- ``reader`` reads everything: runs, metrics, artifacts, experiments, the UI;
- ``writer`` also logs runs (params, metrics, tags, artifacts, inputs) and creates experiments;
- ``admin`` also deletes and moves protected aliases (and manages tokens, with the database's address).
"""

from __future__ import annotations

from ..errors import ValidationError

ROLES = ("reader", "writer", "admin")
READER, WRITER, ADMIN = ROLES


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`, else a ValidationError listing them."""
    if role not in ROLES:
        raise ValidationError(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.", field="role")
    return role


def allows(held: str, needed: str) -> bool:
    """Whether a token of role ``held`` may do what needs ``needed``."""
    return ROLES.index(held) >= ROLES.index(needed)
