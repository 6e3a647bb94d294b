"""The metadata database: one SQLAlchemy engine, transactions with retry, schema kept at head.

SQLite is the embedded default. It runs in WAL mode so readers never block the writer, and every write
transaction starts with ``BEGIN IMMEDIATE``: a deferred transaction that reads first and writes later can
fail at once with "database is locked" when another process wrote in between, and SQLite's busy handler
cannot help there. Taking the write lock up front makes the busy timeout apply, and a short retry loop
with jittered backoff absorbs what is left, so no "database is locked" ever reaches a user.

The engine is created on first use, and SQLAlchemy imported with it: importing it takes longer than a
whole no-op ``shipyard status``. Opening a store whose SQLite schema is already at head, and the hot reads
that :meth:`Database.read_sqlite` serves, never create it.

An existing SQLite file is checked before anything opens it: SQLite takes a 0-byte file for a new, empty
database and would write a fresh schema over what was a truncated store, so such a file is refused by name.
A new database is built whole under a temporary name (0600, so its ``-wal`` and ``-shm`` are too) and linked
into place, so no process ever sees a half-created ``meta.db``, and an empty one always means damage.
"""

from __future__ import annotations

import errno
import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import StoreUnavailableError
from .files import FILE_MODE

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.exc import DBAPIError, OperationalError

T = TypeVar("T")

SCHEMA_HEAD = "0013"
_BUSY_TIMEOUT_S = 5.0
_RETRY_DEADLINE_S = 120.0
_PING_IDLE_S = 1.0  # a PostgreSQL connection idle this long is checked before use (_ping_when_idle)
_MIGRATIONS = Path(__file__).with_name("migrations")
_NO_HARDLINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}


