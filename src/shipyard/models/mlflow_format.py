"""An MLflow model folder (``MLmodel`` + files) turned into a Shipyard model package, or the reason it cannot be.

Two callers share it: ``shipyard import mlflow`` (versions of another MLflow store) and the team server (a version an
MLflow client registers through ``model-versions/create``). Both keep MLflow's own files as run artifacts beside the
package, so nothing the client logged is lost.

Shipyard packages scikit-learn models saved by MLflow, whose input example gives the signature and the training
profile. One saved with skops (``serialization_format="skops"``, types Shipyard trusts by default,
:data:`shipyard.models.flavors.SAFE_TYPES`) is loaded and packaged like any model. One saved as a pickle (MLflow's
default, cloudpickle) is packaged without being unpickled: its output is learnt when someone loads it, which takes
a trust decision naming the pickle's hash (``shipyard serve --trust pickle:<hash>``). Anything else (another flavor,
no input example, a skops type nobody trusted) raises :class:`~shipyard.errors.NotSupportedError` with the reason,
which the importer reports for that version and the server answers to the client: neither ever unpickles, nor
silently drops a version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import NotSupportedError
from ..extras import require
from ..store import Store

MLMODEL = "MLmodel"
PICKLES = ("cloudpickle", "pickle")  # MLflow's serialization formats that are pickles


def package_mlflow_model(store: Store, run_id: str, folder: Path, path: str) -> str:
    """Log the MLflow model in ``folder`` as a Shipyard package at ``path`` of ``store``'s run ``run_id``; returns
    the ``runs:/`` URI to register."""
    import yaml

    mlmodel_file = folder / MLMODEL
    if not mlmodel_file.is_file():
        raise NotSupportedError("its files have no MLmodel: not an MLflow model")
    try:
        mlmodel = yaml.safe_load(mlmodel_file.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise NotSupportedError(f"its MLmodel file cannot be read ({str(exc).splitlines()[0]})") from None
    flavors = mlmodel.get("flavors") or {}
    sklearn = flavors.get("sklearn")
    if not isinstance(sklearn, dict):
        named = ", ".join(sorted(name for name in flavors if name != "python_function")) or "none"
        raise NotSupportedError(f"flavor {named} is not one Shipyard packages from MLflow (scikit-learn is)")
    serialization = sklearn.get("serialization_format")
    if serialization not in ("skops", *PICKLES):
        raise NotSupportedError(f"the scikit-learn model is serialized with {serialization}, which Shipyard does not "
                                "know; re-log it with serialization_format='skops'")
    model_file = folder / str(sklearn.get("pickled_model") or "model.skops")
    if not model_file.is_file():
        raise NotSupportedError(f"its model file {model_file.name} is missing")
    example = _input_example(folder, mlmodel)
    from .package import write_package, write_pickled_package

    if serialization in PICKLES:  # packaged as it is, never unpickled here: loading it takes a trust decision
        return write_pickled_package(store, run_id, path, model_file.read_bytes(), input_example=example,
                                     libraries=_recorded_libraries(mlmodel, sklearn),
                                     python_class="sklearn (pickled by MLflow)").uri
    model = _load_skops(model_file.read_bytes())
    return write_package(store, run_id, model, path, input_example=example).uri


def _recorded_libraries(mlmodel: dict[str, Any], sklearn: dict[str, Any]) -> dict[str, str]:
    """The versions MLflow recorded where the pickle was made: loading warns when the installed ones differ."""
    recorded = {"scikit-learn": sklearn.get("sklearn_version"),
                "python": (mlmodel.get("flavors", {}).get("python_function") or {}).get("python_version")}
    return {name: str(version) for name, version in recorded.items() if version}


def _load_skops(data: bytes) -> Any:
    require("skops.io", "import scikit-learn models from MLflow")
    import skops.io

    from .flavors import SAFE_TYPES

    untrusted = skops.io.get_untrusted_types(data=data)
    unknown = sorted(set(untrusted) - SAFE_TYPES)
    if unknown:
        raise NotSupportedError(f"its skops file needs types Shipyard does not trust by default ({', '.join(unknown)})")
    try:
        return skops.io.loads(data, trusted=untrusted)
    except Exception as exc:  # a damaged or foreign file: skops raises many kinds
        raise NotSupportedError(f"its skops file cannot be loaded ({type(exc).__name__}: {exc})") from None


def _input_example(folder: Path, mlmodel: dict[str, Any]) -> Any:
    """The input example MLflow saved (pandas ``split`` orient), which gives the package its signature."""
    import pandas as pd

    info = mlmodel.get("saved_input_example_info") or {}
    name = info.get("artifact_path")
    if not name or not (folder / str(name)).is_file():
        raise NotSupportedError("it was logged without an input example, which Shipyard needs for its signature; "
                                "re-log it with input_example=")
    if info.get("type") != "dataframe":
        raise NotSupportedError(f"its input example is a {info.get('type')}, not a table")
    try:
        document = json.loads((folder / str(name)).read_text(encoding="utf-8"))
        if info.get("pandas_orient", "split") == "split":
            return pd.DataFrame(document["data"], columns=document.get("columns"))
        return pd.DataFrame.from_records(document)
    except (ValueError, KeyError, TypeError) as exc:
        raise NotSupportedError(f"its input example cannot be read as a table ({exc})") from None
