"""Model packages: the fitted model, its signature, its training profile and pinned libraries.

A package is a set of run artifacts under one path (``model`` by default): the serialized model and a
manifest ``model.json`` naming the flavor, serializer, library versions, signature, profile of the
training data and of the model's own predictions on it, the run, the creation time and the hash of
every file. Loading verifies each file twice: against the object store's content hash and against
the hash the manifest recorded when the package was made. The manifest itself must be the one Shipyard
last wrote there: its hash is recorded in the run's artifact index whenever Shipyard writes it (see
:mod:`shipyard.tracking.artifacts`), and, for a registered version, in the registry; both are checked
before a single byte of the model is deserialized, so a swapped pickle never runs.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import IntegrityError, ValidationError
from ..store import Store, current_store
from ..store.hashing import hash_bytes, hash_json
from ..tracking import artifacts as run_artifacts, fluent
from ..tracking.remote import RemoteTracker, tracking_server
from ..tracking.runs import get_run, resolve_run_id
from . import flavors, onnx_flavor, remote
from .answers import check_finite
from .coercion import NumberRange
from .manifest import MANIFEST, PACKAGE_FORMAT, read_manifest
from .profile import prediction_profile, profile_frame
from .signature import Signature, ValidationReport, as_frame, example_shape, infer_output, infer_signature, validate

if TYPE_CHECKING:
    from .registry import ModelVersion

EXAMPLE_ROWS = 20
_warned_versions: set[str] = set()


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` made: where it is and what it expects."""

    uri: str
    run_id: str
    path: str
    manifest_hash: str
    signature: Signature


def log_model(
    model: Any,
    name: str = "model",
    *,
    input_example: Any,
    y_example: Any = None,
    serializer: str = "skops",
    run_id: str | None = None,
) -> ModelInfo:
    """Package a fitted model with its schema and training profile as artifacts of the active run.

    Args:
        model: a fitted scikit-learn estimator or Pipeline (preprocessing included), an ONNX graph
            (``onnx.ModelProto``, one input per column; pass ``y_example`` to name a classifier's classes), an XGBoost
            or LightGBM model, a PyTorch ``nn.Module`` (alone or after scikit-learn preprocessing in a Pipeline;
            ``y_example`` with class labels makes it a classifier, see :mod:`shipyard.models.torch_flavor`), or
            any object with ``predict`` (and optionally ``predict_proba``) when ``serializer="pickle"``.
        name: the artifact path of the package inside the run.
        input_example: training inputs (DataFrame, Arrow table, 2-D array or tensor): the signature and the
            monitoring reference profile are computed from it; its first rows are kept as an example. A network's
            images or sequences (an array or tensor of more than 2 dimensions, rows first) become the columns
            ``x0, x1, ...`` (row-major) and the signature keeps their shape.
        y_example: training targets, profiled alongside when given.
        serializer: ``"skops"`` (safe, default) or ``"pickle"`` (anything; loading needs ``trust=True``).
        run_id: log into this run rather than the active one (autologging writes from its own thread).

    Returns:
        A :class:`ModelInfo` whose ``uri`` (``runs:/<run_id>/<name>``) loads the model back.
    """
    run_artifacts.check_package_path(name)
    prepared = _prepare(model, input_example, y_example, serializer)  # a bad model starts no run
    tracker = tracking_server()
    if tracker is not None:
        return _write_remote(tracker, run_id, name, prepared)
    store = current_store()
    run_id = resolve_run_id(store, run_id) if run_id is not None else (fluent.active_run() or fluent.start_run()).id
    return _write(store, run_id, name, prepared)


def write_package(store: Store, run_id: str, model: Any, name: str, *, input_example: Any, y_example: Any = None,
                  serializer: str = "skops") -> ModelInfo:
    """:func:`log_model` into ``store``'s run ``run_id``, for callers that hold their own store rather than the
    process's current one (the team server packaging a model an MLflow client registered, the MLflow importer)."""
    run_artifacts.check_package_path(name)
    prepared = _prepare(model, input_example, y_example, serializer)
    return _write(store, resolve_run_id(store, run_id), name, prepared)


