"""The registry through Shipyard's own API: resolve a model URI, register versions, move aliases, read the audit log.

What ``shipyard.load_model``, ``register_model``, ``set_alias`` and friends call when a tracking URI is set
(:mod:`shipyard.models.remote`). Resolving a URI answers the package's manifest after the server checked it
against the run's record (and, for a registered version, against the registry's), so a client verifies every file
it downloads against hashes the server vouched for. Registrations and alias moves run inside the transaction that
records their idempotency key: a retried registration never makes a second version. A protected alias
(``champion`` by default) moves only for an admin token, as through the MLflow API; every move is audited under
the caller's token name. The promotion gate scores the models on the client's holdout and sends its decision
(:func:`decide`), recorded only if the alias still points where it did while the models were scored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from ...errors import IntegrityError, ValidationError
from ...models import registry
from ...models.manifest import read_manifest
from ...models.uri import parse_model_uri
from ...store.hashing import hash_json
from ..auth import require
from ..roles import ADMIN
from .protocol import Call, field


def resolve(call: Call) -> dict[str, Any]:
    """``?uri=models:/churn@champion`` (or ``models:/churn/3``, ``runs:/<id>/model``): the version, the package's
    run and path, and its verified manifest."""
    uri = call.request.query_params.get("uri", "").strip()
    if not uri:
        raise ValidationError("Resolving a model needs the query parameter 'uri' (e.g. models:/churn@champion).",
                              field="uri")
    parse_model_uri(uri)  # a malformed URI is a 400 naming it
    store = call.settings.store
    version, run_id, path = registry.resolve(store, uri)
    manifest = read_manifest(store, run_id, path)
    manifest_hash = hash_json(manifest)
    if version is not None and manifest_hash != version.manifest_hash:
        raise IntegrityError(f"The package behind {uri} changed after it was registered as version {version.version} "
                             f"(manifest {version.manifest_hash[:12]} then, {manifest_hash[:12]} now); it was not "
                             "served.", object_hash=version.manifest_hash, path=f"{path}/model.json")
    return {"version": version.to_dict() if version is not None else None, "run_id": run_id, "path": path,
            "manifest": manifest, "manifest_hash": manifest_hash}


def list_models(call: Call) -> dict[str, Any]:
    return {"models": registry.list_models(call.settings.store)}


def list_versions(call: Call) -> dict[str, Any]:
    versions = registry.list_versions(call.settings.store, call.path["name"])
    return {"versions": [version.to_dict() for version in versions]}


def get_version(call: Call) -> dict[str, Any]:
    return {"version": registry.get_version(call.settings.store, call.path["name"], _number(call)).to_dict()}


def set_version_tags(call: Call) -> dict[str, Any]:
    """``{"tags": {"key": "value", ...}}``: set (or overwrite) tags of one version; answers the tagged version."""
    tags = field(call.body, "tags", dict, required=True)
    bad = next((key for key, value in tags.items() if not key.strip() or not isinstance(value, str)), None)
    if bad is not None:
        raise ValidationError(f"The field 'tags' must map non-empty names to strings; {bad!r} does not.", field="tags")
    write = registry.version_tagging(call.path["name"], _number(call), tags)
    return call.once(lambda conn: {"version": write(conn).to_dict()})


def register(call: Call) -> dict[str, Any]:
    """``{"source": "runs:/<id>/model", "description": ..., "tags": {...}}``: the next version of the model."""
    name = call.path["name"]
    source = field(call.body, "source", str, required=True)
    tags = field(call.body, "tags", dict)
    write = registry.registration(call.settings.store, source, name, description=field(call.body, "description", str),
                                  tags=tags, actor=call.identity.name)

    def work(conn: Connection) -> dict[str, Any]:
        return {"version": registry.version_in(conn, name, write(conn)).to_dict()}

    return call.once(work)


def set_alias(call: Call) -> dict[str, Any]:
    """``{"version": 3, "reason": ...}``: point the alias at that version (a protected alias needs admin)."""
    name, alias = call.path["name"], call.path["alias"]
    _protect(call, alias)
    version = field(call.body, "version", int, required=True)
    if version < 1:
        raise ValidationError(f"The field 'version' must be a version number (1 or more), got {version}.",
                              field="version")
    move = registry.alias_move(name, alias, version, reason=field(call.body, "reason", str),
                               actor=call.identity.name)
    return call.once(lambda conn: {"event": move(conn).to_dict()})


def delete_alias(call: Call) -> dict[str, Any]:
    name, alias = call.path["name"], call.path["alias"]
    _protect(call, alias)
    reason = call.request.query_params.get("reason")
    removal = registry.alias_removal(name, alias, reason=reason, actor=call.identity.name)
    return call.once(lambda conn: {"event": removal(conn).to_dict()})


def decide(call: Call) -> dict[str, Any]:
    """A promotion gate's decision, made by the client on its holdout: ``{"alias", "promoted", "holder",
    "candidate", "reason", "details"}``. Recorded (and the alias moved, when promoted) only if ``holder`` still holds
    the alias: 409 otherwise. Promoting to a protected alias needs admin, like any move of it."""
    name = call.path["name"]
    alias = field(call.body, "alias", str, required=True)
    promoted = field(call.body, "promoted", bool, required=True)
    if promoted:
        _protect(call, alias)
    holder = field(call.body, "holder", int)
    candidate = field(call.body, "candidate", int, required=True)
    write = registry.gate_decision(name, alias, promoted=promoted, holder=holder, candidate=candidate,
                                   reason=field(call.body, "reason", str, required=True),
                                   details=field(call.body, "details", dict) or {}, actor=call.identity.name)

    def work(conn: Connection) -> dict[str, Any]:
        event = write(conn)
        return {"event": event.to_dict() if event is not None else None}

    return call.once(work)


def alias_history(call: Call) -> dict[str, Any]:
    return {"events": [event.to_dict() for event in registry.alias_history(call.settings.store, call.path["name"])]}


def _protect(call: Call, alias: str) -> None:
    if alias in call.settings.protected_aliases:
        require(call.identity, ADMIN, f"Moving the protected alias {alias!r}")


def _number(call: Call) -> int:
    text = str(call.path["version"])
    if not text.isdigit() or int(text) < 1:
        raise ValidationError(f"A version is a number of 1 or more, got {text[:20]!r}.", field="version")
    return int(text)
