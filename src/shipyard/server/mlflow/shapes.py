"""Shipyard's runs and experiments in the JSON shapes of MLflow's protobuf messages (``Run``, ``Experiment``).

Experiment ids are Shipyard's integer ids as strings; MLflow's default experiment ``"0"`` is Shipyard's
``Default``. A run's artifacts live at ``mlflow-artifacts:/<experiment id>/<run id>/artifacts``, which the client
turns into the server's ``mlflow-artifacts`` proxy paths (:mod:`.artifacts`).
"""

from __future__ import annotations

from typing import Any

from ...store import Store
from ...tracking.experiments import DEFAULT_EXPERIMENT, Experiment, experiment_id, find_experiment
from ...tracking.run_details import RunDetails
from .protocol import number

MLFLOW_DEFAULT_ID = "0"
RUN_NAME_TAG = "mlflow.runName"
PARENT_TAG = "mlflow.parentRunId"
USER_TAG = "mlflow.user"
CONTEXT_TAG = "mlflow.data.context"


def resolve_experiment(store: Store, given: str, field: str = "experiment_id") -> Experiment:
    """The experiment an MLflow experiment id names ("0" is ``Default``, created on first use)."""
    from ...errors import ValidationError

    if given == MLFLOW_DEFAULT_ID:
        return find_experiment(store, id_=experiment_id(store, DEFAULT_EXPERIMENT))
    if not given.isdigit():
        raise ValidationError(f"Parameter '{field}' must be an experiment id (digits), got {given[:80]!r}.",
                              field=field)
    return find_experiment(store, id_=int(given))


def artifact_root(experiment_id_: int, run_id: str) -> str:
    return f"mlflow-artifacts:/{experiment_id_}/{run_id}/artifacts"


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    return {"experiment_id": str(experiment.id), "name": experiment.name,
            "artifact_location": f"mlflow-artifacts:/{experiment.id}", "lifecycle_stage": "active",
            "creation_time": experiment.created_at_ms, "last_update_time": experiment.created_at_ms, "tags": []}


def run_info_json(run: RunDetails) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": run.id, "run_uuid": run.id, "run_name": run.name, "experiment_id": str(run.experiment_id),
        "user_id": run.user or "", "status": run.status, "start_time": run.start_time_ms,
        "artifact_uri": artifact_root(run.experiment_id, run.id), "lifecycle_stage": "active",
    }
    if run.end_time_ms is not None:
        info["end_time"] = run.end_time_ms
    return info


def run_json(run: RunDetails) -> dict[str, Any]:
    tags = dict(run.tags)
    tags[RUN_NAME_TAG] = run.name  # the name is the run's; the tag follows it, as in MLflow
    if run.parent_id is not None:
        tags[PARENT_TAG] = run.parent_id
    return {
        "info": run_info_json(run),
        "data": {
            "metrics": [{"key": key, "value": number(value), "step": step, "timestamp": stamp}
                        for key, value, step, stamp in sorted(run.metrics)],
            "params": [{"key": key, "value": value} for key, value in sorted(run.params.items())],
            "tags": [{"key": key, "value": value} for key, value in sorted(tags.items())],
        },
        "inputs": {"dataset_inputs": [_dataset_input(item) for item in run.inputs]},
    }


def _dataset_input(item: dict[str, Any]) -> dict[str, Any]:
    dataset = {key: item[key] for key in ("name", "digest", "source_type", "source", "schema", "profile")
               if item.get(key) is not None}
    tags = [{"key": CONTEXT_TAG, "value": item["context"]}] if item.get("context") else []
    return {"tags": tags, "dataset": dataset}
