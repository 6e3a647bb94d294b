"""The registry pages in a real browser: models, one model's versions and audit log, a version's lineage, alias moves.

The store holds a real model: two runs each fit a small scikit-learn LogisticRegression and log it with
``shipyard.log_model``; both are registered, ``champion`` is set on v1 with a reason, and
``shipyard.promote_model`` scores v2 against it on the same rows (a decision with both scores in the audit
log). The project folder the UI starts in has a ``serving.yaml`` whose deployment serves ``@champion``, and
the store's prediction log holds answers of v1 from a second deployment, so v1's lineage ends in both.
Markup goes wherever the registry accepts free text (a version tag, the description, a run name, an
alias-move reason; model and alias names only take letters, digits and _ - .) and must come back as text.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.predlog.schema import PredictionEntry, predictions_table
from shipyard.predlog.writer import PartitionedLog
from tests.integration.ui._ui import Tab, UIProcess, filled_store, start_ui

pytestmark = pytest.mark.slow
XSS = "<script>alert(1)</script>"


@dataclass
class Registry:
    root: Path  # the store
    project: Path  # where the UIs run (serving.yaml)
    run_ids: dict[int, str]  # version -> source run
    ui: UIProcess  # read-only


def _frame() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(3)
    tenure = rng.integers(0, 72, size=120).astype(float)
    spend = np.round(rng.normal(60, 20, size=120), 2)
    churn = (rng.random(120) < 1 / (1 + np.exp((tenure - 20) / 10))).astype(int)
    return pd.DataFrame({"tenure": tenure, "spend": spend}), pd.Series(churn, name="churn")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    base = tmp_path_factory.mktemp("models")
    root, project = base / ".shipyard", base / "project"
    project.mkdir()
    (project / "serving.yaml").write_text(
        "deployments:\n  churn-api:\n    variants:\n      - name: main\n        model: models:/churn@champion\n")
    x, y = _frame()
    run_ids = {}
    with filled_store(root):
        for version, c in ((1, 1.0), (2, 0.05)):
            with shipyard.start_run(experiment="churn", name=f"fit C={c} {XSS}") as run:
                shipyard.log_params({"C": c})
                model = LogisticRegression(C=c).fit(x, y)
                shipyard.log_metric("accuracy", float(model.score(x, y)))
                info = shipyard.log_model(model, input_example=x, y_example=y)
            tags = {"owner": XSS} if version == 2 else None
            shipyard.register_model(info, "churn", description=f"from {XSS}", tags=tags)
            run_ids[version] = run.id
        shipyard.set_alias("churn", "champion", 1, reason=f"first baseline {XSS}")
        shipyard.promote_model("churn", candidate=2, data=x.assign(churn=y), target="churn", metric="roc_auc",
                               min_delta=0.5)  # held back: v2 cannot beat v1 by half an AUC
    _log_answers(root, "churn-canary", version=1)
    ui = start_ui(root, cwd=project)
    yield Registry(root, project, run_ids, ui)
    ui.stop()


def _log_answers(root: Path, deployment: str, *, version: int) -> None:
    """Two answers of ``models:/churn/VERSION`` in the store's prediction log, by the server's own log writer."""
    now = time.time_ns() // 1_000_000
    log = PartitionedLog(root / "serving" / "predictions", predictions_table, name="predictions")
    log.start()
    for index in range(2):
        log.append(deployment, now, PredictionEntry(
            f"req-{index}", now, deployment, "canary", False, "churn", version, f"models:/churn/{version}", "python",
            1.5, None, {"tenure": [3.0], "spend": [40.0]}, {"tenure": "float", "spend": "float"}, [1], [[0.3, 0.7]]))
    log.close()


def aliases_of(root: Path, version: int) -> tuple[str, ...]:
    with filled_store(root):
        return shipyard.get_model_version("churn", version).aliases


def test_models_list_shows_versions_aliases_and_latest(registry: Registry, tab: Tab, shot) -> None:  # type: ignore[no-untyped-def]
    page = tab.page
    page.goto(registry.ui.url + "/models")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="churn", exact=True))
    cells = row.get_by_role("cell")
    assert cells.nth(1).inner_text() == "2"
    assert cells.nth(2).inner_text().strip() == "@champion → v1"
    assert cells.nth(3).inner_text() == "v2"
    assert tab.errors == []
    shot(page, "models")


def test_model_page_lists_versions_and_the_audit_log_with_reasons_and_scores(  # type: ignore[no-untyped-def]
        registry: Registry, tab: Tab, shot) -> None:
    page = tab.page
    page.goto(registry.ui.url + "/models/churn")
    versions = page.locator("table.versions tbody tr")
    assert versions.count() == 2
    newest = versions.nth(0)
    assert newest.get_by_role("link", name="v2").get_attribute("href") == "/models/churn/2"
    assert newest.get_by_role("link").nth(1).get_attribute("href") == f"/runs/{registry.run_ids[2]}"
    assert f"owner={XSS}" in newest.inner_text()  # the tag is text, not a script
    assert "@champion" in versions.nth(1).inner_text()
    audit = page.locator("table.audit tbody tr")
    assert audit.count() == 2
    held, first = audit.nth(0).inner_text(), audit.nth(1).inner_text()
    assert "held back" in held and "roc_auc" in held and "vs current" in held and "min delta 0.5" in held
    assert "delong: p = " in held and "interval of the gain" in held and "detectable effect" in held
    assert "set" in first and f"first baseline {XSS}" in first and "v1" in first
    assert page.locator("form.alias-form").count() == 0  # read-only: no form
    assert page.locator("main script").count() == 0
    assert tab.errors == []
    shot(page, "model")


def test_version_page_draws_lineage_and_the_run_node_leads_to_the_run(  # type: ignore[no-untyped-def]
        registry: Registry, tab: Tab, shot) -> None:
    page = tab.page
    page.goto(registry.ui.url + "/models/churn/1")
    assert page.get_by_role("heading", level=1).inner_text().startswith("churn v1")
    signature = page.locator("table.signature tbody")
    assert "tenure" in signature.inner_text() and "float" in signature.inner_text()
    assert "classifier" in page.locator("p.output").inner_text()
    assert page.locator(".sy-chart[data-drawn='1']").count() == 3  # tenure, spend, the output classes
    graph = page.locator("svg#lineage")
    for kind in ("data", "run", "version"):
        assert graph.locator(f"g.kind-{kind}").count() == 1, kind
    assert graph.locator("g.kind-deployment").count() == 2
    assert graph.locator("path.edge").count() == 4  # frame -> run -> version -> each deployment
    assert graph.locator("a[href='/deployments/churn-api']").count() == 1  # serving.yaml serves @champion
    canary = graph.locator("a[href='/deployments/churn-canary']")  # the prediction log has its answers
    assert canary.count() == 1 and "variant canary" in (canary.text_content() or "")
    assert tab.errors == []
    shot(page, "version")
    run_id = registry.run_ids[1]
    graph.locator(f"a[href='/runs/{run_id}']").click()
    page.wait_for_url(f"**/runs/{run_id}")
    assert page.get_by_role("heading", level=1).inner_text().startswith("fit C=1.0 " + XSS)


def test_a_version_nobody_serves_has_no_deployment_node(registry: Registry, tab: Tab) -> None:
    tab.page.goto(registry.ui.url + "/models/churn/2")
    assert tab.page.locator("svg#lineage g.kind-run").count() == 1
    assert tab.page.locator("svg#lineage g.kind-deployment").count() == 0
    assert "No deployment has answered with this version lately" in tab.page.locator("main").inner_text()
    assert tab.errors == []


def test_read_only_ui_refuses_an_alias_move(registry: Registry) -> None:
    response = httpx.post(registry.ui.url + "/models/churn/aliases", data={"alias": "champion", "version": "2"})
    assert response.status_code == 403
    assert "read-only" in response.text
    assert aliases_of(registry.root, 2) == ()


def test_unknown_model_or_version_is_a_404_page(registry: Registry) -> None:
    assert httpx.get(registry.ui.url + "/models/nope").status_code == 404
    missing = httpx.get(registry.ui.url + "/models/churn/9")
    assert missing.status_code == 404 and "no version 9" in missing.text


def test_alias_move_needs_the_token_and_is_audited(registry: Registry, tab: Tab) -> None:
    ui = start_ui(registry.root, "--allow-write", "--token", "T0k3n", cwd=registry.project)
    try:
        page = tab.page
        page.goto(ui.url + "/models/churn")
        form = page.locator("form.alias-form")

        def move(token: str) -> None:
            form.get_by_label("Alias").fill("challenger")
            form.get_by_label("Version").select_option("2")
            form.get_by_label("Reason").fill(f"try v2 {XSS}")
            form.get_by_label("Token").fill(token)
            form.get_by_role("button", name="Move alias").click()

        with page.expect_navigation() as refused:
            move("wrong")
        assert refused.value is not None and refused.value.status == 401
        assert "token" in page.get_by_role("alert").inner_text()
        assert aliases_of(registry.root, 2) == ()

        page.goto(ui.url + "/models/churn")
        move("T0k3n")
        page.wait_for_url("**/models/churn?moved=1*")
        assert aliases_of(registry.root, 2) == ("challenger",)
        assert page.get_by_role("status").inner_text().startswith("Moved @challenger to v2")  # from the audit log
        newest = page.locator("table.audit tbody tr").nth(0).inner_text()
        assert "@challenger" in newest and f"try v2 {XSS}" in newest and "via shipyard ui" in newest
        # Chromium may log the refused post's 401 as a failed load; nothing else may go wrong (no dialog, no error)
        assert [error for error in tab.errors if "status of 401" not in error] == []

        evil = httpx.post(ui.url + "/models/churn/aliases", headers={"Origin": "http://evil.example"},
                          data={"alias": "champion", "version": "2", "token": "T0k3n"})
        assert evil.status_code == 403 and aliases_of(registry.root, 1) == ("champion",)
        bad_alias = httpx.post(ui.url + "/models/churn/aliases", data={"alias": "9x", "version": "2", "token": "T0k3n"})
        assert bad_alias.status_code == 422 and "not a valid alias" in bad_alias.text
        bad_version = httpx.post(ui.url + "/models/churn/aliases",
                                 data={"alias": "champion", "version": "7", "token": "T0k3n"})
        assert bad_version.status_code == 404 and aliases_of(registry.root, 1) == ("champion",)
        for text in ("²", "\u0661", "99999999999999999999999", "1e3", "-1"):  # no 500, no Arabic-Indic 1 read as 1
            odd = httpx.post(ui.url + "/models/churn/aliases", data={"alias": "champion", "version": text,
                                                                     "token": "T0k3n"})
            assert odd.status_code == 422 and "not a version number" in odd.text, text
        assert aliases_of(registry.root, 1) == ("champion",)
        # DNS rebinding: the attacker's page is same-origin with itself, but its Host is not this UI's.
        rebound = httpx.post(ui.url + "/models/churn/aliases", data={"alias": "rebound", "version": "1",
                                                                     "token": "T0k3n"},
                             headers={"Host": "evil.example:5711", "Origin": "http://evil.example:5711",
                                      "Sec-Fetch-Site": "same-origin"})
        assert rebound.status_code == 400 and "script-src 'self'" in rebound.headers["content-security-policy"]
        assert aliases_of(registry.root, 1) == ("champion",)
    finally:
        ui.stop()


def test_a_moved_link_cannot_fake_a_notice(registry: Registry, tab: Tab) -> None:
    tab.page.goto(registry.ui.url + "/models/churn?moved=" + "champion%20to%20v9%20by%20the%20admin")
    # A notice, if any, states the newest audit event (a move made from a UI in an earlier test), never the URL.
    assert all("v9" not in notice for notice in tab.page.get_by_role("status").all_inner_texts())
    assert "by the admin" not in tab.page.locator("main").inner_text()
    assert tab.errors == []


def test_odd_version_numbers_and_pages_are_404_or_422_pages(registry: Registry) -> None:
    huge = httpx.get(registry.ui.url + "/models/churn/99999999999999999999999")
    assert huge.status_code == 404 and "Not found" in huge.text
    assert httpx.get(registry.ui.url + "/models/churn/%C2%B2").status_code == 404  # ², not a digit of ours
    assert httpx.get(registry.ui.url + "/models/churn/999999999").status_code == 404  # 9 digits: the registry says
    for bad in ("0", "-1", "²", "x"):
        answer = httpx.get(registry.ui.url + "/models/churn", params={"page": bad})
        assert answer.status_code == 422 and "page" in answer.text, bad


def test_pages_for_another_host_name_are_refused(registry: Registry) -> None:
    for path in ("/models/churn", "/runs", "/health"):
        answer = httpx.get(registry.ui.url + path, headers={"Host": "evil.example:5711"})
        assert answer.status_code == 400, path
    assert httpx.get(registry.ui.url + "/models/churn", headers={"Host": "localhost"}).status_code == 200


def _release_reader(fifo: Path, deadline: float) -> None:
    """Wait (polling, until ``deadline``) for a reader to block opening ``fifo``, then let it through.

    Opening a FIFO's write end without blocking fails with ENXIO until someone opens the read end; once it
    succeeds the reader's open returns too, and closing at once gives it an empty file (an unreadable partition).
    """
    while True:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            return
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def test_version_page_reads_the_log_off_the_event_loop(registry: Registry) -> None:
    """Two log partitions that are FIFOs hold the version page inside its log read, one after the other. Once the
    first is let through, the page is (or will be, with nothing to wait for) stuck opening the second; /health
    must still answer then. An ``async def`` page did that read on the event loop, and /health waited for it."""
    hour = datetime.now(UTC)
    fifos = []
    for deployment in ("aa-first", "ab-second"):  # read in this order, before churn-canary
        folder = registry.root / "serving" / "predictions" / f"deployment={deployment}" / f"date={hour:%Y-%m-%d}" \
            / f"hour={hour:%H}"
        folder.mkdir(parents=True)
        fifos.append(folder / "part-1-1-1.parquet")
        os.mkfifo(fifos[-1])
    answer: list[httpx.Response] = []
    loading = threading.Thread(target=lambda: answer.append(
        httpx.get(registry.ui.url + "/models/churn/1", timeout=60)))
    loading.start()
    try:
        _release_reader(fifos[0], time.monotonic() + 30)
        assert httpx.get(registry.ui.url + "/health", timeout=10).json() == {"ok": True}
        assert loading.is_alive()  # the page is still waiting for the second partition
    finally:
        _release_reader(fifos[1], time.monotonic() + 30)
        loading.join(60)
        for fifo in fifos:
            shutil.rmtree(fifo.parents[2])
    assert answer and answer[0].status_code == 200
    assert "/deployments/churn-canary" in answer[0].text and "aa-first" not in answer[0].text
