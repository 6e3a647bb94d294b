"""Remotes in ``shipyard.yaml`` and push/pull to a local-directory remote: only missing objects move, and every
object is verified on the way.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import Result

import shipyard
from shipyard.pipeline import remotes
from shipyard.pipeline.spec import load_pipeline
from tests.integration.pipeline._data import (
    Project,
    assert_ok,
    clean,
    cli,
    digest,
    error_line,
    make_project,
    run_script,
    tree,
    write,
)

PIPELINE = """\
# Churn pipeline: keep these comments!
name: churn   # the experiment name

stages:
  # prepare splits the raw data
  prepare:
    cmd: python prepare.py   # writes data/train.csv
    deps: [data/raw.csv]
    outs: [data/train.csv]
  train:
    cmd: >-
      python train.py
      --fast
    deps: [data/train.csv]
    outs: [models/model.bin]
# end of stages
"""

IMAGES = {"a.txt": b"alpha\n", "b.txt": b"bravo\n", "sub/c.txt": b"charlie\n", "sub/d.txt": b"delta\n",
          "same-as-a.txt": b"alpha\n"}
RAW = b"id,churn\n1,0\n2,1\n"


@pytest.fixture
def project(tmp_path: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    return make_project(tmp_path, isolated_store, monkeypatch)


def _remote_block(text: str, original: str) -> dict[str, object]:
    assert text.startswith(original), text
    return dict(yaml.safe_load(text[len(original):]))


# --- remote add -------------------------------------------------------------------------------------------


def test_remote_add_writes_only_the_remotes_block(project: Project, tmp_path: Path) -> None:
    write(project.root, {"shipyard.yaml": PIPELINE})
    stages_before = load_pipeline(project.root).stages

    out = assert_ok(cli("remote", "add", "storage", str(tmp_path / "remote")))

    assert out.strip() == f"Remote storage -> {tmp_path / 'remote'} (default)"  # the first one is the default
    text = (project.root / "shipyard.yaml").read_text()
    assert _remote_block(text, PIPELINE) == {"remotes": {"storage": {"url": str(tmp_path / "remote"),
                                                                       "default": True}}}
    assert load_pipeline(project.root).stages == stages_before

    assert_ok(cli("remote", "add", "s3", "s3://bucket/shipyard", "--endpoint-url", "http://127.0.0.1:9000",
                  "--region", "eu-west-1"))
    text = (project.root / "shipyard.yaml").read_text()
    assert _remote_block(text, PIPELINE) == {"remotes": {
        "storage": {"url": str(tmp_path / "remote"), "default": True},
        "s3": {"url": "s3://bucket/shipyard", "endpoint_url": "http://127.0.0.1:9000", "region": "eu-west-1"}}}
    assert remotes.get_remote(project.root, None).name == "storage"

    assert_ok(cli("remote", "add", "s3", "s3://bucket/shipyard", "--endpoint-url", "http://127.0.0.1:9000",
                  "--default"))
    text = (project.root / "shipyard.yaml").read_text()
    assert _remote_block(text, PIPELINE) == {"remotes": {
        "storage": {"url": str(tmp_path / "remote")},
        "s3": {"url": "s3://bucket/shipyard", "endpoint_url": "http://127.0.0.1:9000", "default": True}}}
    assert remotes.get_remote(project.root, None) == remotes.Remote(
        "s3", "s3://bucket/shipyard", True, {"endpoint_url": "http://127.0.0.1:9000"})
    listing = [line.split() for line in assert_ok(cli("remote", "list")).splitlines()]
    assert listing == [["storage", str(tmp_path / "remote")], ["s3", "s3://bucket/shipyard", "(default)"]]


def test_remote_add_creates_shipyard_yaml_when_there_is_none(project: Project, tmp_path: Path) -> None:
    assert_ok(cli("remote", "add", "storage", str(tmp_path / "remote")))

    assert yaml.safe_load((project.root / "shipyard.yaml").read_text()) == {
        "remotes": {"storage": {"url": str(tmp_path / "remote"), "default": True}}}


def test_remote_add_keeps_comments_after_a_remotes_block_in_the_middle(project: Project, tmp_path: Path) -> None:
    head = "# pipeline\nremotes:\n  old: {url: /srv/old}\n"
    tail = "\n# --- stages below: keep this comment ---\nstages:\n  s:\n    cmd: echo hi\n"
    write(project.root, {"shipyard.yaml": head + tail})

    assert_ok(cli("remote", "add", "new", str(tmp_path / "remote")))

    text = (project.root / "shipyard.yaml").read_text()
    assert text.startswith("# pipeline\nremotes:\n")
    assert text.endswith(tail)
    assert [remote.name for remote in remotes.list_remotes(project.root)] == ["old", "new"]


@pytest.mark.parametrize(("args", "expected"), [
    (["remote", "add", "9lives", "/tmp/x"], "'9lives' is not a valid remote name"),
    (["remote", "add", "storage", " "], "The remote URL is empty."),
    (["push"], "No remote is configured; add one with `shipyard remote add NAME URL --default`."),
    (["pull", "--remote", "nope"], "No remote named 'nope'; known: none."),
])
def test_remote_mistakes_are_input_errors(project: Project, args: list[str], expected: str) -> None:
    write(project.root, {"shipyard.yaml": PIPELINE})

    assert expected in error_line(cli(*args), 2)
    assert (project.root / "shipyard.yaml").read_text() == PIPELINE


# --- push and pull to a local directory -------------------------------------------------------------------


def _tracked_project(project: Project, remote: Path) -> set[str]:
    """Track a directory and a file, point a default remote at ``remote``; return every object they need."""
    write(project.root, {**{f"data/images/{name}": data for name, data in IMAGES.items()}, "data/raw.csv": RAW})
    assert_ok(cli("add", "data/images", "data/raw.csv"))
    assert_ok(cli("remote", "add", "storage", str(remote), "--default"))
    manifest = yaml.safe_load((project.root / "data/images.ship").read_text())["hash"]
    return {manifest, digest(RAW), *(digest(data) for data in IMAGES.values())}


def _on_remote(remote: Path) -> dict[str, bytes]:
    return {name.replace("/", ""): data for name, data in tree(remote).items()}


def _json(result: Result) -> dict[str, object]:
    return dict(json.loads(assert_ok(result)))


def test_push_uploads_only_missing_objects_in_the_cache_layout(project: Project, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    needed = _tracked_project(project, remote)
    assert len(needed) == 6  # 4 distinct file contents, the manifest and the raw file

    out = assert_ok(cli("push"))

    assert out.splitlines() == ["6 objects uploaded, 0 already there (storage)."]
    stored = _on_remote(remote)
    assert set(stored) == needed
    assert all(digest(data) == name for name, data in stored.items())  # ab/cdef... and intact
    assert all(len(path.parent.name) == 2 for path in remote.rglob("*") if path.is_file())

    assert _json(cli("push", "--json")) == {"remote": "storage", "transferred": 0, "already_there": 6,
                                            "missing_everywhere": []}

    write(project.root, {"data/images/b.txt": b"bravo, edited\n"})
    assert_ok(cli("add", "data/images"))
    assert _json(cli("push", "--json")) == {"remote": "storage", "transferred": 2, "already_there": 4,
                                            "missing_everywhere": []}  # the new file and the new manifest
    assert len(_on_remote(remote)) == 8


def test_pull_brings_back_a_lost_cache_and_checks_the_data_out(project: Project, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    needed = _tracked_project(project, remote)
    assert_ok(cli("push"))
    project.lose_cache()
    shutil.rmtree(project.root / "data/images")
    (project.root / "data/raw.csv").unlink()

    out = assert_ok(cli("pull"))

    assert out.splitlines()[0] == "checked out 2 paths"
    assert out.splitlines()[1].endswith(" objects downloaded, 0 already there (storage).")  # counts: each object once
    assert project.object_hashes() == needed
    assert tree(project.root / "data/images") == IMAGES
    assert (project.root / "data/raw.csv").read_bytes() == RAW

    lost = digest(IMAGES["sub/d.txt"])
    project.object_path(lost).unlink()  # only one object missing: only that one moves
    result = remotes.pull(shipyard.current_store(), project.root, remotes.get_remote(project.root, None))
    assert (result.transferred, result.already, result.missing_everywhere) == ([lost], 5, [])
    assert project.object_path(lost).read_bytes() == IMAGES["sub/d.txt"]


def test_pull_refuses_a_corrupted_remote_object_naming_it(project: Project, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    _tracked_project(project, remote)
    assert_ok(cli("push"))
    bad = digest(RAW)
    (remote / bad[:2] / bad[2:]).write_bytes(b"id,churn\n1,1\n2,1\n")  # same size, other bytes
    project.object_path(bad).unlink()
    (project.root / "data/raw.csv").unlink()

    with pytest.raises(shipyard.IntegrityError) as caught:
        remotes.pull(shipyard.current_store(), project.root, remotes.get_remote(project.root, None))

    assert caught.value.object_hash == bad
    assert f"Object {bad[:12]} on remote 'storage' is corrupted" in caught.value.message
    assert not project.object_path(bad).exists()  # the bad bytes never entered the cache
    result = cli("pull")
    assert result.exit_code == 1
    assert clean(result.stderr).strip().startswith(f"Error: Object {bad[:12]} on remote 'storage' is corrupted")
    assert not project.object_path(bad).exists()
    assert not (project.root / "data/raw.csv").exists()


def test_objects_in_neither_place_are_reported_not_invented(project: Project, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    _tracked_project(project, remote)
    project.object_path(digest(RAW)).unlink()  # lost before it was ever pushed

    result = cli("push")

    assert assert_ok(result).splitlines() == ["5 objects uploaded, 0 already there (storage)."]
    assert "1 objects are in neither place" in clean(result.stderr)
    assert digest(RAW) not in _on_remote(remote)


def test_pull_with_json_output_checks_the_data_out_too(project: Project, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    _tracked_project(project, remote)
    assert_ok(cli("push"))
    project.lose_cache()
    (project.root / "data/raw.csv").unlink()

    assert _json(cli("pull", "--json"))["missing_everywhere"] == []

    assert (project.root / "data/raw.csv").read_bytes() == RAW


def test_pull_downloads_each_object_once(project: Project, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    needed = _tracked_project(project, remote)
    assert_ok(cli("push"))
    project.lose_cache()

    result = remotes.pull(shipyard.current_store(), project.root, remotes.get_remote(project.root, None))

    assert sorted(result.transferred) == sorted(needed)


def test_push_and_pull_leave_stderr_empty_when_all_is_well(project: Project, tmp_path: Path) -> None:
    _tracked_project(project, tmp_path / "remote")

    pushed = run_script("push", cwd=project.root)
    pulled = run_script("pull", cwd=project.root)

    assert (pushed.returncode, pulled.returncode) == (0, 0)
    assert (pushed.stderr, pulled.stderr) == ("", "")


def test_an_open_store_recreates_a_deleted_cache_folder(project: Project, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    needed = _tracked_project(project, remote)
    assert_ok(cli("push"))
    shutil.rmtree(project.objects)  # the same process (and store object) carries on

    result = remotes.pull(shipyard.current_store(), project.root, remotes.get_remote(project.root, None))

    assert set(result.transferred) == needed
