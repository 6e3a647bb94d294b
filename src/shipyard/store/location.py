"""Where the store lives: a folder, or a metadata database and an object store chosen apart.

A store is found the way git finds ``.git``: the nearest ``.shipyard/`` walking up from the working
directory. When nothing is found a new store is created at the root of the enclosing git work tree, or in
the working directory outside git, so a notebook opened in ``notebooks/`` shares the project's store instead
of growing its own. The folder holds the metadata database (``meta.db``), the objects and the logs.

Each part can be put elsewhere, for a team or a bigger disk:

- ``SHIPYARD_STORE``: the folder (or, as before, a database URI).
- ``SHIPYARD_DATABASE_URI``: the metadata database, anything SQLAlchemy reaches (``sqlite:///path/meta.db``,
  ``postgresql+psycopg://user@host/db``).
- ``SHIPYARD_OBJECTS_URI`` (older name ``SHIPYARD_OBJECTS``): the objects, a folder or ``s3://bucket/prefix``
  (any fsspec URL).

``shipyard.set_store(location, database=..., objects=...)`` overrides all of them for the current process.
A store whose database is a URI has no folder unless one is named too; it then needs its objects named.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

STORE_DIRNAME = ".shipyard"
STORE_ENV = "SHIPYARD_STORE"
DATABASE_ENV = "SHIPYARD_DATABASE_URI"
OBJECTS_ENV = "SHIPYARD_OBJECTS_URI"
OLD_OBJECTS_ENV = "SHIPYARD_OBJECTS"  # the name before SHIPYARD_OBJECTS_URI; still read
STORE_VARIABLES = (STORE_ENV, DATABASE_ENV, OBJECTS_ENV, OLD_OBJECTS_ENV)

_DB_SCHEMES = ("sqlite:", "postgresql:", "postgresql+psycopg:", "postgresql+psycopg2:")


@dataclass(frozen=True)
class StoreLocation:
    """Where metadata and objects are kept.

    ``root`` is the local store directory (logs live there, and by default ``meta.db`` and ``objects/``);
    for a store given as a database URI without a folder it is ``None`` and ``objects_uri`` says where the
    objects go.
    """

    db_uri: str
    objects_uri: str
    root: Path | None

    def describe(self) -> str:
        return str(self.root) if self.root is not None else self.db_uri

    def environment(self) -> dict[str, str]:
        """The variables that open this same store in a child process (a stage command, a server worker)."""
        return {STORE_ENV: str(self.root) if self.root is not None else "", DATABASE_ENV: self.db_uri,
                OBJECTS_ENV: self.objects_uri, OLD_OBJECTS_ENV: ""}

    @property
    def local_database(self) -> Path | None:
        """The folder's own ``meta.db`` when the metadata lives there (``None`` for a database elsewhere)."""
        if self.root is None or self.db_uri != _sqlite_uri(self.root):
            return None
        return self.root / "meta.db"

    @property
    def local_objects(self) -> Path | None:
        """The folder's own ``objects/`` when the objects live there (``None`` for objects elsewhere)."""
        if self.root is None or self.objects_uri != str(self.root / "objects"):
            return None
        return self.root / "objects"


def is_database_uri(text: str) -> bool:
    return text.startswith(_DB_SCHEMES)


