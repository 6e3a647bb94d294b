"""The HTML monitoring report: sections and their order, escaping, size, atomic writes.

Results are built the way ``monitor()`` builds them, minus the files: training profiles from
``models.profile`` on seeded data, the live window folded by the real ``WindowBuilder`` from an Arrow
table shaped like the prediction log, and every check from ``monitoring.checks``. The browser test
(tests/integration/monitoring/test_report_browser.py) does the same from a real log on disk.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from shipyard.charts import inline_assets
from shipyard.models.profile import categorical_profile, numeric_profile, prediction_profile
from shipyard.monitoring import checks
from shipyard.monitoring.config import Thresholds
from shipyard.monitoring.monitor import MonitoringResult
from shipyard.monitoring.report import MAX_LEVELS, MAX_POINTS, render_report, write_report
from shipyard.monitoring.source import Labelled, Reference, Window
from shipyard.monitoring.timeline import quality_timeline
from shipyard.monitoring.windows import WindowBuilder

END_MS = 1_800_000_000_000  # a fixed "now" (2027-01-15 08:00 UTC): reports of these results are reproducible
XSS_FEATURE = "<script>alert(1)</script>"
XSS_LEVEL = "<img src=x onerror=alert(2)>"
XSS_VARIANT = '"><svg onload=alert(3)>'


def synthetic_result(*, rows: int = 20_000, numeric: Sequence[str] = ("tenure", "charges"),
                     categorical: Sequence[str] = ("contract", "payment"), shifted: Sequence[str] = ("charges",),
                     minutes: int = 360, variants: Sequence[str] = ("champion", "challenger"),
                     new_level: str | None = "Four year", high_cardinality: int = 0, deployment: str = "churn",
                     labelled_rows: int = 2_000, regressor: bool = False, seed: int = 0) -> MonitoringResult:
    """A MonitoringResult from seeded traffic: ``shifted`` features drift, the first categorical one gains
    ``new_level`` (unless None), ``high_cardinality`` > 0 adds an ``id`` column with that many distinct values;
    a binary classifier's answers, or with ``regressor`` a regressor's whose predictions drift upwards."""
    rng = np.random.default_rng(seed)
    train = 5_000
    columns: dict[str, Any] = {}
    for name in numeric:
        columns[name] = numeric_profile(rng.normal(50, 10, train))
    for name in categorical:
        columns[name] = categorical_profile(rng.choice(["a", "b", "c"], train))
    if high_cardinality:
        columns["id"] = categorical_profile(np.array([f"id{index}" for index in rng.integers(0, 2_000, train)]))
    scores = rng.beta(2, 5, train)
    classes = [] if regressor else ["0", "1"]
    if regressor:
        prediction = prediction_profile(rng.normal(100, 20, train))
    else:
        prediction = prediction_profile((scores > 0.5).astype(int).astype(str),
                                        np.column_stack([1 - scores, scores]), classes=("0", "1"))
    reference = Reference("training", "models:/churn/1", {"rows": train, "columns": columns}, prediction)

    window = Window(END_MS - minutes * 60_000, END_MS)
    stamps = np.sort(rng.integers(window.start_ms, window.end_ms, rows))
    current_scores = rng.beta(2, 5, rows)
    values = rng.normal(115, 20, rows)
    predicted = values.round(3).astype(str) if regressor else (current_scores > 0.5).astype(int).astype(str)
    arrays: dict[str, Any] = {
        "row": pa.array(np.zeros(rows, dtype="int32")),
        "timestamp": pa.array(stamps, pa.timestamp("ms", tz="UTC")),
        "latency_ms": pa.array(rng.lognormal(1.0, 0.8, rows)),
        "variant": pa.array(variants).take(pa.array(arm := rng.integers(0, len(variants), rows))),
        "model_version": pa.array(np.ones(rows, dtype="int64")),
        "prediction": pa.array(predicted),
        "prediction_value": pa.array(values if regressor else (current_scores > 0.5).astype("float64")),
        "probabilities": pa.nulls(rows, pa.list_(pa.float64())) if regressor else pa.FixedSizeListArray.from_arrays(
            pa.array(np.column_stack([1 - current_scores, current_scores]).reshape(-1)), 2).cast(
            pa.list_(pa.float64())),
    }
    for name in numeric:
        arrays[f"input.{name}"] = pa.array(rng.normal(65 if name in shifted else 50, 10, rows))
    for index, name in enumerate(categorical):
        levels = ["a", "b", "c", new_level] if index == 0 and new_level else ["a", "b", "c"]
        weights = [0.2, 0.2, 0.2, 0.4] if len(levels) == 4 else [0.6, 0.2, 0.2] if name in shifted else None
        arrays[f"input.{name}"] = pa.array(levels).take(pa.array(rng.choice(len(levels), rows, p=weights)))
    if high_cardinality:
        names = pa.array([f"id{index}" for index in range(high_cardinality)])
        arrays["input.id"] = names.take(pa.array(rng.integers(0, high_cardinality, rows)))
    builder = WindowBuilder(reference.profile, prediction, window.start_ms, window.end_ms)
    for batch in pa.table(arrays).to_batches(max_chunksize=262_144):
        builder.add_batch(batch)
    current = builder.finish()

    picked = rng.choice(rows, min(labelled_rows, rows), replace=False)
    if regressor:
        truth = values[picked] + rng.normal(0, 5, len(picked))
        label, value = truth.astype(str), truth
    else:
        label = (rng.random(len(picked)) < current_scores[picked]).astype(int).astype(str)
        value = label.astype("float64")
    labelled = Labelled(
        variant=[variants[index] for index in arm[picked]],
        version=[1] * len(picked),
        predicted=predicted[picked].tolist(),
        label=label.tolist(),
        label_value=value,
        probabilities=[None if regressor else [1 - current_scores[index], current_scores[index]] for index in picked],
        timestamp_ms=stamps[picked],
    )
    thresholds = Thresholds()
    results = checks.input_checks(reference, current, thresholds)
    results += checks.output_checks(reference, current, thresholds)
    results.append(checks.volume_check(current, None, thresholds))
    results.append(checks.latency_check(current, thresholds))
    results += checks.quality_checks(labelled, current, classes, {"roc_auc": 0.9}, thresholds)
    comparison = checks.ab_check(labelled, classes, thresholds)
    if comparison is not None:
        results.append(comparison)
    return MonitoringResult(deployment, window, reference, current, None, results, labelled.rows, [],
                            quality_timeline(labelled, classes))


class _Tags(HTMLParser):
    """Every start tag of a document, with its attributes, and the text of each <h2>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headings: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_h2 = tag == "h2"

    def handle_endtag(self, tag: str) -> None:
        self._in_h2 = self._in_h2 and tag != "h2"

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.headings.append(data)


