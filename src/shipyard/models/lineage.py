"""The chain behind a model version or a run, in one answer.

``lineage("models:/churn@champion")`` walks version -> package -> run -> params, metrics, git commit and
dirty flag, environment, training data hash, parent run. Later parts extend the chain at both ends
(pipeline stages and data files before it; deployments, predictions and feedback after it).
"""

from __future__ import annotations

from typing import Any

from ..errors import NotFoundError
from ..store import Store
from ..tracking.runs import get_run
from . import registry
from .package import read_manifest


def lineage(store: Store, target: str) -> dict[str, Any]:
    """Lineage of a model URI (``models:/…``, ``runs:/…``) or a run id (or unique prefix)."""
    text = str(target).strip()
    version = None
    if text.startswith(("models:/", "runs:/")) or ":/" in text:  # URI-like: let the URI parser explain
        version, run_id, path = registry.resolve(store, text)
        manifest: dict[str, Any] | None = read_manifest(store, run_id, path)
    else:
        run_id, path, manifest = get_run(store, text).id, None, None
    run = get_run(store, run_id)
    if manifest is None:
        manifest = _first_package(store, run)
        path = manifest["_path"] if manifest else None
    chain: dict[str, Any] = {"target": text}
    if version is not None:
        chain["model_version"] = version.to_dict()
        chain["alias_holders"] = list(version.aliases)
    if manifest is not None:
        chain["package"] = {
            "path": path, "flavor": manifest["flavor"], "python_class": manifest["python_class"],
            "libraries": manifest["libraries"], "created_at": manifest["created_at"],
            "files": manifest["files"],
        }
        chain["training_data"] = manifest.get("training_data")
    chain["run"] = {"run_id": run.id, "name": run.name, "experiment": run.experiment, "status": run.status,
                    "start_time": run.start_time.isoformat(), "duration_s": run.duration_s,
                    "parent_run_id": run.parent_id}
    chain["params"] = run.params
    chain["metrics"] = run.metrics
    chain["git"] = run.lineage["git"]
    chain["environment"] = run.lineage["environment"]
    chain["process"] = run.lineage["process"]
    chain["registered_versions"] = registry.versions_of_run(store, run.id)
    return chain


def _first_package(store: Store, run: Any) -> dict[str, Any] | None:
    for item in run.artifacts:
        if item["path"].endswith("/model.json"):
            path = item["path"].rsplit("/", 1)[0]
            try:
                manifest = read_manifest(store, run.id, path)
            except (NotFoundError, ValueError):
                continue
            return {**manifest, "_path": path}
    return None
