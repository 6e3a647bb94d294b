"""Hashing workspace files and directories, re-reading only what changed.

A file's hash is the BLAKE3 of its bytes; a directory's hash is the hash of its manifest (the sorted
list of relative path, hash and size of every file in it), which is itself stored as an object so the
directory can be restored. A stat cache in the metadata database remembers, per absolute path, the
inode, size, mtime and ctime a file had when it was hashed: an unchanged file is never read again,
which is what makes ``status`` on thousands of files cheap. On a SQLite store the cache is read with the
stdlib driver and SQLAlchemy is only imported to write it back, so a no-op ``status`` never loads it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..store.hashing import hash_bytes, hash_file
from ..tracking.artifact_paths import artifact_path_problem
from ._files import IGNORED_IN_DATA as _IGNORED_NAMES

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..store import Store

_StatRow = tuple[int, int, int, int, str]  # inode, size, mtime_ns, ctime_ns, hash
_STAT_COLUMNS = ("path", "inode", "size", "mtime_ns", "ctime_ns", "hash")  # of schema.stat_cache
_STAT_CACHE_SQL = f"SELECT {', '.join(_STAT_COLUMNS)} FROM stat_cache WHERE path >= ? AND path < ?"

# Threads pay only when the bytes are many: BLAKE3 and file reads release the GIL, but for small files
# the per-file Python work dominates and threads just contend for the GIL.
_PARALLEL_FROM = 16  # files
_PARALLEL_MEAN_SIZE = 256 << 10  # bytes per file on average


def _worth_threads(sizes: list[int]) -> bool:
    return len(sizes) >= _PARALLEL_FROM and sum(sizes) / len(sizes) >= _PARALLEL_MEAN_SIZE


@dataclass(frozen=True)
class Entry:
    """A hashed path of the workspace."""

    path: str
    hash: str
    size: int
    files: int
    is_dir: bool

    def to_lock(self) -> dict[str, Any]:
        record: dict[str, Any] = {"path": self.path, "hash": self.hash, "size": self.size}
        if self.is_dir:
            record["files"] = self.files
        return record


class Hasher:
    """Hashes paths under ``root`` with the store's stat cache; call :meth:`save_cache` when done."""

    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root.resolve()
        self._cache: dict[str, _StatRow] | None = None
        self._fresh: dict[str, _StatRow] = {}
        self.files_read = 0  # how many files had to be read (the rest came from the stat cache)

    def hash(self, relative: str) -> Entry | None:
        """The entry for a file or directory, or ``None`` when it does not exist."""
        path = self.root / relative
        if path.is_file():
            digest, size = self._file(path)
            return Entry(relative, digest, size, 1, False)
        if path.is_dir():
            manifest = self.manifest(relative)
            data = manifest_bytes(manifest)
            return Entry(relative, hash_bytes(data), sum(item[2] for item in manifest), len(manifest), True)
        return None

    def manifest(self, relative: str) -> list[tuple[str, str, int]]:
        """Every file under a directory as (path relative to it, hash, size), sorted by path.

        Files whose stat matches the cache are answered without reading them; only the others are
        hashed, on a thread pool when there are many.
        """
        folder = os.path.join(str(self.root), relative)
        files = sorted(_walk(folder))
        known = self._known()
        results: dict[str, tuple[str, int]] = {}
        misses: list[tuple[str, tuple[int, int, int, int]]] = []
        for path in files:
            info = os.stat(path)
            signature = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
            hit = known.get(path)
            if hit is not None and hit[:4] == signature:
                results[path] = (hit[4], info.st_size)
            else:
                misses.append((path, signature))
        if _worth_threads([signature[1] for _, signature in misses]):
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
                digests = list(pool.map(lambda miss: hash_file(miss[0]), misses))
        else:
            digests = [hash_file(path) for path, _ in misses]
        for (path, signature), digest in zip(misses, digests, strict=True):
            self._remember(path, signature, digest)
            results[path] = (digest, signature[1])
        cut = len(folder) + 1
        manifest = [(path[cut:].replace(os.sep, "/"), *results[path]) for path in files]
        _check_names(relative, (name for name, _, _ in manifest))
        return manifest

    def hash_and_save(self, relative: str) -> Entry | None:
        """Hash and cache a path in one pass: each new file is read once, stored while it is hashed."""
        path = self.root / relative
        objects = self.store.objects
        if path.is_file():
            entry = self.hash(relative)
            if entry is not None and not objects.exists(entry.hash):
                objects.put_file(path)
            return entry
        if not path.is_dir():
            return None
        folder = str(path)
        files = sorted(_walk(folder))
        cut = len(folder) + 1
        _check_names(relative, (file[cut:].replace(os.sep, "/") for file in files))  # before storing any
        known = self._known()
        manifest: list[tuple[str, str, int]] = []
        with objects.batch():
            for file in files:
                info = os.stat(file)
                signature = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
                hit = known.get(file)
                if hit is not None and hit[:4] == signature and objects.exists(hit[4]):
                    digest = hit[4]
                else:
                    digest = objects.put_file(file).hash
                    self._remember(file, signature, digest)
                manifest.append((file[cut:].replace(os.sep, "/"), digest, info.st_size))
            data = manifest_bytes(manifest)
            objects.put_bytes(data)
        return Entry(relative, hash_bytes(data), sum(item[2] for item in manifest), len(manifest), True)

    def save_cache(self) -> None:
        if not self._fresh:
            return
        from ..store.dialect import upsert
        from ..store.schema import stat_cache

        rows = [{"path": path, "inode": inode, "size": size, "mtime_ns": mtime, "ctime_ns": ctime, "hash": digest}
                for path, (inode, size, mtime, ctime, digest) in self._fresh.items()]
        self._fresh = {}
        self.store.db.write(lambda conn: upsert(conn, stat_cache, rows))

    def _file(self, path: Path) -> tuple[str, int]:
        info = path.stat()
        key = str(path)
        signature = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        known = self._known().get(key)
        if known is not None and known[:4] == signature:
            return known[4], info.st_size
        digest = hash_file(path)
        self._remember(key, signature, digest)
        return digest, info.st_size

    def _remember(self, key: str, signature: tuple[int, int, int, int], digest: str) -> None:
        self.files_read += 1
        self._fresh[key] = (*signature, digest)
        self._known()[key] = (*signature, digest)

    def _known(self) -> dict[str, _StatRow]:
        if self._cache is None:
            prefix = str(self.root) + os.sep
            bounds = (prefix, prefix[:-1] + chr(ord(os.sep) + 1))  # every path under root, and only those
            rows = self.store.db.read_sqlite(_STAT_CACHE_SQL, bounds)
            if rows is None:  # not a SQLite file, or it could not answer: the engine, with its retries
                rows = self.store.db.read(lambda conn: _read_stat_cache(conn, *bounds))
            self._cache = {path: (inode, size, mtime, ctime, digest)
                           for path, inode, size, mtime, ctime, digest in rows}
        return self._cache