def parse(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    parser.close()
    return parser


def specs(text: str) -> list[dict[str, Any]]:
    return [json.loads(attrs["data-spec"] or "") for tag, attrs in parse(text).tags if "data-spec" in attrs]


@pytest.fixture(scope="module")
def drifted() -> MonitoringResult:
    return synthetic_result()


@pytest.fixture(scope="module")
def drifted_html(drifted: MonitoringResult) -> str:
    return render_report(drifted, generated_ms=END_MS)


def test_sections_come_in_order_after_the_verdict(drifted: MonitoringResult, drifted_html: str) -> None:
    ids = [attrs.get("id") for tag, attrs in parse(drifted_html).tags if tag in ("header", "section")]
    assert ids == ["summary", "failing", "drift", "response", "traffic", "quality", "ab"]
    assert drifted.verdict == "alert"
    assert 'class="badge badge-alert badge-big">alert</span>' in drifted_html
    assert html.escape(drifted.summary()).split("`")[0] not in drifted_html  # the badge says ALERT: once
    assert f'<p class="sy-verdict">{html.escape(drifted.summary(status=False)).split("`")[0]}' in drifted_html
    assert "2027-01-15 02:00 UTC to 2027-01-15 08:00 UTC (6 hours)" in drifted_html
    assert "training, 5,000 rows" in drifted_html and "<code>models:/churn/1</code>" in drifted_html
    assert "20,000 rows in 20,000 requests" in drifted_html and "2,000 (10.0% of predictions)" in drifted_html


def test_failing_checks_are_listed_first_worst_first(drifted: MonitoringResult, drifted_html: str) -> None:
    failing = drifted_html[drifted_html.index('id="failing"'):drifted_html.index('id="drift"')]
    statuses = re.findall(r'<tr><td><span class="badge badge-(\w+)">', failing)
    assert statuses and statuses == sorted(statuses, key=lambda status: -checks.STATUS_ORDER[status])
    assert len(statuses) == len(drifted.failing())
    assert "ok" not in statuses
    assert '<a href="#feature-0"><code>charges</code></a>' in failing  # links to the feature's card


def test_drift_cards_put_failing_features_first_each_with_a_histogram(drifted_html: str) -> None:
    drift = drifted_html[drifted_html.index('id="drift"'):drifted_html.index('id="response"')]
    cards = re.findall(r'<article class="sy-card status-(\w+)" id="feature-\d+"><h3><code>([^<]+)</code>', drift)
    assert [name for _, name in cards][:2] == ["charges", "contract"]  # shifted, then new level
    assert [status for status, _ in cards][:2] == ["alert", "alert"]
    assert {status for status, _ in cards[2:]} == {"ok"}
    histograms = [spec for spec in specs(drift) if spec["kind"] == "histogram"]
    assert len(histograms) == len(cards) == 4
    contract = next(spec for spec in histograms if "Four year" in spec["labels"])
    assert [series["name"] for series in contract["series"]] == ["training", "current"]
    assert contract["series"][0]["values"][contract["labels"].index("Four year")] == 0


def test_response_traffic_quality_and_ab_sections_have_their_charts(drifted: MonitoringResult,
                                                                    drifted_html: str) -> None:
    def part(start: str, stop: str) -> str:
        return drifted_html[drifted_html.index(f'id="{start}"'):drifted_html.index(f'id="{stop}"')]

    response = specs(part("response", "traffic"))
    assert response[0]["labels"] == ["0", "1"]  # class shares
    assert len(response[1]["labels"]) == 20  # probability histogram of the positive class
    traffic = specs(part("traffic", "quality"))
    volume = traffic[0]
    assert volume["kind"] == "timeseries" and volume["utc"] and volume["y_min"] == 0
    assert len(volume["x"]) == 360 and sum(volume["series"][0]["values"]) == drifted.current.rows
    assert traffic[1]["kind"] == "histogram" and abs(sum(traffic[1]["series"][0]["values"]) - 1) < 1e-9
    for quantile in ("p50", "p95", "p99"):
        assert f"<span class=muted>{quantile}</span>" in drifted_html
    quality = part("quality", "ab")
    assert "<th class=num>roc_auc</th>" in quality and "<code>challenger</code>" in quality
    over_time = specs(quality)
    assert {series["name"] for series in over_time[0]["series"]} == {"champion", "challenger"}
    assert len(over_time[0]["x"]) > 1
    ab = drifted_html[drifted_html.index('id="ab"'):]
    verdict = next(item for item in drifted.results if item.check == "ab").message
    assert html.escape(verdict) in ab
    assert ab.count('<div class="ci"') == 2 and "95% interval" in ab


def test_every_user_string_is_escaped() -> None:
    result = synthetic_result(numeric=(XSS_FEATURE, "tenure"), categorical=("contract",), shifted=(XSS_FEATURE,),
                              new_level=XSS_LEVEL, variants=("champion", XSS_VARIANT),
                              deployment="<marquee>churn</marquee>")
    text = render_report(result, generated_ms=END_MS)
    for raw in (XSS_FEATURE, XSS_LEVEL, XSS_VARIANT, "<marquee>", "<svg", "<img"):
        assert raw not in text
    assert "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in text
    assert "<code>&lt;marquee&gt;churn&lt;/marquee&gt;</code>" in text
    assert "<code>&quot;&gt;&lt;svg onload=alert(3)&gt;</code>" in text
    document = parse(text)
    assert {tag for tag, _ in document.tags} & {"img", "svg", "marquee", "iframe", "object"} == set()
    scripts = [attrs for tag, attrs in document.tags if tag == "script"]
    assert len(scripts) == 3  # uPlot, charts.js and the JSON result: none came from the data
    labels = {label for spec in specs(text) for label in spec.get("labels", [])}
    assert XSS_LEVEL in labels  # drawn as text by the charts, after the attribute is unescaped
    embedded = text[text.index('id="shipyard-result">') + len('id="shipyard-result">'):]
    data = json.loads(embedded[:embedded.index("</script>")])
    assert data["deployment"] == "<marquee>churn</marquee>" and data["verdict"] == result.verdict


def test_the_report_is_self_contained() -> None:
    text = render_report(synthetic_result(rows=2_000, labelled_rows=300), generated_ms=END_MS)
    assert inline_assets() in text
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text)
    assert "<link" not in text and "@import" not in text


