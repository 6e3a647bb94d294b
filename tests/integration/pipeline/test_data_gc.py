"""``shipyard gc``: a dry run by default; ``--force`` deletes only what no pointer, lock file, recent commit
(``--keep-revs``) or tracking record refers to.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

import shipyard
from shipyard.pipeline.gc import collect
from tests.integration.pipeline._data import (
    Project,
    assert_ok,
    cli,
    digest,
    error_line,
    git,
    init_repo,
    make_project,
    run_script,
    tree,
    write,
)

RAW_V1 = b"id,churn\n1,0\n"
RAW_V2 = b"id,churn\n1,0\n2,1\n"
ORPHAN = b"bytes nothing refers to"

STAGE = """\
stages:
  featurize:
    cmd: python featurize.py
    deps: [featurize.py]
    outs: [features.bin]
"""
FEATURIZE = 'open("features.bin", "wb").write(b"feature bytes")\n'


@pytest.fixture
def project(tmp_path: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    return make_project(tmp_path, isolated_store, monkeypatch)


def _gc(*args: str) -> dict[str, object]:
    return dict(json.loads(assert_ok(cli("gc", "--json", *args))))


def test_gc_is_a_dry_run_unless_forced_and_keeps_what_anything_refers_to(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    write(project.root, {"data/raw.csv": RAW_V1, "data/images/a.txt": b"a", "data/images/b.txt": b"b",
                         "shipyard.yaml": STAGE, "featurize.py": FEATURIZE})
    assert_ok(cli("add", "data/raw.csv", "data/images"))
    done = run_script("repro", cwd=project.root)  # a stage output, named by shipyard.lock
    assert done.returncode == 0, done.stderr
    project.commit("v1")
    write(project.root, {"data/raw.csv": RAW_V2})
    assert_ok(cli("add", "data/raw.csv"))
    project.commit("v2")
    store = shipyard.current_store()
    orphan = store.objects.put_bytes(ORPHAN).hash
    frame = pd.DataFrame({"x": np.linspace(-1, 1, 20), "y": np.linspace(1, -1, 20) ** 2})
    with shipyard.start_run(experiment="gc") as run:
        shipyard.log_text("a report nobody tracks with add", "report.txt")
        model = shipyard.log_model(LogisticRegression().fit(frame, frame["x"] > 0), input_example=frame)
    before = project.object_hashes()
    removable = {digest(RAW_V1), orphan}
    assert removable < before

    dry = _gc()
    human = assert_ok(cli("gc")).strip()

    assert dry == {"kept": len(before) - 2, "removable": 2, "bytes": len(RAW_V1) + len(ORPHAN), "deleted": False}
    assert human == f"2 objects would remove (use --force), {len(RAW_V1) + len(ORPHAN)} bytes; {len(before) - 2} kept."
    assert project.object_hashes() == before  # nothing deleted

    forced = _gc("--force")

    assert forced == {**dry, "deleted": True}
    assert project.object_hashes() == before - removable
    assert project.object_path(digest(b"feature bytes")).is_file()
    assert shipyard.read_artifact(run.id, "report.txt") == b"a report nobody tracks with add"
    loaded = shipyard.load_model(model.uri)
    assert list(loaded.predict(frame.head(3))) == [False, False, False]
    (project.root / "data/raw.csv").unlink()
    (project.root / "features.bin").unlink()
    assert assert_ok(cli("checkout")).splitlines()[-1] == "2 restored, 1 already current."
    assert (project.root / "data/raw.csv").read_bytes() == RAW_V2
    assert _gc("--force")["removable"] == 0


def _three_versions(project: Project) -> list[dict[str, bytes]]:
    versions = [{"common.txt": b"shared by every version\n", f"only-v{number}.txt": f"v{number}\n".encode()}
                for number in (1, 2, 3)]
    for number, files in enumerate(versions, start=1):
        folder = project.root / "data/images"
        for old in folder.glob("*") if folder.exists() else []:
            old.unlink()
        write(folder, files)
        assert_ok(cli("add", "data/images"))
        project.commit(f"images v{number}", tag=f"v{number}")
    return versions


def _manifest_of(project: Project, tag: str) -> str:
    return str(yaml.safe_load(project.git("show", f"{tag}:data/images.ship"))["hash"])


def test_keep_revs_keeps_what_the_last_n_commits_name_and_not_older(project: Project) -> None:
    versions = _three_versions(project)
    v1_objects = {_manifest_of(project, "v1"), digest(b"v1\n")}
    v2_objects = {_manifest_of(project, "v2"), digest(b"v2\n")}

    assert _gc("--keep-revs", "3")["removable"] == 0
    assert _gc("--keep-revs", "2")["removable"] == 2
    assert _gc()["removable"] == 4  # only the workspace (v3) counts
    result = collect(shipyard.current_store(), project.root, keep_revs=2, force=True)

    assert sorted(result.removable) == sorted(v1_objects)
    remaining = project.object_hashes()
    assert not remaining & v1_objects
    assert v2_objects <= remaining

    project.git("checkout", "-q", "v2")
    assert_ok(cli("checkout"))
    assert tree(project.root / "data/images") == versions[1]
    project.git("checkout", "-q", "v1")
    line = error_line(cli("checkout"), 2)
    assert f"Object {_manifest_of(project, 'v1')[:12]}" in line and "is not in the store" in line
    assert tree(project.root / "data/images") == versions[1]  # left as it was


def test_gc_rejects_a_negative_keep_revs(project: Project) -> None:
    result = cli("gc", "--keep-revs", "-1")

    assert result.exit_code == 2
    assert "Invalid value for '--keep-revs'" in result.stderr


def test_keep_revs_works_in_a_project_below_the_git_top(tmp_path: Path, isolated_store: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    top = tmp_path / "monorepo"
    init_repo(top)
    project = Project(top / "ml", isolated_store)
    write(project.root, {"shipyard.yaml": "stages: {}\n", "raw.csv": RAW_V1})
    monkeypatch.chdir(project.root)
    assert_ok(cli("add", "raw.csv"))
    project.commit("v1")
    write(project.root, {"raw.csv": RAW_V2})
    assert_ok(cli("add", "raw.csv"))
    project.commit("v2")
    assert git(top, "ls-tree", "-r", "--name-only", "HEAD").split() == ["ml/.gitignore", "ml/raw.csv.ship",
                                                                         "ml/shipyard.yaml"]

    assert _gc("--keep-revs", "2")["removable"] == 0
