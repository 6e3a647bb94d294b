"""The bottom layer: where the store is, content-addressed objects and the metadata database.

The names are loaded on first use (PEP 562), so that ``shipyard.store.location`` (which the CLI reads at every
start) can be imported without SQLAlchemy and the object store behind ``Store``.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .objects import LocalObjectStore as LocalObjectStore, ObjectInfo as ObjectInfo, ObjectStore as ObjectStore
    from .store import Store as Store, current_store as current_store, set_store as set_store

__all__ = ["LocalObjectStore", "ObjectInfo", "ObjectStore", "Store", "current_store", "set_store"]

_LAZY = {"LocalObjectStore": "objects", "ObjectInfo": "objects", "ObjectStore": "objects", "Store": "store",
         "current_store": "store", "set_store": "store"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
