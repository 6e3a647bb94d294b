"""Any Python model, stored as a reference to its code plus data files: no pickle, and loaded only when trusted.

For what no other flavor stores (a rule set, a model of a library Shipyard does not know, a network behind its
own preprocessing), subclass :class:`PythonModel`: define ``predict(frame)`` (and, for a classifier,
``predict_proba(frame)`` and ``classes_``), declare the files it needs in ``artifacts`` and its small settings
in ``config``, and read both back in :meth:`PythonModel.load_context`::

    class Thresholds(shipyard.PythonModel):
        def __init__(self, table_path):
            self.artifacts = {"table": table_path}
            self.config = {"column": "tenure"}
            self.load_context(shipyard.ModelContext(self.artifacts, self.config))

        def load_context(self, context):
            self.table = pandas.read_csv(context.artifacts["table"])

        def predict(self, frame): ...

    shipyard.log_model(Thresholds("table.csv"), "model", input_example=frame)

The package holds the class as a code reference (``module:QualName``), the BLAKE3 hash of that module's
source file, ``config`` as JSON and each artifact file; never the object itself. Loading builds a fresh
instance without calling its constructor (which takes training-time arguments), sets ``artifacts`` to the
restored files' paths and ``config``, and calls ``load_context``. Importing the module runs its code, so
loading needs trust, as a pickle does: ``load_model(uri, trust=True)`` or a trust list naming the code
reference (``trust=["mymodule:Thresholds"]``, also the server's ``trust:`` and the CLI's ``--trust``); and the
module found on the loading side must hash as it did when logged, or loading is refused before it is imported.
The module must be importable there (installed, or on ``PYTHONPATH``): its code is not copied into the package.
The modules of the same project it imports (found by reading its ``import`` statements, then theirs: files under
the folder its top-level package is imported from, never an installed library) are hashed too, so a changed
helper is refused the same way.

``log_model`` rebuilds the model that way once before writing anything and compares its answers on the input
example with the live object's, so state kept outside ``config`` and ``artifacts`` is caught when logging,
not in production.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import sys
import tempfile
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import IntegrityError, ValidationError
from .native_flavor import META_FILE, dump_meta, plain, read_meta

FLAVOR = "python"
SERIALIZER = "python-code"
DISTRIBUTIONS: tuple[str, ...] = ()
ARTIFACTS_FOLDER = "artifacts"
CHECK_ROWS = 20  # rows of the input example the reloaded model must answer exactly as the live one
HELPER_LIMIT = 64  # project modules hashed beside the model's own, at most
INSTALLED = frozenset({"site-packages", "dist-packages"})


@dataclass(frozen=True)
class ModelContext:
    """What :meth:`PythonModel.load_context` reads: artifact name -> local file path, and the config."""

    artifacts: Mapping[str, str | os.PathLike[str]] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)


class PythonModel:
    """Base class of a model Shipyard stores as code reference, config and artifact files (see the module doc).

    Contract: ``predict(frame)`` takes a DataFrame in the signature's column order and answers one value per
    row; a classifier also has ``classes_`` and ``predict_proba(frame)`` (one column per class, in that
    order). ``artifacts`` (name -> file path) and ``config`` (JSON values) hold everything it needs after
    loading, where the constructor is not called: :meth:`load_context` gets them and rebuilds the state.
    """

    artifacts: Mapping[str, str | os.PathLike[str]] = MappingProxyType({})
    config: Mapping[str, Any] = MappingProxyType({})

    def load_context(self, context: ModelContext) -> None:
        """Rebuild the model's state from ``context.artifacts`` and ``context.config`` (called when loading)."""

    def predict(self, frame: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define predict(frame).")


def code_reference(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def wrap(model: Any, frame: Any) -> PythonModel | None:
    """``model`` itself when it is a :class:`PythonModel` whose reload answers as it does; ``None`` for others."""
    if not isinstance(model, PythonModel):
        return None
    files, _ = serialize(model)
    try:
        restored = deserialize(files, [code_reference(type(model))], True, "the model being logged")
        _check_same_answers(model, restored, frame.head(CHECK_ROWS))
    except (ValidationError, IntegrityError):
        raise
    except Exception as exc:
        raise ValidationError(
            f"The {type(model).__name__} could not be rebuilt from its config and artifacts as a load would "
            f"({type(exc).__name__}: {exc}); fix load_context before logging it.", field="model") from exc
    return model


def _check_same_answers(live: Any, restored: Any, rows: Any) -> None:
    import numpy as np

    calls = ["predict", *(["predict_proba"] if hasattr(live, "predict_proba") else [])]
    for call in calls:
        expected, found = np.asarray(getattr(live, call)(rows)), np.asarray(getattr(restored, call)(rows))
        same = expected.shape == found.shape and (
            np.allclose(expected, found, rtol=1e-9, atol=1e-12, equal_nan=True) if expected.dtype.kind in "fc"
            else np.array_equal(expected, found))
        if not same:
            raise ValidationError(
                f"The {type(live).__name__} answers {call} differently once rebuilt from its config and artifacts, "
                "as loading does (the constructor is not called then): keep everything it needs in self.config "
                "or self.artifacts and read them in load_context.", field="model")


def serialize(model: PythonModel) -> tuple[dict[str, bytes], list[str]]:
    """The description (code reference, source hash, config, artifact names) and the artifact files; the code
    reference is the one name the loader must trust."""
    from ..store.hashing import hash_bytes

    cls = type(model)
    reference = code_reference(cls)
    source = _source_file(cls)
    try:
        config = json.loads(json.dumps(dict(model.config), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"The config of {cls.__name__} must hold JSON values (text, numbers, lists, dicts) "
                              f"only: {exc}; put anything else in an artifact file.", field="config") from None
    files: dict[str, bytes] = {}
    artifacts: dict[str, str] = {}
    for name, location in dict(model.artifacts).items():
        path = Path(location)
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise ValidationError(f"Artifact name {name!r} of {cls.__name__} must be a plain non-empty name.",
                                  field="artifacts")
        if not path.is_file():
            raise ValidationError(f"Artifact {name!r} of {cls.__name__} is {str(path)!r}, which is not a file; "
                                  "declare files (archive a folder first).", field="artifacts")
        stored = f"{ARTIFACTS_FOLDER}/{name}/{path.name}"
        files[stored] = path.read_bytes()
        artifacts[name] = stored
    meta = {"format": 1, "flavor": FLAVOR, "code": reference, "python_class": f"{cls.__module__}.{cls.__qualname__}",
            "source": {"module": cls.__module__, "file": source.name, "hash": hash_bytes(source.read_bytes())},
            "config": config, "artifacts": artifacts,
            "classes": [plain(value) for value in model.classes_] if hasattr(model, "classes_") else None}
    helpers = _helper_hashes(cls.__module__, source)
    if helpers:
        meta["helpers"] = helpers
    files[META_FILE] = dump_meta(meta)
    return files, [reference]


def _helper_hashes(module_name: str, source: Path) -> dict[str, str]:
    """Module name -> source hash of each module of the model's project its module imports, directly or through
    another such module: those already imported whose file lies under the folder the model's top-level package is
    imported from (and, when that folder holds installed libraries, in the model's own package)."""
    from ..store.hashing import hash_bytes

    depth = module_name.count(".") + (1 if source.name == "__init__.py" else 0)
    root = source.resolve().parents[depth]
    top = module_name.partition(".")[0]
    found: dict[str, str] = {}
    seen = {module_name}
    pending = [(module_name, source)]
    while pending and len(found) < HELPER_LIMIT:
        name, path = pending.pop()
        for imported in _imports(name, path):
            if imported in seen or len(found) >= HELPER_LIMIT:
                continue
            seen.add(imported)
            filename = getattr(sys.modules.get(imported), "__file__", None)
            file = Path(filename).resolve() if filename else None
            if file is None or not file.is_file() or root not in file.parents or file.suffix != ".py":
                continue
            if root.name in INSTALLED and imported.partition(".")[0] != top:
                continue  # another installed library: versions are pinned, not hashed
            found[imported] = hash_bytes(file.read_bytes())
            pending.append((imported, file))
    return dict(sorted(found.items()))


def _imports(module_name: str, path: Path) -> list[str]:
    """The module names ``path``'s import statements name (``from a import b`` names ``a`` and ``a.b``; relative
    imports resolved against ``module_name``)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError):
        return []
    package = module_name if path.name == "__init__.py" else module_name.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parent = ".".join(parts[:len(parts) - node.level + 1]) if node.level - 1 <= len(parts) else ""
                base = ".".join(part for part in (parent, node.module) if part)
            if base:
                names += [base, *(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")]
    return names


def _source_file(cls: type) -> Path:
    """The file of the module defining ``cls``; refused when another process could not import it by name."""
    where = f"{cls.__name__} is defined in"
    if cls.__module__ == "__main__":
        raise ValidationError(f"{where} __main__ (a script or a notebook), which another process cannot import; move "
                              "the class into a module file and import it from there.", field="model")
    if "<locals>" in cls.__qualname__:
        raise ValidationError(f"{where} a function ({cls.__qualname__}), so no import reaches it; define it at the "
                              "top level of a module.", field="model")
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None)
    if not filename or not Path(filename).is_file():
        raise ValidationError(f"{where} {cls.__module__}, which has no source file to hash.", field="model")
    return Path(filename)


def deserialize(files: dict[str, bytes], untrusted: list[str], trust: bool | Iterable[str],
                source: str) -> PythonModel:
    """Rebuild the model: trust first, then the module's source hash (before importing it), then its class."""
    meta = read_meta(files, FLAVOR, source)
    reference = meta.get("code")
    if not isinstance(reference, str) or ":" not in reference or reference not in untrusted:
        raise ValidationError(f"{source} (a {FLAVOR} package) has no valid code reference; log the model again.",
                              field="format")
    if trust is not True and reference not in set(trust or ()):
        raise ValidationError(
            f"{source} is a Python model whose code is {reference}, and loading it imports and runs that code: "
            f"pass trust=[{reference!r}] (or trust=True; --trust {reference} on the command line, trust: "
            f"[{reference}] for a server) if you trust it.", field="trust")
    module_name, _, qualname = reference.partition(":")
    _check_source(module_name, meta.get("source") or {}, source, reference)
    for helper, recorded in (meta.get("helpers") or {}).items():
        _check_source(helper, {"hash": recorded}, source, reference, imported_by=module_name)
    from importlib import import_module

    target: Any = import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if not isinstance(target, type) or not issubclass(target, PythonModel):
        raise ValidationError(f"{source} names {reference}, which is not a shipyard.PythonModel class here.",
                              field="model")
    model = target.__new__(target)  # the constructor takes training-time arguments: load_context rebuilds
    folder = Path(tempfile.mkdtemp(prefix="shipyard-python-model-"))
    weakref.finalize(model, shutil.rmtree, folder, True)
    paths: dict[str, str] = {}
    for name, stored in (meta.get("artifacts") or {}).items():
        if stored not in files or not str(stored).startswith(f"{ARTIFACTS_FOLDER}/{name}/"):
            raise ValidationError(f"{source}: artifact {name!r} is not in the package; log the model again.",
                                  field="format")
        path = folder / name / Path(stored).name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[stored])
        paths[name] = str(path)
    model.artifacts = MappingProxyType(paths)
    model.config = MappingProxyType(dict(meta.get("config") or {}))
    model.load_context(ModelContext(model.artifacts, model.config))
    return model


def _check_source(module_name: str, recorded: dict[str, Any], source: str, reference: str, *,
                  imported_by: str | None = None) -> None:
    """Refuse, without importing it, a module (the model's, or a helper it imports) whose source differs from the
    one the model was logged with."""
    from importlib import util

    from ..store.hashing import hash_bytes

    loaded = sys.modules.get(module_name)
    filename = getattr(loaded, "__file__", None)
    if filename is None:
        try:
            spec = util.find_spec(module_name)
        except (ImportError, ValueError):
            spec = None
        filename = spec.origin if spec is not None else None
    via = f", imported by {imported_by}" if imported_by else ""
    if not filename or not Path(filename).is_file():
        raise ValidationError(
            f"{source} needs the module {module_name} ({reference}{via}), which is not importable here; install it "
            "or put its folder on PYTHONPATH.", field="model")
    found = hash_bytes(Path(filename).read_bytes())
    if found != recorded.get("hash"):
        raise IntegrityError(
            f"The source of {module_name}{via} ({filename}) changed since {source} was logged (hash {found[:12]} now, "
            f"{str(recorded.get('hash'))[:12]} then); it was not loaded. Restore that source or log the model again.",
            object_hash=str(recorded.get("hash")), path=str(filename))
