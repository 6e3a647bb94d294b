"""Remotes: the object store's layout (``ab/cdef…``) on any fsspec filesystem, and push/pull between them.

A push or pull is a set difference: list what the other side has once (one recursive listing, a few
paginated requests on S3), transfer only the missing objects in parallel, and verify every object's
hash on the way. Remotes are configured in ``shipyard.yaml`` (committed, so the whole team shares them)::

    remotes:
      storage: {url: "s3://bucket/shipyard", endpoint_url: "http://127.0.0.1:9000", default: true}

Credentials come from the usual places (``AWS_ACCESS_KEY_ID``... for S3), never from the file.

Many small objects would cost one request each, which is what makes pushing 10,000 small files take
minutes. When a push has at least ``PACK_FROM`` objects under ``PACK_OBJECT_MAX`` bytes, they travel in
packs (``packs/<hash>.pack``, at most ``PACK_MAX`` bytes, concatenated objects) described by an index
(``packs/<hash>.idx``: object hash -> offset and size). The index is written after its pack, so an
index on the remote always points at a complete pack; pull downloads the packs it needs and verifies
every object it takes out of them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, IntegrityError, NotFoundError, ValidationError
from ..extras import missing_extra
from ..store import Store
from ..store.atomic import write_atomically
from ..store.hashing import hash_bytes
from ..store.objects import LocalObjectStore
from ..store.yaml_file import load_yaml
from .data import tracked
from .hashing import read_manifest
from .spec import PIPELINE_FILE

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
PACK_FROM = 64  # small objects in one push before packing pays
PACK_OBJECT_MAX = 1 << 20  # objects up to this size go into packs
PACK_MAX = 64 << 20  # bytes per pack
PACKS = "packs"
_OPTION_KEYS = {"endpoint_url", "region", "profile"}
DEFAULT_JOBS = 16
_SLICE_MIN = 64  # objects a pull thread takes out of a pack at a time

Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class Remote:
    name: str
    url: str
    default: bool = False
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Transfer:
    remote: str
    transferred: list[str] = field(default_factory=list)
    already: int = 0
    missing_everywhere: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"remote": self.remote, "transferred": len(self.transferred), "already_there": self.already,
                "missing_everywhere": self.missing_everywhere}


def list_remotes(root: Path) -> list[Remote]:
    path = root / PIPELINE_FILE
    if not path.is_file():
        return []
    data = load_yaml(path) or {}
    node = data.get("remotes") or {}
    if not isinstance(node, dict):
        raise ConfigError(f"{PIPELINE_FILE}: 'remotes' must map remote names to {{url: ...}}.")
    remotes = []
    for name, value in node.items():
        if not isinstance(value, dict) or not isinstance(value.get("url"), str):
            raise ConfigError(f"{PIPELINE_FILE}: remote '{name}' needs a 'url'.")
        options = {key: str(item) for key, item in value.items() if key in _OPTION_KEYS}
        remotes.append(Remote(str(name), value["url"], bool(value.get("default")), options))
    return remotes


def add_remote(root: Path, name: str, url: str, *, default: bool = False,
               options: dict[str, str] | None = None) -> Remote:
    """Add (or replace) a remote in shipyard.yaml; only the ``remotes:`` block of the file is rewritten."""
    if not _NAME_RE.match(name):
        raise ValidationError(f"{name!r} is not a valid remote name: start with a letter; letters, digits, _ -.",
                              field="name")
    if not url.strip():
        raise ValidationError("The remote URL is empty.", field="url")
    remotes = {remote.name: remote for remote in list_remotes(root)}
    if default:
        remotes = {key: Remote(r.name, r.url, False, r.options) for key, r in remotes.items()}
    remotes[name] = Remote(name, url, default or len(remotes) == 0, {k: v for k, v in (options or {}).items() if v})
    _write_remotes(root / PIPELINE_FILE, remotes)
    return remotes[name]


def get_remote(root: Path, name: str | None) -> Remote:
    remotes = list_remotes(root)
    if name is None:
        chosen = [remote for remote in remotes if remote.default] or remotes[:1]
        if not chosen:
            raise ConfigError("No remote is configured; add one with `shipyard remote add NAME URL --default`.")
        return chosen[0]
    for remote in remotes:
        if remote.name == name:
            return remote
    raise NotFoundError(f"No remote named {name!r}; known: {', '.join(r.name for r in remotes) or 'none'}.")


def push(store: Store, root: Path, remote: Remote, *, jobs: int = DEFAULT_JOBS,
         progress: Progress | None = None) -> Transfer:
    """Upload the objects the workspace names that the remote lacks (small ones in packs)."""
    fs, base = _filesystem(remote)
    wanted = referenced(store, root, fetch=None)
    loose, packed = _listing(fs, base)
    there = loose | set(packed)
    result = Transfer(remote.name, already=len(wanted & there))
    sizes: dict[str, int] = {}
    for digest in sorted(wanted - there):
        try:
            sizes[digest] = store.objects.size(digest)  # one stat says both: is it here, and how big
        except NotFoundError:
            result.missing_everywhere.append(digest)
    todo = list(sizes)
    small = [digest for digest in todo if sizes[digest] <= PACK_OBJECT_MAX]
    if len(small) < PACK_FROM:
        small = []
    packing = set(small)
    big = [digest for digest in todo if digest not in packing]
    done_count = [0]

    def tick(count: int) -> None:
        done_count[0] += count
        if progress is not None:
            progress(done_count[0], len(todo))

    def upload(digest: str) -> str:
        data = store.objects.get_bytes(digest)  # verified on read
        fs.pipe_file(_key(base, digest), data)
        tick(1)
        return digest

    def upload_pack(group: list[str]) -> list[str]:
        blobs = [store.objects.get_bytes(digest) for digest in group]  # verified on read
        offsets, position = {}, 0
        for digest, blob in zip(group, blobs, strict=True):
            offsets[digest] = [position, len(blob)]
            position += len(blob)
        body = b"".join(blobs)
        name = hash_bytes(body)
        fs.pipe_file(f"{base}/{PACKS}/{name}.pack", body)
        fs.pipe_file(f"{base}/{PACKS}/{name}.idx", json.dumps(offsets, separators=(",", ":")).encode())
        tick(len(group))
        return group

    groups = _pack_groups(sizes, small)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for finished in pool.map(upload_pack, groups):
            result.transferred.extend(finished)
        result.transferred.extend(pool.map(upload, big))
    return result


def pull(store: Store, root: Path, remote: Remote, *, jobs: int = DEFAULT_JOBS,
         progress: Progress | None = None) -> Transfer:
    """Download the objects the workspace names that the local cache lacks, then verify each."""
    fs, base = _filesystem(remote)
    loose, packed = _listing(fs, base)

    def store_verified(digest: str, data: bytes) -> str:
        try:
            store.objects.put_bytes(data, expected=digest)  # hashed once: the check and the object's name
        except IntegrityError as exc:
            raise _corrupted_on_remote(digest, remote.name) from exc
        return digest

    def download(digest: str) -> str:
        return store_verified(digest, fs.cat_file(_key(base, digest)))

    manifests: list[str] = []

    def fetch_manifest(digest: str) -> None:
        if store.objects.exists(digest):
            return
        if digest in loose:
            manifests.append(download(digest))
        elif digest in packed:
            pack, offset, size = packed[digest]
            data = fs.cat_file(f"{base}/{PACKS}/{pack}.pack", start=offset, end=offset + size)
            manifests.append(store_verified(digest, data))

    wanted = referenced(store, root, fetch=fetch_manifest)
    local = {digest for digest in wanted if store.objects.exists(digest)}  # fetched manifests included
    result = Transfer(remote.name, already=len(local - set(manifests)))
    todo = sorted(wanted - local)
    result.missing_everywhere = [digest for digest in todo if digest not in loose and digest not in packed]
    from_packs: dict[str, list[str]] = {}
    for digest in todo:
        if digest not in loose and digest in packed:
            from_packs.setdefault(packed[digest][0], []).append(digest)
    singles = [digest for digest in todo if digest in loose]
    total = len(singles) + sum(len(group) for group in from_packs.values())
    done_count = [0]

    def tick(count: int) -> None:
        done_count[0] += count
        if progress is not None:
            progress(done_count[0], total)

    def take_objects(body: bytes, digests: list[str]) -> list[str]:
        for digest in digests:
            _, offset, size = packed[digest]
            store_verified(digest, body[offset : offset + size])
        tick(len(digests))
        return digests

    keep_packed = isinstance(store.objects, LocalObjectStore)

    def keep_pack(body: bytes, digests: list[str]) -> list[str]:
        """Many objects from one remote pack stay packed in the cache: two files written, not thousands."""
        assert isinstance(store.objects, LocalObjectStore)
        pairs = [(digest, body[packed[digest][1] : packed[digest][1] + packed[digest][2]]) for digest in digests]
        try:
            store.objects.put_pack(pairs)  # every object verified first; nothing written on a mismatch
        except IntegrityError as exc:
            raise _corrupted_on_remote(exc.object_hash or "?", remote.name) from exc
        tick(len(digests))
        return digests

    def take_single(digest: str) -> str:
        download(digest)
        tick(1)
        return digest

    result.transferred = list(manifests)
    # A pack holds thousands of objects, and writing them is mostly file creation, which waits on the
    # filesystem with the GIL released: each pack's objects are written by several threads, in slices.
    # Packs download on their own pool (at most ``jobs`` in memory); slices run on the writers' pool.
    workers = max(1, jobs)
    with (store.objects.batch(), ThreadPoolExecutor(max_workers=workers) as pool,  # one sync at the end
          ThreadPoolExecutor(max_workers=workers) as writers):

        def take_pack(pack: str) -> list[str]:
            body = fs.cat_file(f"{base}/{PACKS}/{pack}.pack")
            digests = from_packs[pack]
            if keep_packed and len(digests) >= PACK_FROM:
                return keep_pack(body, digests)
            step = max(_SLICE_MIN, -(-len(digests) // workers))
            parts = [digests[start : start + step] for start in range(0, len(digests), step)]
            return [digest for part in writers.map(lambda part: take_objects(body, part), parts) for digest in part]

        for taken in pool.map(take_pack, sorted(from_packs)):
            result.transferred.extend(taken)
        result.transferred.extend(pool.map(take_single, singles))
    return result


def _corrupted_on_remote(digest: str, remote: str) -> IntegrityError:
    return IntegrityError(f"Object {digest[:12]} on remote '{remote}' is corrupted: its bytes do not match their "
                          "hash. Push it again from a machine that has it intact.", object_hash=digest)


def referenced(store: Store, root: Path, *, fetch: Callable[[str], None] | None) -> set[str]:
    """Every object the pointer files and the lock file name, directory manifests expanded."""
    hashes: set[str] = set()
    for item in tracked(root):
        digest = item.record["hash"]
        hashes.add(digest)
        if "files" in item.record:
            if fetch is not None:
                fetch(digest)
            if store.objects.exists(digest):
                hashes.update(file_hash for _, file_hash, _ in read_manifest(store, digest, item.path))
    return hashes


def _filesystem(remote: Remote) -> tuple[Any, str]:
    if "://" not in remote.url and os.sep == "/":  # a folder on this machine: no fsspec needed
        return _LocalDirectory(), os.path.abspath(os.path.expanduser(remote.url)).rstrip("/")
    try:
        import fsspec
    except ImportError as exc:  # fsspec is a core dependency; this only guards broken installs
        raise ConfigError("Remotes need fsspec: pip install fsspec.") from exc
    protocol = remote.url.split("://", 1)[0] if "://" in remote.url else "file"
    options: dict[str, Any] = {}
    if protocol in ("file", "local"):
        options["auto_mkdir"] = True  # the fan-out directories appear as objects arrive
    if protocol in ("s3", "s3a"):
        client: dict[str, Any] = {}
        if "endpoint_url" in remote.options:
            client["endpoint_url"] = remote.options["endpoint_url"]
        if "region" in remote.options:
            client["region_name"] = remote.options["region"]
        if client:
            options["client_kwargs"] = client
        if "profile" in remote.options:
            options["profile"] = remote.options["profile"]
    try:
        fs, base = fsspec.core.url_to_fs(remote.url, **options)
    except ImportError as exc:
        if protocol in ("s3", "s3a"):
            raise missing_extra("s3fs", f"Remote '{remote.name}' ({remote.url})") from exc
        raise ConfigError(f"Remote '{remote.name}' ({remote.url}) needs an fsspec driver for {protocol}://: "
                          f"{exc}.") from exc
    return fs, str(base).rstrip("/")


class _LocalDirectory:
    """The three filesystem calls push and pull make, for a remote that is a plain folder.

    Why not fsspec's local filesystem: importing fsspec alone costs a tenth of a second per command,
    and its files are written in place, so a push killed mid-object left a partial object that every
    later push took for present. Here each file is written to a temporary name in its own folder,
    fsynced and renamed, like the local object store; the layout is the same, so either side reads
    what the other wrote.
    """

    def find(self, base: str) -> list[str]:
        return [f"{folder}/{name}" for folder, _, names in os.walk(base) for name in names]

    def cat_file(self, path: str, start: int | None = None, end: int | None = None) -> bytes:
        with open(path, "rb") as stream:
            if start:
                stream.seek(start)
            return stream.read() if end is None else stream.read(end - (start or 0))

    def pipe_file(self, path: str, data: bytes) -> None:
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        write_atomically(Path(path), data)  # fsynced, folder too: a pack's index never outlives its pack


def _listing(fs: Any, base: str) -> tuple[set[str], dict[str, tuple[str, int, int]]]:
    """What the remote holds: loose object hashes, and packed ones with (pack, offset, size)."""
    try:
        keys = fs.find(base)
    except FileNotFoundError:
        return set(), {}
    loose: set[str] = set()
    indexes: list[str] = []
    for key in keys:
        parts = str(key).rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == PACKS and parts[-1].endswith(".idx"):
            indexes.append(str(key))
        elif len(parts) >= 2 and len(parts[-2]) == 2:
            digest = parts[-2] + parts[-1]
            if len(digest) == 64:
                loose.add(digest)
    packed: dict[str, tuple[str, int, int]] = {}
    for index in indexes:
        pack = index.rsplit("/", 1)[-1][: -len(".idx")]
        try:
            entries = json.loads(fs.cat_file(index))
        except (OSError, ValueError):
            continue  # an unreadable index hides its pack; the objects are pushed again
        for digest, (offset, size) in entries.items():
            packed[digest] = (pack, int(offset), int(size))
    return loose, packed


def _pack_groups(sizes: dict[str, int], digests: list[str]) -> list[list[str]]:
    groups: list[list[str]] = []
    current: list[str] = []
    size = 0
    for digest in digests:
        item = sizes[digest]
        if current and size + item > PACK_MAX:
            groups.append(current)
            current, size = [], 0
        current.append(digest)
        size += item
    if current:
        groups.append(current)
    return groups


def _key(base: str, digest: str) -> str:
    return f"{base}/{digest[:2]}/{digest[2:]}"


def _write_remotes(path: Path, remotes: dict[str, Remote]) -> None:
    block = {"remotes": {name: {"url": remote.url, **remote.options, **({"default": True} if remote.default else {})}
                         for name, remote in remotes.items()}}
    text = yaml.safe_dump(block, sort_keys=False, default_flow_style=None)
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    start = next((index for index, line in enumerate(lines) if re.match(r"^remotes:\s*(#.*)?$", line)), None)
    if start is None:
        prefix = "".join(lines)
        new = prefix + ("\n" if prefix and not prefix.endswith("\n") else "") + ("\n" if prefix else "") + text
    else:
        end = start + 1
        while end < len(lines):
            if lines[end][:1] in (" ", "\t"):
                end += 1
                continue
            # A blank line belongs to the block only when indented lines of the block follow it.
            following = end
            while following < len(lines) and not lines[following].strip():
                following += 1
            if following > end and following < len(lines) and lines[following][:1] in (" ", "\t"):
                end = following
                continue
            break
        new = "".join(lines[:start]) + text + "".join(lines[end:])
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(new)
    temp.replace(path)
