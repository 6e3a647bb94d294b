"""The chain behind a model version or a run, in one answer.

``lineage("models:/churn@champion")`` walks version -> package -> run -> params, metrics, git commit and
dirty flag, environment, training data hash, parent run. Later parts extend the chain at both ends
(deployments, predictions and feedback after it).

When the run is a pipeline stage run (or nested under one), the chain goes on back through the data:
the stage with the hashes of what it read and wrote, then, for each input, the stage run whose recorded
output has that very hash, and so on up to the inputs no stage wrote (raw data added with ``shipyard
add``, code), each with the commit it was read at. This layer sits below ``pipeline/`` and must not
import it, so the walk reads only what ``repro`` records on each stage run in the tracking store: the
tags ``shipyard.stage``, ``shipyard.pipeline``, ``shipyard.dep.<path>``, ``shipyard.out.<path>`` (content
hashes) and ``shipyard.added.<path>`` (the ``.ship`` pointer of added data). Nothing is read from the
workspace, which may since have moved to another commit.
"""

from __future__ import annotations

from typing import Any

from ..errors import NotFoundError, ValidationError
from ..store import Store
from ..tracking.runs import FINISHED, Run, get_run
from ..tracking.search import search_run_records
from . import registry
from .manifest import read_manifest


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
    chain.update(_pipeline_chain(store, run))
    return chain


_STAGE, _PIPELINE = "shipyard.stage", "shipyard.pipeline"
_DEP, _OUT, _ADDED = "shipyard.dep.", "shipyard.out.", "shipyard.added."
_MAX_PARENTS = 20  # nested runs deeper than this are not looked through for a stage run


def _pipeline_chain(store: Store, run: Run) -> dict[str, Any]:
    """``stage``, ``upstream`` and ``sources`` keys for a run inside a pipeline stage; nothing otherwise.

    Breadth-first from the stage run: every dep hash is looked up among the recorded outs of finished
    runs of the same pipeline that started no later than the reader (the latest such run wins, as a
    forced rerun writes the same bytes again). A dep that no stage run wrote is a source.
    """
    stage_run = _enclosing_stage_run(store, run)
    if stage_run is None:
        return {}
    records: list[dict[str, Any]] = []
    sources: list[dict[str, Any]] = []
    queue, seen = [stage_run], {stage_run.id}
    while queue:
        current = queue.pop(0)
        record = _stage_record(current)
        for dep in record["deps"]:
            producer = _producer(store, current, dep["path"], dep["hash"])
            if producer is None:
                dep["produced_by"] = None
                sources.append({"path": dep["path"], "hash": dep["hash"],
                                "added": current.tags.get(_ADDED + dep["path"]), "read_by": record["stage"],
                                "run_id": current.id, "git": record["git"]})
                continue
            dep["produced_by"] = {"stage": producer.tags.get(_STAGE, producer.name), "run_id": producer.id}
            if producer.id not in seen:
                seen.add(producer.id)
                queue.append(producer)
        records.append(record)
    return {"stage": records[0], "upstream": records[1:], "sources": sources}


def _enclosing_stage_run(store: Store, run: Run) -> Run | None:
    """The run itself when ``repro`` created it, else the nearest parent that ``repro`` created."""
    current: Run | None = run
    for _ in range(_MAX_PARENTS):
        if current is None:
            return None
        if _STAGE in current.tags and _PIPELINE in current.tags:
            return current
        current = get_run(store, current.parent_id) if current.parent_id else None
    return None


def _stage_record(run: Run) -> dict[str, Any]:
    git = run.lineage["git"]
    return {
        "stage": run.tags[_STAGE], "pipeline": run.tags[_PIPELINE], "run_id": run.id, "status": run.status,
        "start_time": run.start_time.isoformat(),
        "git": {"commit": git["commit"], "dirty": git["dirty"]} if git else None,
        "deps": [{"path": key[len(_DEP):], "hash": value} for key, value in run.tags.items() if key.startswith(_DEP)],
        "outs": [{"path": key[len(_OUT):], "hash": value} for key, value in run.tags.items() if key.startswith(_OUT)],
    }


def _producer(store: Store, reader: Run, path: str, digest: str) -> Run | None:
    """The latest finished stage run of the reader's pipeline that wrote ``path`` with these bytes."""
    started_ms = int(reader.start_time.timestamp() * 1000)
    found = search_run_records(
        store, experiment=reader.experiment, max_results=1,
        filter=(f"tags.`{_OUT}{path}` = '{digest}' and attributes.status = '{FINISHED}' "
                f"and attributes.start_time <= {started_ms}"),
    )
    return get_run(store, found[0]["run_id"]) if found else None


def _first_package(store: Store, run: Any) -> dict[str, Any] | None:
    for item in run.artifacts:
        if item["path"].endswith("/model.json"):
            path = item["path"].rsplit("/", 1)[0]
            try:
                manifest = read_manifest(store, run.id, path)
            except (NotFoundError, ValidationError):
                continue
            return {**manifest, "_path": path}
    return None
