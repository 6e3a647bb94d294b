"""The deployments, monitoring and prediction pages in a real browser, over traffic with a known story.

The store is built as in ``tests/integration/monitoring/test_report_browser.py``: two model versions trained
and registered through the public API (each in its own run), two hours of answers written to the prediction
log by the server's own ``PartitionedLog`` and ``predictions_table``, the second hour drifted
(``monthly_charges`` shifts, ``contract`` gains a level), labels through the feedback log. Two variants
answer (``champion`` on version 1, a variant named with markup on version 2), so the A/B section has two
arms. The project's ``serving.yaml`` names the deployment's variants and weights, and a second deployment
that has served nothing yet.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import shipyard
from tests.integration.ui._ui import Tab, UIProcess, filled_store, start_ui

pytestmark = pytest.mark.slow

XSS_FEATURE = "<script>alert(1)</script>"
XSS_VARIANT = "<img src=x onerror=alert(2)>"
TARGET = "churn"
KINDS = {"tenure": "float", "monthly_charges": "float", "contract": "string", XSS_FEATURE: "string"}
HOUR_MS = 3_600_000
ROWS_PER_HOUR = 600
SERVING_YAML = """\
deployments:
  churn:
    variants:
      - {name: champion, model: "models:/churn/1", weight: 70}
      - {name: challenger, model: "models:/churn/2", weight: 30}
    shadow: ["models:/churn/2"]
  fraud:
    model: "models:/churn/1"
"""


@dataclass
class Traffic:
    """What the pages must show: the versions' runs, the rows logged in the last 24 hours, a v2 request."""

    runs: dict[int, str]  # model version -> the run that logged it
    logged_rows: int
    challenger_request: str
    challenger_label: str  # the feedback it got (the latest v2 answer is always labelled)


def customers(rows: int, rng: np.random.Generator, *, drifted: bool = False) -> pd.DataFrame:
    contracts = ["Month-to-month", "One year", "Two year"] + (["Four year"] if drifted else [])
    return pd.DataFrame({
        "tenure": rng.integers(1, 72, rows).astype("float64"),
        "monthly_charges": rng.uniform(18, 120, rows).round(2) + (45 if drifted else 0),
        "contract": rng.choice(contracts, rows),
        XSS_FEATURE: rng.choice(["x", "y"], rows),
    })


