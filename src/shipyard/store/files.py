"""The store's files are its owner's alone: created 0600, in folders created 0700, whatever the umask.

A store holds a project's parameters, metrics, models, data and the output of every stage, so no other user
of the machine should read it. Modes are given when a file or folder is created (``os.open``/``os.mkdir``
take them, and the umask can only remove bits from them), never fixed afterwards with ``chmod``: there is no
moment when the file exists with wider rights. SQLite gives its ``-wal`` and ``-shm`` files the mode of the
database file, so a database created 0600 keeps them so (:mod:`.db` creates it).

Files a user checks out into the workspace are not store files: they keep the modes the umask gives.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def make_private_dirs(folder: Path | str) -> None:
    """``mkdir -p`` where every folder it creates is 0700 (``Path.mkdir(parents=True)`` gives the parents the
    umask's mode). Folders that already exist are left as they are."""
    missing: list[str] = []
    current = os.fspath(folder)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            if not os.path.isdir(path):
                raise


def open_private(path: Path | str, flags: int = os.O_WRONLY | os.O_CREAT | os.O_EXCL) -> int:
    """A descriptor of ``path`` opened with ``flags``, the file created 0600 if it is created."""
    return os.open(path, flags | _O_CLOEXEC, FILE_MODE)


def write_private_text(path: Path, text: str) -> None:
    """Create ``path`` holding ``text`` (0600); it must not exist yet."""
    with os.fdopen(open_private(path), "w", encoding="utf-8") as handle:
        handle.write(text)
