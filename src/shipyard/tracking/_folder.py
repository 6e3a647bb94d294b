"""Which files a folder handed to ``log_artifact`` holds, and where symbolic links inside it may lead.

A run's artifacts are what the logged folder contains, never what a link in it points at elsewhere: a
link to ``/etc/passwd`` in an output folder once put that file in the store, and the web UI served it. So
the walk looks at every entry without following links and decides:

- a regular file is logged;
- a folder is walked;
- a symbolic link to a regular file *inside* the folder is logged as a copy of that file, at the link's own
  path (artifacts are plain files: a download never recreates links, so it never recreates one that
  escapes); judged by where the link finally ends, so ``../outputs/data.csv`` from inside ``outputs`` is
  inside;
- every other link is refused, naming it and its target: one leading outside the folder (its target's
  bytes are never read), a broken or looping one, and one to a folder, inside or not (a folder link can loop, and
  copying a folder twice under two names is rarely what was meant);
- anything else (a FIFO, a socket, a device) is refused: reading a FIFO waits forever for a writer.

Links in the path the caller names (``log_artifact("latest")`` where ``latest`` is a link) are followed:
that file or folder is what they asked for. The whole folder is checked before a single byte is stored.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import NotFoundError, ValidationError
from .artifact_paths import check_artifact_path


def files_in(folder: Path) -> list[tuple[Path, str]]:
    """``(file to read, path relative to folder with '/' separators)`` for every file, sorted by path.

    Raises:
        ValidationError: naming the first refused entry by path (and how many others are refused).
    """
    root = os.path.realpath(folder)
    found: list[tuple[Path, str]] = []
    refused: list[tuple[str, ValidationError]] = []
    pending = [(root, "")]
    while pending:
        current, prefix = pending.pop()
        with os.scandir(current) as entries:
            for entry in entries:
                name = prefix + entry.name
                mode = entry.stat(follow_symlinks=False).st_mode
                try:
                    if stat.S_ISLNK(mode):
                        found.append((_link_target(folder, root, entry.path, name), name))
                    elif stat.S_ISDIR(mode):
                        pending.append((entry.path, name + "/"))
                    elif stat.S_ISREG(mode):
                        found.append((Path(entry.path), name))
                    else:
                        raise ValidationError(
                            f"Cannot log the folder {os.fspath(folder)!r}: {name!r} is not a regular file (a FIFO, "
                            "socket or device), and reading one can block forever. Move it out of the folder.",
                            field="local_path")
                except ValidationError as exc:
                    refused.append((name, exc))
    if refused:
        refused.sort(key=lambda item: item[0])
        first = refused[0][1]
        if len(refused) > 1:
            others = ", ".join(repr(name) for name, _ in refused[1:4]) + (", ..." if len(refused) > 4 else "")
            first.message = f"{first.message} {len(refused) - 1} more entries are refused too: {others}."
            first.args = (first.message,)
        raise first
    return sorted(found, key=lambda item: item[1])


def files_to_log(local_path: str | os.PathLike[str], artifact_path: str | None) -> list[tuple[Path, str]]:
    """The files ``log_artifact(local_path, artifact_path)`` stores and the artifact path of each, all checked.

    One rule for the local store and the remote client, so a path one refuses the other refuses too: a file
    lands at ``artifact_path/<file name>``, a folder's files keep their relative paths under ``artifact_path``.
    """
    source = Path(local_path)
    prefix = check_artifact_path(artifact_path) if artifact_path is not None else None
    if source.is_dir():
        found = files_in(source)
    elif source.is_file():
        found = [(source, source.name)]
    else:
        raise NotFoundError(f"Cannot log artifact {os.fspath(local_path)!r}: no such file or directory.")
    return [(path, check_artifact_path(f"{prefix}/{name}" if prefix else name)) for path, name in found]


def _link_target(folder: Path, root: str, link: str, name: str) -> Path:
    """The file a link inside the folder stands for, if it is a regular file inside the folder; else refuse."""
    target = os.path.realpath(link)
    where = f"Cannot log the folder {os.fspath(folder)!r}: {name!r} is a symbolic link to {target!r}"
    inside = os.path.commonpath([root, target]) == root
    if not inside:
        raise ValidationError(
            f"{where}, outside the folder; Shipyard never stores what a link leading outside the logged folder "
            "points at. Copy the file into the folder, or log it by its own path.", field="local_path")
    try:
        mode = os.stat(target).st_mode
    except OSError:
        raise ValidationError(f"{where}, which leads nowhere (a broken or looping link). Remove the link or "
                              "restore its target.", field="local_path") from None
    if stat.S_ISDIR(mode):
        raise ValidationError(f"{where}, a folder; links to folders are not followed (they can loop). Log that "
                              "folder by its own path instead.", field="local_path")
    if not stat.S_ISREG(mode):
        raise ValidationError(f"{where}, which is not a regular file.", field="local_path")
    return Path(target)
