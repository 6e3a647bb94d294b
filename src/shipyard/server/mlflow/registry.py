"""The MLflow model registry, read and aliased: Shipyard's registered models and versions seen by MLflow clients.

``search_registered_models``, ``get_registered_model``, ``search_model_versions``, ``get_model_version``,
``get_model_version_by_alias`` read Shipyard's registry; ``set_registered_model_alias`` and
``delete_registered_model_alias`` move aliases through :func:`shipyard.models.registry.set_alias`, so every move
is in the registry's audit log under the caller's token name. A protected alias (``champion`` by default) moves
only for an admin: the alias a server resolves for production traffic is not a writer's to change.

Registering through MLflow (``registered-models/create``, ``model-versions/create``) and loading a version with
an MLflow flavor (``get-download-uri``) are :mod:`.registration`'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...errors import ValidationError
from ...models.registry import ModelVersion, delete_alias, get_version, list_models, list_versions, resolve, set_alias
from ...store import Store
from ..auth import require
from ..roles import ADMIN
from . import names
from .protocol import Call
from .runs import load_run
from .shapes import artifact_root

_MAX_RESULTS = 10_000


def get_registered_model(call: Call) -> dict[str, Any]:
    name = call.args.required("name")
    found = [item for item in list_models(call.settings.store) if item["name"] == name]
    if not found:
        list_versions(call.settings.store, name)  # raises the registry's own "no model named" error
    return {"registered_model": model_json(call.settings.store, found[0])}


def search_registered_models(call: Call) -> dict[str, Any]:
    clauses = names.parse(call.args.text("filter"), ("name",), "registered model")
    store = call.settings.store
    found = [item for item in list_models(store) if names.matches(clauses, {"name": item["name"]})]
    return _page(call, [model_json(store, item) for item in found], "registered_models")


def get_model_version(call: Call) -> dict[str, Any]:
    store = call.settings.store
    return {"model_version": version_json(store, get_version(store, call.args.required("name"), _version(call)))}


def search_model_versions(call: Call) -> dict[str, Any]:
    store = call.settings.store
    clauses = names.parse(call.args.text("filter"), ("name", "run_id", "version_number"), "model version")
    wanted = [value for field, op, value in clauses if field == "name" and op == "="]
    models = wanted[:1] or [item["name"] for item in list_models(store)]
    found = [version for model in models for version in list_versions(store, model)
             if names.matches(clauses, _fields(version))]
    return _page(call, [version_json(store, version) for version in found], "model_versions")


def get_by_alias(call: Call) -> dict[str, Any]:
    store = call.settings.store
    name, alias = call.args.required("name"), call.args.required("alias")
    version, _, _ = resolve(store, f"models:/{name}@{alias}")
    assert version is not None
    return {"model_version": version_json(store, version)}


def set_model_alias(call: Call) -> dict[str, Any]:
    name, alias = call.args.required("name"), call.args.required("alias")
    _protect(call, alias)
    set_alias(call.settings.store, name, alias, _version(call), reason="set through the MLflow API",
              actor=call.identity.name)
    return {}


def delete_model_alias(call: Call) -> dict[str, Any]:
    name, alias = call.args.required("name"), call.args.required("alias")
    _protect(call, alias)
    delete_alias(call.settings.store, name, alias, reason="deleted through the MLflow API", actor=call.identity.name)
    return {}


def _protect(call: Call, alias: str) -> None:
    if alias in call.settings.protected_aliases:
        require(call.identity, ADMIN, f"Moving the protected alias {alias!r}")


def _version(call: Call) -> int:
    version = call.args.integer("version")
    if version is None or version < 1:
        raise ValidationError("Parameter 'version' must be a version number (1 or more).", field="version")
    return version


def _fields(version: ModelVersion) -> dict[str, Any]:
    return {"name": version.name, "run_id": version.run_id, "version_number": version.version}


def _page(call: Call, items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    max_results = call.args.integer("max_results", default=1000) or 1000
    if not 1 <= max_results <= _MAX_RESULTS:
        raise ValidationError(f"Parameter 'max_results' must be between 1 and {_MAX_RESULTS}, got {max_results}.",
                              field="max_results")
    token = call.args.text("page_token")
    if token is not None and not token.isdigit():
        raise ValidationError(f"Parameter 'page_token' {token[:40]!r} is not a token this server gave.",
                              field="page_token")
    offset = int(token or 0)
    answer: dict[str, Any] = {key: items[offset : offset + max_results]}
    if offset + max_results < len(items):
        answer["next_page_token"] = str(offset + max_results)
    return answer


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def model_json(store: Store, item: dict[str, Any]) -> dict[str, Any]:
    updated = int(datetime.fromisoformat(item["updated_at"]).timestamp() * 1000)
    document: dict[str, Any] = {
        "name": item["name"], "creation_timestamp": updated, "last_updated_timestamp": updated,
        "aliases": [{"alias": alias, "version": str(version)} for alias, version in sorted(item["aliases"].items())],
        "tags": [],
    }
    if item.get("description"):
        document["description"] = item["description"]
    if item.get("latest_version"):
        document["latest_versions"] = [version_json(store, get_version(store, item["name"], item["latest_version"]))]
    return document


def version_json(store: Store, version: ModelVersion) -> dict[str, Any]:
    run = load_run(store, version.run_id)
    document: dict[str, Any] = {
        "name": version.name, "version": str(version.version), "creation_timestamp": _ms(version.created_at),
        "last_updated_timestamp": _ms(version.created_at), "user_id": version.created_by or "",
        "current_stage": "None",
        "source": _source(run.experiment_id, version),
        "run_id": version.run_id, "status": "READY", "aliases": list(version.aliases),
        "tags": [{"key": key, "value": value} for key, value in sorted(version.tags.items())],
    }
    if version.description:
        document["description"] = version.description
    if version.tags.get("mlflow.model_id"):
        document["model_id"] = version.tags["mlflow.model_id"]
    return document


def _source(experiment_id: int, version: ModelVersion) -> str:
    """What MLflow calls the version's source: the logged model an MLflow client registered, else the folder of its
    MLflow files (imported versions), else its Shipyard package."""
    if version.tags.get("mlflow.model_id"):
        return f"models:/{version.tags['mlflow.model_id']}"
    return f"{artifact_root(experiment_id, version.run_id)}/{version.tags.get('mlflow.files') or version.path}"
