"""The UI's artifact download route against a real ``shipyard ui``: it never serves what a link pointed at outside
the logged folder, and it answers a path the artifact-path validator refuses with 422 naming that path.

The store is filled through the public API, plus one index row written straight into ``meta.db`` as an older
Shipyard let ``log_artifact`` write it (a file named ``..\\..\\x`` passed the old check on Linux).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest

import shipyard
from tests.integration.ui._ui import UIProcess, filled_store, start_ui

pytestmark = pytest.mark.slow
SECRET = b"root:x:0:0:a file outside the logged folder\n"
LEGACY_PATH = "ok/..\\..\\x"


@dataclass
class Fixture:
    ui: UIProcess
    run_id: str
    refusal: str  # what log_artifact said about the folder holding the outside link


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    base = tmp_path_factory.mktemp("artifact-paths")
    root = base / ".shipyard"
    secret = base / "elsewhere" / "passwd"
    secret.parent.mkdir()
    secret.write_bytes(SECRET)
    folder = base / "outputs"
    folder.mkdir()
    (folder / "report.txt").write_text("the report\n")
    os.symlink(secret, folder / "passwd")
    refusal = ""
    with filled_store(root):
        with shipyard.start_run(name="links") as run:
            try:
                shipyard.log_artifact(folder)
            except shipyard.ValidationError as exc:
                refusal = str(exc)
            shipyard.log_artifact(folder / "report.txt")
        digest = shipyard.get_run(run.id).artifacts[0]["hash"]
    with sqlite3.connect(root / "meta.db") as conn:
        conn.execute("INSERT INTO artifacts (run_id, path, hash, size) VALUES (?, ?, ?, 11)",
                     (run.id, LEGACY_PATH, digest))
    process = start_ui(root)
    yield Fixture(process, run.id, refusal)
    process.stop()


def test_a_link_to_a_file_outside_the_folder_is_never_stored_or_served(logged: Fixture) -> None:
    answer = httpx.get(f"{logged.ui.url}/runs/{logged.run_id}/artifacts/passwd", timeout=30)
    assert SECRET not in answer.content
    assert answer.status_code == 404
    assert "'passwd'" in logged.refusal and "outside" in logged.refusal
    page = httpx.get(f"{logged.ui.url}/runs/{logged.run_id}", timeout=30)
    assert page.status_code == 200 and "report.txt" in page.text and ">passwd<" not in page.text


@pytest.mark.parametrize("path", [LEGACY_PATH, "ok/%2E%2E/%2E%2E/x", "reports//roc.png", "C:/x"])
def test_a_path_the_validator_refuses_is_422_naming_it(logged: Fixture, path: str) -> None:
    raw = quote(path, safe="/%:")
    answer = httpx.get(f"{logged.ui.url}/runs/{logged.run_id}/artifacts/{raw}", timeout=30)
    assert answer.status_code == 422, answer.text[:300]
    assert "relative path" in answer.text
    assert b"the report" not in answer.content  # the legacy row's bytes were not sent


def test_an_ordinary_artifact_still_downloads(logged: Fixture) -> None:
    answer = httpx.get(f"{logged.ui.url}/runs/{logged.run_id}/artifacts/report.txt", timeout=30)
    assert answer.status_code == 200 and answer.content == b"the report\n"
