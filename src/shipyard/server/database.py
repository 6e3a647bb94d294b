"""The shared metadata database: opened only when its schema is current, migrated only on purpose.

A store on one machine brings its schema to head whenever it opens (:meth:`Database.ensure_schema`). A team's
database is different: an older server, a CLI of another version or a backup job may use it at the same time,
so ``shipyard server`` and its token commands refuse a database that is not at this version's schema, with one
line naming ``shipyard server db upgrade``, which runs the Alembic migrations under a lock.
"""

from __future__ import annotations

from ..errors import ConfigError, StoreUnavailableError
from ..store.db import SCHEMA_HEAD, Database


def open_current(uri: str) -> Database:
    """The database at ``uri``, refused unless its schema is this version's.

    Raises:
        StoreUnavailableError: it has no Shipyard schema, an older one, or a newer one.
    """
    db = Database(check_uri(uri))
    revision = db.schema_revision()
    if revision == SCHEMA_HEAD:
        return db
    db.dispose()
    upgrade = f"run `shipyard server db upgrade --backend-store-uri {_shown(uri)}` first"
    if revision is None:
        raise StoreUnavailableError(f"The database {_shown(uri)} has no Shipyard schema yet; {upgrade}.")
    if revision > SCHEMA_HEAD:
        raise StoreUnavailableError(f"The database {_shown(uri)} is at schema {revision}, newer than this Shipyard "
                                    f"({SCHEMA_HEAD}); upgrade Shipyard to use it.")
    raise StoreUnavailableError(f"The database {_shown(uri)} is at schema {revision}, older than this Shipyard "
                                f"({SCHEMA_HEAD}); {upgrade}.")


def upgrade(uri: str) -> tuple[str | None, str]:
    """Bring the database to this version's schema (creating a SQLite file); returns (before, after)."""
    db = Database(check_uri(uri))
    try:
        before = db.schema_revision()
        db.ensure_schema()
        return before, SCHEMA_HEAD
    finally:
        db.dispose()


def check_uri(uri: str) -> str:
    """``uri`` if it is a database URI SQLAlchemy can open (``sqlite:///…``, ``postgresql+psycopg://…``)."""
    if not uri.startswith(("sqlite:", "postgresql:", "postgresql+")):
        raise ConfigError(f"--backend-store-uri {uri!r} is not a database URI; give sqlite:////path/to/shipyard.db "
                          "or postgresql+psycopg://user@host/db.")
    return uri


def _shown(uri: str) -> str:
    """The URI without a password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:  # an unparsable URI is shown as given: the error about it follows
        return uri
