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
from .object_store import ObjectStore
from .objects import LocalObjectStore
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
        self.objects: ObjectStore = _open_objects(location.objects_uri)  # first: a bad URL creates nothing
        if location.root is not None:
            _create_root(location.root)
            _refuse_lost_database(location)
        self.db = Database(location.db_uri)
        self.db.ensure_schema()
        if location.root is not None:
            _ignore_in_git(location.root)
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
    database, objects = location.local_database, location.local_objects
    if database is None or objects is None or os.path.lexists(database):
        return
    if _holds_objects(objects):
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
    """A folder is a :class:`LocalObjectStore`; any URL (``s3://bucket/prefix``...) goes through fsspec."""
    if "://" in uri and not uri.startswith("file://"):
        from .fsspec_objects import FsspecObjectStore  # fsspec (and s3fs) only for a store that needs them

        return FsspecObjectStore(uri)
    return LocalObjectStore(uri.removeprefix("file://"))


_lock = threading.Lock()
_current: Store | None = None
_explicit: StoreLocation | None = None


def set_store(location: str | os.PathLike[str] | None = None, *, database: str | None = None,
              objects: str | None = None) -> Store | None:
    """Use this store for the rest of the process (no arguments: back to ``SHIPYARD_*`` and discovery).

    Args:
        location: a store folder (``.shipyard``), or a database URI such as ``postgresql+psycopg://…``.
        database: the metadata database, anything SQLAlchemy reaches (``sqlite:///…``, ``postgresql+psycopg://…``);
            default the folder's ``meta.db``.
        objects: where objects go: a folder, or ``s3://bucket/prefix`` (credentials and endpoint from the usual
            AWS variables and files); default the folder's ``objects/``.

    Returns:
        The opened store, or ``None`` when returning to discovery.

    Raises:
        ConfigError: the parts do not make a store (a database URI and no place for the objects...).
        MissingExtraError: an ``s3://`` store without s3fs installed (the ``s3`` extra).
    """
    from .location import resolve_location

    chosen = location is not None or database is not None or objects is not None
    return use_location(resolve_location(location, database=database, objects=objects) if chosen else None)


def use_location(location: StoreLocation | None) -> Store | None:
    """Open exactly ``location`` as the process's store (``None``: back to discovery); what ``set_store`` does
    once the parts are resolved, and how a server worker or the CLI's ``--store`` open a location they hold."""
    global _current, _explicit
    with _lock:
        if _current is not None:
            _current.close()
        _current = None
        _explicit = location
        if location is None:
            return None
        _current = Store(location)
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
