"""Objects on S3 (``s3://bucket/prefix``) or any other fsspec filesystem, in the local store's layout.

The same contract as the local folder (:class:`~.object_store.ObjectStore`), with the network in mind:

- **Writes are idempotent and never half-visible.** An object's name is its hash, so the hash comes first (a
  file is read once to name it); then one request asks whether an object of that name and size is already
  there, and if so nothing is sent. Otherwise the bytes are sent in parts of :data:`PART_BYTES` (a multipart
  upload on S3) and hashed again on the way: a file that changed between the two reads is never stored under
  the old name, its upload is aborted. S3, GCS and Azure make an upload visible only when it completes, so the
  object is written straight to its key; on other filesystems it goes to ``tmp/`` and is moved into place.
- **Reads are verified and streamed.** ``get_file`` reads :data:`READ_BYTES` at a time into a temporary file
  beside ``dest``, hashing as it goes, and renames it only when the hash matches: a 2 GB artifact never sits
  in memory and a corrupted one never reaches ``dest``. An object edited behind Shipyard's back is refused.
- **Credentials and endpoint are the filesystem library's business.** For S3 that is botocore's usual chain
  (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``~/.aws/``, ``AWS_ENDPOINT_URL``, an
  instance role): Shipyard's own configuration never holds a secret.
- **Failures are one line.** A bucket that does not exist, credentials the service refuses, an endpoint that
  does not answer: :class:`~shipyard.errors.RemoteStoreError` naming the store, never a traceback.

s3fs is imported only when an ``s3://`` store is opened (the ``s3`` extra); fsspec itself is a core dependency.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..errors import (
    ConfigError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    RemoteStoreError,
    ShipyardError,
    ValidationError,
)
from ..extras import missing_extra
from .hashing import CHUNK_SIZE, hash_bytes, new_hasher
from .object_store import ObjectInfo, ObjectStore, digest_of_key, object_key

PART_BYTES = 16 << 20  # bytes per part of an upload (S3 wants at least 5 MB; 10,000 parts = 160 GB at most)
READ_BYTES = 8 << 20  # bytes per ranged read of a download
_S3 = frozenset({"s3", "s3a"})
# Object stores whose uploads appear whole or not at all (S3 PUT and multipart completion, GCS and Azure
# uploads committed on close): written in place. Their first path component is a bucket (or container).
_WHOLE_UPLOADS = frozenset({*_S3, "gs", "gcs", "az", "abfs", "abfss"})
_TEMP = "tmp"
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


_T = TypeVar("_T")


class _Reader(Protocol):
    def __call__(self, size: int, /) -> bytes: ...


class FsspecObjectStore(ObjectStore):
    """Objects under ``uri`` on an fsspec filesystem (S3 tested against a real S3 server; GCS/Azure untested)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.protocol = self.uri.split("://", 1)[0].lower()
        _check_driver(self.uri, self.protocol)  # a missing s3fs is reported when the store opens...
        self._opened: tuple[Any, str, tuple[type[BaseException], ...]] | None = None  # ...imported on first use
        self._in_place = self.protocol in _WHOLE_UPLOADS

    @property
    def _fs(self) -> Any:
        return self._open()[0]

    @property
    def _base(self) -> str:
        return self._open()[1]

    @property
    def _failures(self) -> tuple[type[BaseException], ...]:
        return self._open()[2]

    def _open(self) -> tuple[Any, str, tuple[type[BaseException], ...]]:
        """The filesystem, made on first use: importing s3fs and botocore costs about a second here, which a command
        that never touches an object (``shipyard runs list``) should not pay."""
        if self._opened is None:
            fs, base = _filesystem(self.uri, self.protocol)
            self._opened = (fs, base.rstrip("/"), _failures_of(self.protocol))
        return self._opened

    def __repr__(self) -> str:
        return f"FsspecObjectStore({self.uri!r})"

    # -- writes -------------------------------------------------------------------------------------------

    def put_file(self, path: str | os.PathLike[str]) -> ObjectInfo:
        name = os.fspath(path)
        try:
            size = os.path.getsize(name)
            digest = _hash_streamed(name, size)
            if self._stored_size(digest) == size:
                return ObjectInfo(digest, size)
            with open(name, "rb") as source:
                sent = self._upload(digest, source.read)
        except FileNotFoundError:
            raise NotFoundError(f"Cannot store {name!r}: no such file.") from None
        except IsADirectoryError:
            raise ValidationError(f"Cannot store {name!r} as one object: it is a directory.") from None
        if sent is None:
            raise ConflictError(f"{name!r} changed while it was being stored in {self.uri}; nothing was stored. "
                                "Store it again once nothing writes to it.")
        return ObjectInfo(digest, size)

    def put_bytes(self, data: bytes, *, expected: str | None = None) -> ObjectInfo:
        digest = hash_bytes(data)
        if expected is not None and digest != expected:
            raise IntegrityError(f"Bytes given as object {expected[:12]} hash to {digest[:12]}; nothing was stored.",
                                 object_hash=expected)
        if self._stored_size(digest) != len(data):
            view = memoryview(data)
            position = [0]

            def read(size: int) -> bytes:
                chunk = bytes(view[position[0] : position[0] + size])
                position[0] += len(chunk)
                return chunk

            self._upload(digest, read)
        return ObjectInfo(digest, len(data))

    def _upload(self, digest: str, read: _Reader) -> int | None:
        """Send the bytes ``read`` gives under ``digest``; ``None`` (and nothing stored) when they hash otherwise."""
        key = self._key(digest)
        target = key if self._in_place else f"{self._base}/{_TEMP}/{digest[:16]}.{os.getpid()}.{secrets.token_hex(6)}"
        hasher = new_hasher()
        size = 0
        action = f"write object {digest[:12]} to"
        # Only the calls to the service are translated into RemoteStoreError: a local read error stays itself.
        try:
            sink = self._call(action, self._fs.open, target, "wb", block_size=PART_BYTES)
            try:
                while chunk := read(CHUNK_SIZE):
                    hasher.update(chunk)
                    self._call(action, sink.write, chunk)
                    size += len(chunk)
                if hasher.hexdigest() != digest:
                    self._abandon(sink, target)
                    return None
                self._call(action, sink.close)  # completes the upload: the object appears whole
                if not self._in_place:
                    self._call(action, self._fs.mv, target, key)
            except BaseException:
                self._abandon(sink, target)
                raise
        except FileNotFoundError:  # a write finds nothing missing but the bucket (or the folder) itself
            self._check_bucket()
            raise RemoteStoreError(f"Cannot write object {digest[:12]} to the object store {self.uri}: the "
                                   "service says the place does not exist.", uri=self.uri) from None
        return size

    # -- reads --------------------------------------------------------------------------------------------

    def get_bytes(self, digest: str, *, label: str | None = None) -> bytes:
        key = self._key(digest)
        with self._talking(f"read object {digest[:12]} from"):
            try:
                data = bytes(self._fs.cat_file(key))
            except FileNotFoundError:
                raise self._not_found(digest, label) from None
        if hash_bytes(data) != digest:
            raise self._corrupted(digest, label)
        return data

    def get_file(self, digest: str, dest: str | os.PathLike[str], *, label: str | None = None) -> None:
        key = self._key(digest)
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        hasher = new_hasher()
        action = f"read object {digest[:12]} from"
        try:
            source = self._call(action, self._fs.open, key, "rb", block_size=READ_BYTES, cache_type="none")
        except FileNotFoundError:
            raise self._not_found(digest, label) from None
        try:
            with source, os.fdopen(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o666),
                                   "wb") as sink:
                while chunk := self._call(action, source.read, READ_BYTES):
                    hasher.update(chunk)
                    sink.write(chunk)
            if hasher.hexdigest() != digest:
                raise self._corrupted(digest, label)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def exists(self, digest: str) -> bool:
        return self._stored_size(digest) is not None

    def size(self, digest: str) -> int:
        size = self._stored_size(digest)
        if size is None:
            raise self._not_found(digest, None)
        return size

    def iter_hashes(self) -> Iterator[str]:
        with self._talking("list"):
            try:
                keys = self._fs.find(self._base)
            except FileNotFoundError:
                self._check_bucket()
                return
        yield from sorted({digest for key in keys if (digest := digest_of_key(str(key))) is not None})

    # -- deletes and batches ------------------------------------------------------------------------------

    def delete(self, digest: str) -> None:
        self.delete_many([digest])

    def delete_many(self, digests: Iterable[str]) -> None:
        keys = [self._key(digest) for digest in sorted(set(digests))]
        if not keys:
            return
        with self._talking("delete objects from"):
            try:
                self._fs.rm(keys)  # S3: one request per 1,000 keys
            except FileNotFoundError:  # some filesystems refuse to delete what is not there: one at a time
                for key in keys:
                    with suppress(FileNotFoundError):
                        self._fs.rm(key)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Nothing to group: each completed upload is already durable on the service."""
        yield

    # -- helpers ------------------------------------------------------------------------------------------

    def _key(self, digest: str) -> str:
        return object_key(self._base, digest)

    def _stored_size(self, digest: str) -> int | None:
        """The size of the stored object (one request), or ``None`` when there is none."""
        key = self._key(digest)
        with self._talking(f"look up object {digest[:12]} in"):
            try:
                if self.protocol in _S3:  # a HEAD alone: s3fs's info() also lists the prefix when the key is absent
                    bucket, name, _ = self._fs.split_path(key)
                    return int(self._fs.call_s3("head_object", Bucket=bucket, Key=name)["ContentLength"])
                info = self._fs.info(key)
            except FileNotFoundError:
                return None
        if info.get("type") == "directory":
            return None
        return int(info.get("size") or 0)

    def _call(self, action: str, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        with self._talking(action):
            return function(*args, **kwargs)

    @contextmanager
    def _talking(self, action: str) -> Iterator[None]:
        """Turn the filesystem library's failures into one :class:`RemoteStoreError` line naming the store."""
        try:
            yield
        except (ShipyardError, FileNotFoundError):
            raise
        except PermissionError as exc:
            raise RemoteStoreError(
                f"The object store {self.uri} refused to let Shipyard {action} it: {_reason(exc)}. "
                f"{_credentials_hint(self.protocol)}", uri=self.uri) from None
        except self._failures as exc:
            if _bucket_missing(exc):
                raise self._no_bucket() from None
            raise RemoteStoreError(
                f"Cannot {action} the object store {self.uri}: {_reason(exc)}. {_reach_hint(self.protocol)}",
                uri=self.uri) from None

    def _abandon(self, sink: Any, target: str) -> None:
        """Throw an unfinished upload away: S3 aborts the multipart upload, so closing commits nothing; a
        temporary file elsewhere is removed."""
        if sink is not None:
            with suppress(Exception):
                sink.discard()
            with suppress(Exception):
                sink.closed = True
        if not self._in_place:
            with suppress(Exception):
                self._fs.rm(target)

    def _check_bucket(self) -> None:
        """Raise when the bucket itself is missing (asked only after something was not found)."""
        if self.protocol not in _WHOLE_UPLOADS:
            return
        bucket = self._base.split("/", 1)[0]
        with self._talking("reach"):
            try:
                self._fs.info(bucket)
            except FileNotFoundError:
                raise self._no_bucket() from None

    def _no_bucket(self) -> RemoteStoreError:
        bucket = self._base.split("/", 1)[0]
        return RemoteStoreError(
            f"The bucket {bucket!r} of the object store {self.uri} does not exist (or these credentials cannot see "
            "it). Create it, or point SHIPYARD_OBJECTS_URI at an existing one.", uri=self.uri)

    def _not_found(self, digest: str, label: str | None) -> NotFoundError:
        self._check_bucket()
        what = f" ({label})" if label else ""
        return NotFoundError(f"Object {digest[:12]}{what} is not in the object store {self.uri}.")

    def _corrupted(self, digest: str, label: str | None) -> IntegrityError:
        what = f" holding {label}" if label else ""
        where = object_key(self.uri, digest)
        return IntegrityError(
            f"Object {digest[:12]}{what} is corrupted: the bytes at {where} no longer match their hash (they were "
            "changed outside Shipyard). Delete that object and log the file again, or restore it from a copy.",
            object_hash=digest, path=label)


