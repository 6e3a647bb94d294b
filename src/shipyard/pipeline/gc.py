"""``shipyard gc``: remove cached objects nothing refers to any more. A dry run unless ``force``.

Kept: whatever the workspace's pointer files and ``shipyard.lock`` name (directory manifests expanded),
the same in the last ``keep_revs`` git commits, and everything tracking and the registry refer to
(run artifacts, which include every model package and stage record, and stored uncommitted diffs).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from ..store import Store
from ..store.schema import artifacts, runs
from .data import POINTER_SUFFIX
from .hashing import read_manifest
from .lock import LOCK_FILE
from .remotes import referenced


@dataclass
class Collection:
    kept: int = 0
    removable: list[str] = field(default_factory=list)
    removed_bytes: int = 0
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kept": self.kept, "removable": len(self.removable), "bytes": self.removed_bytes,
                "deleted": self.deleted}


def collect(store: Store, root: Path, *, keep_revs: int = 0, force: bool = False) -> Collection:
    keep = referenced(store, root, fetch=None)
    keep |= _from_git_history(store, root, keep_revs)
    keep |= _from_database(store)
    result = Collection()
    objects = store.objects
    for digest in objects.iter_hashes():
        if digest in keep:
            result.kept += 1
            continue
        result.removable.append(digest)
        result.removed_bytes += objects.size(digest)
    if force:
        objects.delete_many(result.removable)  # packs are rewritten once each, not once per object
        result.deleted = True
    return result


def _from_database(store: Store) -> set[str]:
    def query(conn: Any) -> set[str]:
        hashes = set(conn.execute(select(artifacts.c.hash)).scalars())
        hashes |= {digest for digest in conn.execute(select(runs.c.git_diff_hash)).scalars() if digest}
        return hashes

    return store.db.read(query)


def _from_git_history(store: Store, root: Path, revisions: int) -> set[str]:
    if revisions <= 0:
        return set()
    log = _git(root, "rev-list", f"--max-count={revisions}", "HEAD")
    hashes: set[str] = set()
    for revision in (log or "").split():
        names = (_git(root, "ls-tree", "-r", "--name-only", revision) or "").splitlines()
        for name in names:
            if name.endswith(POINTER_SUFFIX) or name == LOCK_FILE or name.endswith("/" + LOCK_FILE):
                text = _git(root, "show", f"{revision}:./{name}") or ""  # ls-tree paths are relative to root
                hashes |= _hashes_in(store, text, lock=name.endswith(LOCK_FILE))
    return hashes


def _hashes_in(store: Store, text: str, *, lock: bool) -> set[str]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return set()
    records = []
    if lock:
        for entry in (data.get("stages") or {}).values():
            records += list(entry.get("outs") or [])
    elif isinstance(data, dict):
        records.append(data)
    hashes = set()
    for record in records:
        digest = record.get("hash")
        if not isinstance(digest, str):
            continue
        hashes.add(digest)
        if "files" in record and store.objects.exists(digest):
            hashes |= {item for _, item, _ in read_manifest(store, digest, "directory")}
    return hashes


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
