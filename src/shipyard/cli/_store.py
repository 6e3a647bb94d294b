"""Opening the store for read commands without creating one as a side effect."""

from __future__ import annotations

from pathlib import Path

from ..config import resolve_location
from ..errors import NotFoundError
from ..store import Store, current_store


def existing_store() -> Store:
    """The current store, refusing to create an empty one just to report that it is empty."""
    location = resolve_location()
    if location.root is not None and not (location.root / "meta.db").exists():
        raise NotFoundError(
            f"No Shipyard store at {location.root} (searched from {Path.cwd()} upwards for .shipyard/). "
            "Log a run with shipyard.start_run(), or point --store / SHIPYARD_STORE at an existing store."
        )
    return current_store()
