"""A store: the metadata database and the object store, opened together.

The process has one *current* store (chosen by ``set_store`` or found by :mod:`shipyard.store.location`). It is
opened lazily and re-opened after ``fork`` because a SQLite connection must never cross processes.

Opening reads before it writes: an existing ``meta.db`` is checked (:mod:`.db` refuses an empty one by
name), a folder that holds objects but lost its ``meta.db`` is refused rather than given a new, empty
database, and only a new or empty folder gets one. Then runs and loop cycles whose process is gone are
ended (:mod:`.reaper`). The folder and everything in it are private to their owner (:mod:`.files`).
"""

from __future__ import annotations

import os
import threading
from contextlib import suppress
from pathlib import Path
from typing import Any

from ..errors import StoreUnavailableError
from .db import Database
from .files import make_private_dirs, write_private_text
from .location import StoreLocation, resolve_location
from .objects import LocalObjectStore, ObjectStore
from .packs import PACKS_DIR
from .reaper import reap

_GITIGNORE = "# Shipyard's store: metadata, objects and logs. Track data with *.ship and shipyard.lock.\n*\n"


class Store:
    """The metadata database plus the object store of one location."""

    def __init__(self, location: StoreLocation) -> None:
        self.location = location
        self.pid = os.getpid()
        # Memos of what this store holds (experiment ids, recorded environments): they live and die
        # with the store object, so a store deleted and created again never sees stale entries.
        self.cache: dict[str, Any] = {}
        if location.root is not None:
            _create_root(location.root)
            _refuse_lost_database(location)
        self.db = Database(location.db_uri)
        self.db.ensure_schema()
        if location.root is not None:
            _ignore_in_git(location.root)
        self.objects: ObjectStore = _open_objects(location.objects_uri)
        reap(self.db)

    @property
    def logs_dir(self) -> Path | None:
        return self.location.root / "logs" if self.location.root is not None else None

    def close(self) -> None:
        self.db.dispose()

    def __repr__(self) -> str:
        return f"Store({self.location.describe()!r})"


def _create_root(root: Path) -> None:
    try:
        make_private_dirs(root)
    except OSError as exc:
        raise StoreUnavailableError(
            f"Cannot create the store directory {root}: {exc.strerror}. "
            "Choose a writable place with SHIPYARD_STORE or shipyard.set_store()."
        ) from exc


def _ignore_in_git(root: Path) -> None:
    ignore = root / ".gitignore"
    if not ignore.exists():
        with suppress(OSError):  # written by another process first, or a read-only store: not worth failing for
            write_private_text(ignore, _GITIGNORE)


def _refuse_lost_database(location: StoreLocation) -> None:
    """A store folder whose objects are there but whose ``meta.db`` is not lost its metadata: say so."""
    assert location.root is not None
    if os.path.lexists(location.root / "meta.db") or location.objects_uri != str(location.root / "objects"):
        return
    if _holds_objects(location.root / "objects"):
        raise StoreUnavailableError(
            f"The store {location.root} holds objects but no meta.db: its metadata database was deleted or "
            "moved, and a new one would silently forget every run, model and pipeline record. Put meta.db back "
            f"(from a backup), or move {location.root} away to start a new store.")


def _holds_objects(folder: Path) -> bool:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return False
    for entry in entries:
        if entry.name == PACKS_DIR or (len(entry.name) == 2 and entry.is_dir()):
            with suppress(OSError), os.scandir(entry.path) as inside:
                if any(not item.name.startswith(".") for item in inside):
                    return True
    return False


def _open_objects(uri: str) -> ObjectStore:
    if "://" in uri and not uri.startswith("file://"):
        raise StoreUnavailableError(
            f"Object store {uri!r} is remote; remote object stores arrive with the remotes feature. "
            "Use a local directory for now."
        )
    return LocalObjectStore(uri.removeprefix("file://"))


_lock = threading.Lock()
_current: Store | None = None
_explicit: StoreLocation | None = None


def set_store(location: str | os.PathLike[str] | None, *, objects: str | None = None) -> Store | None:
    """Use this store for the rest of the process (``None`` returns to automatic discovery).

    Args:
        location: a store directory (``.shipyard``), or a database URI such as ``postgresql://…``.
        objects: where objects go when ``location`` is a database URI.

    Returns:
        The opened store, or ``None`` when returning to discovery.
    """
    from .location import location_for

    global _current, _explicit
    with _lock:
        if _current is not None:
            _current.close()
        _current = None
        _explicit = location_for(location, objects) if location is not None else None
        if _explicit is None:
            return None
        _current = Store(_explicit)
        return _current


def open_location() -> StoreLocation | None:
    """Where the store this process has open lives, or ``None`` when none is open yet."""
    store = _current
    return store.location if store is not None and store.pid == os.getpid() else None


def current_store() -> Store:
    """The store of this process, opened on first use (and again in a forked child).

    Chosen by :func:`set_store`, else ``$SHIPYARD_STORE``, else the nearest ``.shipyard/`` above the
    working directory (created at the git work tree's root when there is none).
    """
    global _current
    store = _current
    if store is not None and store.pid == os.getpid():
        return store
    with _lock:
        if _current is None or _current.pid != os.getpid():
            _current = Store(_explicit or resolve_location())
        return _current
