"""The registry functions users call, on the current store."""

from __future__ import annotations

from typing import Any

from ..store import current_store
from . import registry
from .package import ModelInfo
from .registry import AliasEvent, ModelVersion


def register_model(source: str | ModelInfo, name: str, *, description: str | None = None,
                   tags: dict[str, Any] | None = None) -> ModelVersion:
    """Register a logged model as the next version of ``name`` (created on first use).

    Args:
        source: what ``log_model`` returned, a ``runs:/<run_id>/<path>`` URI, or a run id (path ``model``).
        name: the registered model's name, e.g. ``"churn"``.
        description: a note shown with the version.
        tags: labels of the version.

    Returns:
        The new :class:`ModelVersion`; versions count up from 1 per name and are never reused.
    """
    uri = source.uri if isinstance(source, ModelInfo) else source
    return registry.register_model(current_store(), uri, name, description=description, tags=tags)


def set_alias(name: str, alias: str, version: int, *, reason: str | None = None) -> AliasEvent:
    """Point ``models:/<name>@<alias>`` at ``version``; the move is recorded in the audit log."""
    return registry.set_alias(current_store(), name, alias, version, reason=reason)


def delete_alias(name: str, alias: str, *, reason: str | None = None) -> AliasEvent:
    """Remove an alias; the removal is recorded in the audit log."""
    return registry.delete_alias(current_store(), name, alias, reason=reason)


def get_model_version(name: str, version: int) -> ModelVersion:
    """One registered version with its run, package hash, aliases and tags."""
    return registry.get_version(current_store(), name, version)


def list_model_versions(name: str) -> list[ModelVersion]:
    """Every version of a registered model, newest first."""
    return registry.list_versions(current_store(), name)


def alias_history(name: str) -> list[AliasEvent]:
    """The audit log of a model's aliases: every move, removal and promotion decision, oldest first."""
    return registry.alias_history(current_store(), name)
