"""The model registry: named models, monotonic versions, aliases, and an audit log of alias moves.

A version points at a model package (run + artifact path + manifest hash), so version -> run -> params,
metrics, commit and data is always one join away. Aliases (``champion``, ``challenger`` by convention,
any name allowed) point at versions; every move is recorded with who, when, from, to and why, and a
promotion decision also records both scores.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from ..errors import ConflictError, NotFoundError, ValidationError
from ..store import Store
from ..store.dialect import insert_ignore, upsert
from ..store.schema import (
    alias_events,
    model_aliases,
    model_version_tags,
    model_versions,
    registered_models,
)
from ..tracking import provenance
from ..tracking.runs import resolve_run_id
from .manifest import read_manifest
from .uri import parse_model_uri

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]{0,249}$")
_ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-.]{0,249}$")


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    run_id: str
    path: str
    manifest_hash: str
    description: str | None
    created_at: datetime
    created_by: str | None
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "uri": self.uri, "run_id": self.run_id,
                "path": self.path, "manifest_hash": self.manifest_hash, "description": self.description,
                "created_at": self.created_at.isoformat(), "created_by": self.created_by,
                "aliases": list(self.aliases), "tags": dict(self.tags)}


@dataclass(frozen=True)
class AliasEvent:
    name: str
    alias: str
    action: str
    from_version: int | None
    to_version: int | None
    actor: str | None
    at: datetime
    reason: str | None
    details: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "alias": self.alias, "action": self.action, "from_version": self.from_version,
                "to_version": self.to_version, "actor": self.actor, "at": self.at.isoformat(),
                "reason": self.reason, "details": self.details}


def register_model(store: Store, source: str, name: str, *, description: str | None = None,
                   tags: dict[str, Any] | None = None, actor: str | None = None) -> ModelVersion:
    """Register the package at ``source`` (a run id, or ``runs:/<run_id>/<path>``) as the next version.

    ``actor`` is who registers it (a team server passes its caller's token name); by default this process's user.
    """
    write = registration(store, source, name, description=description, tags=tags, actor=actor)
    version = store.db.write(write)
    return get_version(store, name, version)


def registration(store: Store, source: str, name: str, *, description: str | None = None,
                 tags: dict[str, Any] | None = None, actor: str | None = None) -> Callable[[Connection], int]:
    """The write of :func:`register_model` (returning the new version number) once its package was checked, for a
    caller that runs it inside its own transaction: the team server, which records the request's idempotency key
    in the same one, so a retried registration never makes a second version."""
    _check_name(name)
    run_id, path = _package_source(store, source)
    manifest = read_manifest(store, run_id, path)  # refuses anything that is not a model package
    from ..store.hashing import hash_json

    manifest_hash = hash_json(manifest)
    now = _now_ms()
    actor = actor or provenance.process_info().user

    def write(conn: Connection) -> int:
        # Insert-if-absent, then lock the model's row: on PostgreSQL two first registrations run at once, and
        # locking a row that is not there yet locks nothing (the second insert used to hit the unique name).
        # The lock also serializes the version numbers below.
        insert_ignore(conn, registered_models, [{"name": name, "description": None, "created_at": now,
                                                 "updated_at": now}])
        conn.execute(select(registered_models.c.name).where(registered_models.c.name == name).with_for_update())
        conn.execute(registered_models.update().where(registered_models.c.name == name).values(updated_at=now))
        latest = conn.execute(select(func.max(model_versions.c.version)).where(model_versions.c.name == name)).scalar()
        version = int(latest or 0) + 1
        conn.execute(insert(model_versions).values(
            name=name, version=version, run_id=run_id, path=path, manifest_hash=manifest_hash,
            description=description, created_at=now, created_by=actor))
        if tags:
            conn.execute(insert(model_version_tags), [
                {"name": name, "version": version, "key": str(key), "value": str(value)} for key, value in tags.items()
            ])
        return version

    return write


def create_registered_model(store: Store, name: str, *, description: str | None = None) -> bool:
    """Create the registered model ``name`` with no version yet (MLflow clients do this before their first version);
    returns False when it already exists."""
    _check_name(name)
    now = _now_ms()

    def write(conn: Connection) -> bool:
        if conn.execute(select(registered_models.c.name).where(registered_models.c.name == name)).first() is not None:
            return False
        insert_ignore(conn, registered_models, [{"name": name, "description": description, "created_at": now,
                                                 "updated_at": now}])
        return True

    return store.db.write(write)


def set_version_tags(store: Store, name: str, version: int, tags: dict[str, str]) -> None:
    store.db.write(version_tagging(name, version, tags))


def version_tagging(name: str, version: int, tags: dict[str, str]) -> Callable[[Connection], ModelVersion]:
    """:func:`set_version_tags` as a write for a caller's transaction (a server's idempotent request); an unknown
    version raises NotFoundError rather than tagging nothing."""
    rows = [{"name": name, "version": version, "key": key, "value": value} for key, value in tags.items()]

    def write(conn: Connection) -> ModelVersion:
        version_in(conn, name, version)
        if rows:
            upsert(conn, model_version_tags, rows)
        return version_in(conn, name, version)

    return write


def get_version(store: Store, name: str, version: int) -> ModelVersion:
    return store.db.read(lambda conn: version_in(conn, name, version))


def version_in(conn: Connection, name: str, version: int) -> ModelVersion:
    """:func:`get_version` inside a caller's transaction (the one that just wrote the version)."""
    row = conn.execute(select(model_versions).where(model_versions.c.name == name,
                                                    model_versions.c.version == version)).first()
    if row is None:
        _raise_unknown_version(conn, name, version)
    return _version_from_row(conn, row)


