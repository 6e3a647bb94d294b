"""The runs table and the run page in a real browser, against a store filled through the public API.

The churn experiment holds 28 runs whose metric ``roc_auc`` is 0.60 + i/100 and whose param ``model`` cycles
gbm, lr, rf, so each sort, filter and page below has one right answer computed here. Run 27 is named like
an XSS payload; run 5 carries artifacts (a PNG, a CSV, a JSON file) and a ``loss`` curve over ten steps. In
the "curves" experiment one run logs three metrics over 12,000 steps (longer than a chart keeps) and one holds
an artifact whose stored object is then corrupted.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest

import shipyard
from shipyard.store import current_store
from shipyard.tracking.metrics import thinned_steps
from shipyard.ui.run_page import MAX_CHART_POINTS
from tests.integration.ui._ui import Tab, UIProcess, filled_store, start_ui

pytestmark = pytest.mark.slow
XSS_NAME = "<img src=x onerror=alert(1)>"
MODELS = ("gbm", "lr", "rf")
RUNS = 28
CURVE_STEPS = 12_000
CURVES = {"loss": lambda step: 1 / (step + 1), "accuracy": lambda step: step / CURVE_STEPS,
          "lr": lambda step: 0.1 * 0.5 ** (step // 3000)}


@dataclass
class Fixture:
    ui: UIProcess
    artifact_run: str
    parent_run: str
    child_run: str
    files: dict[str, bytes]
    curves_run: str
    corrupted_run: str


def _roc_auc(index: int) -> float:
    return round(0.60 + index / 100, 2)


def _png() -> bytes:
    """A 2x2 red PNG, written by hand (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    base = tmp_path_factory.mktemp("runs")
    root = base / ".shipyard"
    files = {"plot.png": _png(), "scores.csv": b"threshold,precision,recall\n0.5,0.81,0.74\n0.7,0.88,0.61\n",
             "report.json": json.dumps({"auc": 0.65, "classes": ["stay", "churn"]}).encode()}
    for name, data in files.items():
        (base / name).write_bytes(data)
    artifact_run = ""
    with filled_store(root):
        for index in range(RUNS):
            name = XSS_NAME if index == RUNS - 1 else f"run-{index:02d}"
            with shipyard.start_run(experiment="churn", name=name) as run:
                shipyard.log_params({"model": MODELS[index % 3], "depth": index % 5, "seed": 1000 + index})
                shipyard.set_tags({"team": "growth"})
                shipyard.log_metrics({"roc_auc": _roc_auc(index), "accuracy": 0.5 + index / 200})
                if index == 5:
                    artifact_run = run.id
                    for step in range(10):
                        shipyard.log_metric("loss", 1 / (step + 1), step=step)
                    for name in files:
                        shipyard.log_artifact(base / name)
        for index in range(2):
            with shipyard.start_run(experiment="fraud", name=f"fraud-{index}"):
                shipyard.log_params({"model": "rf"})
                shipyard.log_metric("recall", 0.4 + index / 10)
        with shipyard.start_run(experiment="sweeps", name="sweep") as parent, \
                shipyard.start_run(name="trial-1") as child:
            shipyard.log_param("lr", 0.1)
        with shipyard.start_run(experiment="curves", name="long") as curves:
            for step in range(CURVE_STEPS):
                shipyard.log_metrics({key: value(step) for key, value in CURVES.items()}, step=step * 2)
        (base / "secret.txt").write_bytes(b"the bytes as logged\n" * 1000)
        with shipyard.start_run(experiment="curves", name="corrupted") as corrupted:
            shipyard.log_artifact(base / "secret.txt")
        stored = current_store().objects.path_for(shipyard.get_run(corrupted.id).artifacts[0]["hash"])
    stored.chmod(0o644)
    stored.write_bytes(b"TAMPERED " * 2000)
    process = start_ui(root)
    yield Fixture(process, artifact_run, parent.id, child.id, files, curves.id, corrupted.id)
    process.stop()


def _column(page: Any, header: str) -> list[str]:
    """The cells of the runs table under the header named ``header``, top to bottom."""
    headers = page.locator(".runs-table thead tr").nth(1).locator("th").all_inner_texts()
    offset = page.locator(".runs-table thead tr").first.locator("th[rowspan]").count()
    index = offset + [text.replace("▲", "").replace("▼", "").strip() for text in headers].index(header)
    return page.locator(f".runs-table tbody tr td:nth-child({index + 1})").all_inner_texts()


def _names(page: Any) -> list[str]:
    return page.locator(".runs-table tbody td.run-name").all_inner_texts()


def test_runs_table_shows_params_and_metrics_grouped_newest_first(store: Fixture, tab: Tab, shot) -> None:  # type: ignore[no-untyped-def]
    page = tab.page
    page.goto(store.ui.url + "/runs?experiment=churn")
    assert page.locator(".runs-table tbody tr").count() == RUNS
    groups = page.locator(".runs-table th.group").all_inner_texts()
    assert groups == ["Params", "Metrics"]
    assert page.get_by_role("columnheader", name="Started").get_attribute("aria-sort") == "descending"
    assert _names(page)[0] == XSS_NAME  # the last run started is listed first
    assert page.locator(".page-status").inner_text() == f"Page 1 of 1, {RUNS} runs"
    assert sorted(_column(page, "model")) == sorted(MODELS[i % 3] for i in range(RUNS))
    assert page.locator(".runs-table tbody tr").first.locator(".badge").inner_text() == "FINISHED"
    assert tab.errors == []
    shot(page, "runs")


def test_clicking_a_metric_header_sorts_ascending_then_descending(store: Fixture, tab: Tab) -> None:
    page = tab.page
    page.goto(store.ui.url + "/runs?experiment=churn")
    expected = [f"{_roc_auc(i):.4g}" for i in range(RUNS)]
    page.get_by_role("columnheader", name="roc_auc").get_by_role("link").click()
    page.wait_for_url("**order=metrics.roc_auc+ASC**")
    assert _column(page, "roc_auc") == expected
    assert page.get_by_role("columnheader", name="roc_auc").get_attribute("aria-sort") == "ascending"
    page.get_by_role("columnheader", name="roc_auc").get_by_role("link").click()
    page.wait_for_url("**order=metrics.roc_auc+DESC**")
    assert _column(page, "roc_auc") == expected[::-1]
    assert page.get_by_role("columnheader", name="roc_auc").get_attribute("aria-sort") == "descending"
    assert page.get_by_role("columnheader", name="Started").get_attribute("aria-sort") == "none"
    assert tab.errors == []


def test_filter_box_filters_and_a_bad_filter_is_explained_in_place(store: Fixture, tab: Tab) -> None:
    page = tab.page
    page.goto(store.ui.url + "/runs?experiment=churn")
    box = page.get_by_role("searchbox", name="Filter")
    box.fill("metrics.roc_auc > 0.8 and params.model = 'gbm'")
    box.press("Enter")
    page.wait_for_url("**filter=**")
    matching = [i for i in range(RUNS) if _roc_auc(i) > 0.8 and MODELS[i % 3] == "gbm"]
    assert len(matching) == 3
    assert sorted(_column(page, "roc_auc")) == sorted(f"{_roc_auc(i):.4g}" for i in matching)
    assert set(_column(page, "model")) == {"gbm"}
    assert page.locator(".page-status").inner_text() == "Page 1 of 1, 3 runs"
    assert tab.errors == []

    box = page.get_by_role("searchbox", name="Filter")
    box.fill("metrics.roc_auc >> 0.8")
    with page.expect_response(lambda response: "/runs?" in response.url) as answer:
        box.press("Enter")
    assert answer.value.status == 422
    message = page.get_by_role("alert").inner_text()
    assert "position 17" in message and "^" in message
    assert page.get_by_role("searchbox", name="Filter").input_value() == "metrics.roc_auc >> 0.8"  # form kept
    assert page.locator(".runs-table").count() == 0


def test_pagination_moves_to_page_two_with_the_right_rows(store: Fixture, tab: Tab) -> None:
    page = tab.page
    page.goto(store.ui.url + "/runs?experiment=churn&size=25&order=metrics.roc_auc+DESC")
    assert page.locator(".page-status").inner_text() == f"Page 1 of 2, {RUNS} runs"
    assert page.locator(".runs-table tbody tr").count() == 25
    page.locator("a[rel=next]").click()
    page.wait_for_url("**page=2**")
    assert page.locator(".page-status").inner_text() == f"Page 2 of 2, {RUNS} runs"
    assert _names(page) == ["run-02", "run-01", "run-00"]  # the lowest roc_auc, still descending
    assert page.locator("a[rel=next]").count() == 0
    assert tab.errors == []


def test_column_chooser_hides_and_shows_a_column(store: Fixture, tab: Tab) -> None:
    page = tab.page
    page.goto(store.ui.url + "/runs?experiment=churn")
    assert page.get_by_role("columnheader", name="seed").count() == 1
    page.locator(".column-chooser summary").click()
    page.get_by_role("checkbox", name="seed").uncheck()
    page.get_by_role("button", name="Show columns").click()
    page.wait_for_url("**cols=**")
    assert page.get_by_role("columnheader", name="seed").count() == 0
    assert page.get_by_role("columnheader", name="depth").count() == 1
    assert page.locator(".runs-table tbody tr").count() == RUNS
    # The choice survives sorting, then the column comes back.
    page.get_by_role("columnheader", name="accuracy").get_by_role("link").click()
    page.wait_for_url("**order=**")
    assert page.get_by_role("columnheader", name="seed").count() == 0
    page.locator(".column-chooser summary").click()
    page.get_by_role("checkbox", name="seed").check()
    page.get_by_role("button", name="Show columns").click()
    page.wait_for_url("**cols=params.seed**")
    assert page.get_by_role("columnheader", name="seed").count() == 1
    assert tab.errors == []


def test_a_run_named_like_markup_is_shown_as_text(store: Fixture, tab: Tab) -> None:
    page = tab.page
    page.goto(store.ui.url + "/runs?experiment=churn")
    link = page.get_by_role("link", name=XSS_NAME, exact=True)
    assert link.count() == 1
    assert page.locator(".runs-table img, main img").count() == 0
    link.click()
    page.wait_for_url("**/runs/*")
    assert page.get_by_role("heading", level=1).inner_text().startswith(XSS_NAME)
    assert page.locator("main img").count() == 0
    assert tab.errors == []  # no dialog: the onerror never ran


def test_run_page_shows_params_chart_artifacts_and_downloads_exact_bytes(store: Fixture, tab: Tab, shot) -> None:  # type: ignore[no-untyped-def]
    page = tab.page
    page.goto(f"{store.ui.url}/runs/{store.artifact_run[:8]}")  # a prefix is enough
    assert page.get_by_role("heading", level=1).inner_text().startswith("run-05")
    params = page.locator(".params-table")
    assert params.get_by_role("row", name="model").get_by_role("cell").inner_text() == "rf"
    assert params.get_by_role("row", name="seed").get_by_role("cell").inner_text() == "1005"
    chart = page.locator('.sy-chart[data-drawn="1"]')
    chart.wait_for()
    assert chart.count() == 1
    spec = json.loads(chart.get_attribute("data-spec") or "{}")
    assert [series["name"] for series in spec["series"]] == ["loss"]
    assert spec["x"] == [float(step) for step in range(10)]
    assert spec["series"][0]["values"][-1] == pytest.approx(0.1)
    assert "loss" in page.locator(".sy-figure .u-legend").inner_text()
    single = page.locator(".metrics-table")
    assert single.get_by_role("row", name="roc_auc").get_by_role("cell").first.inner_text() == "0.65"
    assert "growth" in page.locator(".tags-table").inner_text()
    assert "commit" in page.locator(".lineage-table").inner_text().lower()

    image = page.locator(".preview-image img")
    page.wait_for_function("img => img.complete && img.naturalWidth === 2", arg=image.element_handle())
    csv_cells = page.locator(".csv-preview tbody tr").first.locator("td").all_inner_texts()
    assert csv_cells == ["0.5", "0.81", "0.74"]
    assert json.loads(page.locator(".json-preview").inner_text()) == {"auc": 0.65, "classes": ["stay", "churn"]}

    for name, data in store.files.items():
        with page.expect_download() as started:
            page.locator(".artifacts-table").get_by_role("link", name=name).click()
        download = started.value
        assert download.suggested_filename == name
        assert Path(download.path()).read_bytes() == data
    assert tab.errors == []
    shot(page, "run")


def test_artifact_responses_are_attachments_with_their_types(store: Fixture) -> None:
    import httpx

    base = f"{store.ui.url}/runs/{store.artifact_run}/artifacts"
    csv_answer = httpx.get(f"{base}/scores.csv?inline=1")
    assert csv_answer.headers["content-disposition"].startswith("attachment;")  # inline only for pictures
    assert csv_answer.headers["content-type"].startswith("text/csv")
    png = httpx.get(f"{base}/plot.png?inline=1")
    assert png.headers["content-type"] == "image/png" and png.headers["content-disposition"].startswith("inline;")
    assert png.content == store.files["plot.png"]
    assert httpx.get(f"{base}/missing.txt").status_code == 404


def test_parent_and_child_runs_link_to_each_other(store: Fixture, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{store.ui.url}/runs/{store.parent_run}")
    page.locator(".children-table").get_by_role("link", name="trial-1").click()
    page.wait_for_url(f"**/runs/{store.child_run}")
    assert page.locator(".params-table").get_by_role("row", name="lr").count() == 1
    page.locator(".run-facts").get_by_role("link", name="sweep", exact=True).click()
    page.wait_for_url(f"**/runs/{store.parent_run}")
    assert tab.errors == []


def test_compare_selected_sends_both_run_ids(store: Fixture, tab: Tab) -> None:
    page = tab.page
    page.goto(store.ui.url + "/runs?experiment=churn&order=metrics.roc_auc+DESC")
    button = page.get_by_role("button", name="Compare selected")
    assert button.is_disabled()  # runs.js: two runs at least
    rows = page.locator(".runs-table tbody tr")
    wanted = [rows.nth(i).get_attribute("data-run-id") for i in (1, 2)]
    page.get_by_role("checkbox", name="Select run run-26").check()
    page.get_by_role("checkbox", name="Select run run-25").check()
    button.click()
    page.wait_for_url("**/compare?**")
    query = parse_qs(urlparse(page.url).query)
    assert query["run"] == wanted


def test_unknown_run_and_bad_page_size_are_error_pages(store: Fixture, tab: Tab) -> None:
    answer = tab.page.goto(store.ui.url + "/runs/ffffffffffffffff")
    assert answer is not None and answer.status == 404
    answer = tab.page.goto(store.ui.url + "/runs?size=7")
    assert answer is not None and answer.status == 422
    assert "25, 50, 100, 200" in tab.page.get_by_role("alert").inner_text()


def test_run_page_draws_every_long_metric_thinned_like_the_compare_page(store: Fixture, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{store.ui.url}/runs/{store.curves_run}")
    charts = page.locator('.sy-chart[data-drawn="1"]')
    charts.first.wait_for()
    assert charts.count() == len(CURVES)
    steps = [step * 2 for step in range(CURVE_STEPS)]
    kept = thinned_steps(steps, MAX_CHART_POINTS)  # the compare overlay's rule, the last step included
    assert len(kept) <= MAX_CHART_POINTS + 1 and kept[-1] == steps[-1]
    drawn = {}
    for index in range(charts.count()):
        spec = json.loads(charts.nth(index).get_attribute("data-spec") or "{}")
        [series] = spec["series"]
        drawn[series["name"]] = spec
        assert spec["x"] == [float(step) for step in kept], series["name"]
        assert series["values"][-1] == pytest.approx(CURVES[series["name"]](CURVE_STEPS - 1))
    assert set(drawn) == set(CURVES)
    assert tab.errors == []


def test_a_corrupted_artifact_is_refused_not_sent(store: Fixture) -> None:
    answer = httpx.get(f"{store.ui.url}/runs/{store.corrupted_run}/artifacts/secret.txt")
    assert answer.status_code == 500 and "IntegrityError" in answer.text and "corrupted" in answer.text
    assert b"TAMPERED" not in answer.content and answer.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in answer.headers["content-security-policy"]


def test_oversized_filters_and_bad_page_numbers_are_422(store: Fixture, tab: Tab) -> None:
    deep = "(" * 2000 + "metrics.roc_auc > 0.5" + ")" * 2000
    answer = tab.page.goto(f"{store.ui.url}/runs?{urlencode({'filter': deep})}")
    assert answer is not None and answer.status == 422
    assert "nest more than 50 deep" in tab.page.get_by_role("alert").inner_text()
    wide = " and ".join(["metrics.roc_auc > 0.5"] * 250)  # (3,000 would not fit in a request line)
    answer = tab.page.goto(f"{store.ui.url}/runs?{urlencode({'filter': wide})}")
    assert answer is not None and answer.status == 422
    assert "at most 200 conditions" in tab.page.get_by_role("alert").inner_text()
    for bad in ("0", "-1", "²", "99999999999999999999999", "two"):
        answer = tab.page.goto(f"{store.ui.url}/runs?{urlencode({'page': bad})}")
        assert answer is not None and answer.status == 422, bad
        assert "page" in tab.page.get_by_role("alert").inner_text()
    answer = tab.page.goto(f"{store.ui.url}/runs?experiment=churn&page=99")  # past the end: the last page
    assert answer is not None and answer.status == 200
    assert tab.page.locator(".page-status").inner_text() == f"Page 1 of 1, {RUNS} runs"


def test_sort_and_page_links_keep_the_chosen_columns(store: Fixture, tab: Tab) -> None:
    page = tab.page
    page.goto(store.ui.url + "/runs?experiment=churn&size=25&cols=params.seed&cols=metrics.accuracy")
    assert page.get_by_role("columnheader", name="seed").count() == 1
    assert page.get_by_role("columnheader", name="model").count() == 0
    for link in (page.locator("a[rel=next]"), page.get_by_role("columnheader", name="Run").get_by_role("link")):
        query = parse_qs(urlparse(link.get_attribute("href") or "").query)
        assert query["cols"] == ["params.seed", "metrics.accuracy"] and query["experiment"] == ["churn"]
    assert tab.errors == []
