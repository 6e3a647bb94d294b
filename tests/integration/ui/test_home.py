"""The UI's shell in a real browser: the landing page, error pages, security headers, and read-only mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import shipyard
from tests.integration.ui._ui import Tab, UIProcess, filled_store, start_ui

pytestmark = pytest.mark.slow
XSS_EXPERIMENT = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIProcess]:
    root = tmp_path_factory.mktemp("home") / ".shipyard"
    with filled_store(root):
        for index in range(3):
            with shipyard.start_run(experiment="churn", name=f"run-{index}"):
                shipyard.log_metric("roc_auc", 0.7 + index / 100)
        with shipyard.start_run(experiment=XSS_EXPERIMENT, name="x"):
            pass
    process = start_ui(root)
    yield process
    process.stop()


def test_home_lists_experiments_with_counts_and_escapes_names(ui: UIProcess, tab: Tab, shot) -> None:  # type: ignore[no-untyped-def]
    page = tab.page
    page.goto(ui.url + "/")
    rows = page.get_by_role("row")
    churn = rows.filter(has=page.get_by_role("link", name="churn", exact=True))
    assert churn.get_by_role("cell").nth(1).inner_text() == "3"
    assert page.get_by_role("link", name=XSS_EXPERIMENT, exact=True).count() == 1  # shown as text
    assert page.locator("main img").count() == 0
    assert tab.errors == []
    shot(page, "home")


def test_unknown_page_is_a_404_page_not_a_traceback(ui: UIProcess, tab: Tab) -> None:
    response = tab.page.goto(ui.url + "/no/such/page")
    assert response is not None and response.status == 404
    assert tab.page.get_by_role("alert").inner_text().startswith("Not found")


def test_every_page_carries_a_script_policy(ui: UIProcess) -> None:
    headers = httpx.get(ui.url + "/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


def test_cli_refuses_a_token_without_allow_write(tmp_path: Path) -> None:
    import subprocess
    import sys

    with filled_store(tmp_path / "s" / ".shipyard"), shipyard.start_run(experiment="e"):
        pass
    done = subprocess.run([sys.executable, "-m", "shipyard", "ui", "--token", "t"], capture_output=True, text=True,
                          env={"SHIPYARD_STORE": str(tmp_path / "s" / ".shipyard"), "PATH": "/usr/bin:/bin"},
                          timeout=60, check=False)
    assert done.returncode == 2
    assert "--allow-write" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
