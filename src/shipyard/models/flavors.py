"""How each kind of model becomes bytes and comes back.

A flavor turns a fitted model into named files and back. scikit-learn models (and xgboost/lightgbm
models through their scikit-learn API) are written with ``skops.io``, which rebuilds objects without
running arbitrary code; types skops does not know are listed in the manifest and must be trusted by
the caller. ``serializer="pickle"`` (cloudpickle) accepts any Python object, and its packages refuse to
load unless the caller passes ``trust=True``: unpickling runs code. Only Python callers can pass it; the
server's ``trust:`` and the CLI's ``--trust`` name skops types, so neither ever unpickles.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import ValidationError
from ..extras import from_module_not_found, require

# Types skops flags as unknown that Shipyard trusts by default: they carry data, never code, and are
# scikit-learn's own internals (trees, tree predictors, neighbour indexes) that every tree or neighbour
# model contains. Anything else a package lists must be trusted by the caller.
SAFE_TYPES = frozenset({
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
})
SERIALIZERS = ("skops", "pickle", "onnx")
MODEL_FILE = {"skops": "model.skops", "pickle": "model.pkl"}
ONNX_FILE = "model.onnx"


def flavor_of(model: Any) -> str:
    """``onnx`` for ONNX graphs, ``sklearn`` for scikit-learn-compatible estimators, ``python`` for anything
    else with ``predict``."""
    from .onnx_flavor import OnnxPredictor, is_onnx

    if is_onnx(model) or isinstance(model, OnnxPredictor):
        return "onnx"
    if not hasattr(model, "predict"):
        raise ValidationError(
            f"Cannot log a {type(model).__name__}: a model needs a predict() method.", field="model")
    module = type(model).__module__.split(".")[0]
    if module in ("sklearn", "xgboost", "lightgbm") or (hasattr(model, "get_params") and hasattr(model, "fit")):
        return "sklearn"
    return "python"


def serialize(model: Any, flavor: str, serializer: str) -> tuple[dict[str, bytes], list[str]]:
    """The model's files and the types the loader will have to trust."""
    if serializer not in SERIALIZERS:
        raise ValidationError(f"Unknown serializer {serializer!r}; use one of {', '.join(SERIALIZERS)}.",
                              field="serializer")
    if flavor == "onnx":
        return {ONNX_FILE: model.onnx_bytes}, []
    if serializer == "pickle":
        cloudpickle = require("cloudpickle", "Saving a model with serializer='pickle'")
        return {MODEL_FILE["pickle"]: cloudpickle.dumps(model)}, []
    if flavor != "sklearn":
        raise ValidationError(
            f"A {type(model).__name__} is not a scikit-learn estimator, so skops cannot store it safely; "
            "pass serializer='pickle' (loading it will then need trust=True).", field="serializer")
    skops_io = require("skops.io", "Saving scikit-learn models")
    data = skops_io.dumps(model)
    untrusted = sorted(set(skops_io.get_untrusted_types(data=data)) - SAFE_TYPES)
    return {MODEL_FILE["skops"]: data}, untrusted


def deserialize(files: dict[str, bytes], serializer: str, untrusted: list[str],
                trust: bool | Iterable[str], source: str, *, onnx: tuple[Any, tuple[Any, ...]] | None = None) -> Any:
    """Rebuild the model; refuses pickles and unknown types the caller did not trust.

    ``onnx`` carries (signature, classes) for ONNX packages, whose graph is run by onnxruntime (no code).
    """
    if serializer == "onnx":
        from .onnx_flavor import OnnxPredictor

        assert onnx is not None
        return OnnxPredictor(files[ONNX_FILE], onnx[0], onnx[1])
    if serializer == "pickle":
        if trust is not True:
            raise ValidationError(
                f"{source} was saved with pickle, and loading a pickle runs code: only Python's load_model(uri, "
                "trust=True) loads it, if you trust whoever logged it. A server never unpickles, nor does the CLI; "
                "to serve the model, log it with serializer='skops' (scikit-learn) or as an ONNX graph.",
                field="trust")
        import pickle

        return pickle.loads(files[MODEL_FILE["pickle"]])  # the caller trusted it explicitly, above
    granted = set(untrusted) if trust is True else set(trust or ())
    refused = [name for name in untrusted if name not in granted]
    if refused:
        raise ValidationError(
            f"{source} contains types skops cannot vouch for: {', '.join(refused)}. Pass "
            f"trust={refused!r} (or trust=True) if you trust them.", field="trust")
    skops_io = require("skops.io", f"Loading {source}, a scikit-learn model,")
    try:
        return skops_io.loads(files[MODEL_FILE["skops"]], trusted=sorted(SAFE_TYPES | set(untrusted)))
    except ModuleNotFoundError as exc:  # skops is there but the model's library (scikit-learn) is not
        missing = from_module_not_found(exc, f"Loading {source}, a scikit-learn model,")
        if missing is None:
            raise
        raise missing from exc


def library_versions(flavor: str, serializer: str) -> dict[str, str]:
    """Versions of the libraries the model needs, as installed now (pinned in the manifest)."""
    import platform
    from importlib import metadata

    names = ["numpy", "pandas"]
    names += {"skops": ["scikit-learn", "skops"], "pickle": ["scikit-learn", "cloudpickle"],
              "onnx": ["onnxruntime"]}[serializer]
    names += [name for name in ("xgboost", "lightgbm") if _installed(name)]
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _installed(name: str) -> bool:
    from importlib import util

    return util.find_spec(name) is not None