def _read_stat_cache(conn: Connection, low: str, high: str) -> list[tuple[Any, ...]]:
    """The rows of _STAT_CACHE_SQL through SQLAlchemy, for PostgreSQL and whatever read_sqlite declines."""
    from sqlalchemy import select

    from ..store.schema import stat_cache

    query = select(*(stat_cache.c[name] for name in _STAT_COLUMNS)).where(stat_cache.c.path >= low,
                                                                           stat_cache.c.path < high)
    return [tuple(row) for row in conn.execute(query)]


def manifest_bytes(manifest: list[tuple[str, str, int]]) -> bytes:
    return json.dumps([list(item) for item in manifest], separators=(",", ":")).encode()


def read_manifest(store: Store, digest: str, label: str) -> list[tuple[str, str, int]]:
    """A directory's manifest; every name is checked, so none can lead a restore outside the directory
    (a pointer file in git may name a manifest that no ``add`` wrote)."""
    manifest = [(str(name), str(item_hash), int(size))
                for name, item_hash, size in json.loads(store.objects.get_bytes(digest, label=label))]
    _check_names(label, (name for name, _, _ in manifest), listed=True)
    return manifest


def _check_names(label: str, names: Iterable[str], *, listed: bool = False) -> None:
    """Refuse the first name that breaks the artifact-path rule (relative, '/'-joined, no '..', no backslash):
    such a name could not be restored on every system, or would be restored outside the directory."""
    for name in names:
        problem = artifact_path_problem(name)
        if problem is not None:
            where = "its manifest lists" if listed else "it holds"
            raise ValidationError(
                f"Cannot use {label}: {where} the file {name!r}, which is refused: {problem}. "
                + ("Nothing was written; the pointer file or lock entry names a manifest no `shipyard add` made."
                   if listed else "Rename the file: a directory's files must be restorable on any system."),
                field="path")


def _walk(folder: str) -> list[str]:
    found: list[str] = []
    for current, directories, names in os.walk(folder):
        directories[:] = [name for name in directories if name not in _IGNORED_NAMES]
        found.extend(os.path.join(current, name) for name in names)
    return found
