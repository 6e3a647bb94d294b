"""What the flavor tests (trees, torch, Keras and a PythonModel) each do to a registry of their own models: log and
register them as versions 1, 2, ... with champion and challenger aliases, run the CLI against that store, read the
gate's last decision, count the micro-batches from ``/metrics``, and infer through tritonclient.

Each test module keeps its own models and the answers it expects; these helpers only carry them along the chain.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import tritonclient.http as triton

import shipyard
from tests.integration.serving._serving import Server

TRITON_DTYPES = {"FP64": "float64", "INT64": "int64"}


def register_versions(root: Path, registry: str, logged: dict[int, tuple[Any, Any, Any]], *,
                      experiment: str) -> None:
    """Log each ``(model, input_example, y_example)`` in its own run and register it as that version of
    ``registry`` in the store at ``root``; then ``champion`` is version 1 and ``challenger`` version 2."""
    shipyard.set_store(root)
    try:
        for version, (model, example, labels) in sorted(logged.items()):
            with shipyard.start_run(experiment=experiment):
                info = shipyard.log_model(model, input_example=example, y_example=labels)
            assert shipyard.register_model(info, registry).version == version
        shipyard.set_alias(registry, "champion", 1)
        shipyard.set_alias(registry, "challenger", 2)
    finally:
        shipyard.set_store(None)


def run_cli(folder: Path, env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m shipyard ARGS`` in ``folder`` with ``env`` (which names the store); never raises on failure."""
    return subprocess.run([sys.executable, "-m", "shipyard", *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def store_env(root: Path, **extra: str) -> dict[str, str]:
    """This process's environment with ``SHIPYARD_STORE`` at ``root`` and a terminal wide enough for tables."""
    return {**os.environ, "SHIPYARD_STORE": str(root), "COLUMNS": "200", **extra}


def last_decision(root: Path, registry: str) -> Any:
    """The newest entry of ``registry``'s alias history: what the gate decided last."""
    shipyard.set_store(root)
    try:
        return shipyard.alias_history(registry)[-1]
    finally:
        shipyard.set_store(None)


def batch_totals(server: Server, deployment: str) -> tuple[float, float]:
    """(model calls, rows) of a deployment, summed over its variants, from ``/metrics``."""
    from prometheus_client.parser import text_string_to_metric_families

    totals = {"shipyard_batch_rows_count": 0.0, "shipyard_batch_rows_sum": 0.0}
    for family in text_string_to_metric_families(server.get("/metrics").text):
        for sample in family.samples:
            if sample.name in totals and sample.labels.get("deployment") == deployment:
                totals[sample.name] += sample.value
    return totals["shipyard_batch_rows_count"], totals["shipyard_batch_rows_sum"]


def triton_infer(server: Server, deployment: str, inputs: pd.DataFrame) -> tuple[list[str], Any]:
    """Ask the deployment's metadata through tritonclient, send every input column as the datatype it names
    (BYTES as Python objects), and ask for ``predictions`` and ``probabilities``.

    Returns the datatypes the metadata named, in its order, and the InferResult.
    """
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    try:
        metadata = client.get_model_metadata(deployment)
        datatypes, tensors = [], []
        for item in metadata["inputs"]:
            datatypes.append(item["datatype"])
            values = inputs[item["name"]].to_numpy()
            array = values.astype(object) if item["datatype"] == "BYTES" else values.astype(
                TRITON_DTYPES[item["datatype"]])
            tensor = triton.InferInput(item["name"], [len(inputs)], item["datatype"])
            tensor.set_data_from_numpy(array, binary_data=False)
            tensors.append(tensor)
        outputs = [triton.InferRequestedOutput(name, binary_data=False) for name in ("predictions", "probabilities")]
        return datatypes, client.infer(deployment, tensors, outputs=outputs)
    finally:
        client.close()
