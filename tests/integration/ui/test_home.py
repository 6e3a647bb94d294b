"""The UI's shell in a real browser: the landing page, error pages, security headers, and read-only mode."""

from __future__ import annotations

import subprocess
import sys
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
    # Error pages too: 404 and 422 from the app, 400 from the Host check (a 500 is checked in tests/unit/ui).
    for path, status in (("/", 200), ("/no/such/page", 404), ("/runs?page=0", 422)):
        answer = httpx.get(ui.url + path)
        assert answer.status_code == status, path
        assert "script-src 'self'" in answer.headers["content-security-policy"], path
        assert answer.headers["x-content-type-options"] == "nosniff", path
    refused = httpx.get(ui.url + "/", headers={"Host": "evil.example"})
    assert refused.status_code == 400 and "script-src 'self'" in refused.headers["content-security-policy"]


def test_cli_refuses_a_token_without_allow_write(tmp_path: Path) -> None:
    with filled_store(tmp_path / "s" / ".shipyard"), shipyard.start_run(experiment="e"):
        pass
    done = subprocess.run([sys.executable, "-m", "shipyard", "ui", "--token", "t"], capture_output=True, text=True,
                          env={"SHIPYARD_STORE": str(tmp_path / "s" / ".shipyard"), "PATH": "/usr/bin:/bin"},
                          timeout=60, check=False)
    assert done.returncode == 2
    assert "--allow-write" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_a_token_exported_for_other_commands_leaves_the_ui_read_only(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """SHIPYARD_TOKEN set for `shipyard serve` or a team server's clients used to stop `shipyard ui` (the option
    reads it) with "--token protects changes"; only a --token typed on the command line means that."""
    store = tmp_path / "s" / ".shipyard"
    with filled_store(store), shipyard.start_run(experiment="e"):
        pass
    monkeypatch.setenv("SHIPYARD_TOKEN", "for-another-command")
    started = start_ui(store)
    try:
        assert "read-only" in "".join(started.output)
        assert httpx.get(started.url + "/").status_code == 200
    finally:
        started.stop()


def _ui_command(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipyard", "ui", *args], capture_output=True, text=True,
                          env={"SHIPYARD_STORE": str(store), "PATH": "/usr/bin:/bin"}, timeout=60, check=False)


def test_cli_refuses_writes_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    store = tmp_path / "s" / ".shipyard"
    with filled_store(store), shipyard.start_run(experiment="e"):
        pass
    done = _ui_command(store, "--host", "0.0.0.0", "--port", "0", "--allow-write")
    assert done.returncode == 2
    output = done.stdout + done.stderr
    assert "--token" in output and "0.0.0.0" in output and "Traceback" not in output


def test_an_allowed_host_name_is_answered(ui: UIProcess, tmp_path: Path) -> None:
    store = tmp_path / "s" / ".shipyard"
    with filled_store(store), shipyard.start_run(experiment="e"):
        pass
    proxied = start_ui(store, "--allowed-host", "shipyard.internal", "--allowed-host", "ui.example")
    try:
        for name in ("shipyard.internal", "ui.example:443", "localhost"):
            assert httpx.get(proxied.url + "/", headers={"Host": name}).status_code == 200, name
        assert httpx.get(proxied.url + "/", headers={"Host": "evil.example"}).status_code == 400
    finally:
        proxied.stop()
    assert httpx.get(ui.url + "/", headers={"Host": "ui.example"}).status_code == 400  # only where it was given
