"""``shipyard add`` and ``shipyard checkout`` in real git repositories: pointer files, .gitignore, refusals,
bringing back old data after ``git checkout``, and corrupted cache objects that must never reach the workspace.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import warnings
from pathlib import Path

import pytest
import yaml

import shipyard
from shipyard.pipeline.data import add, checkout, tracked
from shipyard.pipeline.hashing import read_manifest
from shipyard.pipeline.repro import repro
from tests.integration.pipeline._data import (
    Project,
    assert_ok,
    cli,
    digest,
    error_line,
    git,
    make_project,
    pointer_text,
    run_script,
    tree,
    write,
)

RAW_V1 = b"customer,churn\n1,0\n2,1\n"
RAW_V2 = b"customer,churn\n1,0\n2,1\n3,1\n4,0\n"


@pytest.fixture
def project(tmp_path: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    return make_project(tmp_path, isolated_store, monkeypatch)


# --- add --------------------------------------------------------------------------------------------------


def test_add_file_writes_pointer_caches_bytes_and_ignores_it_once(project: Project) -> None:
    write(project.root, {"data/raw.csv": RAW_V1, "data/.gitignore": "*.tmp"})  # no final newline on purpose

    out = assert_ok(cli("add", "data/raw.csv"))

    assert "Tracking data/raw.csv (23 bytes); commit data/raw.csv.ship and .gitignore." in out
    expected_hash = digest(RAW_V1)
    assert (project.root / "data/raw.csv.ship").read_text() == pointer_text(expected_hash, len(RAW_V1))
    assert project.object_path(expected_hash).read_bytes() == RAW_V1
    assert (project.root / "data/.gitignore").read_text() == "*.tmp\n/raw.csv\n"  # the user's line kept

    assert_ok(cli("add", "data/raw.csv"))  # the same data again: nothing new
    assert (project.root / "data/.gitignore").read_text() == "*.tmp\n/raw.csv\n"
    assert project.object_hashes() == {expected_hash}

    write(project.root, {"data/raw.csv": RAW_V2})
    assert_ok(cli("add", "data/raw.csv"))  # new data: a new pointer, still one .gitignore line
    assert (project.root / "data/raw.csv.ship").read_text() == pointer_text(digest(RAW_V2), len(RAW_V2))
    assert (project.root / "data/.gitignore").read_text() == "*.tmp\n/raw.csv\n"
    assert project.object_hashes() == {digest(RAW_V1), digest(RAW_V2)}

    status = project.git("status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(status) == ["?? data/.gitignore", "?? data/raw.csv.ship"]  # git sees the pointer, not the data


def test_add_directory_pointer_names_hash_size_and_file_count(project: Project) -> None:
    files = {"images/cat.png": b"\x89PNG cat", "images/dog.png": b"\x89PNG dog!", "images/nested/a.txt": b"a",
             "images/nested/b.txt": b"a"}  # two files with the same bytes: one object
    write(project.root, files)

    out = assert_ok(cli("add", "images"))

    assert "Tracking images (19 bytes, 4 files)" in out
    pointer = (project.root / "images.ship").read_text()
    record = yaml.safe_load(pointer)
    assert list(record) == ["hash", "size", "files"]
    assert pointer == pointer_text(record["hash"], 19, 4)
    manifest = read_manifest(shipyard.current_store(), record["hash"], "images")
    assert manifest == [(name.removeprefix("images/"), digest(data), len(data)) for name, data in sorted(files.items())]
    assert project.object_hashes() == {record["hash"]} | {digest(data) for data in files.values()}
    assert (project.root / ".gitignore").read_text() == "/images\n"
    assert git(project.root, "check-ignore", "-q", "images/nested/a.txt", check=True) == ""

    assert_ok(cli("add", "images"))
    assert (project.root / ".gitignore").read_text() == "/images\n"


def test_add_several_paths_through_the_python_api(project: Project) -> None:
    write(project.root, {"a.csv": b"1\n", "data/b.csv": b"22\n"})

    entries = add(shipyard.current_store(), project.root, ["a.csv", str(project.root / "data/b.csv")])

    assert [(entry.path, entry.hash, entry.size, entry.is_dir) for entry in entries] == [
        ("a.csv", digest(b"1\n"), 2, False), ("data/b.csv", digest(b"22\n"), 3, False)]
    assert [(item.path, item.source) for item in tracked(project.root)] == [
        ("a.csv", "a.csv.ship"), ("data/b.csv", "data/b.csv.ship")]


@pytest.mark.parametrize(("argument", "expected"), [
    ("data/missing.csv", "Cannot add data/missing.csv: no such file or directory."),
    ("../outside.csv", "../outside.csv is outside the project at"),
    (".", "cannot be tracked: it is the project itself"),
    (".git", "cannot be tracked"),
])
def test_add_refuses_paths_it_cannot_track(project: Project, argument: str, expected: str) -> None:
    (project.root.parent / "outside.csv").write_bytes(b"x\n")

    line = error_line(cli("add", argument), 2)

    assert expected in line
    assert not list(project.root.rglob("*.ship"))
    assert not (project.root / ".gitignore").exists()
    assert project.object_hashes() == set()


SPEC_WITH_OUTPUTS = """\
stages:
  prepare:
    cmd: python prepare.py
    outs: [data/prepared.csv]
  train:
    cmd: python train.py
    deps: [data/prepared.csv]
    outs: [models/model]
    metrics: [reports/metrics.json]