def churned(frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    risky = (frame["contract"] == "Month-to-month") & (frame["tenure"] < 30)
    return (risky.to_numpy() ^ (rng.random(len(frame)) < 0.1)).astype(int)


def build_traffic(root: Path) -> Traffic:
    """Fill the store at ``root`` (already the current store) with two model versions and two hours of traffic."""
    from sklearn.linear_model import LogisticRegression

    from shipyard.demo.telco import build_pipeline
    from shipyard.predlog.schema import FeedbackEntry, PredictionEntry, feedback_table, predictions_table
    from shipyard.predlog.writer import PartitionedLog

    rng = np.random.default_rng(9)
    train = customers(1_000, rng)
    train[TARGET] = churned(train, rng)
    features = train.drop(columns=[TARGET])
    runs, models = {}, {}
    for version, strength in ((1, 1.0), (2, 0.05)):
        pipe = build_pipeline(train, LogisticRegression(C=strength, max_iter=1_000)).fit(features, train[TARGET])
        with shipyard.start_run(experiment="churn-training", name=f"train-v{version}"):
            info = shipyard.log_model(pipe, input_example=features, y_example=train[TARGET])
        registered = shipyard.register_model(info.uri, "churn")
        runs[registered.version] = registered.run_id
        models[registered.version] = shipyard.load_model(f"models:/churn/{registered.version}")

    now_ms = int(time.time() * 1000) - 10_000
    serving = root / "serving"
    predictions = PartitionedLog(serving / "predictions", predictions_table, flush_interval=0.1)
    feedback = PartitionedLog(serving / "feedback", feedback_table, flush_interval=0.1)
    challenger_request = challenger_label = ""
    for hour, drifted in ((2, False), (1, True)):
        frame = customers(ROWS_PER_HOUR, rng, drifted=drifted)
        truth = churned(frame, rng)
        start = now_ms - hour * HOUR_MS
        stamps = np.sort(rng.integers(start + 1_000, start + HOUR_MS - 1_000, ROWS_PER_HOUR))
        challenger = rng.random(ROWS_PER_HOUR) < 0.35
        scores = {version: np.asarray(model.predict_proba(frame), dtype="float64") for version, model in models.items()}
        for index, record in enumerate(frame.to_dict(orient="records")):
            version = 2 if challenger[index] else 1
            request_id = f"req-{'late' if drifted else 'early'}-{index:04d}"
            stamp, probability = int(stamps[index]), scores[version][index]
            predictions.append("churn", stamp, PredictionEntry(
                request_id, stamp, "churn", XSS_VARIANT if version == 2 else "champion", False, "churn", version,
                f"models:/churn/{version}", "sklearn", float(rng.lognormal(1.2, 0.5)), None,
                {name: [value] for name, value in record.items()}, KINDS,
                [str(int(probability[1] > 0.5))], [probability.tolist()]))
            labelled = rng.random() < 0.6
            if drifted and version == 2:
                challenger_request = request_id  # the latest v2 answer: on the first page of recent predictions
                challenger_label = str(truth[index])
            if labelled or (drifted and version == 2):
                feedback.append("churn", now_ms, FeedbackEntry(request_id, 0, str(truth[index]), now_ms))
    predictions.close()
    feedback.close()
    (root.parent / "serving.yaml").write_text(SERVING_YAML)
    return Traffic(runs, 2 * ROWS_PER_HOUR, challenger_request, challenger_label)


@dataclass
class Served:
    ui: UIProcess
    traffic: Traffic
    root: Path  # the store: its prediction log and profile cache are under serving/


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("deployments") / ".shipyard"
    with filled_store(root):
        traffic = build_traffic(root)
    process = start_ui(root, cwd=root.parent)
    yield Served(process, traffic, root)
    process.stop()


def charts_settled(page: Any) -> None:
    page.wait_for_function("document.querySelectorAll('.sy-chart:not([data-drawn]):not([data-error])').length === 0")


def test_deployments_lists_logged_and_configured_deployments(served: Served, tab: Tab,
                                                           shot: Callable[[Any, str], Path]) -> None:
    page = tab.page
    page.goto(served.ui.url + "/deployments")
    churn = page.locator("article.deployment", has=page.get_by_role("link", name="churn", exact=True))
    assert churn.locator(".predictions-24h").inner_text() == f"{served.traffic.logged_rows:,}"
    assert churn.get_by_role("cell", name="models:/churn/2").count() >= 1  # the challenger and the shadow
    assert "30%" in churn.get_by_role("row", name=re.compile("challenger")).inner_text()
    assert churn.get_by_text(XSS_VARIANT, exact=False).is_visible()  # seen in the log, shown as text
    fraud = page.locator("article.deployment", has=page.get_by_role("link", name="fraud", exact=True))
    assert "No predictions logged" in fraud.inner_text()
    assert page.locator("main img, main script").count() == 0
    assert tab.errors == []
    shot(page, "deployments")


def test_deployment_page_shows_verdict_drift_charts_and_ab(served: Served, tab: Tab,
                                                          shot: Callable[[Any, str], Path]) -> None:
    page = tab.page
    page.goto(served.ui.url + "/deployments/churn?since=24h")
    charts_settled(page)
    badge = page.locator("header.sy-summary .badge-big")
    assert badge.inner_text().lower() == "alert"
    assert page.get_by_role("heading", name=re.compile("^Monitoring report")).is_visible()
    drift_row = page.locator("#drift tbody tr", has=page.get_by_role("link", name="monthly_charges", exact=True))
    assert "alert" in drift_row.inner_text().lower()
    assert page.locator(".sy-chart[data-drawn='1']").count() > 5
    assert page.locator(".sy-chart[data-error]").count() == 0
    assert page.get_by_role("heading", level=2, name="A/B comparison").is_visible()
    assert page.locator("#ab tbody tr").count() == 2
    assert page.get_by_text(XSS_FEATURE, exact=True).first.is_visible()  # markup in names stays text
    assert page.get_by_text(XSS_VARIANT, exact=True).count() > 0
    assert page.locator("main img, main script").count() == 0
    assert page.locator("#recent tbody tr").count() == 50
    assert page.locator("#recent tbody .badge.ok, #recent tbody .badge.alert").count() > 20  # ~60% labelled
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366  # wide tables scroll in their box
    assert tab.errors == []
    shot(page, "deployment")


def test_a_prediction_leads_to_its_model_version_and_run(served: Served, tab: Tab,
                                                         shot: Callable[[Any, str], Path]) -> None:
    page, request_id = tab.page, served.traffic.challenger_request
    page.goto(served.ui.url + "/deployments/churn")
    page.locator("#recent").get_by_role("link", name=request_id, exact=True).click()
    page.wait_for_url(f"**/predictions/{request_id}")
    assert page.get_by_role("heading", level=1).inner_text().endswith(request_id)
    assert page.get_by_text(XSS_VARIANT, exact=True).first.is_visible()
    assert page.get_by_role("columnheader", name=XSS_FEATURE).is_visible()
    assert page.locator("main img, main script").count() == 0
    chain = page.get_by_role("list", name=re.compile("^Lineage")).inner_text()
    assert re.search(r"commit [0-9a-f]{12}", chain) and re.search(r"training data [0-9a-f]{12} \(1,000 rows", chain)
    feedback = page.locator("h2:has-text('Feedback') + .table-wrap tbody tr")
    assert feedback.count() == 1  # its label, found in the feedback logged after the prediction
    assert feedback.locator("td").nth(1).inner_text() == served.traffic.challenger_label
    assert tab.errors == []
    shot(page, "prediction")
    run_link = page.get_by_role("link", name=re.compile("^run ")).first.get_attribute("href")
    assert run_link == f"/runs/{served.traffic.runs[2]}"
    page.get_by_role("link", name="churn v2").first.click()
    page.wait_for_url("**/models/churn/2")  # the version page (another page's work) may still be a 404
    page.go_back()
    page.get_by_role("link", name=re.compile("^run ")).first.click()
    page.wait_for_url(f"**/runs/{served.traffic.runs[2]}")


def test_empty_window_unknown_names_and_bad_ranges(served: Served, tab: Tab) -> None:
    page = tab.page
    response = page.goto(served.ui.url + "/deployments/fraud")
    assert response is not None and response.status == 200
    assert "No predictions" in page.locator("main").inner_text()
    response = page.goto(served.ui.url + "/deployments/churn?from=2020-01-01T00:00&to=2020-01-02T00:00")
    assert response is not None and response.status == 200
    assert "No predictions in this window" in page.locator("main").inner_text()
    assert page.locator("#recent").count() == 0
    response = page.goto(served.ui.url + "/deployments/churn?since=yesterday")
    assert response is not None and response.status == 422
    assert "neither a duration" in page.get_by_role("alert").inner_text()
    response = page.goto(served.ui.url + "/deployments/nope")
    assert response is not None and response.status == 404
    response = page.goto(served.ui.url + "/predictions/no-such-request")
    assert response is not None and response.status == 404
    assert "no-such-request" in page.get_by_role("alert").inner_text()
    response = page.goto(served.ui.url + "/deployments/churn?from=2020-01-02&to=2020-01-01")
    assert response is not None and response.status == 422
    alert = page.get_by_role("alert").inner_text()
    assert "The window is empty: 'to' must be after 'from'." in alert and "--" not in alert  # the page's words
    response = page.goto(served.ui.url + "/deployments/churn?since=1h&from=2020-01-01")
    assert response is not None and response.status == 422
    assert "Give 'since' or 'from'/'to', not both." in page.get_by_role("alert").inner_text()


@pytest.mark.parametrize(("query", "words"), [
    ("since=999999999h", "since='999999999h' is out of range"),  # was a 500 (OverflowError)
    ("from=0001-01-01", "from='0001-01-01' is out of range"),
    ("to=9999-12-31", "this page monitors at most 90 days"),  # each was minutes of work and thousands of files
    ("since=365d", "The window is 365 days long; this page monitors at most 90 days"),
    ("from=2020-01-01&to=2020-06-01", "give 'since' up to 90d, or 'from' and 'to' at most 90 days apart"),
])
def test_windows_no_page_should_compute_are_refused_at_once(served: Served, query: str, words: str) -> None:
    response = httpx.get(f"{served.ui.url}/deployments/churn?{query}", timeout=30)
    assert response.status_code == 422
    assert words in html.unescape(response.text)


def test_a_long_window_caches_only_hours_that_have_files(served: Served) -> None:
    response = httpx.get(served.ui.url + "/deployments/churn?since=90d", timeout=60)
    assert response.status_code == 200
    serving = served.root / "serving"
    logged = {int(datetime.strptime(f"{hour.parent.name[5:]} {hour.name[5:]}", "%Y-%m-%d %H")
                  .replace(tzinfo=UTC).timestamp() * 1000)
              for hour in (serving / "predictions" / "deployment=churn").glob("date=*/hour=*")}
    cached = {int(path.name.split("-")[0]) for path in (serving / "profiles").rglob("*.json")}
    assert cached and cached <= logged  # before: one file per hour of the 90 days and of the 90 before them