def list_versions(store: Store, name: str) -> list[ModelVersion]:
    def query(conn: Connection) -> list[ModelVersion]:
        _require_model(conn, name)
        rows = conn.execute(select(model_versions).where(model_versions.c.name == name)
                            .order_by(model_versions.c.version.desc())).all()
        return [_version_from_row(conn, row) for row in rows]

    return store.db.read(query)


def versions_of_run(store: Store, run_id: str) -> list[str]:
    """The ``models:/name/N`` URIs registered from a run's packages."""
    rows = store.db.read(lambda conn: conn.execute(
        select(model_versions.c.name, model_versions.c.version).where(model_versions.c.run_id == run_id)
        .order_by(model_versions.c.name, model_versions.c.version)).all())
    return [f"models:/{name}/{version}" for name, version in rows]


def list_models(store: Store) -> list[dict[str, Any]]:
    """Every registered model with its latest version and aliases."""
    def query(conn: Connection) -> list[dict[str, Any]]:
        latest = dict(conn.execute(select(model_versions.c.name, func.max(model_versions.c.version))
                                   .group_by(model_versions.c.name)).all())
        aliases: dict[str, dict[str, int]] = {}
        for model_name, alias, version in conn.execute(select(model_aliases.c.name, model_aliases.c.alias,
                                                              model_aliases.c.version)):
            aliases.setdefault(model_name, {})[alias] = version
        rows = conn.execute(select(registered_models).order_by(registered_models.c.name)).all()
        return [{"name": row.name, "description": row.description, "latest_version": latest.get(row.name),
                 "aliases": aliases.get(row.name, {}), "updated_at": _to_datetime(row.updated_at).isoformat()}
                for row in rows]

    return store.db.read(query)


def set_alias(store: Store, name: str, alias: str, version: int, *, reason: str | None = None,
              action: str = "set", details: dict[str, Any] | None = None, actor: str | None = None) -> AliasEvent:
    """Point ``alias`` at ``version`` and record the move in the audit log.

    ``actor`` is who moved it (a team server passes its caller's token name); by default this process's user.
    """
    return store.db.write(alias_move(name, alias, version, reason=reason, action=action, details=details,
                                     actor=actor))


def alias_move(name: str, alias: str, version: int, *, reason: str | None = None, action: str = "set",
               details: dict[str, Any] | None = None, actor: str | None = None) -> Callable[[Connection], AliasEvent]:
    """The write of :func:`set_alias`, for a caller that runs it inside its own transaction (see
    :func:`registration`)."""
    _check_alias(alias)

    def write(conn: Connection) -> AliasEvent:
        if conn.execute(select(model_versions.c.version).where(
                model_versions.c.name == name, model_versions.c.version == version)).first() is None:
            _raise_unknown_version(conn, name, version)
        previous = conn.execute(select(model_aliases.c.version).where(
            model_aliases.c.name == name, model_aliases.c.alias == alias)).scalar()
        if previous == version and action == "set":  # nothing moves, so nothing enters the audit log
            return AliasEvent(name, alias, "unchanged", previous, version, None, _to_datetime(_now_ms()), reason, None)
        upsert(conn, model_aliases, [{"name": name, "alias": alias, "version": version}])
        return _record(conn, name, alias, action, previous, version, reason, details, actor)

    return write