@pytest.mark.parametrize("rows", [200_000, pytest.param(1_000_000, marks=pytest.mark.slow)])
def test_twenty_features_stay_far_under_five_megabytes(rows: int) -> None:
    result = synthetic_result(rows=rows, numeric=[f"n{index}" for index in range(10)],
                              categorical=[f"c{index}" for index in range(9)], shifted=("n0", "c3"),
                              high_cardinality=20_000, minutes=7 * 24 * 60, labelled_rows=20_000)
    assert len(result.current.features) == 20 and result.current.rows == rows
    text = render_report(result)
    size = len(text.encode())
    assert size < 1_000_000, f"{size:,} bytes"  # the bound is 5 MB; aggregated counts are far below it
    drawn = specs(text)
    drift = specs(text[text.index('id="drift"'):text.index('id="response"')])
    assert len(drift) == 20 and max(len(spec["labels"]) for spec in drift) <= MAX_LEVELS
    identifiers = next(spec for spec in drift if any(label.startswith("other (") for label in spec["labels"]))
    assert identifiers["labels"][-1].startswith("other (") and "levels)" in identifiers["labels"][-1]
    volume = next(spec for spec in drawn if spec["kind"] == "timeseries")
    assert len(volume["x"]) <= MAX_POINTS and sum(volume["series"][0]["values"]) == rows


