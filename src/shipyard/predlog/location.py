"""Where a log lives: a local folder, or a folder on an fsspec filesystem (``s3://bucket/predictions``).

A local log keeps using :class:`pathlib.Path`, with its private modes, fsyncs and renames (:mod:`.writer`).
A log at a URL is a :class:`RemotePath`: the handful of ``Path`` operations the log's modules use (``/``,
``name``, ``parent``, ``glob``, ``iterdir``, ``is_dir``, ``stat``, ``unlink``), answered by fsspec, so
:mod:`.layout`, :mod:`.scan` and the readers above them treat both alike. ``str()`` of either is what
``log_dir`` takes back (a path or the URL), so a root handed around as text opens the same log again.

Object stores have no rename and no partial objects: a file there is written in one PUT under its final
name (readers never see half of it), which is what the hidden temporary names do on a disk. Listings are
never cached: other replicas add files all the time, and a reader must see them.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..errors import ConfigError
from ..extras import missing_extra

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_S3 = ("s3", "s3a")
# Filesystems by protocol and the environment that configures them (credentials, endpoint): s3fs reads
# those when a filesystem is made, so a changed AWS_ENDPOINT_URL gets a new one.
_FILESYSTEMS: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}


def is_url(text: str) -> bool:
    """Whether ``text`` names a folder by URL (``s3://...``) rather than a local path (``file://`` is local)."""
    return bool(_URL.match(text)) and not text.lower().startswith("file://")


def open_folder(text: str) -> Path | RemotePath:
    """The log folder ``text`` names: a local path (made absolute) or an fsspec URL.

    Raises:
        ConfigError: a scheme fsspec does not know; MissingExtraError: ``s3://`` without s3fs.
    """
    if text.lower().startswith("file://"):
        text = text[len("file://"):]
    if not is_url(text):
        return Path(text).expanduser().resolve()
    fs = filesystem(text.split("://", 1)[0].lower(), text)
    return RemotePath(_url(fs, fs._strip_protocol(text)), fs)


def filesystem(protocol: str, url: str) -> Any:
    """The fsspec filesystem for ``protocol`` (one per process and environment), without listings cache."""
    from importlib.util import find_spec

    if protocol in _S3 and find_spec("s3fs") is None:
        raise missing_extra("s3fs", f"The prediction log {url}")
    key = (protocol, tuple(sorted((name, value) for name, value in os.environ.items() if name.startswith("AWS_"))))
    found = _FILESYSTEMS.get(key)
    if found is None:
        import fsspec

        try:
            found = fsspec.filesystem(protocol, skip_instance_cache=True, use_listings_cache=False)
        except (ImportError, ValueError) as exc:
            raise ConfigError(f"The prediction log {url} needs an fsspec driver for {protocol}://, which is "
                              f"not available ({exc}); use a folder or s3://bucket/prefix.") from exc
        _FILESYSTEMS[key] = found
    return found


@dataclass(frozen=True, order=True)
class RemotePath:
    """A file or folder of a log on an fsspec filesystem: the subset of :class:`pathlib.Path` the log uses.

    ``size`` is the size a listing already reported, so a fingerprint of an hour's files costs no request
    per file.
    """

    url: str  # protocol://bucket/key as the filesystem spells it, no trailing slash
    fs: Any = field(compare=False, repr=False)
    size: int | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return self.url

    @property
    def path(self) -> str:
        """The path as the filesystem takes it (no ``protocol://``)."""
        return str(self.fs._strip_protocol(self.url))

    def __truediv__(self, name: str) -> RemotePath:
        return RemotePath(f"{self.url}/{name.strip('/')}", self.fs)

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.name)[1]

    @property
    def parent(self) -> RemotePath:
        return RemotePath(_url(self.fs, posixpath.dirname(self.path)), self.fs)

    def is_dir(self) -> bool:
        return bool(self.fs.isdir(self.path))

    def exists(self) -> bool:
        return bool(self.fs.exists(self.path))

    def glob(self, pattern: str) -> Iterator[RemotePath]:
        for found in sorted(self.fs.glob(f"{self.path}/{pattern}")):
            yield self._child(found)

    def iterdir(self) -> Iterator[RemotePath]:
        """The entries right below this folder (none if it does not exist), with their sizes."""
        try:
            entries = self.fs.ls(self.path, detail=True)
        except FileNotFoundError:
            return
        for entry in entries:
            name = str(entry["name"]).rstrip("/")
            if name != self.path:
                yield self._child(name, entry.get("size") if entry.get("type") == "file" else None)

    def files_below(self) -> list[RemotePath]:
        """Every file below this folder, at any depth, in one listing (sizes included)."""
        try:
            found = self.fs.find(self.path, detail=True)
        except FileNotFoundError:
            return []
        return [self._child(name, info.get("size")) for name, info in sorted(found.items())]

    def stat(self) -> Any:
        """``st_size`` (from the listing when known) and ``st_mtime_ns`` (0: names are never reused)."""
        size = self.size if self.size is not None else int(self.fs.info(self.path)["size"])
        return SimpleNamespace(st_size=size, st_mtime_ns=0)

    def read_bytes(self) -> bytes:
        return bytes(self.fs.cat_file(self.path))

    def write_bytes(self, data: bytes) -> None:
        """Write the whole file in one request: it appears complete or not at all."""
        self.fs.pipe_file(self.path, data)

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.rm_file(self.path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def _child(self, path: str, size: int | None = None) -> RemotePath:
        return RemotePath(_url(self.fs, path), self.fs, size)


def _url(fs: Any, path: str) -> str:
    """The one spelling of ``path``'s URL (``s3a://`` and ``s3://`` name the same object, say)."""
    return str(fs.unstrip_protocol(path.rstrip("/")))


LogPath = Path | RemotePath  # a file or folder of the log, local or remote


def arrow_files(files: list[LogPath]) -> tuple[list[str], Any]:
    """The paths and the pyarrow filesystem that read ``files`` (``None``: local paths, pyarrow's own).

    Remote files whose size a listing gave are opened with that size: no request to ask whether each file
    exists and how large it is (two or three HEADs per file and per read otherwise, most of the time a
    report spends on an object store).
    """
    remote = [path for path in files if isinstance(path, RemotePath)]
    if not remote:
        return [str(path) for path in files], None
    if len(remote) != len(files):
        raise ValueError("one read takes files of one log: all local or all on one filesystem")
    from pyarrow.fs import PyFileSystem

    sizes = {path.path: path.size for path in remote if path.size is not None}
    return [path.path for path in remote], PyFileSystem(_sized_handler(remote[0].fs, sizes))


def _sized_handler(fs: Any, sizes: dict[str, int]) -> Any:
    from pyarrow import PythonFile
    from pyarrow.fs import FileInfo, FileType, FSSpecHandler

    class SizedHandler(FSSpecHandler):
        """fsspec for pyarrow, answering what a listing already said (sizes) without asking again."""

        def get_file_info(self, paths: list[str]) -> list[Any]:
            known = [FileInfo(path, FileType.File, size=sizes[path]) for path in paths if path in sizes]
            if len(known) == len(paths):
                return known
            return list(super().get_file_info(paths))

        def open_input_file(self, path: str) -> Any:
            size = sizes.get(path)
            if size is None or not _takes_size(self.fs):
                return super().open_input_file(path)
            handle = self.fs.open(path, mode="rb", size=size)
            handle.details = {"name": path, "size": size, "type": "file"}  # else its first read asks (a HEAD)
            return PythonFile(handle, mode="r")

    return SizedHandler(fs)


def _takes_size(fs: Any) -> bool:
    """Whether ``fs.open`` takes a known size instead of asking for it (s3fs does; others may not)."""
    protocol = fs.protocol
    return bool({*(protocol if isinstance(protocol, tuple | list) else (protocol,))} & set(_S3))