def delete_alias(store: Store, name: str, alias: str, *, reason: str | None = None,
                 actor: str | None = None) -> AliasEvent:
    return store.db.write(alias_removal(name, alias, reason=reason, actor=actor))


def alias_removal(name: str, alias: str, *, reason: str | None = None,
                  actor: str | None = None) -> Callable[[Connection], AliasEvent]:
    """The write of :func:`delete_alias`, for a caller that runs it inside its own transaction."""

    def write(conn: Connection) -> AliasEvent:
        previous = conn.execute(select(model_aliases.c.version).where(
            model_aliases.c.name == name, model_aliases.c.alias == alias)).scalar()
        if previous is None:
            _require_model(conn, name)
            raise NotFoundError(f"Model {name!r} has no alias {alias!r}; `shipyard models show {name}` lists them.")
        conn.execute(model_aliases.delete().where(model_aliases.c.name == name, model_aliases.c.alias == alias))
        return _record(conn, name, alias, "delete", previous, None, reason, None, actor)

    return write


def record_decision(store: Store, name: str, alias: str, action: str, from_version: int | None,
                    to_version: int | None, reason: str, details: dict[str, Any], *,
                    actor: str | None = None) -> AliasEvent:
    """Record a decision that did not move the alias (a promotion held back), with its scores; ``actor`` as for
    :func:`set_alias`."""
    return store.db.write(decision_write(name, alias, action, from_version, to_version, reason, details,
                                         actor=actor))


def decision_write(name: str, alias: str, action: str, from_version: int | None, to_version: int | None,
                   reason: str, details: dict[str, Any], *,
                   actor: str | None = None) -> Callable[[Connection], AliasEvent]:
    """The write of :func:`record_decision`, for a caller that runs it inside its own transaction (a rollout's step
    and its audit entry are one write)."""
    return lambda conn: _record(conn, name, alias, action, from_version, to_version, reason, details, actor)


def gate_decision(name: str, alias: str, *, promoted: bool, holder: int | None, candidate: int, reason: str,
                  details: dict[str, Any], actor: str | None = None) -> Callable[[Connection], AliasEvent | None]:
    """The write of a promotion gate's decision, made only if ``holder`` (``None``: nobody) still holds ``alias``:
    a promotion moves the alias (action ``promoted``), a hold-back is recorded without moving it; a candidate that
    already holds the alias writes nothing. Both models were scored while the alias pointed at ``holder``, so a
    move in between would make the comparison stale: that is a conflict, and the gate runs again."""
    _check_alias(alias)
    move = alias_move(name, alias, candidate, reason=reason, action="promoted", details=details, actor=actor)

    def write(conn: Connection) -> AliasEvent | None:
        _require_model(conn, name)
        now = conn.execute(select(model_aliases.c.version).where(
            model_aliases.c.name == name, model_aliases.c.alias == alias).with_for_update()).scalar()
        if now != holder:
            held = f"v{now}" if now is not None else "no version"
            was = f"v{holder}" if holder is not None else "no version"
            raise ConflictError(f"'{alias}' of {name!r} moved while the gate scored the models ({was} then, {held} "
                                "now); nothing was decided. Run the promotion again.")
        if promoted:
            return move(conn)
        if holder == candidate:
            return None
        return _record(conn, name, alias, "held_back", holder, candidate, reason, details, actor)

    return write


def alias_history(store: Store, name: str) -> list[AliasEvent]:
    def query(conn: Connection) -> list[AliasEvent]:
        _require_model(conn, name)
        rows = conn.execute(select(alias_events).where(alias_events.c.name == name)
                            .order_by(alias_events.c.at, alias_events.c.id)).all()
        return [AliasEvent(row.name, row.alias, row.action, row.from_version, row.to_version, row.actor,
                           _to_datetime(row.at), row.reason, json.loads(row.details) if row.details else None)
                for row in rows]

    return store.db.read(query)


