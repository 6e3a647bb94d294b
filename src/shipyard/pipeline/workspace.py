"""Putting cached bytes back into the workspace, and keeping cached paths out of git.

Shared by ``repro`` (stage outputs) and ``add``/``checkout`` (raw data).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from ..store import Store
from .hashing import read_manifest


def restore(store: Store, root: Path, record: dict[str, Any]) -> None:
    """Bring a cached output back into the workspace; never leaves a partial file or directory."""
    target = root / record["path"]
    label = f"output {record['path']}"
    if "files" not in record:
        if target.is_dir():  # a directory in this revision, a file in the one being restored
            staged = target.with_name(f".{target.name}.file-{os.getpid()}")
            store.objects.get_file(record["hash"], staged, label=label)
            shutil.rmtree(target)
            os.replace(staged, target)
            return
        store.objects.get_file(record["hash"], target, label=label)
        return
    staging = target.with_name(f".{target.name}.restore-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for name, digest, _size in read_manifest(store, record["hash"], label):
            store.objects.get_file(digest, staging / name, label=f"{record['path']}/{name}")
        staging.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()  # a file in this revision, a directory in the one being restored
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ignore_in_git(root: Path, relative: str) -> None:
    """Add ``relative`` to the .gitignore beside it (once): its versions live in the cache, not in git."""
    target = root / relative
    ignore = target.parent / ".gitignore"
    line = "/" + _escape_pattern(target.name)
    existing = ignore.read_text().splitlines() if ignore.exists() else []
    if line not in existing:
        with open(ignore, "a") as handle:
            if existing and existing[-1] != "":
                handle.write("\n")
            handle.write(line + "\n")


def _escape_pattern(name: str) -> str:
    """A file name as a literal .gitignore pattern (``run[2].csv`` must not be a character class)."""
    escaped = re.sub(r"([\\*?\[\]!#])", r"\\\1", name)
    return escaped[:-1] + "\\ " if escaped.endswith(" ") else escaped
