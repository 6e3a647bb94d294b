"""Writes a process could not deliver to its tracking server before exiting, kept on disk for the next process.

``log_metric`` returns at once and the points leave in batches, so a process may exit while the server is away
(restarting, unreachable): past the transport's retries, what it logged would be lost. Instead the exit keeps the
unsent metric batches, and the end of each run it owned, as requests in one file under
``<cache>/spool/<server>/`` (:mod:`shipyard.store.cache_home`), written whole (temp file, then rename). The next
Shipyard process that talks to that server sends them first, in order, each with the idempotency key it was given
when it was cut, so a request whose answer was lost before the exit is answered from the server's record and not
written twice.

A file is claimed by renaming it to carry the sender's pid, so two processes never send the same file; a claim
whose process died is taken over. A request the server refuses for good (4xx: a revoked token, a deleted run) is
dropped and counted; one that cannot get through puts the file back for a later process.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from ..errors import ShipyardError, TrackingServerError
from ..store.cache_home import cache_home
from ..store.hashing import hash_bytes
from ..store.http_client import HttpClient

SUFFIX = ".json"
_CLAIMED = ".claimed-"
FORMAT = "shipyard-spool/1"


def spool_folder(url: str) -> Path:
    """Where requests for the server at ``url`` are kept (one folder per server address)."""
    return cache_home() / "spool" / hash_bytes(url.rstrip("/").encode())[:16]


def keep(url: str, requests: list[dict[str, Any]]) -> Path | None:
    """Write ``requests`` (``{"method", "path", "body", "key"}``, in sending order) for a later process; the file, or
    None when there was nothing to keep."""
    if not requests:
        return None
    folder = spool_folder(url)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
    handle, temporary = tempfile.mkstemp(prefix=".writing-", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({"format": FORMAT, "url": url, "requests": requests}, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, folder / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return folder / name


def waiting(url: str) -> list[Path]:
    """The files kept for ``url`` and not claimed by a live process, oldest first."""
    folder = spool_folder(url)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if path.name.endswith(SUFFIX):
            found.append(path)
        elif _CLAIMED in path.name and not _alive(_claimer(path)):
            found.append(path)  # its sender died while sending: take it over
    return sorted(found, key=lambda path: path.name)


def replay(client: HttpClient, url: str) -> tuple[int, int]:
    """Send what earlier processes kept for ``url``; returns (requests delivered, requests the server refused).

    Raises:
        TrackingServerError: the server is away; the file being sent is put back for a later process.
    """
    delivered = refused = 0
    for path in waiting(url):
        claimed = path.with_name(f"{_original(path)}{_CLAIMED}{os.getpid()}")
        try:
            os.replace(path, claimed)
        except FileNotFoundError:
            continue  # another process claimed it first
        try:
            document = json.loads(claimed.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            claimed.rename(claimed.with_name(_original(claimed) + ".damaged"))  # kept for a person, never resent
            continue
        requests = document.get("requests") or []
        for index, request in enumerate(requests):
            try:
                client.call(request["method"], request["path"], request["body"], key=request["key"])
                delivered += 1
            except TrackingServerError:
                _put_back(claimed, document, requests[index:])
                raise
            except ShipyardError:
                refused += 1
        claimed.unlink(missing_ok=True)
    return delivered, refused


def _put_back(claimed: Path, document: dict[str, Any], remaining: list[dict[str, Any]]) -> None:
    """What is left of a claimed file, unclaimed again (rewritten whole before the claim is released)."""
    handle, temporary = tempfile.mkstemp(prefix=".writing-", dir=claimed.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump({**document, "requests": remaining}, out)
    os.replace(temporary, claimed.with_name(_original(claimed)))
    claimed.unlink(missing_ok=True)


def _original(path: Path) -> str:
    return path.name.split(_CLAIMED)[0]


def _claimer(path: Path) -> int:
    try:
        return int(path.name.split(_CLAIMED)[1])
    except (IndexError, ValueError):
        return 0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
