"""Packs in the local object store: many small objects in one file, kept the way they arrived from a remote.

Why: pulling 10,000 small files used to create 10,000 object files in the cache and then 10,000 files in
the workspace, and on ext4 creating a file costs far more than writing a few hundred bytes. A remote
already ships small objects in packs (``pipeline/remotes.py``); a pull now keeps them packed locally, in
the same format: ``objects/packs/<hash>.pack`` (the objects end to end) and ``<hash>.idx`` (JSON, object
hash -> [offset, size]). Every object is verified before its pack is written and again whenever it is
read, like a loose object. A loose copy of an object, when there is one, is preferred.

Writes follow the store's rules: the pack, then its index, each to a temporary name, fsynced and
renamed, so an index never names a pack that is not whole. The index of every pack is loaded once per
process and reloaded when the ``packs`` folder changes (another process pulled, or ``gc`` rewrote one).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from .atomic import write_atomically
from .files import FILE_MODE, make_private_dirs
from .hashing import hash_bytes

PACKS_DIR = "packs"
_UNREAD = (-1, -1)  # never a folder's (mtime, inode): the next lookup reads the indexes again


class Location(NamedTuple):
    pack: str  # the pack file's path
    offset: int
    size: int


class LocalPacks:
    """The packs under one object store's folder."""

    def __init__(self, objects_root: Path) -> None:
        self.folder = objects_root / PACKS_DIR
        self._index: dict[str, Location] = {}
        # (mtime_ns, inode) of the folder when the index was read, None when it did not exist
        self._seen: tuple[int, int] | None = _UNREAD
        self._lock = threading.Lock()

    def locate(self, digest: str) -> Location | None:
        """Where a packed object is, or ``None``; costs one ``stat`` of the folder when nothing changed."""
        self._refresh()
        return self._index.get(digest)

    def read(self, digest: str) -> bytes | None:
        """The packed object's bytes as stored (the caller verifies them), or ``None`` when not packed."""
        for _attempt in range(2):
            where = self.locate(digest)
            if where is None:
                return None
            try:
                handle = os.open(where.pack, os.O_RDONLY)
            except FileNotFoundError:  # gc rewrote the pack meanwhile: read the new index once
                self._seen = _UNREAD
                continue
            try:
                return os.pread(handle, where.size, where.offset)
            finally:
                os.close(handle)
        return None

    def hashes(self) -> Iterator[str]:
        self._refresh()
        return iter(sorted(self._index))

    def add(self, objects: Iterable[tuple[str, bytes]], *, durable: bool = True) -> str:
        """Write one pack of ``(digest, bytes)`` pairs that the caller has verified; returns the pack's name."""
        offsets: dict[str, list[int]] = {}
        blobs: list[bytes] = []
        position = 0
        for digest, data in objects:
            if digest in offsets:
                continue
            offsets[digest] = [position, len(data)]
            blobs.append(data)
            position += len(data)
        body = b"".join(blobs)
        name = hash_bytes(body)
        make_private_dirs(self.folder)
        write_atomically(self.folder / f"{name}.pack", body, durable=durable, mode=FILE_MODE)
        write_atomically(self.folder / f"{name}.idx", json.dumps(offsets, separators=(",", ":")).encode(),
                         durable=durable, mode=FILE_MODE)
        self._seen = _UNREAD
        return name

    def remove(self, digests: set[str]) -> None:
        """Drop ``digests`` from the packs: a pack left with none of its objects is deleted, one that keeps
        some is rewritten with those (each verified on the way; a corrupted one is not carried over)."""
        self._refresh()
        by_pack: dict[str, list[str]] = {}
        for digest, where in self._index.items():
            by_pack.setdefault(where.pack, []).append(digest)
        for pack, members in by_pack.items():
            if not digests.intersection(members):
                continue
            kept = []
            for digest in members:
                data = self.read(digest) if digest not in digests else None
                if data is not None and hash_bytes(data) == digest:
                    kept.append((digest, data))
            if kept:
                self.add(kept)
            Path(pack).with_suffix(".idx").unlink(missing_ok=True)  # the index first: it never outlives its pack
            Path(pack).unlink(missing_ok=True)
        self._seen = _UNREAD

    def _refresh(self) -> None:
        try:
            info = os.stat(self.folder)
            seen: tuple[int, int] | None = (info.st_mtime_ns, info.st_ino)
        except FileNotFoundError:
            seen = None
        if seen == self._seen:
            return
        with self._lock:
            self._index = _read_indexes(self.folder) if seen is not None else {}
            self._seen = seen


def _read_indexes(folder: Path) -> dict[str, Location]:
    index: dict[str, Location] = {}
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return index
    for name in names:
        if not name.endswith(".idx") or name.startswith("."):
            continue
        pack = str(folder / f"{name[:-4]}.pack")
        try:
            entries = json.loads((folder / name).read_bytes())
        except (OSError, ValueError):
            continue  # an unreadable index hides its pack; its objects count as absent and are fetched again
        for digest, (offset, size) in entries.items():
            index[digest] = Location(pack, int(offset), int(size))
    return index