def write_pickled_package(store: Store, run_id: str, name: str, pickled: bytes, *, input_example: Any,
                          libraries: dict[str, str], python_class: str) -> ModelInfo:
    """A package around a pickle another tool wrote (an MLflow model saved with cloudpickle), made without
    unpickling it: a server must not run code to register a version.

    What needs the model (its output kind, classes and prediction profile) is left for the load, which needs an
    explicit trust decision naming the pickle's hash (:func:`.flavors.deserialize`); ``libraries`` are the versions
    the other tool recorded, so loading warns when they differ from the ones installed.
    """
    run_artifacts.check_package_path(name)
    frame = as_frame(input_example)
    signature = infer_signature(frame)  # the inputs; the output stays "unknown" until a trusted load
    checked, _ = validate(frame, signature)
    files = {flavors.MODEL_FILE["pickle"]: pickled,
             "input_example.json": frame.head(EXAMPLE_ROWS).to_json(orient="records", date_format="iso").encode()}
    manifest: dict[str, Any] = {
        "format": PACKAGE_FORMAT, "flavor": "sklearn", "serializer": "pickle", "python_class": python_class,
        "libraries": libraries, "untrusted_types": [], "signature": signature.to_dict(),
        "profile": profile_frame(checked, signature), "prediction_profile": None, "target_profile": None,
        "training_data": {"hash": frame_hash(frame), "rows": len(frame), "columns": len(frame.columns)},
        "files": {filename: {"hash": hash_bytes(data), "size": len(data)} for filename, data in files.items()},
        "requirements": [f"{lib}=={version}" for lib, version in libraries.items() if lib != "python"],
    }
    return _write(store, resolve_run_id(store, run_id), name, _Prepared(files, manifest, signature))


@dataclass(frozen=True)
class _Prepared:
    """A package before it has a run: its files and its manifest without the run id."""

    files: dict[str, bytes]
    manifest: dict[str, Any]
    signature: Signature


def _prepare(model: Any, input_example: Any, y_example: Any, serializer: str) -> _Prepared:
    frame = as_frame(input_example)
    if onnx_flavor.is_onnx(model):  # run the graph through onnxruntime from here on
        probe = infer_signature(frame)
        classes = tuple(sorted({_plain_label(value) for value in y_example})) if y_example is not None else ()
        model = onnx_flavor.OnnxPredictor(model.SerializeToString(), probe, classes)
    # xgboost/lightgbm/torch: their own format, not skops; a network's image or sequence example keeps its shape
    model = flavors.prepare(model, frame, y_example, shape=example_shape(input_example))
    flavor = flavors.flavor_of(model)
    serializer = flavors.serializer_for(flavor, serializer)
    signature = infer_signature(frame, model)
    checked, _ = validate(frame, signature)
    files, untrusted = flavors.serialize(model, flavor, serializer)
    predictions = model.predict(checked)
    probabilities = model.predict_proba(checked) if signature.output.kind == "classifier" and hasattr(
        model, "predict_proba") else None
    files["input_example.json"] = frame.head(EXAMPLE_ROWS).to_json(orient="records", date_format="iso").encode()
    libraries = flavors.library_versions(flavor, serializer)
    manifest: dict[str, Any] = {
        "format": PACKAGE_FORMAT,
        "flavor": flavor,
        "serializer": serializer,
        "python_class": getattr(model, "python_class", f"{type(model).__module__}.{type(model).__qualname__}"),
        "libraries": libraries,
        "untrusted_types": untrusted,
        "signature": signature.to_dict(),
        "profile": profile_frame(checked, signature),
        "prediction_profile": prediction_profile(predictions, probabilities, signature.output.classes),
        "target_profile": None if y_example is None else _target_profile(y_example),
        "training_data": {"hash": frame_hash(frame), "rows": len(frame), "columns": len(frame.columns)},
        "files": {filename: {"hash": hash_bytes(data), "size": len(data)} for filename, data in files.items()},
    }
    manifest["requirements"] = [f"{lib}=={version}" for lib, version in libraries.items() if lib != "python"]
    if isinstance(getattr(model, "tensor_spec", None), dict):  # networks: their tensors' shapes and dtypes
        manifest["tensors"] = model.tensor_spec
    return _Prepared(files, manifest, signature)


