"""Writing a whole file or none: a temporary name beside it, then a rename.

Used where a reader must never see half a file (pack files and their indexes, a local remote's objects).
``durable`` also fsyncs the bytes and the folder, so the rename survives a crash; a caller inside a batch
that syncs the filesystem once at the end passes ``False``. ``mode`` is the new file's mode before the umask:
the store's own files pass 0600 (:mod:`.files`), a remote shared by a team keeps the default.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, durable: bool = True, mode: int = 0o666) -> None:
    """Put ``data`` at ``path``; the temporary ``.<name>.<random>.tmp`` never looks like a finished file."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with os.fdopen(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode),
                       "wb") as stream:
            stream.write(data)
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if durable:
        handle = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
