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
from ..store.objects import LinkMode, LocalObjectStore, Method
from .hashing import read_manifest


def restore(store: Store, root: Path, record: dict[str, Any], *, link: LinkMode = "reflink") -> None:
    """Bring a cached output back into the workspace; never leaves a partial file or directory.

    ``link`` says how each file gets its bytes (see :mod:`shipyard.store._linking`): ``reflink`` (the
    default) clones them where the filesystem allows and copies otherwise, ``copy`` always copies, and
    ``hardlink`` shares them with the read-only cache object. Every file is verified against its hash.
    """
    target = root / record["path"]
    if "files" not in record:
        if target.is_dir():  # a directory in this revision, a file in the one being restored
            staged = target.with_name(f".{target.name}.file-{os.getpid()}")
            _place(store, record["hash"], staged, record["path"], link)
            shutil.rmtree(target)
            os.replace(staged, target)
            return
        _place(store, record["hash"], target, record["path"], link)
        return
    staging = target.with_name(f".{target.name}.restore-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        manifest = read_manifest(store, record["hash"], record["path"])
        # Folders once each, before the files: not a mkdir per file. Inside the private staging folder
        # the files are written under their own names; the folder is renamed into place whole.
        staging.mkdir(parents=True)
        for folder in sorted({name.rpartition("/")[0] for name, _, _ in manifest} - {""}):
            (staging / folder).mkdir(parents=True, exist_ok=True)
        mode = link
        for name, digest, _size in manifest:
            method = _place(store, digest, staging / name, f"{record['path']}/{name}", mode, staged=True)
            if mode == "reflink" and method == "copy":
                mode = "copy"  # the cache's filesystem cannot clone into this folder: stop asking, file after file
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()  # a file in this revision, a directory in the one being restored
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _place(store: Store, digest: str, dest: Path, label: str, link: LinkMode, *, staged: bool = False) -> Method:
    objects = store.objects
    if isinstance(objects, LocalObjectStore):
        return objects.link_file(digest, dest, mode=link, label=label, staged=staged)
    # objects that are not files on this machine cannot be linked: a verified copy
    objects.get_file(digest, dest, label=label)
    return "copy"


def ignore_in_git(root: Path, relative: str) -> None:
    """Add ``relative`` to the .gitignore beside it (once): its versions live in the cache, not in git."""
    target = root / relative
    ignore = target.parent / ".gitignore"
    line = "/" + _escape_pattern(target.name)
    text = ignore.read_text() if ignore.exists() else ""
    if line not in text.splitlines():
        with open(ignore, "a") as handle:
            if text and not text.endswith("\n"):  # the user's last line, unterminated
                handle.write("\n")
            handle.write(line + "\n")


def _escape_pattern(name: str) -> str:
    """A file name as a literal .gitignore pattern (``run[2].csv`` must not be a character class)."""
    escaped = re.sub(r"([\\*?\[\]!#])", r"\\\1", name)
    return escaped[:-1] + "\\ " if escaped.endswith(" ") else escaped
