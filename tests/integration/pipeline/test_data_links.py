"""``shipyard checkout --link``: how restored files share storage with the cache, in real git projects.

The default clones (reflink) where the filesystem can and copies where it cannot (the temporary
filesystems of CI cannot, so there these tests see copies); either way the workspace file is its own
inode and editing it never reaches the cache. ``--link hardlink`` (or ``SHIPYARD_LINK=hardlink``) shares the
cache object's inode for raw data only, makes it read-only, and an edit that gets through anyway is
reported by the next checkout instead of being spread further.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from tests.integration.pipeline._data import (
    Project,
    assert_ok,
    cli,
    digest,
    error_line,
    make_project,
    run_script,
    write,
)

RAW = b"customer,churn\n1,0\n2,1\n"
IMAGES = {"cat.png": b"\x89PNG cat", "dog.png": b"\x89PNG dog", "copy-of-cat.png": b"\x89PNG cat"}
STAGE = """\
stages:
  featurize:
    cmd: python featurize.py
    deps: [featurize.py]
    outs: [features.bin]
"""
FEATURIZE = 'open("features.bin", "wb").write(b"feature bytes")\n'
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def project(tmp_path: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A project with raw data (a file and a directory) and one stage output, all committed, then deleted."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    found = make_project(tmp_path, isolated_store, monkeypatch)
    write(found.root, {"data/raw.csv": RAW, "shipyard.yaml": STAGE, "featurize.py": FEATURIZE,
                       **{f"data/images/{name}": data for name, data in IMAGES.items()}})
    assert_ok(cli("add", "data/raw.csv", "data/images"))
    done = run_script("repro", cwd=found.root)
    assert done.returncode == 0, done.stderr
    found.commit("data and features")
    (found.root / "data/raw.csv").unlink()
    for name in IMAGES:
        (found.root / "data/images" / name).unlink()
    (found.root / "features.bin").unlink()
    return found


def _inode(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino


def _writable(path: Path) -> bool:
    return bool(stat.S_IMODE(path.stat().st_mode) & 0o222)


def test_the_default_checkout_gives_independent_files_and_leaves_the_cache_alone(project: Project) -> None:
    out = assert_ok(cli("checkout"))

    assert out.splitlines()[-1] == "3 restored, 0 already current."
    raw, features = project.root / "data/raw.csv", project.root / "features.bin"
    assert raw.read_bytes() == RAW and features.read_bytes() == b"feature bytes"
    for path, data in [(raw, RAW), (features, b"feature bytes"),
                       *((project.root / "data/images" / name, data) for name, data in IMAGES.items())]:
        cached = project.object_path(digest(data))
        assert _inode(path) != _inode(cached), path
        assert _writable(cached), cached  # nothing shares it, so nothing needs protecting

    with raw.open("r+b") as handle:  # an edit in place stays in the workspace
        handle.write(b"C")
    assert project.object_path(digest(RAW)).read_bytes() == RAW
    assert assert_ok(cli("checkout")).splitlines() == ["restored data/raw.csv", "1 restored, 2 already current."]
    assert raw.read_bytes() == RAW


def test_hardlink_checkout_shares_raw_data_with_the_read_only_cache_but_copies_stage_outputs(
        project: Project) -> None:
    out = assert_ok(cli("checkout", "--link", "hardlink"))

    assert out.splitlines()[-1] == "3 restored, 0 already current."
    raw = project.root / "data/raw.csv"
    assert _inode(raw) == _inode(project.object_path(digest(RAW)))
    for name, data in IMAGES.items():
        assert _inode(project.root / "data/images" / name) == _inode(project.object_path(digest(data)))
    cat = project.object_path(digest(IMAGES["cat.png"]))
    assert cat.stat().st_nlink == 3  # the object and both files that hold these bytes
    assert not _writable(raw) and not _writable(cat)
    if not AS_ROOT:
        with pytest.raises(PermissionError):
            raw.open("r+b")
    features = project.root / "features.bin"  # a stage writes its outputs in place: never linked
    assert features.read_bytes() == b"feature bytes"
    assert features.stat().st_nlink == 1 and _writable(features)
    assert assert_ok(cli("checkout", "--link", "hardlink")).splitlines() == ["0 restored, 3 already current."]


def test_a_hardlinked_file_edited_in_place_is_reported_not_spread(project: Project,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_LINK", "hardlink")
    done = run_script("checkout", "data/raw.csv", cwd=project.root)
    assert done.returncode == 0, done.stderr
    monkeypatch.delenv("SHIPYARD_LINK")
    raw = project.root / "data/raw.csv"
    assert _inode(raw) == _inode(project.object_path(digest(RAW)))  # the setting came from the environment

    raw.chmod(0o644)  # what a user has to do to edit it (root needs not even that)
    with raw.open("r+b") as handle:
        handle.write(b"C")

    line = error_line(cli("checkout", "data/raw.csv"), 1)
    assert f"Object {digest(RAW)[:12]} holding data/raw.csv is corrupted" in line
    assert f"{raw} is hard-linked to it and was edited in place" in line
    assert "shipyard add" in line and "shipyard pull" in line
    assert raw.read_bytes() == b"C" + RAW[1:]  # the edit is left for the user to keep or drop
    assert sorted(path.name for path in raw.parent.iterdir()) == [".gitignore", "images", "images.ship",
                                                                 "raw.csv", "raw.csv.ship"]  # no temp file

    assert_ok(cli("add", "data/raw.csv"))  # keeping the edit: a new object of its own
    edited = project.object_path(digest(b"C" + RAW[1:]))
    assert edited.read_bytes() == b"C" + RAW[1:] and _inode(edited) != _inode(raw)


def test_an_unknown_link_mode_is_a_usage_error(project: Project) -> None:
    line = error_line(cli("checkout", "--link", "symlink"), 2)

    assert "Unknown link mode 'symlink'" in line and "reflink" in line and "hardlink" in line
    assert not (project.root / "data/raw.csv").exists()  # refused before anything was restored
