"""The compare page in a real browser: side-by-side params with differences marked, overlaid metric curves,
the parallel coordinates chart, a run named as markup, bad input, and a comparison of 100 runs.

The store is filled through the public API: a sweep of 12 runs with numeric and categorical params and
metrics logged over steps, two runs sharing a name, and 100 more runs (one with a 5,000-step history, which
the page must thin) for the large comparison.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

import shipyard
from tests.integration.ui._ui import Tab, UIProcess, filled_store, start_ui

pytestmark = pytest.mark.slow
XSS = "<img src=x onerror=alert(1)>"
LONG_STEPS = 5000


@dataclass
class Sweep:
    ui: UIProcess
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # run id -> params as logged
    names: dict[str, str] = field(default_factory=dict)  # run id -> name
    sweep: list[str] = field(default_factory=list)  # the 12 runs, in logging order
    twins: list[str] = field(default_factory=list)
    big: list[str] = field(default_factory=list)
    long_run: str = ""
    long_last: float = 0.0


def _log_run(state: Sweep, experiment: str, name: str, params: dict[str, Any], steps: int, scale: float) -> str:
    with shipyard.start_run(experiment=experiment, name=name) as run:
        shipyard.log_params(params)
        for step in range(steps):
            shipyard.log_metrics({"loss": scale / (step + 1), "accuracy": 1 - scale / (step + 2)}, step=step)
        shipyard.log_metric("final_auc", 0.6 + scale / 10)
    state.params[run.id] = {key: str(value) for key, value in params.items()}
    state.names[run.id] = name
    return str(run.id)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sweep]:
    root = tmp_path_factory.mktemp("compare") / ".shipyard"
    made = Sweep(ui=None)  # type: ignore[arg-type]
    optimizers = ["adam", "sgd", "rmsprop"]
    with filled_store(root):
        for index in range(12):
            name = XSS if index == 2 else f"trial-{index}"
            params = {"lr": 10 ** -(1 + index % 4), "optimizer": optimizers[index % 3], "depth": 2 ** (index % 4 + 1),
                      "seed": 42, "batch": 32 if index < 11 else 64}
            made.sweep.append(_log_run(made, "sweep", name, params, steps=20, scale=1 + index / 10))
        for _ in range(2):
            made.twins.append(_log_run(made, "sweep", "twin", {"lr": 0.1}, steps=3, scale=1))
        for index in range(100):
            made.big.append(_log_run(made, "big", f"big-{index}", {"lr": 0.001 * (index + 1),
                                     "optimizer": optimizers[index % 3]}, steps=30, scale=1 + index / 100))
        with shipyard.start_run(experiment="big", name="long") as run:
            for step in range(LONG_STEPS):
                shipyard.log_metric("loss", 5 / (step + 1), step=step)
            made.long_last = 5 / LONG_STEPS
        made.long_run = str(run.id)
    made.ui = start_ui(root)
    yield made
    made.ui.stop()


def spec(locator: Any) -> dict[str, Any]:
    return json.loads(locator.get_attribute("data-spec"))


def compare_url(state: Sweep, ids: list[str], **extra: str) -> str:
    query = "&".join([f"run={run_id}" for run_id in ids] + [f"{key}={value}" for key, value in extra.items()])
    return f"{state.ui.url}/compare?{query}"


def test_three_runs_side_by_side_with_overlaid_curves_and_parallel_chart(state: Sweep, tab: Tab, shot) -> None:  # type: ignore[no-untyped-def]
    page = tab.page
    ids = state.sweep[:3]  # trial-0, trial-1 and the run named as markup
    response = page.goto(compare_url(state, [run_id[:10] for run_id in ids]))  # prefixes resolve
    assert response is not None and response.status == 200
    names = [state.names[run_id] for run_id in ids]
    assert page.locator("#compare-runs thead a").all_inner_texts() == names
    assert [link.get_attribute("href") for link in page.locator("#compare-runs thead a").all()] == \
        [f"/runs/{run_id}" for run_id in ids]

    # Params: exactly the rows whose logged values differ are marked, every cell of them and no other.
    differing = {key for key in state.params[ids[0]] if len({state.params[run_id][key] for run_id in ids}) > 1}
    assert differing == {"lr", "optimizer", "depth"}
    rows = page.locator("#compare-params tbody tr")
    marked = {row.locator("th").inner_text(): row.locator("td.changed").count() for row in rows.all()}
    assert marked == {"lr": 3, "optimizer": 3, "depth": 3, "seed": 0, "batch": 0}
    toggle = page.get_by_label("Only differences")
    toggle.check()
    assert page.locator("#compare-params tbody tr:visible th").all_inner_texts() == ["depth", "lr", "optimizer"]
    toggle.uncheck()
    assert page.locator("#compare-params tbody tr:visible").count() == 5

    # Metrics: the best of a row is marked (lowest loss, highest accuracy and AUC).
    best = page.locator("#compare-metrics tbody tr", has=page.locator("th", has_text="final_auc")).locator("td.best")
    assert best.count() == 1 and best.inner_text().startswith("0.72")  # scale 1.2: the run named as markup

    # One overlay per metric with a history, one series per run, legends naming exactly the three runs.
    curves = page.locator(".compare-curves .sy-chart")
    assert [figure.get_attribute("aria-label") for figure in curves.all()] == ["accuracy", "loss"]
    for chart in curves.all():
        assert chart.get_attribute("data-drawn") == "1"
        assert [series["name"] for series in spec(chart)["series"]] == names
        legend = chart.locator(".u-legend .u-series .u-label").all_inner_texts()
        assert legend[1:] == names  # the first legend entry is the x axis (step)

    # Parallel coordinates: the differing params and the chosen metric, one line per run.
    parallel = page.locator(".sy-figure.parallel .sy-chart")
    assert parallel.get_attribute("data-drawn") == "1"
    assert parallel.get_attribute("data-lines") == "3" and parallel.get_attribute("data-axes") == "4"
    assert [axis["name"] for axis in spec(parallel)["axes"]] == ["depth", "lr", "optimizer", "accuracy"]
    assert page.locator("#parallel-metric").input_value() == "accuracy"

    # Hover the top of the first axis (depth, the markup run has the largest): its tooltip names it as text.
    parallel.locator("canvas").hover(position={"x": 64, "y": 40})
    tip = parallel.locator(".sy-tip")
    assert tip.is_visible()
    assert tip.inner_text().splitlines()[0] == XSS
    assert parallel.get_attribute("data-hover") == XSS
    assert page.locator("img").count() == 0
    assert XSS in page.locator("#compare-runs thead").inner_text()
    shot(page, "compare")
    assert tab.errors == []

    # Choosing another metric redraws the chart against it.
    page.locator("#parallel-metric").select_option("final_auc")
    page.wait_for_url("**metric=final_auc**")
    parallel = page.locator(".sy-figure.parallel .sy-chart")
    assert parallel.get_attribute("data-drawn") == "1"
    assert spec(parallel)["axes"][-1]["name"] == "final_auc"
    assert [line["name"] for line in spec(parallel)["lines"]] == names
    assert tab.errors == []


def test_repeated_names_get_a_short_id_in_legends(state: Sweep, tab: Tab) -> None:
    tab.page.goto(f"{state.ui.url}/compare?runs={','.join(state.twins)}")
    expected = [f"twin ({run_id[:7]})" for run_id in state.twins]
    assert tab.page.locator("#compare-runs thead a").all_inner_texts() == expected
    chart = tab.page.locator(".compare-curves .sy-chart").first
    assert chart.get_attribute("data-drawn") == "1"
    assert [series["name"] for series in spec(chart)["series"]] == expected
    assert tab.errors == []


def test_a_hundred_runs_load_and_draw(state: Sweep, tab: Tab) -> None:
    page = tab.page
    ids = [*state.big, state.long_run]
    response = page.goto(f"{state.ui.url}/compare?runs={','.join(ids)}&metric=final_auc")
    assert response is not None and response.status == 200
    assert page.locator("#compare-runs thead a").count() == 101
    curves = page.locator(".compare-curves .sy-chart")
    assert curves.count() == 2
    for chart in curves.all():
        assert chart.get_attribute("data-drawn") == "1"
    loss = spec(page.locator('.compare-curves .sy-chart[aria-label="loss"]'))
    assert len(loss["series"]) == 101 and len({series["name"] for series in loss["series"]}) == 101
    assert len(loss["x"]) <= 2001 and loss["x"][-1] == LONG_STEPS - 1  # thinned, the last step kept
    long_values = [value for value in loss["series"][-1]["values"] if value is not None]
    assert long_values[-1] == pytest.approx(state.long_last)
    parallel = page.locator(".sy-figure.parallel .sy-chart")
    assert parallel.get_attribute("data-drawn") == "1"
    assert parallel.get_attribute("data-lines") == "101" and parallel.get_attribute("data-axes") == "3"
    assert tab.errors == []


def test_an_unknown_run_is_a_404_naming_it(state: Sweep, tab: Tab) -> None:
    response = tab.page.goto(f"{state.ui.url}/compare?run={state.sweep[0]}&run=nope")
    assert response is not None and response.status == 404
    assert "'nope'" in tab.page.get_by_role("alert").inner_text()
    missing = "0" * 32
    response = tab.page.goto(f"{state.ui.url}/compare?run={state.sweep[0]}&run={missing}")
    assert response is not None and response.status == 404
    assert missing in tab.page.get_by_role("alert").inner_text()


def test_one_run_asks_for_a_second_and_too_many_are_refused(state: Sweep, tab: Tab) -> None:
    response = tab.page.goto(f"{state.ui.url}/compare?run={state.sweep[2]}")
    assert response is not None and response.status == 200
    status = tab.page.get_by_role("status")
    assert "Pick at least two runs" in status.inner_text() and XSS in status.inner_text()
    assert status.get_by_role("link", name="Choose runs on the runs page").get_attribute("href") == "/runs"
    assert tab.page.locator("img").count() == 0
    assert tab.errors == []
    too_many = httpx.get(f"{state.ui.url}/compare?runs={','.join(['ab'] * 201)}")
    assert too_many.status_code == 422 and "at most 200 runs" in html.unescape(too_many.text)
    unknown_metric = httpx.get(compare_url(state, state.sweep[:2], metric="nope"))
    assert unknown_metric.status_code == 422 and "final_auc" in unknown_metric.text
