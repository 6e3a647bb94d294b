"""Writing a whole file or none, or a whole folder or none: a temporary name beside it, then a rename.

Used where a reader must never see half a file (pack files and their indexes, a local remote's objects), and
for the folders commands render (``shipyard dockerfile``'s build context, ``shipyard k8s render``'s manifests):
an earlier render is replaced whole, so nothing of it lingers, and a failed run leaves it as it was.
``durable`` also fsyncs the bytes and the folder, so the rename survives a crash; a caller inside a batch
that syncs the filesystem once at the end passes ``False``. ``mode`` is the new file's mode before the umask:
the store's own files pass 0600 (:mod:`.files`), a remote shared by a team keeps the default.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError


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


@contextmanager
def replacing_folder(folder: Path) -> Iterator[Path]:
    """Yield an empty folder beside ``folder`` to fill; when the block ends it replaces ``folder`` whole.

    If the block raises, the new folder is removed and ``folder`` is left as it was. The caller decides
    beforehand whether ``folder`` may be replaced at all (a folder it did not write never should be).

    Raises:
        ConfigError: ``folder``'s parent cannot be written (the commands take the place with ``-o``).
    """
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    except OSError as exc:
        raise ConfigError(f"Cannot write into {folder.parent} ({exc.strerror}); choose another place with -o.") \
            from None
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would make the folder private to its writer
        yield staging
        previous = None
        if folder.exists():
            previous = folder.with_name(f".{folder.name}.old.{os.getpid()}")
            os.replace(folder, previous)
        os.replace(staging, folder)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
