"""The one folder Shipyard keeps per-user caches in: downloaded model files, crash logs, points kept for a server.

``$SHIPYARD_CACHE_DIR`` when set (a container with a writable volume, a test), else ``$XDG_CACHE_HOME/shipyard``
when that is an absolute path (as the XDG spec requires), else ``~/.cache/shipyard``.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SHIPYARD_CACHE_DIR"


def cache_home() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "shipyard"