class Database:
    """An engine plus the two ways to use it: :meth:`read` and :meth:`write`."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.is_sqlite = uri.startswith("sqlite:")
        self.sqlite_path = _sqlite_file(uri)
        self._engines: tuple[Engine, Engine] | None = None  # (reads, writes), created by _engine_pair
        self._autocommit: Engine | None = None  # PostgreSQL only, created by _autocommit_engine
        self._engines_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, created (and SQLAlchemy imported) on first use."""
        return self._engine_pair()[0]

    def _engine_pair(self) -> tuple[Engine, Engine]:
        engines = self._engines
        if engines is None:
            with self._engines_lock:  # a store is shared by threads: create exactly one engine
                if self._engines is None:
                    engine = _create_engine(self.uri)
                    writes = engine.execution_options(shipyard_immediate=True) if self.is_sqlite else engine
                    self._engines = (engine, writes)
                engines = self._engines
        return engines

    def _autocommit_engine(self) -> Engine:
        """A second engine (its own pool) whose connections stay in autocommit, for :meth:`write_statement`:
        switching a pooled connection there and back on every use costs more than the statement."""
        engine = self._autocommit
        if engine is None:
            with self._engines_lock:
                if self._autocommit is None:
                    self._autocommit = _create_engine(self.uri, isolation_level="AUTOCOMMIT")
                engine = self._autocommit
        return engine

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction, retrying the whole of it while the database is busy."""
        return self._with_retry(work, immediate=True)

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a read transaction (a consistent snapshot)."""
        return self._with_retry(work, immediate=False)

    def write_statement(self, sql: str, parameters: Sequence[Any]) -> None:
        """Run ONE statement (SQL in the driver's own placeholder style) as its own transaction, cheaply.

        On PostgreSQL one statement is atomic by itself, so it runs in autocommit on a pooled driver connection:
        one round trip, no BEGIN and COMMIT around it and none of SQLAlchemy's per-execution bookkeeping (a
        server answering one request per logged metric pays all of that per request). On SQLite it is
        :meth:`write`.

        Raises:
            StoreUnavailableError: the database cannot be reached (the pool's connections are then replaced).
        """
        if self.is_sqlite:
            self.write(lambda conn: conn.exec_driver_sql(sql, tuple(parameters)))
            return
        engine = self._autocommit_engine()
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, parameters)
            finally:
                cursor.close()
        except engine.dialect.loaded_dbapi.OperationalError as exc:
            connection.invalidate(exc)
            engine.pool.dispose()  # its idle connections most likely died with this one (a database restart)
            raise StoreUnavailableError(f"The metadata database {self.uri} cannot be used: {exc}. Check that it "
                                        "is running and reachable.") from exc
        finally:
            connection.close()

    def read_sqlite(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]] | None:
        """The rows of one query run through the stdlib ``sqlite3`` driver, or ``None`` if it cannot answer.

        For hot read paths (the stat cache of ``status``, the schema check when a store opens) that must
        not pay for the engine. It answers only for an existing SQLite file given by an absolute path, on
        a connection that refuses writes; one statement reads one consistent snapshot (WAL). Anything
        else (PostgreSQL, an unusual URI, a missing file or table, a busy or damaged database) gives
        ``None``, and the caller asks :meth:`read`, whose retries and error messages then apply.
        """
        if self.sqlite_path is None:
            return None
        import sqlite3

        try:
            connection = sqlite3.connect(f"{self.sqlite_path.as_uri()}?mode=rw", uri=True, timeout=_BUSY_TIMEOUT_S)
        except sqlite3.Error:
            return None
        try:
            connection.execute("PRAGMA query_only=ON")
            return connection.execute(sql, parameters).fetchall()
        except sqlite3.Error:
            return None
        finally:
            connection.close()

    def dispose(self) -> None:
        if self._engines is not None:
            self._engines[0].dispose()
        if self._autocommit is not None:
            self._autocommit.dispose()

    def ensure_schema(self) -> None:
        """Bring the schema to head; cheap when it already is, safe when several processes race.

        A SQLite file that does not exist yet is created at head; one that exists is checked first.

        Raises:
            StoreUnavailableError: the SQLite file is empty (0 bytes), or the database cannot be opened.
        """
        if self.sqlite_path is not None:
            if os.path.lexists(self.sqlite_path):
                check_sqlite_file(self.sqlite_path)
            else:
                _create_sqlite(self.sqlite_path)
        if self.read_sqlite("SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]:
            return  # the usual case, answered without creating the engine
        if self.read(_schema_revision) == SCHEMA_HEAD:
            return
        self.write(_upgrade_to_head)

    def schema_revision(self) -> str | None:
        """The schema revision the database is at, ``None`` when it has no Shipyard schema; changes nothing.

        A shared database is migrated only on purpose (``shipyard server db upgrade``): a server checks this
        instead of calling :meth:`ensure_schema`. A SQLite file that does not exist is not created.
        """
        if self.sqlite_path is not None and not os.path.lexists(self.sqlite_path):
            return None
        return self.read(_schema_revision)

    def _with_retry(self, work: Callable[[Connection], T], *, immediate: bool) -> T:
        from sqlalchemy.exc import DBAPIError, OperationalError

        reads, writes = self._engine_pair()
        deadline = time.monotonic() + _RETRY_DEADLINE_S
        delay = 0.005
        while True:
            try:
                with (writes if immediate else reads).begin() as conn:
                    return work(conn)
            except OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise _unavailable(self.uri, exc) from exc
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)
            except DBAPIError as exc:
                if _is_not_a_database(exc):
                    raise _unavailable(self.uri, exc) from exc
                raise


def check_sqlite_file(path: Path) -> None:
    """Refuse a database file SQLite would silently treat as a new one: an empty file.

    Other damage (garbage bytes, a truncated file) SQLite itself reports when the file is read.
    """
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise StoreUnavailableError(
            f"The metadata database {path} cannot be read: {exc.strerror}. Check the path and its permissions, "
            "or point SHIPYARD_STORE at another store.") from exc
    if size == 0:
        raise StoreUnavailableError(
            f"The metadata database {path} is empty (0 bytes): it was cut short (a full disk, an interrupted "
            "copy) or emptied, and opening it would start a new, empty store in its place. Restore meta.db "
            "from a backup, or move it away to start a new store there.")


