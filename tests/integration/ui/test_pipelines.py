"""The pipelines page in a real browser: a real two-stage pipeline, repro'd, then made stale by a param change.

The project is its own git repository with a ``shipyard.yaml`` whose stages are small ``python -c``
commands; ``shipyard repro`` runs as a subprocess with the UI's store. Changing ``train.C`` must make
``train`` stale with the reason spelled out while ``prepare`` stays up to date, in the table and in the SVG
DAG; loading the page must not touch the workspace (``shipyard.lock`` and git status unchanged). A missing
``shipyard.yaml`` is an empty state, a broken one a 400 page with its message while other pages still work.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.integration.ui._ui import Tab, UIProcess, start_ui

pytestmark = pytest.mark.slow
PREPARE = ("import pathlib; pathlib.Path('data').mkdir(exist_ok=True); "
           "pathlib.Path('data/prepared.txt').write_text(pathlib.Path('raw.txt').read_text().upper())")
TRAIN = ("import pathlib, yaml; c = yaml.safe_load(open('params.yaml'))['train']['C']; "
         "pathlib.Path('model.txt').write_text(f'C={c} ' + pathlib.Path('data/prepared.txt').read_text())")
SPEC = {"name": "tiny", "stages": {
    "prepare": {"cmd": f'python -c "{PREPARE}"', "deps": ["raw.txt"], "outs": ["data/prepared.txt"]},
    "train": {"cmd": f'python -c "{TRAIN}"', "deps": ["data/prepared.txt"], "params": ["train"],
              "outs": ["model.txt"]},
}}


@dataclass
class Project:
    root: Path
    store: Path
    ui: UIProcess


def run(*command: str, cwd: Path, store: Path) -> str:
    env = {**os.environ, "SHIPYARD_STORE": str(store),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    base = tmp_path_factory.mktemp("pipelines")
    root, store = base / "tiny", base / "store" / ".shipyard"
    root.mkdir()
    (root / "shipyard.yaml").write_text(yaml.safe_dump(SPEC, sort_keys=False))
    (root / "params.yaml").write_text("train:\n  C: 1.0\n")
    (root / "raw.txt").write_text("a b c\n")
    for args in (("init", "--quiet", "--initial-branch=main"), ("config", "user.email", "ci@example.com"),
                 ("config", "user.name", "CI"), ("config", "commit.gpgsign", "false"), ("add", "--all"),
                 ("commit", "--quiet", "-m", "tiny pipeline")):
        run("git", *args, cwd=root, store=store)
    run(sys.executable, "-m", "shipyard", "repro", cwd=root, store=store)
    (root / "params.yaml").write_text("train:\n  C: 0.5\n")
    ui = start_ui(store, cwd=root)
    yield Project(root, store, ui)
    ui.stop()


def test_a_changed_param_makes_its_stage_stale_in_the_table_and_the_dag(  # type: ignore[no-untyped-def]
        project: Project, tab: Tab, shot) -> None:
    lock_before = (project.root / "shipyard.lock").read_bytes()
    git_before = run("git", "status", "--porcelain", "--ignored", cwd=project.root, store=project.store)
    locked = yaml.safe_load(lock_before)["stages"]
    page = tab.page
    page.goto(project.ui.url + "/pipelines")
    assert page.get_by_role("heading", level=1).inner_text() == "Pipeline tiny"
    train, prepare = page.locator("tr[data-stage='train']"), page.locator("tr[data-stage='prepare']")
    assert train.locator(".badge.stale").inner_text() == "stale"
    assert "param train.C 1.0 -> 0.5" in train.locator("td.reasons").inner_text()
    assert prepare.locator(".badge").first.inner_text() == "up to date"
    assert prepare.locator("td.reasons").inner_text().strip() == ""
    for stage in ("prepare", "train"):  # the last run is the one shipyard.lock names
        assert train.page.locator(f"tr[data-stage='{stage}'] a").get_attribute("href") == \
            f"/runs/{locked[stage]['run_id']}"
    dag = page.locator("svg#dag")
    assert dag.locator("g.node").count() == 2
    assert dag.locator("g[data-node='prepare']").get_attribute("class") == "node kind-stage state-up-to-date"
    stale_node = dag.locator("g[data-node='train']")
    assert "state-stale" in (stale_node.get_attribute("class") or "")
    assert "param train.C 1.0 -> 0.5" in stale_node.locator("title").text_content()  # the tooltip
    edge = dag.locator("path.edge[data-source='prepare'][data-target='train']")
    assert edge.count() == 1 and edge.locator("title").text_content() == "data/prepared.txt"
    assert tab.errors == []
    shot(page, "pipelines")
    # Looking changed nothing: no lock rewritten, no file added or modified in the workspace.
    assert (project.root / "shipyard.lock").read_bytes() == lock_before
    assert run("git", "status", "--porcelain", "--ignored", cwd=project.root, store=project.store) == git_before


def test_no_pipeline_file_is_an_empty_state_and_a_broken_one_a_400_page(project: Project, tab: Tab) -> None:
    spec = project.root / "shipyard.yaml"
    original = spec.read_text()
    page = tab.page
    try:
        spec.rename(project.root / "shipyard.yaml.away")
        response = page.goto(project.ui.url + "/pipelines")
        assert response is not None and response.status == 200
        assert "shipyard init" in page.locator("main").inner_text()
        (project.root / "shipyard.yaml.away").rename(spec)
        spec.write_text(original + "stagez: {}\n")
        response = page.goto(project.ui.url + "/pipelines")
        assert response is not None and response.status == 400
        message = page.get_by_role("alert").inner_text()
        assert "unknown top-level key 'stagez'" in message and "did you mean 'stages'" in message
        assert httpx.get(project.ui.url + "/models").status_code == 200  # the rest of the UI is unaffected
        # Chromium logs the 400 page's own status as a failed load; nothing else may go wrong
        assert [error for error in tab.errors if "status of 400" not in error] == []
    finally:
        if (project.root / "shipyard.yaml.away").exists():
            (project.root / "shipyard.yaml.away").rename(spec)
        spec.write_text(original)
