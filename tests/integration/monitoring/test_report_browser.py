"""The monitoring report in a real browser: Debian's Chromium, headless, driven by Playwright.

The report comes from a real pipeline: a model trained and registered in a store of its own, two hours of
answers written to the prediction log by the server's own ``PartitionedLog`` and ``predictions_table``
(the second hour drifts: ``monthly_charges`` shifts, ``contract`` gains a level, ``tenure`` loses values),
labels through the feedback log, then ``monitor()`` and ``write_report()``. A feature and a variant carry
markup in their names: the page must show them as text and never run them.

Skipped with the reason when /usr/bin/chromium (scripts/install-system-deps.sh) or the playwright package
(a dev dependency; never ``playwright install``) is missing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.demo.telco import TARGET, build_pipeline
from shipyard.monitoring.monitor import MonitoringResult, monitor
from shipyard.monitoring.report import write_report
from shipyard.predlog.schema import FeedbackEntry, PredictionEntry, feedback_table, predictions_table
from shipyard.predlog.writer import PartitionedLog
from shipyard.store import current_store

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
XSS_FEATURE = "<script>alert(1)</script>"
XSS_VARIANT = "<img src=x onerror=alert(2)>"
KINDS = {"tenure": "float", "monthly_charges": "float", "contract": "string", "payment": "string",
         XSS_FEATURE: "string"}
SECTIONS = ["Failing checks", "Input drift per feature", "Response distribution", "Volume and latency",
            "Quality from feedback", "A/B comparison"]


def customers(rows: int, rng: np.random.Generator, *, drifted: bool = False) -> pd.DataFrame:
    contracts = ["Month-to-month", "One year", "Two year"] + (["Four year"] if drifted else [])
    frame = pd.DataFrame({
        "tenure": rng.integers(1, 72, rows).astype("float64"),
        "monthly_charges": rng.uniform(18, 120, rows).round(2) + (45 if drifted else 0),
        "contract": rng.choice(contracts, rows),
        "payment": rng.choice(["card", "check", "transfer"], rows),
        XSS_FEATURE: rng.choice(["x", "y"], rows),
    })
    if drifted:
        frame.loc[rng.random(rows) < 0.3, "tenure"] = np.nan
    return frame


def churned(frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    risky = (frame["contract"] == "Month-to-month") & (frame["tenure"].fillna(36) < 30)
    return (risky.to_numpy() ^ (rng.random(len(frame)) < 0.1)).astype(int)


@dataclass
class Built:
    path: Path
    result: MonitoringResult


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    root = tmp_path_factory.mktemp("report") / ".shipyard"
    shipyard.set_store(root)
    try:
        train = customers(1_500, rng)
        train[TARGET] = churned(train, rng)
        pipe = build_pipeline(train, LogisticRegression(max_iter=1_000)).fit(train.drop(columns=[TARGET]),
                                                                             train[TARGET])
        with shipyard.start_run(experiment="monitoring-report"):
            info = shipyard.log_model(pipe, input_example=train.drop(columns=[TARGET]), y_example=train[TARGET])
        shipyard.register_model(info.uri, "churn")
        model = shipyard.load_model("models:/churn/1")

        now_ms = int(time.time() * 1000) - 10_000
        hour = 3_600_000
        serving = root / "serving"
        predictions = PartitionedLog(serving / "predictions", predictions_table, flush_interval=0.1)
        feedback = PartitionedLog(serving / "feedback", feedback_table, flush_interval=0.1)
        for start, drifted in ((now_ms - 2 * hour, False), (now_ms - hour, True)):
            rows = 1_200
            frame = customers(rows, rng, drifted=drifted)
            truth = churned(frame, rng)
            probabilities = np.asarray(model.predict_proba(frame), dtype="float64")
            stamps = np.sort(rng.integers(start + 1_000, start + hour - 1_000, rows))
            arms = rng.random(rows) < 0.3
            for index, record in enumerate(frame.to_dict(orient="records")):
                request_id = f"{'late' if drifted else 'early'}-{index}"
                stamp = int(stamps[index])
                predictions.append("churn", stamp, PredictionEntry(
                    request_id, stamp, "churn", XSS_VARIANT if arms[index] else "champion", False, "churn", 1,
                    "models:/churn/1", "sklearn", float(rng.lognormal(1.2, 0.6)), None,
                    {name: [None if isinstance(value, float) and np.isnan(value) else value]
                     for name, value in record.items()}, KINDS,
                    [str(int(probabilities[index, 1] > 0.5))], [probabilities[index].tolist()]))
                if drifted and rng.random() < 0.5:
                    feedback.append("churn", now_ms, FeedbackEntry(request_id, 0, str(truth[index]), now_ms))
        predictions.close()
        feedback.close()
        result = monitor("churn", since="1h", log_dir=str(serving), store=current_store())
    finally:
        shipyard.set_store(None)
    yield Built(write_report(result, root.parent / "report.html"), result)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM}: run scripts/install-system-deps.sh as root")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (a dev "
                                   "dependency: pip install playwright; never `playwright install`)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@dataclass
class Page:
    page: Any
    problems: list[str]  # console errors, page errors, dialogs (an alert() would mean markup ran)


@pytest.fixture
def opened(browser: Any, built: Built) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def dialog(opened: Any) -> None:
        problems.append(f"dialog: {opened.message}")
        opened.dismiss()

    page.on("dialog", dialog)
    page.on("request", lambda request: problems.append(f"network: {request.url}")
            if not request.url.startswith(("file:", "data:", "about:")) else None)
    page.goto(built.path.as_uri())
    page.wait_for_function("document.querySelectorAll('.sy-chart:not([data-drawn]):not([data-error])').length === 0")
    yield Page(page, problems)
    page.close()


def test_the_result_has_what_the_report_must_show(built: Built) -> None:
    result = built.result
    failing = {(item.check, item.feature) for item in result.failing()}
    assert {("drift", "monthly_charges"), ("new_categories", "contract"), ("missing", "tenure")} <= failing
    assert {item.check for item in result.results} >= {"drift", "prediction_drift", "confused", "volume", "latency",
                                                       "quality", "ab"}
    assert result.quality_timeline is not None and set(result.quality_timeline["variants"]) == {"champion",
                                                                                                 XSS_VARIANT}
    assert built.path.stat().st_size < 1_000_000


def test_sections_are_visible_with_the_verdict_on_top(opened: Page, built: Built) -> None:
    page = opened.page
    heading = page.get_by_role("heading", level=1)
    assert heading.is_visible() and heading.inner_text() == "Monitoring report: churn"
    badge = page.locator("header .badge-big")
    assert badge.inner_text().lower() == built.result.verdict == "alert"
    assert badge.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(255, 235, 233)"
    assert page.get_by_text(re.compile(r"^\d+ alert\(s\), \d+ warning\(s\): ")).is_visible()  # status: the badge
    assert page.get_by_text(re.compile(r"^ALERT: ")).count() == 0
    for title in SECTIONS:
        section = page.get_by_role("heading", level=2, name=title)  # (a substring: counts follow some titles)
        assert section.count() == 1, title
        section.scroll_into_view_if_needed()
        assert section.is_visible(), title
    assert page.locator("section").first.get_attribute("id") == "failing"
    failing_rows = page.locator("#failing tbody tr")
    assert failing_rows.count() == len(built.result.failing())
    assert "ALERT" in failing_rows.first.inner_text()
    page.get_by_role("link", name="monthly_charges").first.click()
    assert page.evaluate("location.hash").startswith("#feature-")
    assert opened.problems == []


def test_every_chart_is_drawn_on_a_canvas_without_errors(opened: Page) -> None:
    page = opened.page
    charts = page.locator(".sy-chart")
    assert charts.count() >= 5 + 4  # one per feature, classes, probabilities, volume, latency, quality
    assert page.locator(".sy-chart[data-drawn='1']").count() == charts.count()
    assert page.locator(".sy-chart[data-error]").count() == 0
    assert page.locator(".sy-chart .uplot canvas").count() == charts.count()
    for index in range(charts.count()):
        box = charts.nth(index).locator("canvas").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 80
    assert opened.problems == []


def test_hovering_a_time_series_shows_its_values_in_the_legend(opened: Page) -> None:
    page = opened.page
    chart = page.get_by_role("img", name=re.compile("^Predictions per"))
    chart.scroll_into_view_if_needed()
    values = chart.locator(".u-legend .u-value")
    before = values.all_inner_texts()
    plot = chart.locator(".u-over")
    box = plot.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    page.wait_for_function("el => !/^-?-$/.test(el.querySelector('.u-legend .u-value').textContent)",
                           arg=chart.element_handle())
    after = values.all_inner_texts()
    assert after != before
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?", after[0]), after
    assert re.fullmatch(r"[\d,.]+", after[1]), after
    assert opened.problems == []


def test_markup_in_names_shows_as_text_and_never_runs(opened: Page) -> None:
    page = opened.page
    assert page.get_by_text(XSS_FEATURE, exact=True).first.is_visible()
    page.get_by_text(XSS_VARIANT, exact=True).first.scroll_into_view_if_needed()
    assert page.get_by_text(XSS_VARIANT, exact=True).first.is_visible()
    assert page.locator("img, svg").count() == 0
    assert page.evaluate("document.scripts.length") == 3
    assert opened.problems == []


@pytest.mark.parametrize("width", [1024, 1366])
def test_the_page_fits_laptop_widths(browser: Any, built: Built, width: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": 768})
    try:
        page.goto(built.path.as_uri())
        page.wait_for_function("document.querySelectorAll('.sy-chart:not([data-drawn])').length === 0")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        widths = page.locator(".sy-chart canvas").evaluate_all("els => els.map(el => el.getBoundingClientRect().right)")
        assert max(widths) <= width
    finally:
        page.close()