def _create_sqlite(path: Path) -> None:
    """Create the database at ``path`` at schema head, appearing there whole or not at all.

    It is built under a temporary name and hard-linked into place: of processes creating one store at once,
    the first link wins and the others find its database, and a crash leaves no half-created ``meta.db``.
    """
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.new")
    try:
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        fresh = Database(f"sqlite:///{temp}")
        try:
            fresh.write(_upgrade_to_head)
        finally:
            fresh.dispose()  # the last connection closes: SQLite checkpoints the WAL into the file
        descriptor = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # another process created it first: its database serves as well
        except OSError as exc:
            if exc.errno not in _NO_HARDLINKS or os.path.lexists(path):
                raise
            os.rename(temp, path)  # a filesystem without hard links: a rename, nearly as safe
    except OSError as exc:
        raise StoreUnavailableError(
            f"Cannot create the metadata database {path}: {exc.strerror}. Choose a writable place with "
            "SHIPYARD_STORE or shipyard.set_store().") from exc
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{temp}{suffix}").unlink(missing_ok=True)


def _ping_when_idle(engine: Engine) -> Engine:
    """Check a pooled connection with ``SELECT 1`` before use only if it sat idle for :data:`_PING_IDLE_S`.

    A connection the database closed meanwhile (a restart, an idle timeout) is then replaced before any work
    sees it, as ``pool_pre_ping`` does, without a round trip on every checkout: a server answering one request
    per logged metric reuses its connections within milliseconds. A connection that dies while in use is
    reported as a disconnect, and SQLAlchemy then replaces every connection of the pool opened before it.
    """
    from sqlalchemy import event
    from sqlalchemy.exc import DisconnectionError

    @event.listens_for(engine, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["shipyard_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("shipyard_idle_since")
        if idle_since is None or time.monotonic() - idle_since < _PING_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # whatever the driver raises for a closed connection: replace it
            raise DisconnectionError(f"a pooled connection was closed: {exc}") from exc

    return engine


def _sqlite_file(uri: str) -> Path | None:
    """The file of a ``sqlite:////absolute/path`` URI (what a store directory gives), else ``None``.

    URIs with query options, percent-escapes, a relative path or an in-memory database are left to
    SQLAlchemy, which knows how to read them.
    """
    prefix = "sqlite:///"
    name = uri[len(prefix):] if uri.startswith(prefix) else ""
    if not os.path.isabs(name) or any(char in name for char in "?#%"):
        return None
    return Path(name)


def _create_engine(uri: str, **options: Any) -> Engine:
    from sqlalchemy import create_engine, event

    if not uri.startswith("sqlite:"):
        return _ping_when_idle(create_engine(uri, **options))
    engine = create_engine(uri, connect_args={"timeout": _BUSY_TIMEOUT_S, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin (see the "begin" hook).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA case_sensitive_like=ON")  # LIKE is case-sensitive, as in MLflow
        cursor.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("shipyard_immediate", False)
        # Straight to the driver: this runs once per transaction and SQLAlchemy's execution path
        # (events, result setup) would cost more than the BEGIN itself.
        driver = conn.connection.driver_connection
        assert driver is not None  # a checked-out connection always has one
        driver.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _schema_revision(conn: Connection) -> str | None:
    from sqlalchemy import inspect, text

    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _upgrade_to_head(conn: Connection) -> None:
    """Run the Alembic migrations inside the caller's write transaction.

    The transaction holds SQLite's write lock (``BEGIN IMMEDIATE``) or a PostgreSQL advisory lock, so
    of several processes opening a new store at once exactly one migrates and the others then find
    the schema at head.
    """
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7262637)"))
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def _is_busy(exc: OperationalError) -> bool:
    message = str(exc.orig).lower()
    return "locked" in message or "busy" in message


def _is_not_a_database(exc: DBAPIError) -> bool:
    message = str(exc.orig).lower()
    return "not a database" in message or "malformed" in message


def _unavailable(uri: str, exc: DBAPIError) -> StoreUnavailableError:
    return StoreUnavailableError(
        f"The metadata database {uri} cannot be used: {exc.orig}. "
        "Check the path and its permissions, or point SHIPYARD_STORE at another store."
    )
