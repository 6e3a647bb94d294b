"""Where the store lives.

A store is found the way git finds ``.git``: the nearest ``.shipyard/`` walking up from the working
directory. ``SHIPYARD_STORE`` (a directory, or a database URI) overrides the search, and
``shipyard.set_store()`` overrides both for the current process. When nothing is found a new store is
created at the root of the enclosing git work tree, or in the working directory outside git, so a
notebook opened in ``notebooks/`` shares the project's store instead of growing its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

STORE_DIRNAME = ".shipyard"
STORE_ENV = "SHIPYARD_STORE"
OBJECTS_ENV = "SHIPYARD_OBJECTS"

_DB_SCHEMES = ("sqlite:", "postgresql:", "postgresql+psycopg:", "postgresql+psycopg2:")


@dataclass(frozen=True)
class StoreLocation:
    """Where metadata and objects are kept.

    ``root`` is the local store directory (logs and the default object store live there); for a store
    given as a database URI it is ``None`` and ``objects_uri`` must say where the objects go.
    """

    db_uri: str
    objects_uri: str
    root: Path | None

    def describe(self) -> str:
        return str(self.root) if self.root is not None else self.db_uri


def location_for(spec: str | os.PathLike[str], objects: str | None = None) -> StoreLocation:
    """Turn a directory or database URI into a :class:`StoreLocation`."""
    text = os.fspath(spec)
    if not text.strip():
        raise ConfigError("The store location is empty; give a directory such as '.shipyard' or a database URI.")
    if text.startswith(_DB_SCHEMES):
        objects_uri = objects or os.environ.get(OBJECTS_ENV)
        if not objects_uri:
            raise ConfigError(
                f"The store {text!r} is a database URI, so Shipyard also needs to know where to keep objects; "
                f"set {OBJECTS_ENV} or pass objects= to set_store()."
            )
        return StoreLocation(db_uri=text, objects_uri=objects_uri, root=None)
    if text.startswith("file://"):
        text = text[len("file://") :]
    root = Path(text).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"The store location {root} is a file, not a directory; point it at a directory.")
    return StoreLocation(
        db_uri=f"sqlite:///{root / 'meta.db'}",
        objects_uri=objects or str(root / "objects"),
        root=root,
    )


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


def resolve_location(explicit: str | os.PathLike[str] | None = None) -> StoreLocation:
    """The store for this process: explicit choice, then ``SHIPYARD_STORE``, then the nearest one."""
    if explicit is not None:
        return location_for(explicit)
    from_env = os.environ.get(STORE_ENV)
    if from_env:
        return location_for(from_env)
    return location_for(find_store_dir())
