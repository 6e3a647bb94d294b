"""How each kind of model becomes bytes and comes back.

A flavor turns a fitted model into named files and back. scikit-learn models (and xgboost/lightgbm
models through their scikit-learn API) are written with ``skops.io``, which rebuilds objects without
running arbitrary code; types skops does not know are listed in the manifest and must be trusted by
the caller. ``serializer="pickle"`` (cloudpickle) accepts any Python object, and its packages refuse to
load unless the caller trusts it: unpickling runs code. Python callers may pass ``trust=True``; a server's
``trust:`` list and the CLI's ``--trust`` can only name one pickle by its content hash (``pickle:<hash>``), so an
alias moved to a version nobody looked at never loads a pickle nobody named.

XGBoost and LightGBM models (alone or ending a Pipeline) are stored in their library's own format by
:mod:`.xgboost_flavor` and :mod:`.lightgbm_flavor`, PyTorch networks as a ``torch.export`` program or TorchScript
by :mod:`.torch_flavor`, with the Pipeline's preprocessing in skops here; this module only dispatches to them.
Keras networks (:mod:`.keras_flavor`, the ``.keras`` format) and :class:`~.python_flavor.PythonModel` subclasses
(:mod:`.python_flavor`, code reference + files) load themselves: one needs its backend chosen before Keras is
imported, the other a trust decision and a source hash check.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module
from types import ModuleType
from typing import Any, NoReturn

from ..errors import ValidationError
from ..extras import from_module_not_found, require
from ..store.hashing import hash_bytes
from . import keras_flavor, lightgbm_flavor, native_flavor, python_flavor, torch_flavor, xgboost_flavor

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
PICKLE_TRUST = "pickle:"  # a trust entry naming one pickle by its content hash: "pickle:<64 hex digits>"
MODEL_FILE = {"skops": "model.skops", "pickle": "model.pkl"}
ONNX_FILE = "model.onnx"
# Flavors stored in their library's own format: flavor -> its module (serializer, wrap, serialize, deserialize).
NATIVE = {"xgboost": xgboost_flavor, "lightgbm": lightgbm_flavor, "torch": torch_flavor}
NATIVE_BY_SERIALIZER = {module.SERIALIZER: module for module in NATIVE.values()}
# Flavors whose module does the whole of it (wrap, serialize -> files and untrusted names, deserialize with trust).
SELF_LOADING: dict[str, ModuleType] = {"keras": keras_flavor, "python": python_flavor}
SELF_LOADING_BY_SERIALIZER = {module.SERIALIZER: module for module in SELF_LOADING.values()}


def serializer_for(flavor: str, requested: str) -> str:
    """The serializer a package of ``flavor`` is written with when the caller asked for ``requested``: ONNX
    graphs are themselves; XGBoost and LightGBM models take their library's format unless pickle was asked."""
    if requested not in SERIALIZERS:
        raise ValidationError(f"Unknown serializer {requested!r}; use one of {', '.join(SERIALIZERS)}.",
                              field="serializer")
    if flavor == "onnx":
        return "onnx"
    if flavor in NATIVE and requested != "pickle":
        return str(NATIVE[flavor].SERIALIZER)
    if flavor in SELF_LOADING and requested != "pickle":
        return str(SELF_LOADING[flavor].SERIALIZER)
    return requested


def prepare(model: Any, example: Any, targets: Any = None, *, shape: tuple[int, ...] | None = None) -> Any:
    """``model`` as it will be logged: an XGBoost or LightGBM model (or a Pipeline ending in one) becomes a
    :class:`~.native_flavor.NativePredictor`, which takes text columns as the model's categories (pickled too,
    when the caller asks for a pickle); a PyTorch network becomes one too, whose ``targets`` (the y_example) say
    whether it classifies; anything else is unchanged. ``shape`` is the example's own when it was an image or a
    sequence (``example`` holds its values flattened): a network's input keeps it."""
    # Keras first: a Keras model on the torch backend is a torch Module too.
    wrapped = keras_flavor.wrap(model, example, shape=shape) or python_flavor.wrap(model, example)
    if wrapped is not None:
        return wrapped
    network = torch_flavor.wrap(model, example, targets, shape=shape)
    if network is not None:
        return network
    for native in (xgboost_flavor, lightgbm_flavor):
        wrapped = native.wrap(model, example)
        if wrapped is not None:
            return wrapped
    return model


def flavor_of(model: Any) -> str:
    """``onnx`` for ONNX graphs, ``xgboost``/``lightgbm`` for their models made ready by :func:`prepare`,
    ``sklearn`` for scikit-learn-compatible estimators, ``python`` for anything else with ``predict``."""
    from .onnx_flavor import OnnxPredictor, is_onnx

    if isinstance(model, native_flavor.NativePredictor | keras_flavor.KerasPredictor):
        return model.flavor
    if isinstance(model, python_flavor.PythonModel):
        return python_flavor.FLAVOR

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
    if flavor in NATIVE and serializer == NATIVE[flavor].SERIALIZER:
        files = NATIVE[flavor].serialize(model)
        if model.preprocess is None:
            return files, []
        preprocess, untrusted = _skops_dumps(model.preprocess)
        return {**files, native_flavor.PREPROCESS_FILE: preprocess}, untrusted
    own = SELF_LOADING.get(flavor)
    if own is not None and serializer == own.SERIALIZER:
        if not isinstance(model, python_flavor.PythonModel | keras_flavor.KerasPredictor):
            _not_storable(model)  # an object with predict() of no flavor: "python" until it is a PythonModel
        files, untrusted = own.serialize(model)
        return files, untrusted
    if serializer not in SERIALIZERS:
        raise ValidationError(f"Unknown serializer {serializer!r}; use one of {', '.join(SERIALIZERS)}.",
                              field="serializer")
    if flavor == "onnx":
        return {ONNX_FILE: model.onnx_bytes}, []
    if serializer == "pickle":
        cloudpickle = require("cloudpickle", "Saving a model with serializer='pickle'")
        return {MODEL_FILE["pickle"]: cloudpickle.dumps(model)}, []
    if flavor != "sklearn":
        _not_storable(model)
    data, untrusted = _skops_dumps(model)
    return {MODEL_FILE["skops"]: data}, untrusted


