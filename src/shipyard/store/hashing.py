"""Content hashing: BLAKE3 over bytes, streamed, and canonical JSON for structured keys."""

from __future__ import annotations

import json
import math
import os
from typing import Any

from ..errors import ValidationError

CHUNK_SIZE = 1 << 20
# Below this size the thread pool costs more than it saves.
_MULTITHREAD_FROM = 8 << 20


def new_hasher(size_hint: int = 0) -> Any:
    """A BLAKE3 hasher, multithreaded when the input is large enough for threads to pay."""
    import blake3

    if size_hint >= _MULTITHREAD_FROM:
        return blake3.blake3(max_threads=blake3.blake3.AUTO)
    return blake3.blake3()


def hash_bytes(data: bytes) -> str:
    hasher = new_hasher(len(data))
    hasher.update(data)
    return str(hasher.hexdigest())


def hash_file(path: str | os.PathLike[str]) -> str:
    size = os.path.getsize(path)
    hasher = new_hasher(size)
    if size >= _MULTITHREAD_FROM and hasattr(hasher, "update_mmap"):
        hasher.update_mmap(os.fspath(path))
        return str(hasher.hexdigest())
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            hasher.update(chunk)
    return str(hasher.hexdigest())


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no NaN, so equal structures always give equal bytes.

    Raises:
        ValidationError: ``value`` holds NaN or infinity, which have no canonical JSON form.
    """
    _reject_non_finite(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hash_json(value: Any) -> str:
    return hash_bytes(canonical_json(value).encode())


def _reject_non_finite(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"canonical JSON cannot hold {value!r}")
    if isinstance(value, dict):
        for item in value.values():
            _reject_non_finite(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _reject_non_finite(item)
