"""Lineage captured with no user code, checked against real git repositories and real processes.

Each git test builds a fresh repository in ``tmp_path`` with the ``git`` binary (local identity, no
global or system config) and starts runs from inside it. Several runs in one test exercise the
per-process lineage cache, which must notice edits and commits made between them.
"""

from __future__ import annotations

import os
import platform
import shlex
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

import shipyard
from shipyard.tracking.runs import environment_packages
from tests._support import git, init_repo


def git_bytes(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with one commit of ``train.py`` and ``src/features.py``; the working directory."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_OPTIONAL_LOCKS", "0")  # so `git status` here never rewrites the index
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    init_repo(root)
    (root / "train.py").write_text("C = 1.0\nprint('training')\n")
    (root / "src" / "features.py").write_text("COLUMNS = ['tenure', 'plan']\n")
    git(root, "add", "train.py", "src/features.py")
    git(root, "commit", "--quiet", "-m", "first")
    monkeypatch.chdir(root)
    return root


def new_run_lineage() -> dict[str, Any]:
    """The lineage recorded for a run started now, from the current working directory."""
    with shipyard.start_run() as run:
        pass
    return shipyard.get_run(run.id).lineage


def git_lineage() -> dict[str, Any]:
    found = new_run_lineage()["git"]
    assert found is not None, "no git lineage recorded inside a git repository"
    return dict(found)


def test_a_clean_checkout_records_commit_and_branch(repo: Path) -> None:
    assert git_lineage() == {
        "commit": git(repo, "rev-parse", "HEAD").strip(),
        "branch": "main",
        "dirty": False,
        "diff_hash": None,
        "root": str(repo.resolve()),
    }


def test_an_edit_in_the_same_process_is_dirty_and_its_diff_is_stored(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    assert git_lineage()["dirty"] is False  # warms the lineage cache
    (repo / "train.py").write_text("C = 0.25\nprint('training longer')\n")
    (repo / "src" / "features.py").write_bytes(b"COLUMNS = ['tenure']\n\x00binary\xff\n")

    found = git_lineage()
    assert (found["commit"], found["branch"], found["dirty"]) == (head, "main", True)
    diff = git_bytes(repo, "diff", "HEAD", "--binary")
    assert b"C = 0.25" in diff and b"GIT binary patch" in diff
    assert isinstance(found["diff_hash"], str)
    assert shipyard.current_store().objects.get_bytes(found["diff_hash"]) == diff


def test_a_new_commit_in_the_same_process_is_seen(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    assert git_lineage()["commit"] == first
    (repo / "train.py").write_text("C = 0.5\n")
    assert git_lineage()["dirty"] is True
    git(repo, "commit", "--quiet", "-am", "smaller C")
    second = git(repo, "rev-parse", "HEAD").strip()
    assert second != first

    found = git_lineage()
    assert (found["commit"], found["dirty"], found["diff_hash"]) == (second, False, None)
    git(repo, "checkout", "--quiet", "-b", "experiment")
    assert git_lineage()["branch"] == "experiment"


def test_untracked_files_do_not_make_the_tree_dirty(repo: Path) -> None:
    assert git_lineage()["dirty"] is False
    (repo / "notes.txt").write_text("scratch\n")
    (repo / "src" / "new_module.py").write_text("X = 1\n")
    assert "?? notes.txt" in git(repo, "status", "--porcelain")
    assert git_lineage()["dirty"] is False


def test_a_subdirectory_of_the_repository_finds_it(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo / "src")
    found = git_lineage()
    assert (found["root"], found["commit"]) == (str(repo.resolve()), git(repo, "rev-parse", "HEAD").strip())


def test_outside_git_there_is_no_git_lineage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    assert not any((folder / ".git").exists() for folder in (plain, *plain.parents))  # the premise
    assert new_run_lineage()["git"] is None


def test_a_same_size_edit_within_one_mtime_tick_is_dirty(repo: Path) -> None:
    """Git's racy-clean case: same size and mtime, but ctime changed. The lineage cache must not say clean."""
    script = repo / "train.py"
    assert git_lineage()["dirty"] is False
    before = script.stat()
    script.write_text(script.read_text().replace("C = 1.0", "C = 9.0"))  # same size, other content
    os.utime(script, ns=(before.st_atime_ns, before.st_mtime_ns))  # as if written in the same tick
    assert git(repo, "status", "--porcelain", "--untracked-files=no").strip() == "M train.py"  # git sees it
    assert git_lineage()["dirty"] is True


def test_the_environment_is_hashed_once_and_lists_the_packages() -> None:
    with shipyard.start_run() as first:
        pass
    with shipyard.start_run() as second:
        pass
    env = shipyard.get_run(first.id).lineage["environment"]
    assert env is not None
    assert shipyard.get_run(second.id).lineage["environment"] == env
    assert env["python"] == platform.python_version()
    packages = environment_packages(shipyard.current_store(), env["hash"])
    assert f"sqlalchemy=={metadata.version('sqlalchemy')}" in packages  # a line starting "sqlalchemy=="
    assert packages == sorted(packages) and env["packages"] == len(packages)


def test_process_lineage_names_the_script_and_its_pid(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text("import shipyard\n\nwith shipyard.start_run() as run:\n    print(run.id)\n")
    child = subprocess.Popen([sys.executable, str(script), "--epochs", "3"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err

    process = shipyard.get_run(out.strip()).lineage["process"]
    assert process["pid"] == child.pid
    assert str(script) in process["command"]
    assert shlex.split(process["command"]) == [sys.executable, str(script), "--epochs", "3"]
    assert process["host"] == socket.gethostname()
    assert process["python_version"] == platform.python_version()
