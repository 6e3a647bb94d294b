"""Content-addressed objects: the bytes of artifacts, models and data, keyed by their BLAKE3 hash.

Objects live at ``objects/ab/cdef…`` (the first two hex digits fan the files out), or, when they came
from a remote in bulk, in packs under ``objects/packs/`` (:mod:`.packs`). A write goes to a temporary
file in the same directory, is fsynced and then renamed, so a reader sees a whole object or none; a read
re-hashes the bytes and refuses ones that no longer match. :class:`~.object_store.ObjectStore` is the
contract; :class:`LocalObjectStore` keeps objects on a local disk, :class:`~.fsspec_objects.FsspecObjectStore`
on S3 or any fsspec filesystem.
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Protocol

from ..errors import IntegrityError, NotFoundError, StoreUnavailableError, ValidationError
from ._linking import (
    LINK_MODES as LINK_MODES,
    LinkMode as LinkMode,
    Method as Method,
    check_link_mode as check_link_mode,
    link_into_staging,
    link_out,
)
from .files import DIR_MODE, FILE_MODE, make_private_dirs
from .hashing import CHUNK_SIZE, hash_bytes, new_hasher
from .object_store import (
    HASH_RE as _HASH_RE,
    ObjectInfo as ObjectInfo,
    ObjectStore as ObjectStore,
    check_digest as check_digest,
)
from .packs import LocalPacks

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class LocalObjectStore(ObjectStore):
    """Objects in a directory on this machine."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._root_text = str(self.root)
        self._batch_depth = 0  # store-wide: the puts of a batch often run on a thread pool
        self._batch_lock = threading.Lock()
        self._made_dirs: set[str] = set()  # fan-out directories known to exist (saves a syscall a put)
        self._serial = itertools.count()
        self.packs = LocalPacks(self.root)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Inside, puts skip their own fsyncs; one ``sync`` at the end makes them all durable.

        Every object is still written to a temporary file and renamed, so readers never see half an
        object; if the machine crashes before the sync, an object may be torn, which the hash check on
        read reports and the next put of the same bytes repairs.
        """
        with self._batch_lock:
            self._batch_depth += 1
        try:
            yield
        finally:
            with self._batch_lock:
                self._batch_depth -= 1
                last = self._batch_depth == 0
            if last:
                _sync_filesystem(self.root)

    def path_for(self, digest: str) -> Path:
        return Path(self._location(digest))

    def _location(self, digest: str) -> str:
        """``path_for`` as a string: push, pull and checkout ask this per object, 10,000 times for 10,000 files,
        and building ``Path`` objects was a measurable part of their time."""
        check_digest(digest)
        return f"{self._root_text}{os.sep}{digest[:2]}{os.sep}{digest[2:]}"

    def exists(self, digest: str) -> bool:
        return os.path.isfile(self._location(digest)) or self.packs.locate(digest) is not None

    def size(self, digest: str) -> int:
        try:
            return os.stat(self._location(digest)).st_size
        except FileNotFoundError:
            packed = self.packs.locate(digest)
            if packed is None:
                raise self._not_found(digest, None) from None
            return packed.size

    def delete(self, digest: str) -> None:
        self.delete_many([digest])

    def delete_many(self, digests: Iterable[str]) -> None:
        doomed = set(digests)
        for digest in doomed:
            self.path_for(digest).unlink(missing_ok=True)
        self.packs.remove(doomed)

    def put_pack(self, objects: list[tuple[str, bytes]]) -> None:
        """Store many small objects as one pack (two files instead of one per object).

        Each ``(digest, bytes)`` is verified first; on a mismatch nothing is written and the
        :class:`IntegrityError` names the object, as ``put_bytes(data, expected=digest)`` does.
        """
        for digest, data in objects:
            check_digest(digest)
            actual = hash_bytes(data)
            if actual != digest:
                raise IntegrityError(f"Bytes given as object {digest[:12]} hash to {actual[:12]}; nothing was stored.",
                                     object_hash=digest)
        try:
            self.packs.add(objects, durable=not self._batching())
        except OSError as exc:
            raise StoreUnavailableError(f"Cannot write objects under {self.root}: {exc.strerror}.") from exc

    def put_file(self, path: str | os.PathLike[str]) -> ObjectInfo:
        try:
            with open(path, "rb") as source:
                return self._put_stream(source.read)
        except FileNotFoundError:
            raise NotFoundError(f"Cannot store {os.fspath(path)!r}: no such file.") from None
        except IsADirectoryError:
            raise ValidationError(f"Cannot store {os.fspath(path)!r} as one object: it is a directory.") from None

    def put_bytes(self, data: bytes, *, expected: str | None = None) -> ObjectInfo:
        """Store bytes already in memory: hashed once, then written (skipped when an intact copy is there).

        The digest is known before anything is written, so a pull that passes ``expected`` verifies and
        stores each downloaded object with a single hash, and a mismatch leaves no file behind.
        """
        digest = hash_bytes(data)
        if expected is not None and digest != expected:
            raise IntegrityError(f"Bytes given as object {expected[:12]} hash to {digest[:12]}; nothing was stored.",
                                 object_hash=expected)
        final = self._location(digest)
        if os.path.isfile(final) and _intact(Path(final), digest):
            return ObjectInfo(digest, len(data))
        try:
            self._put_known(data, digest, final)
        except FileNotFoundError:  # the cache folder was deleted while this store was open (see _put_stream)
            self._made_dirs.clear()
            self._put_known(data, digest, final)
        return ObjectInfo(digest, len(data))

    def _put_known(self, data: bytes, digest: str, final: str) -> None:
        # The digest is known, so the temporary file goes in the object's own fan-out folder: the rename
        # stays inside one directory, and parallel writers spread over 256 folders. A shared staging folder
        # made every thread of a pull queue on that folder's lock for each create and each rename.
        fan = os.path.dirname(final)
        try:
            self._ensure_dir(fan, parents=True)
        except OSError as exc:
            raise StoreUnavailableError(f"Cannot write objects under {self.root}: {exc.strerror}.") from exc
        temp = f"{fan}{os.sep}.{digest[2:10]}.{os.getpid()}-{threading.get_ident()}-{next(self._serial)}.tmp"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, FILE_MODE)
            try:
                _write_all(fd, data)
                if not self._batching():
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, final)
            if not self._batching():
                _fsync_dir(Path(final).parent)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def _temp_path(self) -> str:
        """A fresh name in the staging folder (created once) for bytes whose digest is not known yet."""
        staging = self.root / "tmp"
        try:
            self._ensure_dir(staging, parents=True)
        except OSError as exc:
            raise StoreUnavailableError(f"Cannot write objects under {self.root}: {exc.strerror}.") from exc
        return f"{staging}{os.sep}.{os.getpid()}-{threading.get_ident()}-{next(self._serial)}"

    def _put_stream(self, read: _Reader) -> ObjectInfo:
        try:
            return self._put_stream_once(read)
        except FileNotFoundError:
            # The cache folder was deleted while this store was open: forget the folders we knew and retry.
            # Safe: a missing folder fails on opening the temporary file, before anything was read.
            self._made_dirs.clear()
            return self._put_stream_once(read)

    def _put_stream_once(self, read: _Reader) -> ObjectInfo:
        temp = Path(self._temp_path())
        hasher = new_hasher()
        size = 0
        try:
            with os.fdopen(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, FILE_MODE), "wb") as sink:
                while chunk := read(CHUNK_SIZE):
                    hasher.update(chunk)
                    sink.write(chunk)
                    size += len(chunk)
                sink.flush()
                if not self._batching():
                    os.fsync(sink.fileno())
            digest = str(hasher.hexdigest())
            final = self.path_for(digest)
            if final.is_file() and _intact(final, digest):
                temp.unlink()
            else:  # new, or a stored copy that no longer matches its hash: the fresh bytes repair it
                self._ensure_dir(final.parent, parents=False)
                os.replace(temp, final)
                if not self._batching():
                    _fsync_dir(final.parent)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return ObjectInfo(digest, size)

    def _ensure_dir(self, folder: Path | str, *, parents: bool) -> None:
        key = str(folder)
        if key not in self._made_dirs:
            if parents:
                make_private_dirs(key)
            else:
                with suppress(FileExistsError):
                    os.mkdir(key, DIR_MODE)
            self._made_dirs.add(key)

    def _batching(self) -> bool:
        return self._batch_depth > 0

    def get_bytes(self, digest: str, *, label: str | None = None) -> bytes:
        location = self._location(digest)
        try:  # one open, no stat first: push reads every object it sends this way
            with open(location, "rb") as stream:
                data = stream.read()
        except (FileNotFoundError, IsADirectoryError):
            return self._packed_bytes(digest, label)
        if hash_bytes(data) != digest:
            raise _corrupted(digest, Path(location), label)
        return data

    def _packed_bytes(self, digest: str, label: str | None) -> bytes:
        data = self.packs.read(digest)
        if data is None:
            raise self._not_found(digest, label)
        if hash_bytes(data) != digest:
            where = self.packs.locate(digest)
            raise _corrupted(digest, Path(where.pack if where else self.packs.folder), label)
        return data

    def get_file(self, digest: str, dest: str | os.PathLike[str], *, label: str | None = None) -> None:
        self.link_file(digest, dest, mode="copy", label=label)

    def link_file(self, digest: str, dest: str | os.PathLike[str], *, mode: LinkMode = "reflink",
                  label: str | None = None, staged: bool = False) -> Method:
        """Put the object at ``dest`` sharing its storage where ``mode`` and the filesystem allow; return how.

        Local objects can be cloned or linked instead of copied (see :mod:`._linking`); like
        ``get_file`` it verifies the bytes and never leaves a partial ``dest``. ``staged=True`` says
        ``dest`` is in a staging folder, whose folders exist, renamed into place whole: the file is written
        under its own name there (see :func:`._linking.link_into_staging`).
        """
        path = self.path_for(digest)
        dest = Path(dest)
        try:
            method = (link_into_staging if staged else link_out)(path, dest, digest, mode=mode)
        except FileNotFoundError:
            if path.is_file():  # asked of the object only when something was missing: one stat less per file
                raise
            if self.packs.locate(digest) is None:
                raise self._not_found(digest, label) from None
            _write_out(self._packed_bytes(digest, label), dest, staged=staged)  # verified: a copy, never partial
            return "copy"
        if method is None:
            raise _corrupted(digest, path, label, linked=dest if _same_file(dest, path) else None)
        return method

    def iter_hashes(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        found: set[str] = set(self.packs.hashes())
        for fan in self.root.iterdir():
            if len(fan.name) != 2 or not fan.is_dir():
                continue
            found.update(digest for entry in fan.iterdir() if _HASH_RE.match(digest := fan.name + entry.name))
        yield from sorted(found)

    def _existing(self, digest: str, label: str | None) -> Path:
        path = self.path_for(digest)
        if not path.is_file():
            raise self._not_found(digest, label)
        return path

    def _not_found(self, digest: str, label: str | None) -> NotFoundError:
        what = f" ({label})" if label else ""
        return NotFoundError(f"Object {digest[:12]}{what} is not in the store at {self.root}.")


class _Reader(Protocol):
    def __call__(self, size: int, /) -> bytes: ...


def _corrupted(digest: str, path: Path, label: str | None, *, linked: Path | None = None) -> IntegrityError:
    what = f" holding {label}" if label else ""
    if linked is not None:  # the workspace file and the object are one inode: the edit reached the cache
        message = (f"Object {digest[:12]}{what} is corrupted: {linked} is hard-linked to it and was edited in place, "
                   "which changed the cached copy too. Keep the edit with `shipyard add`, or get the original back "
                   f"by deleting {path} and running `shipyard pull` (if it was pushed).")
    else:
        message = (f"Object {digest[:12]}{what} is corrupted: the bytes in {path} no longer match their hash. "
                   "Restore it from a remote or log it again.")
    return IntegrityError(message, object_hash=digest, path=label)


def _write_out(data: bytes, dest: Path, *, staged: bool) -> None:
    """``data`` at ``dest``: directly inside a staging folder, else through a temporary file and a rename."""
    target = dest if staged else dest.parent / f".{dest.name}.{secrets.token_hex(4)}.tmp"
    if not staged:
        dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o666)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        if not staged:
            os.replace(target, dest)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is out (it may write fewer than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _same_file(one: Path, other: Path) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def _intact(path: Path, digest: str) -> bool:
    hasher = new_hasher(path.stat().st_size)
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            hasher.update(chunk)
    return bool(hasher.hexdigest() == digest)


def _sync_filesystem(folder: Path) -> None:
    """Flush the filesystem holding ``folder`` (Linux ``syncfs``), not the whole machine; ``sync`` elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