def test_an_all_ok_result_says_so() -> None:
    result = synthetic_result(shifted=(), new_level=None, rows=5_000, labelled_rows=50, variants=("champion",))
    assert result.verdict == "ok", result.failing()
    text = render_report(result, generated_ms=END_MS)
    assert f"<p>All {len(result.results)} checks are ok.</p>" in text
    assert 'class="badge badge-ok badge-big">ok</span>' in text
    assert "nothing to compare" in text  # one variant: no A/B
    assert "quality needs 100+ labels" in text


def test_missing_numbers_and_long_messages_do_not_break_rendering(drifted: MonitoringResult) -> None:
    broken = checks.CheckResult("drift", "x", "warn", "psi", math.nan, math.inf, "`x` " + "very long " * 1_000)
    result = MonitoringResult(drifted.deployment, drifted.window, drifted.reference, drifted.current, None,
                              [*drifted.results, broken], drifted.labelled_rows)
    text = render_report(result)
    page = text[:text.index('id="shipyard-result"')]
    assert "very long " * 250 not in page and "very long " * 150 in page  # shortened on the page
    failing = text[text.index('id="failing"'):text.index('id="drift"')]
    assert "<td>psi</td><td class=num>-</td><td class=num>-</td>" in failing
    embedded = text[text.index('id="shipyard-result">') + len('id="shipyard-result">'):]
    json.loads(embedded[:embedded.index("</script>")])  # NaN became null: still valid JSON


def test_write_report_writes_atomically(drifted: MonitoringResult, tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    assert write_report(drifted, target) == target
    first = target.read_text()
    assert first.startswith("<!DOCTYPE html>") and first.endswith("</html>\n")
    assert write_report(drifted, target) == target  # replaces an existing report
    assert sorted(path.name for path in target.parent.iterdir()) == ["report.html"]
    occupied = tmp_path / "dir.html"
    occupied.mkdir()
    with pytest.raises(OSError):
        write_report(drifted, occupied)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dir.html", "out"]  # no temporary file left


def test_a_regressor_shows_its_predicted_values_and_errors() -> None:
    result = synthetic_result(regressor=True, rows=5_000, labelled_rows=1_000)
    text = render_report(result, generated_ms=END_MS)
    response = text[text.index('id="response"'):text.index('id="traffic"')]
    assert "Predicted values: mean" in response and "badge-alert" in response  # predictions drifted upwards
    assert [spec["kind"] for spec in specs(response)] == ["histogram"]
    quality = text[text.index('id="quality"'):text.index('id="ab"')]
    assert "<th class=num>mae</th>" in quality and "<th class=num>rmse</th>" in quality
    assert specs(quality)[0]["y_label"] == "mae"
    ab = text[text.index('id="ab"'):]
    table = ab[ab.index("<tbody>"):ab.index("</tbody>")]
    assert "<th class=num>Mean absolute error</th>" in ab and "%</td>" not in table  # errors, not rates
