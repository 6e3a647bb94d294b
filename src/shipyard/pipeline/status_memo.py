"""A memo of the last ``shipyard status`` that found everything up to date, so the next one answers in
milliseconds.

Whether every stage and tracked path is up to date depends on the workspace alone: the bytes of
shipyard.yaml, params.yaml, shipyard.lock and the pointer files, and the state of every dependency,
output, metrics/plots file and tracked path. After a full status that found nothing stale, a
*fingerprint* of all that is written to ``.shipyard/status-memo`` at the project root, with the
answer it printed. The console script checks the memo before it imports Typer, Rich, YAML or the store:
if the fingerprint still matches, the answer still holds and is printed again; if anything differs, the
full status runs and explains.

Small files enter the fingerprint by their bytes; data enters by (inode, size, mtime, ctime) of every file,
the same trust the stat cache of :mod:`.hashing` places in a stat that did not change, extended to whole
directories so that 10,000 unchanged files cost 10,000 ``stat`` calls and nothing else. A directory whose
listing order changed merely misses the memo. The store's location (``SHIPYARD_STORE``) is part of the
fingerprint, so pointing elsewhere runs the full check.

Only the standard library and blake3 are imported here: this runs before anything else is loaded.
"""

from __future__ import annotations

import os
import stat
from array import array
from collections.abc import Sequence

from blake3 import blake3

from ._files import IGNORED_IN_DATA, LOCK_FILE, PARAMS_FILE, PIPELINE_FILE, POINTER_SUFFIX, SKIP_DIRS

MEMO_FILE = "status-memo"  # in the project's .shipyard/ folder
# The memo is plain text, not JSON: importing json (and re with it) would be a tenth of the fast path.
# Lines: this tag, the project folder, the fingerprint, then the watched paths; a NUL; the plain answer;
# a NUL; the --json answer; a NUL and "end", so that a memo cut short is never taken for a whole one.
_TAG = "shipyard status memo 1"
# store.location.STORE_VARIABLES, spelled out: this fast path imports nothing of the store package.
_STORE_VARIABLES = ("SHIPYARD_STORE", "SHIPYARD_DATABASE_URI", "SHIPYARD_OBJECTS_URI", "SHIPYARD_OBJECTS")


def project_root(start: str) -> str:
    """The nearest folder at or above ``start`` holding shipyard.yaml or .git (``start`` itself if none)."""
    here = os.path.realpath(start)
    folder = here
    while True:
        if os.path.isfile(os.path.join(folder, PIPELINE_FILE)) or os.path.exists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return here
        folder = parent


def fingerprint(root: str, watched: Sequence[str]) -> str:
    """One digest of what decides the status: the small files' bytes and the stat of every watched path.

    Args:
        root: the project folder (absolute).
        watched: paths relative to ``root`` (deps, outs, metrics, plots, tracked data); directories are
            walked and every file in them is stat'ed.
    """
    digest = blake3()
    for variable in _STORE_VARIABLES:
        digest.update(f"{variable}={os.environ.get(variable, '')}\0".encode())
    skip = {os.path.join(root, path) for path in watched}
    for relative in (PIPELINE_FILE, PARAMS_FILE, LOCK_FILE, *_pointer_files(root, skip)):
        digest.update(f"file {relative}\0".encode())
        try:
            with open(os.path.join(root, relative), "rb") as handle:
                digest.update(handle.read())
        except OSError:
            digest.update(b"\0missing\0")
    numbers = array("q")
    for relative in watched:
        digest.update(f"path {relative}\0".encode())
        _stat_into(os.path.join(root, relative), digest, numbers)
    digest.update(numbers.tobytes())
    return digest.hexdigest()


