"""Verified ONNX export: the whole pipeline, preprocessing included, proven to answer as Python does.

Exchange formats are distrusted because nobody checks the exported model against the original and
because preprocessing is usually left behind. Here the complete scikit-learn pipeline is converted with
skl2onnx (XGBoost and LightGBM steps through onnxmltools; missing text as a sentinel its string imputers look
for; PyTorch and Keras networks with torch.onnx.export, see ``_onnx_torch``), then both models score the stored input
example plus generated rows that visit every categorical level seen in training, missing values, the numeric
range edges and just beyond them. The file is written only if labels agree on every row and probabilities
within the tolerance.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IntegrityError, ValidationError, VerificationError
from ..extras import require
from ..store import Store
from ..store.hashing import hash_bytes
from ..tracking import artifacts as run_artifacts
from ..tracking.remote import RemoteTracker
from . import registry, remote
from ._onnx_boosters import prepare_boosters, sklearn_face
from ._onnx_steps import as_converted, input_types, refusal, restore_input_names
from ._onnx_torch import convert_network
from .onnx_flavor import onnx_feeds
from .onnx_imputers import METADATA_KEY, MISSING_TEXT, on_sentinel
from .package import LoadedModel, PackageFiles, build_model, fetch_package, read_package
from .registry import ModelVersion
from .signature import ColumnSpec, Signature

DEFAULT_TOLERANCE = 1e-5
ONNX_FILE = "model.onnx"
EXAMPLE_FILE = "input_example.json"  # written by the package with every model
CONVERTIBLE_FLAVORS = ("sklearn", "xgboost", "lightgbm", "torch", "keras")  # networks: by their own converter


@dataclass
class OnnxReport:
    output: Path
    rows_checked: int
    max_abs_diff: float
    tolerance: float
    onnx_hash: str
    attached_to: str | None = None
    columns: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "rows_checked": self.rows_checked, "max_abs_diff": self.max_abs_diff,
                "tolerance": self.tolerance, "onnx_hash": self.onnx_hash, "attached_to": self.attached_to}


def export_onnx(source: Store | RemoteTracker, uri: str, output: str | os.PathLike[str], *,
                tolerance: float = DEFAULT_TOLERANCE, attach: bool = True,
                trust: bool | Iterable[str] = ()) -> OnnxReport:
    """Convert, verify, and write ``output``; with ``attach``, also keep the file with the registry version.

    ``source`` is the store the model is in, or the team server's tracker: there the package is downloaded
    (verified, cached), converted and checked here, and the attachment uploaded and tagged on the server.
    """
    for module in ("skl2onnx", "onnxruntime"):  # before loading the model, so the [onnx] extra is named
        require(module, "ONNX export")
    package, version, run_id, path = _package(source, uri)
    model = build_model(package, trust=trust)
    if model.manifest["flavor"] not in CONVERTIBLE_FLAVORS:
        raise ValidationError(f"{uri} is a {model.manifest['flavor']} model; ONNX export converts scikit-learn "
                              "pipelines, XGBoost or LightGBM models (their scikit-learn API, alone or in a "
                              "pipeline), PyTorch networks and Keras networks.", field="model")
    if model.manifest["flavor"] in ("torch", "keras"):
        onnx_bytes, hint = convert_network(model.model, model.signature, uri), ""
    else:
        onnx_bytes, hint = convert(model)
    example = json.loads(package.files.get(EXAMPLE_FILE) or b"[]")
    rows = verification_rows(model.signature, example)
    max_diff, mismatches = compare(model, onnx_bytes, rows, tolerance)
    if mismatches:
        raise VerificationError(
            f"The ONNX conversion of {uri} disagrees with the Python model on {len(mismatches)} of {len(rows)} rows "
            f"(largest probability difference {max_diff:.3g}, tolerance {tolerance:g}); nothing was written.{hint}",
            mismatches=mismatches)
    target = Path(output)
    temp = target.with_name(f".{target.name}.tmp")
    temp.write_bytes(onnx_bytes)
    os.replace(temp, target)
    report = OnnxReport(target, len(rows), max_diff, tolerance, hash_bytes(onnx_bytes),
                        columns=model.signature.column_names)
    if attach and version is not None:
        tags = {"onnx.hash": report.onnx_hash, "onnx.path": f"{path}/{ONNX_FILE}", "onnx.rows_checked": str(len(rows)),
                "onnx.max_abs_diff": f"{max_diff:.3g}", "onnx.tolerance": f"{tolerance:g}"}
        if isinstance(source, RemoteTracker):
            source.log_bytes(run_id, onnx_bytes, tags["onnx.path"])
            remote.set_version_tags(source, version.name, version.version, tags)
        else:
            run_artifacts.log_bytes(source, run_id, onnx_bytes, tags["onnx.path"])
            registry.set_version_tags(source, version.name, version.version, tags)
        report.attached_to = version.uri
    return report


def _package(source: Store | RemoteTracker, uri: str) -> tuple[PackageFiles, ModelVersion | None, str, str]:
    """The verified package files ``uri`` names, its registry version, run and path, from either source."""
    if isinstance(source, RemoteTracker):
        package, version = fetch_package(source, uri)
        run_id, path = (version.run_id, version.path) if version is not None else ("", "")  # a run's: not attached
        return package, version, run_id, path
    version, run_id, path = registry.resolve(source, uri)
    registered = (version.manifest_hash, version.version) if version is not None else None
    found = read_package(source, run_id, path, uri=uri, registered=registered)  # verified file by file
    package = PackageFiles(found.manifest, found.files, uri, version.name if version else None,
                           version.version if version else None)
    return package, version, run_id, path


def convert(model: LoadedModel) -> tuple[bytes, str]:
    """The pipeline as ONNX bytes (one input per column, probabilities as a plain tensor), and a sentence for
    the verification's refusal when a step is known to move rows across a tree's splits (else "").

    A model that takes its columns as one matrix gets its numeric inputs joined first (``_onnx_steps``); text
    imputers look for the feeds' missing-text sentinel (``onnx_imputers``); XGBoost and LightGBM steps are
    converted by onnxmltools (``_onnx_boosters``).
    """
    convert_sklearn = require("skl2onnx", "ONNX export").convert_sklearn
    data_types = require("skl2onnx.common.data_types", "ONNX export")
    initial_types = input_types(model.signature, data_types)
    prepared = prepare_boosters(on_sentinel(sklearn_face(model.model, model.uri), model.uri))
    converted = as_converted(prepared.estimator, model.signature)
    final = _final_estimator(converted)
    options = {**prepared.options, **({id(final): {"zipmap": False}} if hasattr(final, "predict_proba") else {})}
    try:
        onnx_model = convert_sklearn(converted, initial_types=initial_types, options=options or None,
                                     target_opset=prepared.target_opset)
    except Exception as exc:
        raise refusal(model.uri, prepared.estimator, model.signature, exc) from exc
    restore_input_names(onnx_model, model.signature)
    entry = onnx_model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, MISSING_TEXT
    return bytes(onnx_model.SerializeToString()), prepared.hint


def verification_rows(signature: Signature, example: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored example plus rows that visit every level, missing values and the range edges."""
    base = dict(example[0]) if example else {spec.name: _typical(spec) for spec in signature.inputs}
    rows = [dict(row) for row in example]
    for spec in signature.inputs:
        for value in _probe_values(spec):
            rows.append({**base, spec.name: value})
    return rows


