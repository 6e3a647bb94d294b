"""A store: the metadata database and the object store, opened together.

The process has one *current* store (chosen by ``set_store`` or found by :mod:`shipyard.config`). It is
opened lazily and re-opened after ``fork`` because a SQLite connection must never cross processes.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from ..config import StoreLocation, resolve_location
from ..errors import StoreUnavailableError
from .db import Database
from .objects import LocalObjectStore, ObjectStore

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
        self.db = Database(location.db_uri)
        self.db.ensure_schema()
        self.objects: ObjectStore = _open_objects(location.objects_uri)

    @property
    def logs_dir(self) -> Path | None:
        return self.location.root / "logs" if self.location.root is not None else None

    def close(self) -> None:
        self.db.dispose()

    def __repr__(self) -> str:
        return f"Store({self.location.describe()!r})"


def _create_root(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        ignore = root / ".gitignore"
        if not ignore.exists():
            ignore.write_text(_GITIGNORE)
    except OSError as exc:
        raise StoreUnavailableError(
            f"Cannot create the store directory {root}: {exc.strerror}. "
            "Choose a writable place with SHIPYARD_STORE or shipyard.set_store()."
        ) from exc


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
    from ..config import location_for

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