def remember(root: str, watched: Sequence[str], before: str, *, text: str, json_text: str) -> bool:
    """Write the memo if the workspace still has fingerprint ``before`` (taken before the status was computed).

    A file that changed while the status ran makes the two differ, and nothing is written: the memo
    never vouches for a state that was not the one checked. Returns whether the memo was written.
    """
    folder = os.path.join(root, ".shipyard")
    header = [_TAG, root, before, *watched]
    if any("\n" in line or "\0" in line for line in header) or "\0" in text + json_text:
        return False  # a name this format cannot hold (a newline in a path): no memo, just the full status
    if not os.path.isdir(folder) or fingerprint(root, watched) != before:
        return False
    path = os.path.join(folder, MEMO_FILE)
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        if os.path.lexists(temporary):  # left by a killed process that had this pid: O_EXCL needs it gone
            os.unlink(temporary)
        # 0600, like every file of the store (store/files.py, not imported: this module serves the fast path).
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(descriptor, "w", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write("\0".join(("\n".join(header), text, json_text, "end")))
        os.replace(temporary, path)
    except OSError:
        return False  # a read-only store folder: the next status just runs in full
    return True


def forget(root: str) -> None:
    """Drop the memo (a status that found something stale)."""
    import contextlib  # here: the fast path never forgets, and pays nothing for it

    with contextlib.suppress(OSError):
        os.unlink(os.path.join(root, ".shipyard", MEMO_FILE))


def recall(start: str, *, json_output: bool = False) -> str | None:
    """The remembered answer if the workspace around ``start`` is as it was then, else ``None``."""
    root = project_root(start)
    try:
        with open(os.path.join(root, ".shipyard", MEMO_FILE), encoding="utf-8", errors="surrogateescape") as handle:
            parts = handle.read().split("\0")
    except (OSError, ValueError):
        return None
    if len(parts) != 4 or parts[3] != "end":
        return None
    header, text, json_text, _ = parts
    lines = header.split("\n")
    if len(lines) < 3 or lines[0] != _TAG or lines[1] != root or fingerprint(root, lines[3:]) != lines[2]:
        return None
    return json_text if json_output else text


def _pointer_files(root: str, skip: set[str]) -> list[str]:
    """Pointer files under ``root``, relative and sorted; watched directories are not searched (their
    own fingerprint already changes when a file appears in them)."""
    found: list[str] = []
    for current, directories, names in os.walk(root):
        directories[:] = [name for name in directories
                          if name not in SKIP_DIRS and os.path.join(current, name) not in skip]
        found.extend(os.path.relpath(os.path.join(current, name), root) for name in names
                     if name.endswith(POINTER_SUFFIX))
    return sorted(found)


def _stat_into(path: str, digest: blake3, numbers: array[int]) -> None:
    try:
        info = os.stat(path)
    except OSError:
        numbers.extend((-1, -1, -1, -1))
        return
    numbers.extend((info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns))
    if os.path.isdir(path):
        _tree_into(path, digest, numbers)


def _tree_into(folder: str, digest: blake3, numbers: array[int]) -> None:
    """Every entry below ``folder``: names into the digest, (inode, size, mtime, ctime) into ``numbers``.

    ``listdir`` plus ``stat`` relative to the open folder is the cheapest walk Python offers (no path
    joins, no DirEntry objects); what is left is one system call per file.
    """
    update = digest.update
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            names = [name for name in os.listdir(current) if name not in IGNORED_IN_DATA]
            handle = os.open(current, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            update(f"{current}\0unreadable\0\0".encode())
            continue
        try:
            for name in names:
                try:
                    info = os.stat(name, dir_fd=handle, follow_symlinks=False)
                    if stat.S_ISLNK(info.st_mode):  # a link counts as what it points at, but is never descended
                        info = os.stat(name, dir_fd=handle)
                    elif stat.S_ISDIR(info.st_mode):
                        pending.append(os.path.join(current, name))
                        numbers.append(0)  # a folder: its entries follow when it is popped
                        continue
                except OSError:
                    numbers.extend((-1, -1, -1, -1))
                    continue
                numbers.extend((info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns))
        finally:
            os.close(handle)
        update(current.encode(errors="surrogateescape"))
        update("\0".join(names).encode(errors="surrogateescape"))
        update(b"\0\0")
