"""Helpers of the data-versioning tests: real git projects, the real CLI, and looks into the real cache.

A project is its own git repository (``tmp_path/proj``, local identity, no global config needed) and the
working directory of the test; the test's store stays outside it at ``tmp_path/.shipyard`` (set by the
autouse fixture in ``tests/conftest.py``), as it would for a user whose cache lives elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import blake3
import pytest
from typer.testing import CliRunner, Result

import shipyard
from shipyard.cli.main import app
from tests._support import SHIPYARD_SCRIPT, git, init_repo, plain as clean

POINTER_HEADER = "# Tracked by Shipyard: commit this file, not the data. `shipyard checkout` restores the data.\n"


@dataclass(frozen=True)
class Project:
    root: Path  # the git work tree, also the current directory
    store: Path  # the test's store directory (outside the project)

    @property
    def objects(self) -> Path:
        return self.store / "objects"

    def object_path(self, digest: str) -> Path:
        return self.objects / digest[:2] / digest[2:]

    def object_hashes(self) -> set[str]:
        """Every object in the local cache, read from the directory layout (not through Shipyard): loose
        objects, and those listed by the pack indexes a pull leaves in ``packs/``."""
        if not self.objects.is_dir():
            return set()
        loose = {fan.name + item.name for fan in self.objects.iterdir() if len(fan.name) == 2 and fan.is_dir()
                 for item in fan.iterdir()}
        packed = {digest for index in self.objects.glob("packs/*.idx") for digest in json.loads(index.read_text())}
        return loose | packed

    def lose_cache(self) -> None:
        """Delete the local cache, as on a new machine; the next command opens the store afresh, as a new
        ``shipyard`` process would (see the xfail test about a store whose cache is deleted while it is open)."""
        shutil.rmtree(self.objects)
        shipyard.set_store(None)

    def git(self, *args: str) -> str:
        return git(self.root, *args)

    def commit(self, message: str, *paths: str, tag: str | None = None) -> str:
        if paths:
            self.git("add", "--", *paths)
        else:
            self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        if tag:
            self.git("tag", tag)
        return self.git("rev-parse", "HEAD").strip()


def make_project(tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A fresh git repository at ``tmp_path/proj``, made the current directory."""
    root = tmp_path / "proj"
    init_repo(root)
    monkeypatch.chdir(root)
    shipyard.set_store(None)
    return Project(root, store)


def write(root: Path, files: dict[str, bytes | str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` as {relative posix path: bytes}: compare directories file for file."""
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def digest(data: bytes) -> str:
    """BLAKE3 of the bytes, computed here rather than by Shipyard."""
    return str(blake3.blake3(data).hexdigest())


def pointer_text(hash_: str, size: int, files: int | None = None) -> str:
    return POINTER_HEADER + f"hash: {hash_}\nsize: {size}\n" + (f"files: {files}\n" if files is not None else "")


def cli(*args: str) -> Result:
    """The real ``shipyard`` app in-process; unexpected exceptions propagate instead of hiding."""
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def assert_ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return clean(result.stdout)


def error_line(result: Result, exit_code: int) -> str:
    """Assert the CLI refused the promised way (exit code, one "Error:" line, no traceback); return the line."""
    stderr = clean(result.stderr)
    assert result.exit_code == exit_code, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {stderr}"
    assert "Traceback" not in stderr and "Unexpected error" not in stderr, stderr
    lines = stderr.splitlines()
    assert lines and lines[0].startswith("Error: "), stderr
    return " ".join(line.strip() for line in lines)


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script in a child process (inherits this test's ``SHIPYARD_STORE``)."""
    environment = {key: value for key, value in os.environ.items() if key != "FORCE_COLOR"}
    return subprocess.run([str(SHIPYARD_SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env=environment, check=False)