def _not_storable(model: Any) -> NoReturn:
    raise ValidationError(
        f"A {type(model).__name__} is not a scikit-learn estimator, so skops cannot store it safely; subclass "
        "shipyard.PythonModel (stored as a code reference, loaded with trust) or pass serializer='pickle' (loading "
        "it will then need trust=True).", field="serializer")


def _skops_dumps(model: Any) -> tuple[bytes, list[str]]:
    skops_io = require("skops.io", "Saving scikit-learn models")
    data = skops_io.dumps(model)
    return data, sorted(set(skops_io.get_untrusted_types(data=data)) - SAFE_TYPES)


def trusts_pickle(trust: bool | Iterable[str], pickled: bytes) -> bool:
    """Whether the caller's trust covers this pickle: a blanket ``True`` (Python only), or its hash named."""
    if trust is True:
        return True
    if trust is False or isinstance(trust, str):
        return False
    return f"{PICKLE_TRUST}{hash_bytes(pickled)}" in set(trust)


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
        pickled = files[MODEL_FILE["pickle"]]
        if not trusts_pickle(trust, pickled):
            raise ValidationError(
                f"{source} was saved with pickle, and loading a pickle runs code: load it only if you trust whoever "
                f"logged it, with Python's load_model(uri, trust=True), or by naming this very pickle: "
                f"{PICKLE_TRUST}{hash_bytes(pickled)} in serving.yaml's trust list or `shipyard serve --trust`. A "
                "version without a pickle is safer to serve: log it with serializer='skops' (scikit-learn) or as an "
                "ONNX graph.", field="trust")
        import pickle

        return pickle.loads(files[MODEL_FILE["pickle"]])  # the caller trusted it explicitly, above
    native = NATIVE_BY_SERIALIZER.get(serializer)
    if native is not None:
        return _load_native(native, files, untrusted, trust, source)
    own = SELF_LOADING_BY_SERIALIZER.get(serializer)
    if own is not None:
        return own.deserialize(files, untrusted, trust, source)
    if serializer != "skops":
        raise ValidationError(
            f"{source} was stored with the serializer {serializer!r}, which this Shipyard cannot read (it reads "
            f"{', '.join([*SERIALIZERS, *NATIVE_BY_SERIALIZER, *SELF_LOADING_BY_SERIALIZER])}); upgrade shipyard-ml "
            "to load it.", field="format")
    return _skops_loads(files[MODEL_FILE["skops"]], untrusted, trust, source, "a scikit-learn model")


def _load_native(native: ModuleType, files: dict[str, bytes], untrusted: list[str], trust: bool | Iterable[str],
                 source: str) -> Any:
    """A natively stored model, its library checked first (the line names its extra), then its preprocessing."""
    native_flavor.require_library(native.FLAVOR, native.TITLE, source)
    preprocess = None
    if native_flavor.PREPROCESS_FILE in files:
        what = f"{native.TITLE} behind scikit-learn preprocessing"
        preprocess = _skops_loads(files[native_flavor.PREPROCESS_FILE], untrusted, trust, source, what,
                                  wanted=native.FLAVOR)
    return native.deserialize(files, preprocess, source)


def _skops_loads(data: bytes, untrusted: list[str], trust: bool | Iterable[str], source: str, what: str, *,
                 wanted: str | None = None) -> Any:
    granted = set(untrusted) if trust is True else set(trust or ())
    refused = [name for name in untrusted if name not in granted]
    if refused:
        raise ValidationError(
            f"{source} contains types skops cannot vouch for: {', '.join(refused)}. Pass "
            f"trust={refused!r} (or trust=True) if you trust them.", field="trust")
    purpose = f"Loading {source}, {what},"
    try:
        skops_io = import_module("skops.io")
        return skops_io.loads(data, trusted=sorted(SAFE_TYPES | set(untrusted)))
    except ModuleNotFoundError as exc:  # skops, or the model's library (scikit-learn), is not installed
        missing = from_module_not_found(exc, purpose, wanted=wanted)
        if missing is None:
            raise
        raise missing from exc


def library_versions(flavor: str, serializer: str) -> dict[str, str]:
    """Versions of the libraries the model needs, as installed now (pinned in the manifest)."""
    import platform
    from importlib import metadata

    names = ["numpy", "pandas"]
    native = NATIVE_BY_SERIALIZER.get(serializer)
    if native is not None:  # the scikit-learn wrappers and a Pipeline's preprocessing need scikit-learn and skops
        names += ["scikit-learn", "skops", *native.DISTRIBUTIONS]
    elif serializer in SELF_LOADING_BY_SERIALIZER:
        names += SELF_LOADING_BY_SERIALIZER[serializer].DISTRIBUTIONS
    else:
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


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or of the other wheel of the same library (``xgboost`` and
    ``xgboost-cpu``), so a package logged with one warns about version drift under the other too."""
    from importlib import metadata

    names = [distribution]
    for module in NATIVE.values():
        if distribution in module.DISTRIBUTIONS:
            names += [name for name in module.DISTRIBUTIONS if name != distribution]
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _installed(name: str) -> bool:
    from importlib import util

    return util.find_spec(name) is not None