"""


@pytest.mark.parametrize(("path", "stage"), [
    ("data/prepared.csv", "prepare"), ("models/model", "train"), ("reports/metrics.json", "train")])
def test_add_refuses_a_stage_output_naming_the_stage(project: Project, path: str, stage: str) -> None:
    write(project.root, {"shipyard.yaml": SPEC_WITH_OUTPUTS, "data/prepared.csv": "1\n", "models/model/w.bin": b"w",
                         "reports/metrics.json": '{"auc": 0.8}'})

    line = error_line(cli("add", path), 2)

    assert f"{path} is an output of stage '{stage}'" in line
    assert not (project.root / f"{path}.ship").exists()
    assert project.object_hashes() == set()


def test_add_refuses_a_file_inside_a_stage_output_directory(project: Project) -> None:
    write(project.root, {"shipyard.yaml": SPEC_WITH_OUTPUTS, "data/prepared.csv": "1\n", "models/model/w.bin": b"w"})

    result = cli("add", "models/model/w.bin")

    assert result.exit_code == 2
    assert "stage 'train'" in result.stderr
    assert not (project.root / "models/model/w.bin.ship").exists()


def test_add_refuses_a_directory_that_contains_a_stage_output(project: Project) -> None:
    write(project.root, {"shipyard.yaml": SPEC_WITH_OUTPUTS, "data/prepared.csv": "1\n", "data/raw.csv": "0\n",
                         "models/model/w.bin": b"w"})

    result = cli("add", "data")

    assert result.exit_code == 2
    assert "stage 'prepare'" in result.stderr
    assert not (project.root / "data.ship").exists()


# --- checkout across git revisions ------------------------------------------------------------------------


def test_checkout_brings_back_the_bytes_each_git_revision_names(project: Project) -> None:
    write(project.root, {"data/raw.csv": RAW_V1})
    assert_ok(cli("add", "data/raw.csv"))
    project.commit("data v1", tag="v1")
    write(project.root, {"data/raw.csv": RAW_V2})
    assert_ok(cli("add", "data/raw.csv"))
    project.commit("data v2", tag="v2")

    project.git("checkout", "-q", "v1")
    assert (project.root / "data/raw.csv").read_bytes() == RAW_V2  # git alone does not bring data back
    out = assert_ok(cli("checkout"))
    assert out.splitlines() == ["restored data/raw.csv", "1 restored, 0 already current."]
    assert (project.root / "data/raw.csv").read_bytes() == RAW_V1

    project.git("checkout", "-q", "v2")
    assert_ok(cli("checkout", "data/raw.csv"))
    assert (project.root / "data/raw.csv").read_bytes() == RAW_V2
    assert assert_ok(cli("checkout")).splitlines() == ["0 restored, 1 already current."]

    (project.root / "data/raw.csv").unlink()  # deleted by hand: checkout restores it too
    assert assert_ok(cli("checkout")).splitlines()[-1] == "1 restored, 0 already current."
    assert (project.root / "data/raw.csv").read_bytes() == RAW_V2
    assert sorted(path.name for path in (project.root / "data").iterdir()) == [".gitignore", "raw.csv",
                                                                               "raw.csv.ship"]


DIR_V1 = {"a.txt": b"alpha v1\n", "b.txt": b"bravo\n", "sub/c.txt": b"charlie\n"}
DIR_V2 = {"a.txt": b"alpha v2, longer\n", "sub/c.txt": b"charlie\n", "sub/deeper/d.txt": b"delta\n"}


def test_checkout_restores_a_directory_file_for_file_and_nothing_else(project: Project) -> None:
    write(project.root, {f"data/images/{name}": data for name, data in DIR_V1.items()})
    assert_ok(cli("add", "data/images"))
    project.commit("images v1", tag="v1")
    for name in DIR_V1:
        (project.root / "data/images" / name).unlink()
    write(project.root, {f"data/images/{name}": data for name, data in DIR_V2.items()})
    assert_ok(cli("add", "data/images"))
    project.commit("images v2", tag="v2")
    unrelated = {"data/notes.txt": b"my notes\n", "scratch.py": b"print(1)\n", "data/other/e.txt": b"echo\n"}
    write(project.root, unrelated)

    project.git("checkout", "-q", "v1")
    restored, current = checkout(shipyard.current_store(), project.root)

    assert (restored, current) == (["data/images"], [])
    assert tree(project.root / "data/images") == DIR_V1
    for name, data in unrelated.items():
        assert (project.root / name).read_bytes() == data
    assert sorted(path.name for path in (project.root / "data").iterdir()) == [
        ".gitignore", "images", "images.ship", "notes.txt", "other"]  # no staging folder left behind

    project.git("checkout", "-q", "v2")
    assert assert_ok(cli("checkout", "data/images")).splitlines()[-1] == "1 restored, 0 already current."
    assert tree(project.root / "data/images") == DIR_V2
    for name, data in unrelated.items():
        assert (project.root / name).read_bytes() == data


def test_checkout_of_an_untracked_path_is_refused(project: Project) -> None:
    write(project.root, {"data/raw.csv": RAW_V1, "data/loose.csv": b"1\n"})
    assert_ok(cli("add", "data/raw.csv"))

    line = error_line(cli("checkout", "data/loose.csv"), 2)

    assert "data/loose.csv is not tracked (no data/loose.csv.ship and no stage output)." in line


# --- corrupted cache objects ------------------------------------------------------------------------------


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF  # same size, different bytes
    path.write_bytes(bytes(data))


def test_a_corrupted_cache_object_is_detected_and_never_written_to_the_workspace(project: Project) -> None:
    write(project.root, {"data/raw.csv": RAW_V1})
    assert_ok(cli("add", "data/raw.csv"))
    project.commit("data v1", tag="v1")
    write(project.root, {"data/raw.csv": RAW_V2})
    assert_ok(cli("add", "data/raw.csv"))
    project.commit("data v2", tag="v2")
    project.git("checkout", "-q", "v1")
    _corrupt(project.object_path(digest(RAW_V1)))

    with pytest.raises(shipyard.IntegrityError, match="corrupted") as caught:
        checkout(shipyard.current_store(), project.root)
    assert caught.value.object_hash == digest(RAW_V1)
    assert "data/raw.csv" in caught.value.message
    assert (project.root / "data/raw.csv").read_bytes() == RAW_V2  # untouched: no partial bytes

    done = run_script("checkout", cwd=project.root)  # a real process: exit 1, one error line, no traceback
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("Error: Object ") and "is corrupted" in done.stderr
    assert "Traceback" not in done.stderr
    assert (project.root / "data/raw.csv").read_bytes() == RAW_V2
    assert sorted(path.name for path in (project.root / "data").iterdir()) == [".gitignore", "raw.csv",
                                                                               "raw.csv.ship"]


def test_a_corrupted_object_inside_a_directory_leaves_the_directory_as_it_was(project: Project) -> None:
    write(project.root, {f"images/{name}": data for name, data in DIR_V1.items()})
    assert_ok(cli("add", "images"))
    project.commit("images v1", tag="v1")
    (project.root / "images/b.txt").unlink()
    write(project.root, {"images/a.txt": b"alpha v2, longer\n"})
    assert_ok(cli("add", "images"))
    project.commit("images v2", tag="v2")
    before = tree(project.root / "images")
    project.git("checkout", "-q", "v1")
    _corrupt(project.object_path(digest(DIR_V1["b.txt"])))

    result = cli("checkout")

    line = error_line(result, 1)
    assert "is corrupted" in line and "images/b.txt" in line
    assert tree(project.root / "images") == before
    assert sorted(path.name for path in project.root.iterdir()) == [".git", ".gitignore", "images", "images.ship"]


# --- stage outputs stay out of git ------------------------------------------------------------------------

MAKE = """\
import json
import pathlib