def _write(store: Store, run_id: str, name: str, prepared: _Prepared) -> ModelInfo:
    manifest = _stamped(prepared, run_id)
    for filename, data in prepared.files.items():
        run_artifacts.log_bytes(store, run_id, data, f"{name}/{filename}")
    # Written last, with the record of its hash (the run tag shipyard.model.<name>) in the same transaction.
    run_artifacts.log_bytes(store, run_id, json.dumps(manifest, indent=1, sort_keys=True).encode(),
                            f"{name}/{MANIFEST}")
    manifest_hash = hash_json(manifest)
    return ModelInfo(f"runs:/{run_id}/{name}", run_id, name, manifest_hash, prepared.signature)


def _write_remote(tracker: RemoteTracker, run_id: str | None, name: str, prepared: _Prepared) -> ModelInfo:
    """:func:`_write` through a team server: the same files and manifest, uploaded as the run's artifacts."""
    run_id = tracker.resolve_run_id(run_id) if run_id is not None else (fluent.active_run() or fluent.start_run()).id
    manifest = _stamped(prepared, run_id)
    remote.upload_package(tracker, run_id, name, prepared.files,
                          json.dumps(manifest, indent=1, sort_keys=True).encode())
    return ModelInfo(f"runs:/{run_id}/{name}", run_id, name, hash_json(manifest), prepared.signature)


