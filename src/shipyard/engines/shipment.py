"""The model as an engine ships it: verified package bytes, read once on the driver, loaded once per process.

A :class:`Shipment` holds no store handle and no deserialized model, only bytes and the manifest, so it pickles
small and the same way to a Spark executor or a Dask worker, neither of which needs access to the store. Each
worker process checks the bytes against the manifest's hashes again and builds the model on first use; later
batches and pieces in that process reuse it (:func:`model_for`).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import ConfigError
from ..models.onnx_export import read_attached_onnx
from ..models.onnx_flavor import OnnxPredictor
from ..models.package import LoadedModel, PackageFiles, build_model, read_model
from ..models.signature import Signature
from ..store import current_store
from ..store.hashing import hash_bytes
from ..tracking.remote import tracking_server

RUNTIMES = ("auto", "python", "onnx")

_loaded: dict[str, LoadedModel] = {}
_builds: dict[str, int] = {}  # shipment key -> times built in this process (1 unless the cache is broken)
_loading = threading.Lock()


@dataclass(frozen=True)
class Shipment:
    """What every worker needs to score: the package's bytes, the verified ONNX export when it runs, and trust."""

    package: PackageFiles
    onnx: bytes | None
    trust: bool | tuple[str, ...]
    key: str  # identifies the model a worker builds: the manifest's hash, and the export's when it runs

    @property
    def runtime(self) -> str:
        return "onnx" if self.onnx is not None else "python"

    @property
    def signature(self) -> Signature:
        return Signature.from_dict(self.package.manifest["signature"])


def prepare_shipment(uri: str, *, runtime: str = "auto", trust: bool | Iterable[str] = ()) -> tuple[Shipment,
                                                                                                     LoadedModel]:
    """Read and verify the package ``uri`` names, choose its runtime, and build it here once.

    The driver's own copy (returned beside the shipment) proves the package deserializes with ``trust`` before a
    cluster starts, and gives the signature and metadata the output needs. ``runtime``: ``python`` runs the
    packaged model, ``onnx`` the verified ONNX export attached to the version (an error when there is none),
    ``auto`` the export when there is one and onnxruntime is installed.

    Raises:
        ConfigError: an unknown runtime, or ``onnx`` without a verified export or without onnxruntime.
    """
    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}.")
    package = read_model(uri)
    onnx = None if runtime == "python" else _attached_onnx(uri, required=runtime == "onnx")
    key = package.manifest_hash + (f"+onnx:{hash_bytes(onnx)}" if onnx is not None else "")
    shipment = Shipment(package, onnx, trust if isinstance(trust, bool) else tuple(trust), key)
    return shipment, _build(shipment)


def model_for(shipment: Shipment) -> LoadedModel:
    """This process's model for ``shipment``, built on first use and verified first; each call gets its own view.

    The fitted model is shared by every call in the process; the view's ``last_report`` is its own, so two
    threads of one Dask worker scoring at once do not read each other's counts.
    """
    loaded = _loaded.get(shipment.key)
    if loaded is None:
        with _loading:
            loaded = _loaded.get(shipment.key)
            if loaded is None:
                shipment.package.verify()
                loaded = _loaded[shipment.key] = _build(shipment)
                _builds[shipment.key] = _builds.get(shipment.key, 0) + 1
    return copy.copy(loaded)


def builds_in_this_process(shipment: Shipment) -> int:
    """How many times this process built ``shipment``'s model: summaries report it, so tests see one per process."""
    return _builds.get(shipment.key, 0)


def _build(shipment: Shipment) -> LoadedModel:
    """The packaged model, or its verified ONNX export run by onnxruntime (the Python model is then not needed)."""
    package = shipment.package
    if shipment.onnx is None:
        return build_model(package, trust=shipment.trust)
    signature = shipment.signature
    predictor = OnnxPredictor(shipment.onnx, signature, tuple(signature.output.classes))
    return LoadedModel(predictor, package.manifest, package.uri, version=package.version, name=package.name)


def _attached_onnx(uri: str, *, required: bool) -> bytes | None:
    data = read_attached_onnx(tracking_server() or current_store(), uri)  # a team server's copy when tracking to one
    if data is None:
        if required:
            raise ConfigError(f"{uri} has no verified ONNX export, so it cannot use runtime onnx; run "
                              f"`shipyard models export-onnx {uri} model.onnx` first or use --runtime python.")
        return None
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        if required:
            raise ConfigError("runtime onnx needs onnxruntime: pip install 'shipyard-ml[onnx]'.") from None
        return None
    return data
