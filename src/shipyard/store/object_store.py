"""The object store contract, named once: what every place that keeps object bytes must honour.

Two implementations: :class:`~shipyard.store.objects.LocalObjectStore` (a folder on this machine) and
:class:`~shipyard.store.fsspec_objects.FsspecObjectStore` (``s3://bucket/prefix`` and any other fsspec
filesystem). Both subclass :class:`ObjectStore`, so mypy checks each against the contract, and both keep the
same layout (:func:`object_key`), which is also the layout of the pipeline remotes: ``push`` and ``pull`` are
a set difference between two such folders. Callers hold an ``ObjectStore`` and never ask which one it is,
except to link a local object into a workspace instead of copying it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import NamedTuple, Protocol, runtime_checkable

from ..errors import ValidationError

HASH_RE = re.compile(r"^[0-9a-f]{64}$")


class ObjectInfo(NamedTuple):
    hash: str
    size: int


@runtime_checkable
class ObjectStore(Protocol):
    """Where object bytes are kept.

    Contract: ``put_*`` return the BLAKE3 hex digest and size and are idempotent (storing the same bytes
    twice keeps one copy, and an object already there is not written again); a stored object is never
    visible half-written; ``put_bytes(data, expected=h)`` stores nothing and raises :class:`IntegrityError`
    unless ``data`` hashes to ``h`` (a download checked and stored with one hash); ``get_*`` verify the digest
    and raise :class:`IntegrityError` on mismatch and :class:`NotFoundError` when absent; ``get_file`` streams
    (memory stays at a chunk whatever the object's size) and never leaves a partial ``dest``. ``label`` names
    what the object was (an artifact path, a data file) so errors can say so.
    """

    def put_file(self, path: str | os.PathLike[str]) -> ObjectInfo: ...

    def put_bytes(self, data: bytes, *, expected: str | None = None) -> ObjectInfo: ...

    def get_bytes(self, digest: str, *, label: str | None = None) -> bytes: ...

    def get_file(self, digest: str, dest: str | os.PathLike[str], *, label: str | None = None) -> None: ...

    def exists(self, digest: str) -> bool: ...

    def size(self, digest: str) -> int: ...

    def delete(self, digest: str) -> None: ...

    def delete_many(self, digests: Iterable[str]) -> None:
        """Delete several objects at once (``gc``): a store that groups objects rewrites each group once."""
        ...

    def iter_hashes(self) -> Iterator[str]: ...

    def batch(self) -> AbstractContextManager[None]:
        """Group many puts: durability is settled once when the block ends instead of per object."""
        ...


def check_digest(digest: str) -> str:
    if not HASH_RE.match(digest):
        raise ValidationError(
            f"{digest!r} is not an object hash (64 lowercase hex digits).", field="hash"
        )
    return digest


def object_key(base: str, digest: str, separator: str = "/") -> str:
    """Where object ``digest`` lives under ``base``: ``base/ab/cdef…`` (the first two hex digits fan out)."""
    check_digest(digest)
    return f"{base}{separator}{digest[:2]}{separator}{digest[2:]}"


def digest_of_key(key: str) -> str | None:
    """The object hash a key of that layout names (``…/ab/cdef…``), or ``None`` for any other key."""
    parts = key.rstrip("/").rsplit("/", 2)
    if len(parts) < 2 or len(parts[-2]) != 2:
        return None
    digest = parts[-2] + parts[-1]
    return digest if HASH_RE.match(digest) else None