def _stamped(prepared: _Prepared, run_id: str) -> dict[str, Any]:
    return {**prepared.manifest, "run_id": run_id, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


class LoadedModel:
    """A packaged model ready to predict: every input is checked against the signature first.

    ``last_report`` holds what the last call accepted but counted (unseen levels, out-of-range values,
    dropped columns), which serving and monitoring record.
    """

    def __init__(self, model: Any, manifest: dict[str, Any], uri: str, *, version: int | None = None,
                 name: str | None = None) -> None:
        self.model = model
        self.manifest = manifest
        self.uri = uri
        self.name = name
        self.version = version
        self.run_id: str = manifest["run_id"]
        self.manifest_hash = hash_json(manifest)
        self.signature = Signature.from_dict(manifest["signature"])
        self.last_report = ValidationReport()

    @property
    def lineage(self) -> dict[str, Any]:
        run = get_run(current_store(), self.run_id)
        return {"run_id": run.id, "experiment": run.experiment, "run_name": run.name, "params": run.params,
                "metrics": run.metrics, **run.lineage}

    @property
    def input_ranges(self) -> dict[str, NumberRange]:
        """The ranges of the model's own input types by column: float32 for an ONNX graph's float columns;
        nothing for models that take float64, where every finite number fits."""
        return self.model.input_ranges if isinstance(self.model, onnx_flavor.OnnxPredictor) else {}

    def predict(self, data: Any) -> Any:
        """Predictions for ``data`` (checked first). A prediction that is not finite raises ModelOutputError, and so
        does an ONNX graph's label whose probabilities are not (the graph answers both in one run)."""
        frame = self.check_input(data)
        if isinstance(self.model, onnx_flavor.OnnxPredictor):
            predictions, probabilities = self.model.answer(frame)
        else:
            predictions, probabilities = self.model.predict(frame), None
        check_finite(probabilities, predictions, self.uri)
        return predictions

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities as a DataFrame with one ``proba_<class>`` column per class; a probability that is
        not finite raises :class:`~shipyard.errors.ModelOutputError` rather than being returned."""
        import pandas as pd

        if self.signature.output.kind != "classifier" or not hasattr(self.model, "predict_proba"):
            raise ValidationError(f"The model at {self.uri} is not a probabilistic classifier.", field="model")
        frame = self.check_input(data)
        probabilities = self.model.predict_proba(frame)
        check_finite(probabilities, None, self.uri)
        return pd.DataFrame(probabilities, columns=list(self.signature.output.probability_columns), index=frame.index)

    def check_input(self, data: Any, *, skip_bad_rows: bool = False) -> Any:
        """The input checked and converted by the signature's rule (``last_report`` holds what was counted);
        with ``skip_bad_rows`` rows holding a refused value are left out and listed in ``last_report.refused``."""
        frame, self.last_report = validate(data, self.signature, skip_bad_rows=skip_bad_rows,
                                           ranges=self.input_ranges)
        return frame

    def __repr__(self) -> str:
        label = f"{self.name} v{self.version}" if self.name else self.uri
        return f"<LoadedModel {label}: {self.manifest['python_class']}>"


@dataclass(frozen=True)
class PackageFiles:
    """A package's verified bytes, not yet deserialized: what a batch engine ships to its workers once.

    Every worker can check the bytes against the manifest again (:meth:`verify`) and build its own
    :class:`LoadedModel` (:func:`build_model`) without a store, so a cluster needs no access to Shipyard's.
    """

    manifest: dict[str, Any]
    files: dict[str, bytes]
    uri: str
    name: str | None = None
    version: int | None = None

    @property
    def manifest_hash(self) -> str:
        return hash_json(self.manifest)

    def verify(self) -> None:
        """Raise IntegrityError unless every file has the hash its manifest recorded."""
        for filename, recorded in self.manifest["files"].items():
            data = self.files.get(filename)
            if data is None or hash_bytes(data) != recorded["hash"]:
                raise IntegrityError(
                    f"The file {filename} of model {self.uri} does not match the hash in its manifest: the package "
                    "was modified after it was logged. Log the model again.",
                    object_hash=recorded["hash"], path=filename)


def read_package(store: Store, run_id_or_prefix: str, path: str, *, uri: str | None = None,
                 registered: tuple[str, int] | None = None) -> PackageFiles:
    """The files of the package at ``path`` of a run, each verified against its manifest; ``registered`` is
    (manifest hash, version number) of a registry version, checked with the run's own record first."""
    run_id = resolve_run_id(store, run_id_or_prefix)
    source = uri or f"runs:/{run_id}/{path}"
    manifest = read_manifest(store, run_id, path)
    if registered is not None and (now := hash_json(manifest)) != registered[0]:
        raise IntegrityError(
            f"The package behind {source} changed after it was registered as version {registered[1]} (manifest "
            f"{registered[0][:12]} then, {now[:12]} now); it was not loaded.",
            object_hash=registered[0], path=f"{path}/{MANIFEST}")
    files = {}
    for filename, recorded in manifest["files"].items():
        data = run_artifacts.read_artifact(store, run_id, f"{path}/{filename}")
        if hash_bytes(data) != recorded["hash"]:
            raise IntegrityError(
                f"The file {filename} of model {source} does not match the hash in its manifest: the package "
                "was modified after it was logged. Log the model again.",
                object_hash=recorded["hash"], path=f"{path}/{filename}")
        files[filename] = data
    version = registered[1] if registered is not None else None
    return PackageFiles(manifest, files, source, version=version)


def build_model(package: PackageFiles, *, trust: bool | Iterable[str] = ()) -> LoadedModel:
    """Deserialize verified package files into a :class:`LoadedModel` (no store needed)."""
    manifest = package.manifest
    _warn_on_version_drift(manifest.get("libraries", {}), package.uri)
    signature = Signature.from_dict(manifest["signature"])
    model = flavors.deserialize(package.files, manifest["serializer"], manifest.get("untrusted_types", []), trust,
                                package.uri, onnx=(signature, signature.output.classes))
    loaded = LoadedModel(model, manifest, package.uri, version=package.version, name=package.name)
    if signature.output.kind == "unknown":  # packaged without loading (another tool's pickle): the model tells
        loaded.signature = replace(signature, output=infer_output(model))
    return loaded


def load_package(store: Store, run_id_or_prefix: str, path: str, *, trust: bool | Iterable[str] = (),
                 uri: str | None = None, registered: tuple[str, int] | None = None) -> LoadedModel:
    """Load the package at ``path`` of a run; ``registered`` is (manifest hash, version number) of a registry
    version, checked with the run's own record before anything is deserialized."""
    package = read_package(store, run_id_or_prefix, path, uri=uri, registered=registered)
    return build_model(PackageFiles(package.manifest, package.files, package.uri), trust=trust)


def fetch_package(tracker: RemoteTracker, uri: str) -> tuple[PackageFiles, ModelVersion | None]:
    """The verified files of the model ``uri`` names on a team server, and its registered version (``None`` for a
    ``runs:/`` URI): what :func:`read_model`, the ONNX export and a server-backed ``shipyard serve`` load."""
    manifest, files, found = remote.download_package(tracker, uri)
    package = PackageFiles(manifest, files, uri, found.name if found else None, found.version if found else None)
    package.verify()
    return package, found


def read_model(uri: str) -> PackageFiles:
    """The verified files of the model a URI names (as :func:`load_model` reads them), not deserialized."""
    from .registry import resolve

    tracker = tracking_server()
    if tracker is not None:
        return fetch_package(tracker, uri)[0]
    store = current_store()
    version, run_id, path = resolve(store, uri)
    registered = (version.manifest_hash, version.version) if version is not None else None
    package = read_package(store, run_id, path, uri=uri, registered=registered)
    if version is None:
        return package
    return PackageFiles(package.manifest, package.files, uri, version.name, version.version)


def load_model(uri: str, *, trust: bool | Iterable[str] = ()) -> LoadedModel:
    """Load a model by URI: ``models:/churn@champion``, ``models:/churn/3`` or ``runs:/<run_id>/model``.

    Args:
        uri: the model URI.
        trust: types to trust beyond skops' and Shipyard's safe lists, or ``True`` for all the package
            lists (needed for pickled packages).

    Returns:
        A :class:`LoadedModel` with ``predict``, ``predict_proba``, ``signature``, ``version`` and ``lineage``.
    """
    return build_model(read_model(uri), trust=trust)


def frame_hash(frame: Any) -> str:
    """A content hash of a DataFrame (values, index and column names), for the lineage of what a model saw."""
    import pandas as pd

    hasher_input = pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()
    names = "\x1f".join(f"{name}:{dtype}" for name, dtype in frame.dtypes.items()).encode()
    return hash_bytes(names + b"\x1e" + hasher_input)


def _warn_on_version_drift(recorded: dict[str, str], source: str) -> None:
    for lib, version in recorded.items():
        if lib == "python":
            continue
        installed = flavors.installed_version(lib)
        if installed is None:
            continue
        if installed.split(".")[:2] != version.split(".")[:2] and lib not in _warned_versions:
            _warned_versions.add(lib)
            warnings.warn(f"{source} was saved with {lib} {version} but {lib} {installed} is installed; "
                          "predictions may differ.", UserWarning, stacklevel=3)


def _plain_label(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _target_profile(y_example: Any) -> dict[str, Any]:
    import numpy as np

    from .profile import categorical_profile, numeric_profile

    values = np.asarray(y_example)
    if values.dtype.kind in "if" and len(np.unique(values[~np.isnan(values.astype(float))])) > 20:
        return numeric_profile(values.astype("float64"))
    return categorical_profile(values)
