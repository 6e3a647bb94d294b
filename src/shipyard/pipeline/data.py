"""Data versioning: ``shipyard add`` tracks raw data, ``shipyard checkout`` brings back what git names.

``add PATH`` stores the file (or every file of the directory) in the object store and writes a small
pointer ``PATH.ship`` (hash, size, file count) to commit instead of the data, adding ``PATH`` to the
``.gitignore`` beside it. After ``git checkout`` of another commit, ``checkout`` restores the data the
pointer files and ``shipyard.lock`` now name, verified against their hashes, never leaving a partial
file (each restore lands in a temporary path and is renamed into place).

Both hold the workspace lock that ``repro`` takes, so two commands never interleave their writes to
pointer files, ``.gitignore`` and the data itself. ``checkout`` clones files out of the cache where the
filesystem allows and copies otherwise; hardlinks are opt-in and only for raw data: stage outputs are
rewritten in place by their stages, which through a hardlink would rewrite the cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ..errors import ConfigError, NotFoundError, ValidationError
from ..store import Store
from ..store.objects import LinkMode, check_link_mode
from ._files import POINTER_SUFFIX as POINTER_SUFFIX, SKIP_DIRS as _SKIP_DIRS
from .hashing import Entry, Hasher
from .lock import read_lock
from .workspace import ignore_in_git, restore
from .workspace_lock import lock_path, workspace_lock

OnWait = Callable[[dict[str, object]], None]  # told who holds the workspace lock while waiting for it


@dataclass(frozen=True)
class Tracked:
    path: str  # relative to the workspace root, posix
    record: dict[str, Any]  # hash, size, files (directories)
    source: str  # the pointer file or "shipyard.lock (stage X)"

    @property
    def is_raw_data(self) -> bool:
        """Added with ``shipyard add`` (a pointer file), rather than written by a stage."""
        return self.source.endswith(POINTER_SUFFIX)


def add(store: Store, root: Path, paths: list[str], *, produced: dict[str, str] | None = None,
        lock_timeout: float = 60.0, on_wait: OnWait | None = None) -> list[Entry]:
    """Track ``paths``: cache their bytes, write their pointer files, keep them out of git.

    Holds the workspace lock (waiting up to ``lock_timeout`` seconds, calling ``on_wait`` with the
    holder) so a concurrent ``repro``, ``checkout`` or ``gc`` never sees half of it.
    """
    relatives = [_relative(root, text) for text in paths]
    for relative in relatives:
        _refuse_stage_outputs(relative, produced or {})
    with workspace_lock(lock_path(root), timeout=lock_timeout, on_wait=on_wait):
        hasher = Hasher(store, root)
        entries = []
        for relative in relatives:
            entry = hasher.hash_and_save(relative)
            if entry is None:
                raise NotFoundError(f"Cannot add {relative}: no such file or directory.")
            _write_pointer(root, entry)
            ignore_in_git(root, relative)
            entries.append(entry)
        hasher.save_cache()
        return entries


def tracked(root: Path) -> list[Tracked]:
    """Everything the workspace names: pointer files, then stage outputs in ``shipyard.lock``."""
    found: list[Tracked] = []
    for pointer in _pointers(root):
        record = _read_pointer(pointer)
        relative = pointer.relative_to(root).as_posix()[: -len(POINTER_SUFFIX)]
        found.append(Tracked(relative, record, pointer.relative_to(root).as_posix()))
    for stage, entry in read_lock(root).items():
        for record in entry.get("outs") or []:
            found.append(Tracked(record["path"], record, f"shipyard.lock (stage {stage})"))
    return found


def checkout(store: Store, root: Path, paths: list[str] | None = None, *, link: LinkMode = "reflink",
             lock_timeout: float = 60.0, on_wait: OnWait | None = None) -> tuple[list[str], list[str]]:
    """Restore tracked data that is missing or differs; returns (restored, already current) paths.

    ``link="hardlink"`` applies to raw data only; stage outputs are cloned or copied (see the module
    docstring). Holds the workspace lock like :func:`add`.
    """
    link = check_link_mode(link)
    wanted = {_relative(root, text) for text in paths} if paths else None
    with workspace_lock(lock_path(root), timeout=lock_timeout, on_wait=on_wait):
        items = [item for item in tracked(root) if wanted is None or item.path in wanted
                 or any(PurePosixPath(item.path).is_relative_to(target) for target in wanted)]
        if wanted is not None:
            known = {item.path for item in items}
            unknown = sorted(target for target in wanted if not any(
                path == target or PurePosixPath(path).is_relative_to(target) for path in known))
            if unknown:
                raise NotFoundError(f"{unknown[0]} is not tracked (no {unknown[0]}{POINTER_SUFFIX} and no stage "
                                    "output).")
        hasher = Hasher(store, root)
        restored, current = [], []
        for item in items:
            present = hasher.hash(item.path)
            if present is not None and present.hash == item.record["hash"]:
                current.append(item.path)
                continue
            mode: LinkMode = "reflink" if link == "hardlink" and not item.is_raw_data else link
            restore(store, root, {**item.record, "path": item.path}, link=mode)
            restored.append(item.path)
        hasher.save_cache()
        return restored, current


def _refuse_stage_outputs(relative: str, produced: dict[str, str]) -> None:
    """Stage outputs are versioned by shipyard.lock; adding them (or what holds or is inside them) twice is refused."""
    path = PurePosixPath(relative)
    for output, stage in produced.items():
        out = PurePosixPath(output)
        if path == out or path.is_relative_to(out) or out.is_relative_to(path):
            if path == out:
                what = f"{relative} is an output of stage '{stage}'"
            elif path.is_relative_to(out):
                what = f"{relative} is inside '{output}', an output of stage '{stage}'"
            else:
                what = f"{relative} contains '{output}', an output of stage '{stage}'"
            raise ValidationError(f"{what}, so shipyard.lock versions it already; `shipyard add` is for raw data "
                                  "that no stage produces.", field="path")


def _write_pointer(root: Path, entry: Entry) -> None:
    pointer = root / (entry.path + POINTER_SUFFIX)
    record = {"hash": entry.hash, "size": entry.size, **({"files": entry.files} if entry.is_dir else {})}
    text = ("# Tracked by Shipyard: commit this file, not the data. `shipyard checkout` restores the data.\n"
            + yaml.safe_dump(record, sort_keys=False))
    temp = pointer.with_name(f".{pointer.name}.tmp")
    temp.write_text(text)
    os.replace(temp, pointer)


def _read_pointer(pointer: Path) -> dict[str, Any]:
    try:
        record = yaml.safe_load(pointer.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Pointer file {pointer.name} cannot be read: {exc}. Restore it from git.") from None
    if not isinstance(record, dict) or not isinstance(record.get("hash"), str):
        raise ConfigError(f"Pointer file {pointer.name} has no 'hash'; restore it from git or `shipyard add` again.")
    return record


def _pointers(root: Path) -> list[Path]:
    found: list[Path] = []
    for current, directories, names in os.walk(root):
        directories[:] = [name for name in directories if name not in _SKIP_DIRS]
        found.extend(Path(current) / name for name in names if name.endswith(POINTER_SUFFIX))
    return sorted(found)


def _relative(root: Path, text: str) -> str:
    path = Path(text)
    absolute = (path if path.is_absolute() else Path.cwd() / path).resolve()
    try:
        relative = absolute.relative_to(root.resolve())
    except ValueError:
        raise ValidationError(f"{text} is outside the project at {root}; data must live inside it.",
                              field="path") from None
    if not relative.parts or relative.parts[0] in _SKIP_DIRS:
        raise ValidationError(f"{text} cannot be tracked: it is the project itself or Shipyard's or git's folder.",
                              field="path")
    return relative.as_posix()
