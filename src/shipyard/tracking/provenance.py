"""What produced a run, captured with no user code: git state, environment and process.

Run creation must stay fast in sweeps that start thousands of runs, so both expensive captures are
cached per process behind a cheap fingerprint and recomputed only when it changes:

* git: the HEAD file, the ref it names, ``packed-refs``, the index, and the (mtime, ctime, size,
  inode) of every tracked file. That is the same stat-based test git itself uses to decide what to re-read, so a saved
  edit or a new commit is always seen, while an unchanged tree costs a few ``stat`` calls.
* packages: the modification times of the directories on ``sys.path``, which change whenever a
  distribution is installed or removed.

A dirty tree is recorded with the hash of ``git diff HEAD`` and the diff itself is stored as an object,
so the exact code of any run can be brought back. Untracked files do not make a tree dirty, and neither
does ``shipyard.lock``: ``repro`` rewrites it after each stage, so otherwise every stage after the first of
a committed pipeline would run "dirty".
"""

from __future__ import annotations

import getpass
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..store.hashing import hash_bytes, hash_json


@dataclass(frozen=True)
class GitState:
    root: str
    commit: str | None
    branch: str | None
    dirty: bool
    diff_hash: str | None
    diff: bytes | None


@dataclass(frozen=True)
class Environment:
    hash: str
    python: str
    packages: tuple[str, ...]


@dataclass(frozen=True)
class ProcessInfo:
    python_version: str
    os: str
    host: str
    user: str
    command: str
    pid: int


_lock = threading.Lock()
_git_cache: dict[str, tuple[tuple[Any, ...], GitState | None]] = {}
_tracked_files: dict[str, tuple[tuple[Any, ...], list[str]]] = {}
_env_cache: tuple[tuple[Any, ...], Environment] | None = None
_static: dict[str, str] = {}


def find_git_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def git_state(cwd: Path | None = None) -> GitState | None:
    """The git state of the work tree around ``cwd``, or ``None`` outside git (or without git)."""
    root = find_git_root((cwd or Path.cwd()).resolve())
    if root is None:
        return None
    key = str(root)
    with _lock:
        git_dir = _git_dir(root)
        if git_dir is None:
            return None
        fingerprint = _git_fingerprint(root, git_dir)
        cached = _git_cache.get(key)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        state = _read_git_state(root)
        _git_cache[key] = (fingerprint, state)
        return state


def environment() -> Environment:
    """The installed distributions as sorted ``name==version`` lines, hashed."""
    global _env_cache
    fingerprint = tuple((entry, _mtime(entry)) for entry in sys.path if entry)
    with _lock:
        if _env_cache is not None and _env_cache[0] == fingerprint:
            return _env_cache[1]
        from importlib import metadata

        found = set()
        for dist in metadata.distributions():
            name = dist.name
            if name:
                found.add(f"{name.lower().replace('_', '-')}=={dist.version}")
        packages = tuple(sorted(found))
        python = platform.python_version()
        env = Environment(hash=hash_json({"python": python, "packages": list(packages)}), python=python,
                          packages=packages)
        _env_cache = (fingerprint, env)
        return env


def process_info() -> ProcessInfo:
    if not _static:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
        _static.update(
            python_version=platform.python_version(),
            os=platform.platform(),
            host=socket.gethostname(),
            user=user,
        )
    return ProcessInfo(
        python_version=_static["python_version"],
        os=_static["os"],
        host=_static["host"],
        user=_static["user"],
        command=shlex.join([sys.executable, *sys.argv]) if sys.argv and sys.argv[0] else sys.executable,
        pid=os.getpid(),
    )


def packages_json(env: Environment) -> str:
    return json.dumps(list(env.packages))


def _git(root: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, timeout=60, check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _git_dir(root: Path) -> Path | None:
    dot_git = root / ".git"
    if dot_git.is_dir():
        return dot_git
    out = _git(root, "rev-parse", "--absolute-git-dir")  # worktrees and submodules: .git is a file
    return Path(out.decode().strip()) if out else None


def _git_fingerprint(root: Path, git_dir: Path) -> tuple[Any, ...]:
    head_file = git_dir / "HEAD"
    try:
        head = head_file.read_text().strip()
    except OSError:
        head = ""
    ref_stat = _stat(git_dir / head[5:]) if head.startswith("ref: ") else None
    index_stat = _stat(git_dir / "index")
    return (head, ref_stat, _stat(git_dir / "packed-refs"), index_stat,
            tuple(_stat(root / name) for name in _tracked(root, index_stat)))


def _tracked(root: Path, index_stat: Any) -> list[str]:
    cached = _tracked_files.get(str(root))
    if cached is not None and cached[0] == index_stat:
        return cached[1]
    out = _git(root, "ls-files", "-z")
    names = [name for name in (out or b"").decode(errors="replace").split("\0") if name]
    _tracked_files[str(root)] = (index_stat, names)
    return names


RECORD_FILE = "shipyard.lock"  # written by `shipyard repro` itself: a record of results, not code


def _status_path(entry: str) -> str:
    """The path of one ``git status --porcelain=v2`` entry (ordinary, renamed or unmerged)."""
    fields = {"1": 8, "2": 9, "u": 10}.get(entry[:1])
    return entry.split(" ", fields)[-1] if fields else entry


def _is_record(path: str) -> bool:
    return path.rsplit("/", 1)[-1] == RECORD_FILE


def _read_git_state(root: Path) -> GitState | None:
    out = _git(root, "status", "--porcelain=v2", "--branch", "--untracked-files=no", "-z")
    if out is None:
        return None
    commit = branch = None
    dirty = False
    entries = iter(out.decode(errors="replace").split("\0"))
    for entry in entries:
        if entry.startswith("# branch.oid "):
            value = entry[len("# branch.oid "):]
            commit = None if value == "(initial)" else value
        elif entry.startswith("# branch.head "):
            value = entry[len("# branch.head "):]
            branch = None if value == "(detached)" else value
        elif entry and not entry.startswith("#"):
            if entry.startswith("2 "):
                next(entries, None)  # a rename's original path follows as its own field
            if not _is_record(_status_path(entry)):
                dirty = True
    diff = _git(root, "diff", "HEAD", "--binary", "--", ".", f":(exclude,glob)**/{RECORD_FILE}") \
        if dirty and commit else None
    return GitState(root=str(root), commit=commit, branch=branch, dirty=dirty,
                    diff_hash=hash_bytes(diff) if diff else None, diff=diff or None)


def _stat(path: Path) -> tuple[int, int, int, int] | None:
    """What git's own index compares: a same-size rewrite within one mtime tick still changes ctime."""
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino)


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None
