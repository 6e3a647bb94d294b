"""Artifact paths and the files a folder holds, against a real store with real files and real symbolic links.

One validator decides which artifact paths exist (``check_artifact_path``); every writer (``log_artifact``,
``log_text``, ``log_dict``, ``log_model``) and every reader (``read_artifact``, ``download_artifacts``) goes
through it, so a path that could be written can be read back and none points outside the folder it is
downloaded to. A folder's symbolic links never bring in bytes from outside that folder.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

import shipyard

REFUSED = {
    "backslashes": ("ok/..\\..\\x", "backslash"),
    "a backslash alone": ("plots\\roc.png", "backslash"),
    "a dot-dot segment": ("reports/../../etc/passwd", "'..' segment"),
    "a leading dot-dot": ("../escape.txt", "'..' segment"),
    "a dot segment": ("reports/./roc.png", "'.' segment"),
    "an absolute path": ("/etc/passwd", "absolute"),
    "a drive letter": ("C:/Windows/win.ini", "drive letter"),
    "a drive-relative path": ("c:secret.txt", "drive letter"),
    "a NUL": ("model\x00.json", "NUL"),
    "a newline": ("notes\n.txt", "control character"),
    "an empty segment": ("reports//roc.png", "empty segment"),
    "a trailing slash": ("reports/", "empty segment"),
    "nothing": ("", "empty"),
    "too long": ("a/" * 500 + "b", "1000 characters"),
}


@pytest.mark.parametrize(("path", "reason"), list(REFUSED.values()), ids=list(REFUSED))
def test_the_validator_refuses_each_unsafe_path_naming_it(path: str, reason: str) -> None:
    from shipyard.tracking.artifacts import check_artifact_path

    with pytest.raises(shipyard.ValidationError) as caught:
        check_artifact_path(path)
    message = str(caught.value)
    assert repr(path) in message and reason in message and "relative path" in message
    assert caught.value.field == "artifact_path"


@pytest.mark.parametrize("path", ["model.json", "plots/roc.png", "a/b/c/d.txt", "my report (final).pdf",
                                  "données/été.csv", "v1.2/..hidden", "...", ".gitignore", "x" * 1000])
def test_the_validator_keeps_ordinary_paths_unchanged(path: str) -> None:
    from shipyard.tracking.artifacts import check_artifact_path

    assert check_artifact_path(path) == path


@pytest.mark.parametrize(("path", "reason"), [REFUSED["backslashes"], REFUSED["a dot-dot segment"],
                                              REFUSED["a NUL"], REFUSED["an empty segment"]])
def test_every_writer_and_reader_refuses_the_same_paths(path: str, reason: str, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    with shipyard.start_run() as run:
        shipyard.log_text("kept", "kept.txt")
        for write in (lambda: shipyard.log_text("x", path), lambda: shipyard.log_dict({"a": 1}, path),
                      lambda: shipyard.log_artifact(tmp_path / "file.txt", path)):
            with pytest.raises(shipyard.ValidationError, match=reason):
                write()
    for read in (lambda: shipyard.read_artifact(run.id, path),
                 lambda: shipyard.download_artifacts(run.id, tmp_path / "out", path)):
        with pytest.raises(shipyard.ValidationError, match=reason):
            read()
    assert [item["path"] for item in shipyard.list_artifacts(run.id)] == ["kept.txt"]


def test_a_file_whose_name_holds_backslashes_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    folder = tmp_path / "ok"
    folder.mkdir()
    (folder / "fine.txt").write_text("fine")
    (folder / "..\\..\\x").write_text("a Windows path in a Linux file name")  # legal on Linux
    with shipyard.start_run() as run, pytest.raises(shipyard.ValidationError) as caught:
        shipyard.log_artifact(folder, "ok")
    assert "'ok/..\\\\..\\\\x'" in str(caught.value) and "backslash" in str(caught.value)
    assert shipyard.list_artifacts(run.id) == []  # all or nothing: fine.txt was not stored either


def _outside_secret(tmp_path: Path) -> Path:
    secret = tmp_path / "elsewhere" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("the bytes of a file outside the logged folder\n")
    return secret


def test_a_link_to_a_file_outside_the_folder_is_refused_naming_it(tmp_path: Path) -> None:
    secret = _outside_secret(tmp_path)
    folder = tmp_path / "outputs"
    (folder / "plots").mkdir(parents=True)
    (folder / "plots" / "roc.png").write_bytes(b"png")
    os.symlink(secret, folder / "plots" / "passwd")
    os.symlink("/etc/passwd", folder / "system")
    with shipyard.start_run() as run, pytest.raises(shipyard.ValidationError) as caught:
        shipyard.log_artifact(folder)
    message = str(caught.value)
    assert "'plots/passwd'" in message and str(secret) in message and "outside" in message
    assert shipyard.list_artifacts(run.id) == []
    store_objects = tmp_path / ".shipyard" / "objects"
    stored = [path.read_bytes() for path in store_objects.rglob("*") if path.is_file()]
    assert secret.read_bytes() not in stored and Path("/etc/passwd").read_bytes() not in stored


def test_a_link_inside_the_folder_is_stored_as_a_copy_of_the_file_it_names(tmp_path: Path) -> None:
    folder = tmp_path / "outputs"
    (folder / "runs" / "5").mkdir(parents=True)
    (folder / "runs" / "5" / "model.bin").write_bytes(b"weights of run 5")
    os.symlink("runs/5/model.bin", folder / "latest.bin")  # relative, inside the folder
    os.symlink(folder / "runs" / "5" / "model.bin", folder / "runs" / "best.bin")  # absolute, inside too
    with shipyard.start_run() as run:
        assert shipyard.log_artifact(folder, "out") == ["out/latest.bin", "out/runs/5/model.bin",
                                                        "out/runs/best.bin"]
    for path in ("out/latest.bin", "out/runs/best.bin"):
        assert shipyard.read_artifact(run.id, path) == b"weights of run 5"
    copied = shipyard.download_artifacts(run.id, tmp_path / "copy", "out")
    assert not (copied / "latest.bin").is_symlink() and (copied / "latest.bin").read_bytes() == b"weights of run 5"


def test_a_link_that_leaves_and_comes_back_is_judged_by_where_it_ends(tmp_path: Path) -> None:
    folder = tmp_path / "outputs"
    folder.mkdir()
    (folder / "data.csv").write_text("a\n1\n")
    os.symlink("../outputs/data.csv", folder / "again.csv")  # leaves the folder by name, ends inside it
    with shipyard.start_run() as run:
        assert shipyard.log_artifact(folder) == ["again.csv", "data.csv"]
    assert shipyard.read_artifact(run.id, "again.csv") == b"a\n1\n"


@pytest.mark.parametrize("kind", ["a folder inside", "a folder outside", "a broken link", "a loop"])
def test_links_that_are_not_files_inside_the_folder_are_refused_naming_them(kind: str, tmp_path: Path) -> None:
    folder = tmp_path / "outputs"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("a")
    link = folder / "link"
    target = {"a folder inside": folder / "sub", "a folder outside": _outside_secret(tmp_path).parent,
              "a broken link": folder / "gone.txt", "a loop": folder}[kind]
    os.symlink(target, link)
    with shipyard.start_run() as run, pytest.raises(shipyard.ValidationError) as caught:
        shipyard.log_artifact(folder)
    assert "'link'" in str(caught.value)
    assert shipyard.list_artifacts(run.id) == []


def test_a_fifo_in_the_folder_is_refused_instead_of_blocking_the_read(tmp_path: Path) -> None:
    folder = tmp_path / "outputs"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    os.mkfifo(folder / "pipe")  # opening it for reading would wait forever for a writer
    with shipyard.start_run() as run, pytest.raises(shipyard.ValidationError, match="'pipe' is not a regular file"):
        shipyard.log_artifact(folder)
    assert shipyard.list_artifacts(run.id) == []


def test_a_link_named_on_the_command_line_is_followed(tmp_path: Path) -> None:
    """The rule is about what a folder holds; a file or folder the caller names is what they asked for."""
    secret = _outside_secret(tmp_path)
    os.symlink(secret, tmp_path / "named.txt")
    os.symlink(secret.parent, tmp_path / "named-folder")
    with shipyard.start_run() as run:
        assert shipyard.log_artifact(tmp_path / "named.txt") == ["named.txt"]
        assert shipyard.log_artifact(tmp_path / "named-folder", "folder") == ["folder/secret.txt"]
    assert shipyard.read_artifact(run.id, "named.txt") == secret.read_bytes()


def _plant_index_row(store_root: Path, run_id: str, path: str, digest: str) -> None:
    """An index row as an older Shipyard (or a hand edit of meta.db) could have left it."""
    with sqlite3.connect(store_root / "meta.db") as conn:
        conn.execute("INSERT INTO artifacts (run_id, path, hash, size) VALUES (?, ?, ?, 1)", (run_id, path, digest))


@pytest.mark.parametrize("bad", ["../outside.txt", "sub/../../outside.txt", "ABSOLUTE"])
def test_download_refuses_an_index_entry_that_would_land_outside_the_destination(bad: str, tmp_path: Path,
                                                                                 isolated_store: Path) -> None:
    absolute = tmp_path / "absolute.txt"
    bad = str(absolute) if bad == "ABSOLUTE" else bad
    with shipyard.start_run() as run:
        shipyard.log_text("inside", "sub/inside.txt")
    digest = shipyard.list_artifacts(run.id)[0]["hash"]
    shipyard.set_store(None)
    _plant_index_row(isolated_store, run.id, bad, digest)
    dest = tmp_path / "deep" / "dest"
    with pytest.raises(shipyard.ValidationError) as caught:
        shipyard.download_artifacts(run.id, dest)
    assert repr(bad) in str(caught.value)
    assert not (tmp_path / "deep" / "outside.txt").exists() and not (tmp_path / "outside.txt").exists()
    assert not absolute.exists()
    assert not dest.exists()  # refused before the first file was written


def test_the_fast_gate_lets_through_no_path_a_rule_refuses() -> None:
    """Every string of up to 5 characters over the characters that matter: the one-regex gate in front and
    the rule-by-rule explanation agree on which paths are refused."""
    from itertools import product

    from shipyard.tracking import artifact_paths

    alphabet = ["a", ".", "/", "\\", ":", "\x00", "\n", "C"]
    checked = 0
    for length in range(6):
        for letters in product(alphabet, repeat=length):
            path = "".join(letters)
            explained = artifact_paths._explained_problem(path)
            assert (artifact_paths.artifact_path_problem(path) is None) == (explained is None), repr(path)
            checked += 1
    assert checked == sum(len(alphabet) ** n for n in range(6))