pathlib.Path("models").mkdir(exist_ok=True)
pathlib.Path("models/model.bin").write_bytes(b"weights")
pathlib.Path("features").mkdir(exist_ok=True)
pathlib.Path("features/f1.txt").write_text("f1")
pathlib.Path("reports").mkdir(exist_ok=True)
pathlib.Path("reports/metrics.json").write_text(json.dumps({"auc": 0.75}))
"""

SPEC_MAKE = """\
stages:
  make:
    cmd: python make.py
    deps: [make.py]
    outs: [models/model.bin, features]
    metrics: [reports/metrics.json]
"""


def test_repro_keeps_cached_stage_outputs_out_of_git(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    write(project.root, {"make.py": MAKE, "shipyard.yaml": SPEC_MAKE})

    for args in (["repro"], ["repro", "--force"]):  # the second run must not add the lines again
        done = run_script(*args, cwd=project.root)  # a real process, as a user runs it
        assert done.returncode == 0, done.stderr

    assert (project.root / "models/.gitignore").read_text() == "/model.bin\n"
    assert (project.root / ".gitignore").read_text() == "/features\n"
    status = sorted(project.git("status", "--porcelain", "--untracked-files=all").splitlines())
    assert status == ["?? .gitignore", "?? make.py", "?? models/.gitignore", "?? reports/metrics.json",
                      "?? shipyard.lock", "?? shipyard.yaml"]  # metrics and the lock file are for git
    assert json.loads((project.root / "reports/metrics.json").read_text()) == {"auc": 0.75}


def test_repro_closes_the_pipe_of_each_stage(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each stage's output pipe is closed when it ends (it used to leak until garbage collection)."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    write(project.root, {"make.py": MAKE, "shipyard.yaml": SPEC_MAKE})

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcomes = repro(project.root)
        gc.collect()

    assert [outcome.action for outcome in outcomes] == ["ran"]
    assert [str(item.message) for item in caught if issubclass(item.category, ResourceWarning)] == []


def test_add_keeps_a_file_with_glob_characters_out_of_git(project: Project) -> None:
    write(project.root, {"run[2].csv": b"1,2\n"})

    assert_ok(cli("add", "run[2].csv"))

    assert project.git("check-ignore", "run[2].csv").strip() == "run[2].csv"


def test_checkout_when_a_tracked_file_became_a_directory(project: Project) -> None:
    write(project.root, {"data/table": b"a flat file\n"})
    assert_ok(cli("add", "data/table"))
    project.commit("a file", tag="v1")
    (project.root / "data/table").unlink()
    write(project.root, {"data/table/part-0.csv": b"0\n", "data/table/part-1.csv": b"1\n"})
    assert_ok(cli("add", "data/table"))
    project.commit("a directory", tag="v2")

    project.git("checkout", "-q", "v1")
    restored, _current = checkout(shipyard.current_store(), project.root)

    assert restored == ["data/table"]
    assert (project.root / "data/table").read_bytes() == b"a flat file\n"


def test_add_and_checkout_keep_to_the_workspace_beside_a_tracking_server(project: Project,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The data cache belongs to the workspace, not to the team: with SHIPYARD_TRACKING_URI set (here a server that
    does not answer, never called) add, checkout and gc work on the workspace's store as they do without it."""
    project.store.mkdir(parents=True, exist_ok=True)  # found from the project by discovery, not named
    monkeypatch.delenv("SHIPYARD_STORE")
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", "http://127.0.0.1:9")
    write(project.root, {"data/raw.csv": RAW_V1})
    assert_ok(cli("add", "data/raw.csv"))
    assert project.object_path(digest(RAW_V1)).read_bytes() == RAW_V1
    (project.root / "data/raw.csv").unlink()
    assert_ok(cli("checkout", "data/raw.csv"))
    assert (project.root / "data/raw.csv").read_bytes() == RAW_V1
    assert_ok(cli("gc", "--force"))
    assert project.object_hashes() == {digest(RAW_V1)}  # still named by the pointer: kept