def _hash_streamed(path: str, size: int) -> str:
    """The file's hash from reads of :data:`READ_BYTES`: ``hash_file`` maps a large file into memory, which
    counts a 2 GB artifact in the process's resident memory while it is hashed."""
    hasher = new_hasher(size)
    with open(path, "rb") as stream:
        while chunk := stream.read(READ_BYTES):
            hasher.update(chunk)
    return str(hasher.hexdigest())


def _check_driver(uri: str, protocol: str) -> None:
    """Refuse at once a scheme fsspec does not know, or S3 without s3fs, without importing either driver."""
    from importlib.util import find_spec

    from fsspec.registry import known_implementations, registry

    if protocol in _S3 and find_spec("s3fs") is None:
        raise missing_extra("s3fs", f"The object store {uri}")
    if protocol not in known_implementations and protocol not in registry:
        raise ConfigError(f"The object store {uri} has a scheme fsspec does not know ({protocol}://); use a "
                          "folder, s3://bucket/prefix, or another fsspec URL.")


def _filesystem(uri: str, protocol: str) -> tuple[Any, str]:
    import fsspec

    # No instance cache: a filesystem made with the credentials of an earlier test or an earlier
    # set_store() must not be handed back. No listings cache: another process's writes must be seen.
    options: dict[str, Any] = {"skip_instance_cache": True, "use_listings_cache": False}
    try:
        fs, base = fsspec.core.url_to_fs(uri, **options)
    except ImportError as exc:
        if protocol in _S3:
            raise missing_extra("s3fs", f"The object store {uri}") from exc
        raise ConfigError(f"The object store {uri} needs an fsspec driver for {protocol}://, which is not "
                          f"installed: {exc}") from exc
    except ValueError as exc:  # fsspec: "Protocol not known"
        raise ConfigError(f"The object store {uri} has a scheme fsspec does not know ({protocol}://); use a "
                          "folder, s3://bucket/prefix, or another fsspec URL.") from exc
    return fs, str(base)


def _failures_of(protocol: str) -> tuple[type[BaseException], ...]:
    """What the filesystem library raises when the service fails: OSError always, botocore's errors for S3."""
    if protocol in _S3:
        from botocore.exceptions import BotoCoreError, ClientError

        return (OSError, BotoCoreError, ClientError)
    return (OSError,)


def _bucket_missing(exc: BaseException) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
    return code == "NoSuchBucket"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return " ".join(text.split())


def _credentials_hint(protocol: str) -> str:
    if protocol in _S3:
        return ("Check the credentials S3 is given: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE and "
                "~/.aws/credentials (Shipyard reads no credentials of its own).")
    return "Check the credentials of that filesystem."


def _reach_hint(protocol: str) -> str:
    if protocol in _S3:
        return "Check AWS_ENDPOINT_URL (if you use an S3-compatible server), the network, and the credentials."
    return "Check the URL, the network and the credentials."