def location_for(spec: str | os.PathLike[str] | None, objects: str | None = None, *,
                 database: str | None = None) -> StoreLocation:
    """Turn a directory or database URI (and the parts named apart) into a :class:`StoreLocation`.

    Args:
        spec: the store folder, or a database URI; ``None`` when ``database`` names the database.
        objects: where objects go (a folder or an fsspec URL such as ``s3://bucket/prefix``); default the
            folder's ``objects/``. A database URI without a folder takes ``SHIPYARD_OBJECTS_URI`` when this is
            not given.
        database: the metadata database URI; default the folder's ``meta.db``.
    """
    text = os.fspath(spec) if spec is not None else None
    if text is not None and is_database_uri(text):
        if database is not None:
            raise ConfigError(f"The store {text!r} is a database URI and database= names another one; name "
                              "the database once.")
        text, database = None, text
    if database is not None:
        database = _check_database(database, "database")
    if text is None:
        if database is None:
            raise ConfigError("No store given: name a folder, or a database with database= (SHIPYARD_DATABASE_URI).")
        objects_uri = _objects_text(objects) or _objects_from_environment()
        if not objects_uri:
            raise ConfigError(
                f"The store's database {database!r} is not in a folder, so Shipyard also needs to know where to keep "
                f"objects; set {OBJECTS_ENV} (a folder or s3://bucket/prefix) or pass objects= to set_store()."
            )
        return StoreLocation(db_uri=database, objects_uri=objects_uri, root=None)
    root = _folder(text)
    return StoreLocation(
        db_uri=database or _sqlite_uri(root),
        objects_uri=_objects_text(objects) or str(root / "objects"),
        root=root,
    )


def _folder(text: str) -> Path:
    if not text.strip():
        raise ConfigError("The store location is empty; give a directory such as '.shipyard' or a database URI.")
    if text.startswith("file://"):
        text = text[len("file://") :]
    root = Path(text).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"The store location {root} is a file, not a directory; point it at a directory.")
    return root


def _sqlite_uri(root: Path) -> str:
    return f"sqlite:///{root / 'meta.db'}"


def _check_database(text: str, source: str) -> str:
    if not is_database_uri(text):
        raise ConfigError(f"{source} is {text!r}, which is not a database URI; use sqlite:///path/meta.db or "
                          "postgresql+psycopg://user@host/db.")
    return text


def _objects_text(objects: str | os.PathLike[str] | None) -> str | None:
    """A folder (made absolute, so a later ``cd`` does not move it) or a URL kept as given."""
    if objects is None:
        return None
    text = os.fspath(objects)
    if not text.strip():
        raise ConfigError("The object store location is empty; give a folder or a URL such as s3://bucket/prefix.")
    if text.startswith("file://"):
        text = text[len("file://") :]
    if "://" in text:
        return text.rstrip("/")
    return str(Path(text).expanduser().resolve())


def _objects_from_environment() -> str | None:
    return _objects_text(os.environ.get(OBJECTS_ENV) or os.environ.get(OLD_OBJECTS_ENV) or None)


def find_store_dir(start: Path | None = None) -> Path:
    """The nearest existing ``.shipyard`` above ``start``, else where a new one should be created."""
    here = (start or Path.cwd()).resolve()
    git_root: Path | None = None
    for folder in (here, *here.parents):
        candidate = folder / STORE_DIRNAME
        if candidate.is_dir():
            return candidate
        if git_root is None and (folder / ".git").exists():
            git_root = folder
    return (git_root or here) / STORE_DIRNAME


def resolve_location(explicit: str | os.PathLike[str] | None = None, *, database: str | None = None,
                     objects: str | None = None, store: str | None = None) -> StoreLocation:
    """The store for this process: explicit choices, then the environment, then the nearest ``.shipyard/``.

    ``explicit`` (``set_store``'s folder) names the whole store, with ``database`` and ``objects`` for its parts.
    Otherwise the parts named here win and the others come from ``SHIPYARD_DATABASE_URI``,
    ``SHIPYARD_OBJECTS_URI`` and ``store`` (the CLI's ``--store``) or ``SHIPYARD_STORE``, and the folder from
    discovery when no database is named.
    """
    if explicit is not None:
        return location_for(explicit, objects, database=database)
    from_env = os.environ.get(DATABASE_ENV)
    if database is None and from_env:
        database = _check_database(from_env, DATABASE_ENV)
    objects = objects or _objects_from_environment()
    folder = store or os.environ.get(STORE_ENV) or None
    if folder is not None and is_database_uri(folder):
        return location_for(None, objects, database=database or folder)
    if folder is None and database is None:
        folder = os.fspath(find_store_dir())
    return location_for(folder, objects, database=database)
