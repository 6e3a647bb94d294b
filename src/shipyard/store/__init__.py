"""The bottom layer: content-addressed objects and the metadata database."""

from .objects import LocalObjectStore, ObjectInfo, ObjectStore
from .store import Store, current_store, set_store

__all__ = ["LocalObjectStore", "ObjectInfo", "ObjectStore", "Store", "current_store", "set_store"]
