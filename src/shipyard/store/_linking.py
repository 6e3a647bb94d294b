"""Putting a cached object's bytes at a workspace path: a reflink, a hardlink or a copy, never a partial file.

Why three ways. A copy doubles the disk that data takes and costs a full read and write. A reflink (a
copy-on-write clone: Linux ``FICLONE`` on btrfs, XFS, bcachefs) is instant, takes no space and is still an
independent file, so it is the default wherever the filesystem allows it, with a copy as the fallback.
A hardlink is instant too but *shares* the bytes with the cache: a program that rewrites the file in
place rewrites the cached object. Hardlinks are therefore opt-in, and the object is made read-only
first, so that such an edit fails (for users other than root) instead of corrupting the cache; an edit
that gets through anyway is caught by the hash check of the next read.

Whatever the method, the bytes land in a temporary file beside the destination and are renamed into
place only once they hash to the expected digest: hashed while copying for a copy, and read once
(the object's own bytes, shared) for a reflink or hardlink. A directory is restored into a private
staging folder that is renamed into place whole (``pipeline/workspace.py``); its files need no
temporary name of their own, so :func:`link_into_staging` writes them under their final name there,
sparing a rename per file: checking out 10,000 small files is mostly file creation.

Files are handled through raw descriptors (``os.open``/``os.read``/``os.write``) rather than Python file
objects, whose buffering and extra system calls cost more than the work itself for small files.
"""

from __future__ import annotations

import errno
import os
import secrets
import sys
from pathlib import Path
from typing import Literal

from ..errors import ValidationError
from .hashing import CHUNK_SIZE, hash_file, new_hasher

LinkMode = Literal["reflink", "copy", "hardlink"]
LINK_MODES: tuple[LinkMode, ...] = ("reflink", "copy", "hardlink")
Method = Literal["reflink", "hardlink", "copy"]  # how the bytes got there

# _IOW(0x94, 9, int) in linux/fs.h: clone all of the source file's extents into the destination.
FICLONE = 0x40049409

# A hardlink the filesystem refuses for these reasons falls back to a clone or a copy; other errors
# (no space, no permission on the folder) are real and raised.
_NO_HARDLINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def check_link_mode(value: str) -> LinkMode:
    """``value`` as a link mode, or a :class:`ValidationError` that lists the modes and what each does."""
    if value not in LINK_MODES:
        raise ValidationError(
            f"Unknown link mode {value!r}: use reflink (the default: a copy-on-write clone where the filesystem "
            "allows, else a copy), copy (always an independent copy) or hardlink (shares the cached bytes; "
            "the files become read-only).", field="link")
    return value


def link_out(source: Path, dest: Path, digest: str, *, mode: LinkMode = "reflink") -> Method | None:
    """Put ``source``'s bytes at ``dest`` if they hash to ``digest``; return how, or ``None`` if they do not.

    ``hardlink`` falls back to a reflink, and ``reflink`` to a copy, when the filesystem cannot do
    better (another device, no clone support, too many links). On ``None`` and on any error ``dest`` is
    left as it was and no temporary file remains.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.parent / f".{dest.name}.{secrets.token_hex(4)}.tmp"
    try:
        method = _place(source, temp, digest, mode)
        if method is not None:
            os.replace(temp, dest)
        return method
    finally:
        # Also covers rename's one no-op: temp and dest already being links to the same object.
        temp.unlink(missing_ok=True)


def link_into_staging(source: Path, dest: Path, digest: str, *, mode: LinkMode = "reflink") -> Method | None:
    """:func:`link_out` for a ``dest`` inside a staging folder that no reader sees until it is renamed whole.

    The bytes go straight to ``dest`` (its folder must exist); on ``None`` or an error ``dest`` is
    removed, and the caller drops the staging folder anyway, so nothing partial reaches the workspace.
    """
    try:
        method = _place(source, dest, digest, mode)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    if method is None:
        dest.unlink(missing_ok=True)
    return method


def _place(source: Path, temp: Path, digest: str, mode: LinkMode) -> Method | None:
    if mode == "hardlink" and _hardlink(source, temp):
        return "hardlink" if hash_file(temp) == digest else None
    reader = os.open(source, os.O_RDONLY | _O_CLOEXEC)
    try:
        writer = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o666)
        try:
            cloned = mode != "copy" and _reflink(reader, writer)
            if not cloned:
                return "copy" if _copy_hashing(reader, writer) == digest else None
        finally:
            os.close(writer)
    finally:
        os.close(reader)
    return "reflink" if hash_file(temp) == digest else None


def _hardlink(source: Path, temp: Path) -> bool:
    """Link ``temp`` to ``source`` after making it read-only; ``False`` when either is not possible."""
    try:
        mode = source.stat().st_mode
        if mode & 0o222:
            source.chmod(mode & ~0o222)
    except PermissionError:
        return False  # someone else's object in a shared cache: it cannot be protected, so it is not shared
    try:
        os.link(source, temp)
    except OSError as exc:
        if exc.errno in _NO_HARDLINK:
            return False
        raise
    return True


def _reflink(reader: int, writer: int) -> bool:
    """Clone ``reader``'s file into ``writer``'s (Linux ``FICLONE``); ``False`` where unsupported."""
    if sys.platform != "linux":
        return False
    import fcntl

    try:
        fcntl.ioctl(writer, FICLONE, reader)
    except OSError:  # EOPNOTSUPP (ext4, tmpfs), EXDEV (another filesystem), EINVAL, ENOTTY...
        os.ftruncate(writer, 0)
        return False
    return True


def _copy_hashing(reader: int, writer: int) -> str:
    """Copy while hashing what was read, so the bytes are verified without a second read."""
    remaining = os.fstat(reader).st_size
    hasher = new_hasher(remaining)
    # Read exactly the size fstat gave (no 1 MiB buffer for a 500-byte file, no extra read for EOF):
    # whatever was read is what gets hashed and written, so a file that changed meanwhile fails the check.
    while remaining > 0 and (chunk := os.read(reader, min(CHUNK_SIZE, remaining))):
        remaining -= len(chunk)
        hasher.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(writer, view) :]
    return str(hasher.hexdigest())
