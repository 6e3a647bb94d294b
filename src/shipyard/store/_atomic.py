"""Writing a whole file or none: a temporary name beside it, then a rename.

Used where a reader must never see half a file (pack files and their indexes, a local remote's objects).
``durable`` also fsyncs the bytes and the folder, so the rename survives a crash; a caller inside a batch
that syncs the filesystem once at the end passes ``False``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Put ``data`` at ``path``; the temporary ``.<name>.<random>.tmp`` never looks like a finished file."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "wb") as stream:
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
