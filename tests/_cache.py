"""The per-machine cache of things tests build once and reuse (foreign venvs, the base venv, the wheelhouse).

It lives under ``~/.cache/shipyard-test/`` (``SHIPYARD_TEST_CACHE`` moves it) and is shared by every test process
on the machine: the xdist workers of one ``make test``, and any other session running at the same time. So a
build of an entry happens under :func:`exclusive`, an ``flock`` on a lock file beside it: the second process to
want the entry waits for the first build to finish and then finds it ready, instead of building it again beside
it (twice the time on two cores) or, worse, reading it half-built. The kernel drops the lock when its holder
dies, so a killed build leaves no stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("SHIPYARD_TEST_CACHE") or Path.home() / ".cache" / "shipyard-test")


@contextmanager
def exclusive(entry: Path) -> Iterator[None]:
    """Hold the build lock of the cache entry ``entry`` (the file ``<entry>.lock`` beside it) while inside."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    with open(entry.with_name(f"{entry.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # blocks until a concurrent build of the same entry is done
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
