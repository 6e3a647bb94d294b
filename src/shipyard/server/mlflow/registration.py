"""Registering through the MLflow API: ``registered-models/create``, ``model-versions/create``, ``get-download-uri``.

A version an MLflow client registers becomes a version in Shipyard's registry, listed by ``shipyard models list``,
linked to its run, moved by aliases and gated like any other. Its MLflow files stay as the client wrote them (run
artifacts under ``mlflow-models/<model id>/``), so ``mlflow.pyfunc.load_model("models:/churn@champion")`` downloads
exactly them. Beside them (under ``shipyard-packages/<model id>/``) Shipyard writes its own package of the same
model, made by :func:`shipyard.models.mlflow_format.package_mlflow_model`, which is what ``shipyard serve`` and
``shipyard.load_model`` load. That takes a scikit-learn model saved with skops
(``serialization_format="skops"``) and an input example; anything else (a pickle above all: the server would have to
run it) is refused with the reason and how to re-log, before any version exists.

Version tags keep the MLflow side: ``mlflow.source`` (what the client sent), ``mlflow.model_id`` and
``mlflow.files`` (the folder of MLflow's files in the run), which ``get-download-uri`` answers with.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ...errors import ConflictError, NotFoundError, NotSupportedError, ValidationError
from ...models.mlflow_format import package_mlflow_model
from ...models.registry import create_registered_model, get_version, list_models, register_model
from ...store import Store
from ...tracking.artifacts import check_artifact_path, download_artifacts
from .logged_models import find, save
from .protocol import Call, check_run_id, pair
from .registry import model_json, version_json
from .runs import load_run
from .shapes import artifact_root

SOURCE_TAG = "mlflow.source"
MODEL_ID_TAG = "mlflow.model_id"
FILES_TAG = "mlflow.files"
PACKAGES_PREFIX = "shipyard-packages"
_ARTIFACTS_SOURCE = re.compile(r"^mlflow-artifacts:/+(\d+)/([0-9a-f]{32})/artifacts/(.+)$")


def create_model(call: Call) -> dict[str, Any]:
    store = call.settings.store
    name = call.args.required("name")
    if not create_registered_model(store, name, description=call.args.text("description")):
        raise ConflictError(f"Registered Model (name={name}) already exists.")
    return {"registered_model": model_json(store, next(item for item in list_models(store) if item["name"] == name))}


def create_version(call: Call) -> dict[str, Any]:
    """The next version of ``name`` from the MLflow model at ``source`` (see the module doc)."""
    store, args = call.settings.store, call.args
    name, source = args.required("name"), args.required("source")
    run_id, files, model_id = _locate(store, source, args.text("model_id"))
    given_run = args.text("run_id")
    if given_run and check_run_id(given_run) != run_id:
        raise ValidationError(f"Parameter 'run_id' {given_run} is not the run whose files {source!r} names "
                              f"({run_id}).", field="run_id")
    package = _package(store, run_id, files, model_id, f"Registering {source} as a version of {name!r}")
    tags = {key: "" if value is None else str(value) for key, value in (pair(item, "tags") for item in
                                                                        args.items("tags"))}
    tags.update({SOURCE_TAG: source, FILES_TAG: files, **({MODEL_ID_TAG: model_id} if model_id else {})})
    version = register_model(store, f"runs:/{run_id}/{package}", name, description=args.text("description"),
                             tags=tags, actor=call.identity.name)
    return {"model_version": version_json(store, version)}


def download_uri(call: Call) -> dict[str, Any]:
    """Where MLflow's own files of a version are; a version logged the Shipyard way has none (refused)."""
    store = call.settings.store
    version_number = call.args.integer("version")
    if version_number is None or version_number < 1:
        raise ValidationError("Parameter 'version' must be a version number (1 or more).", field="version")
    version = get_version(store, call.args.required("name"), version_number)
    files = version.tags.get(FILES_TAG)
    if not files:
        raise NotSupportedError(f"Version {version.version} of {version.name!r} is a Shipyard model package, not an "
                                "MLflow model: load it with shipyard.load_model('models:/NAME/VERSION') or serve it "
                                "with `shipyard serve`.")
    run = load_run(store, version.run_id)
    return {"artifact_uri": f"{artifact_root(run.experiment_id, run.id)}/{files}"}


def _locate(store: Store, source: str, model_id: str | None) -> tuple[str, str, str | None]:
    """``(run id, folder of the MLflow files among its artifacts, logged model id or None)`` of a source."""
    if source.startswith("models:/"):
        found = find(store, source[len("models:/"):].strip("/"))
        if model_id and model_id != found.id:
            raise ValidationError(f"Parameter 'model_id' {model_id!r} is not the model {source!r} names.",
                                  field="model_id")
        return found.run_id, found.files, found.id
    match = _ARTIFACTS_SOURCE.match(source)
    if match is None:
        raise ValidationError(f"Parameter 'source' {source[:120]!r} is not a model this server holds: register "
                              "models:/<model id> (what log_model gives) or runs:/<run id>/<path>.", field="source")
    experiment, run_id, path = match.groups()
    run = load_run(store, run_id)
    if str(run.experiment_id) != experiment:
        raise NotFoundError(f"Run {run_id} is not in experiment {experiment}.")
    return run.id, check_artifact_path(path.strip("/"), field="source"), None


def _package(store: Store, run_id: str, files: str, model_id: str | None, action: str) -> str:
    """The Shipyard package of the MLflow model in ``files``: made once per logged model, then reused."""
    logged = find(store, model_id) if model_id else None
    if logged is not None and logged.package:
        return logged.package
    path = f"{PACKAGES_PREFIX}/{model_id or files.replace('/', '_')}"
    with tempfile.TemporaryDirectory(prefix="shipyard-register-") as scratch:
        try:
            folder = download_artifacts(store, run_id, scratch, files)
        except NotFoundError:
            raise NotFoundError(f"{action}: the run has no files under {files!r}; upload the model first.") from None
        try:
            package_mlflow_model(store, run_id, Path(folder), path)
        except NotSupportedError as exc:
            raise NotSupportedError(f"{action} is refused: {exc}. The model's files stay with run {run_id}; see "
                                    "docs/from-mlflow.md.") from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if logged is not None:
        logged.package = path
        save(store, logged)
    return path