def compare(model: LoadedModel, onnx_bytes: bytes, rows: list[dict[str, Any]],
            tolerance: float) -> tuple[float, list[dict[str, Any]]]:
    """Score ``rows`` with both models; returns the largest probability difference and mismatching rows."""
    import numpy as np
    import onnxruntime

    frame = model.check_input(rows)
    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    outputs = session.run(None, onnx_feeds(model.signature, frame))
    labels = np.asarray(outputs[0]).reshape(-1)
    classifier = model.signature.output.kind == "classifier" and hasattr(model.model, "predict_proba")
    python_labels = np.asarray(model.model.predict(frame)).reshape(-1)
    if classifier:
        python_proba = np.asarray(model.model.predict_proba(frame), dtype="float64")
        onnx_proba = np.asarray(outputs[1], dtype="float64")
        differences = np.abs(python_proba - onnx_proba).max(axis=1)
    else:  # a regressor's "label" output is its prediction
        differences = np.abs(python_labels.astype("float64") - labels.astype("float64"))
        labels, python_labels = differences <= tolerance, np.ones_like(differences, dtype=bool)
    mismatches = []
    for index in np.nonzero((labels != python_labels) | (differences > tolerance))[0]:
        mismatches.append({"row": int(index), "python_label": _plain(python_labels[index]),
                           "onnx_label": _plain(labels[index]), "max_abs_diff": float(differences[index]),
                           "input": {key: _plain(value) for key, value in rows[index].items()}})
    return float(differences.max()) if len(differences) else 0.0, mismatches


def _probe_values(spec: ColumnSpec) -> list[Any]:
    if spec.kind == "string":
        return [*(spec.levels or ()), None]
    if spec.kind in ("integer", "float") and spec.minimum is not None and spec.maximum is not None:
        low, high = spec.minimum, spec.maximum
        span = high - low or 1.0
        values: list[Any] = [low, high, (low + high) / 2, low - span * 0.1, high + span * 0.1]
        if spec.kind == "integer":
            values = [round(value) for value in values]
        return [*values, None] if spec.nullable else values
    if spec.kind == "boolean":
        return [True, False]
    return []


def _typical(spec: ColumnSpec) -> Any:
    if spec.kind == "string":
        return spec.levels[0] if spec.levels else ""
    if spec.kind in ("integer", "float"):
        return spec.minimum if spec.minimum is not None else 0
    return False


def _final_estimator(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return _final_estimator(steps[-1][1]) if steps else model


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def read_attached_onnx(source: Store | RemoteTracker, uri: str) -> bytes | None:
    """The verified ONNX export attached to the version ``uri`` names, or None when it has none (or ``uri`` names a
    run). The bytes are checked against the hash recorded when the export was verified; ``source`` is the store
    the model is in, or the team server's tracker (downloaded through the verified cache there).

    Raises:
        IntegrityError: the stored export no longer has that hash.
    """
    if isinstance(source, RemoteTracker):
        version, run_id, _ = remote.resolve(source, uri)
    else:
        version, run_id, _ = registry.resolve(source, uri)
    tags = version.tags if version is not None else {}
    if "onnx.hash" not in tags:
        return None
    where = tags["onnx.path"]
    try:
        data = (remote.read_verified(source, run_id, where, tags["onnx.hash"]) if isinstance(source, RemoteTracker)
                else run_artifacts.read_artifact(source, run_id, where))
    except IntegrityError:
        data = b""  # the same refusal below, whichever side found the mismatch
    if hash_bytes(data) != tags["onnx.hash"]:
        raise IntegrityError(f"The ONNX export attached to {uri} does not match the hash recorded when it was "
                             "verified; export it again.", object_hash=tags["onnx.hash"], path=tags["onnx.path"])
    return data
