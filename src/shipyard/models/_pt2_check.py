"""What a ``.pt2`` archive may hold before ``torch.export.load`` reads it: data and aten operators, no Python.

``torch.export.load`` is not a safe loader on its own (its documentation says so: "uses pickle under the hood").
Reading a PT2 archive of torch 2.13 can run Python in five places, and Shipyard's own exports use none of them:

- a weight or constant marked ``use_pickle`` is read with ``torch.load(weights_only=False)``, a full unpickler;
- a constant named ``custom_obj_*`` or ``opaque_obj_*`` is read with TorchScript's or Python's unpickler;
- the sample inputs (``data/sample_inputs/*.pt``) are read with ``torch.load(weights_only=True)`` first, but on
  failure torch retries with ``weights_only=False``: a crafted file that the restricted unpickler refuses would
  then run anyway;
- ``guards_code`` in the program's JSON is Python source that ``ExportedProgram.module()`` passes to ``exec``;
- a graph node's ``target`` resolves by attribute lookup from the ``torch``, ``_operator`` or ``math`` module
  (``torch.os.system``, ``_operator.attrgetter`` chains), so a graph can name a Python function to call.

:func:`check_pt2` refuses an archive holding any of them, or any file outside the layout ``torch.export.save``
writes (an AOTInductor archive's compiled shared library, for one), and proves the sample inputs load with the
restricted unpickler so torch's retry never happens. Weights then load as raw bytes viewed as tensors.
The check is a second wall: the first is the package's hash verification (:mod:`.package`), which refuses any
file that is not the one Shipyard wrote before a byte of it is parsed.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from typing import Any

# The files torch.export.save writes for one program named "model" (the archive's top folder varies).
_ALLOWED_FILES = re.compile(
    r"[^/]+/(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/model\.json|data/weights/(weight_\d+|model_weights_config\.json)"
    r"|data/constants/(tensor_\d+|model_constants_config\.json)|data/sample_inputs/model\.pt)")
# Python operators a graph may call: tuple indexing and the arithmetic of symbolic sizes, nothing that reaches
# attributes (attrgetter, methodcaller) or calls an argument (call).
_OPERATORS = frozenset({"getitem", "add", "sub", "mul", "floordiv", "truediv", "mod", "neg", "pow", "eq", "ne",
                        "lt", "le", "gt", "ge", "and_", "or_", "not_", "pos", "abs"})
_OP_NAMESPACES = ("torch.ops.aten.", "torch.ops.prims.")


class UnsafeArchive(ValueError):
    """The archive holds something that would run Python when loaded; ``reason`` says what and where."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_pt2(data: bytes) -> None:
    """Refuse (:class:`UnsafeArchive`) a PT2 archive that could run Python when ``torch.export.load`` reads it.

    Raises:
        UnsafeArchive: naming the first file or graph node that is not plain data or an aten/prims operator.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UnsafeArchive(f"not a zip archive ({exc})") from None
    for name in names:
        if not _ALLOWED_FILES.fullmatch(name):
            raise UnsafeArchive(f"it holds {name!r}, which torch.export.save does not write")
    by_suffix = {name.split("/", 1)[1]: name for name in names}
    for config in ("data/weights/model_weights_config.json", "data/constants/model_constants_config.json"):
        entries = _json(archive, by_suffix, config).get("config", {})
        for fqn, payload in (entries.items() if isinstance(entries, dict) else ()):
            if not isinstance(payload, dict) or payload.get("use_pickle") is not False:
                raise UnsafeArchive(f"{config} stores {fqn!r} as a pickle")
    if "data/sample_inputs/model.pt" in by_suffix:
        _restricted_load(archive.read(by_suffix["data/sample_inputs/model.pt"]))
    program = _json(archive, by_suffix, "models/model.json")
    if program.get("guards_code"):
        raise UnsafeArchive("the program carries guard code, which loading would execute as Python")
    for target in _targets(program):
        _check_target(target)


def _json(archive: zipfile.ZipFile, by_suffix: dict[str, str], suffix: str) -> dict[str, Any]:
    if suffix not in by_suffix:
        raise UnsafeArchive(f"it has no {suffix}")
    try:
        found = json.loads(archive.read(by_suffix[suffix]))
    except (ValueError, RecursionError) as exc:
        raise UnsafeArchive(f"{suffix} is not JSON ({exc})") from None
    if not isinstance(found, dict):
        raise UnsafeArchive(f"{suffix} is not a JSON object")
    return found


def _restricted_load(data: bytes) -> None:
    import torch

    try:
        torch.load(io.BytesIO(data), weights_only=True)
    except Exception as exc:  # any refusal of the restricted unpickler: torch would retry with the full one
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsafeArchive(f"its sample inputs are not plain tensors ({first[:160]})") from None


def _targets(node: Any) -> Iterator[Any]:
    """Every ``target`` of the program's graphs (subgraphs included), however deep."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "target":
                    yield value
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


def _check_target(target: Any) -> None:
    if not isinstance(target, str):
        raise UnsafeArchive(f"a graph node names the target {target!r}, which is not an operator name")
    if target.startswith(_OP_NAMESPACES) and target.count(".") == 4:  # torch.ops.aten.<op>.<overload>
        return
    module, _, name = target.partition(".")
    if module == "_operator" and name in _OPERATORS:
        return
    raise UnsafeArchive(f"a graph node calls {target!r}; Shipyard loads aten and prims operators only")