def resolve(store: Store, uri: str) -> tuple[ModelVersion | None, str, str]:
    """The version a URI names (None for ``runs:/`` URIs), and the package's run id and path."""
    parsed = parse_model_uri(uri)
    if parsed.kind == "run":
        assert parsed.run_id is not None and parsed.path is not None
        return None, resolve_run_id(store, parsed.run_id), parsed.path
    assert parsed.name is not None
    if parsed.kind == "alias":
        assert parsed.alias is not None
        version_number = _alias_version(store, parsed.name, parsed.alias)
    else:
        assert parsed.version is not None
        version_number = parsed.version
    version = get_version(store, parsed.name, version_number)
    return version, version.run_id, version.path


def _alias_version(store: Store, name: str, alias: str) -> int:
    def query(conn: Connection) -> int:
        found = conn.execute(select(model_aliases.c.version).where(
            model_aliases.c.name == name, model_aliases.c.alias == alias)).scalar()
        if found is None:
            _require_model(conn, name)
            known = sorted(conn.execute(select(model_aliases.c.alias).where(model_aliases.c.name == name)).scalars())
            raise NotFoundError(
                f"Model {name!r} has no alias {alias!r}"
                + (f" (it has: {', '.join(known)})" if known else " (it has no aliases yet)")
                + f"; set one with `shipyard models alias {name} {alias} VERSION`.")
        return int(found)

    return store.db.read(query)


def _package_source(store: Store, source: str) -> tuple[str, str]:
    text = str(source).strip()
    if text.startswith("runs:/"):
        _, run_id, path = resolve(store, text)
        return run_id, path
    if text.startswith("models:/"):
        raise ValidationError(f"{text} is already registered; register a run or a runs:/ URI.", field="source")
    return resolve_run_id(store, text), "model"


def _record(conn: Connection, name: str, alias: str, action: str, from_version: int | None,
            to_version: int | None, reason: str | None, details: dict[str, Any] | None,
            actor: str | None = None) -> AliasEvent:
    now = _now_ms()
    actor = actor or provenance.process_info().user
    conn.execute(insert(alias_events).values(
        name=name, alias=alias, action=action, from_version=from_version, to_version=to_version, actor=actor,
        at=now, reason=reason, details=json.dumps(details, sort_keys=True) if details is not None else None))
    return AliasEvent(name, alias, action, from_version, to_version, actor, _to_datetime(now), reason, details)


def _version_from_row(conn: Connection, row: Any) -> ModelVersion:
    aliases = tuple(sorted(conn.execute(select(model_aliases.c.alias).where(
        model_aliases.c.name == row.name, model_aliases.c.version == row.version)).scalars()))
    tags = dict(conn.execute(select(model_version_tags.c.key, model_version_tags.c.value).where(
        model_version_tags.c.name == row.name, model_version_tags.c.version == row.version)).all())
    return ModelVersion(row.name, row.version, row.run_id, row.path, row.manifest_hash, row.description,
                        _to_datetime(row.created_at), row.created_by, aliases, tags)


def require_model(store: Store, name: str) -> None:
    """Raise NotFoundError unless ``name`` is a registered model."""
    store.db.read(lambda conn: _require_model(conn, name))


def _require_model(conn: Connection, name: str) -> None:
    if conn.execute(select(registered_models.c.name).where(registered_models.c.name == name)).first() is None:
        raise NotFoundError(f"No model is registered as {name!r}; `shipyard models list` shows the registered ones.")


def _raise_unknown_version(conn: Connection, name: str, version: int) -> None:
    _require_model(conn, name)
    latest = conn.execute(select(func.max(model_versions.c.version)).where(model_versions.c.name == name)).scalar()
    raise NotFoundError(f"Model {name!r} has no version {version} (versions 1 to {latest}).")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValidationError(f"{name!r} is not a valid model name: use letters, digits, _ - . (at most 250).",
                              field="name")


def _check_alias(alias: str) -> None:
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias) or alias.isdigit():
        raise ValidationError(f"{alias!r} is not a valid alias: start with a letter; letters, digits, _ - . follow.",
                              field="alias")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
