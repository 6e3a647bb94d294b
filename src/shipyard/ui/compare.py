"""The compare page: ``/compare?run=ID&run=ID...`` (also ``runs=ID,ID``) for 2 to 200 runs.

Params, tags and latest metrics side by side with the rows that differ marked, each metric's curves over
steps overlaid (one chart per metric, one series per run), and a parallel coordinates chart of the params
that differ against one chosen metric. The runs are read in one query and each metric's histories in one
more (:mod:`._compare_data`), so a comparison of a hundred runs stays quick where MLflow's stalls.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import charts
from ..errors import ValidationError
from ._compare_data import curve_keys, histories, load_runs, overlay
from ._render import page

MAX_RUNS = 200
MAX_CURVE_CHARTS = 40
MAX_PARALLEL_PARAMS = 12
# Metrics whose name says smaller is better (the rest count higher as better when marking the best run).
_LOWER_IS_BETTER = re.compile(r"loss|err|mse|mae|rmse|mape|perplexity|latency|time|duration|cost|wer|cer",
                              re.IGNORECASE)
_NUMBER = re.compile(r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")


@dataclass
class Row:
    """One key of a side-by-side table: a value per run (``None`` where the run lacks it)."""

    key: str
    values: list[Any]
    changed: bool
    best: set[int]


def compare(request: Request) -> Response:
    store = request.app.state.ui.store
    given = [*request.query_params.getlist("run"),
             *(part for text in request.query_params.getlist("runs") for part in text.split(","))]
    given = [text for text in given if text.strip()]
    if len(given) > MAX_RUNS:
        raise ValidationError(f"A comparison takes at most {MAX_RUNS} runs; {len(given)} were asked for. "
                              "Narrow the runs with a filter on the runs page.", field="run")
    runs = load_runs(store, given)
    if len(runs) < 2:
        return page(request, "compare_pick.html", runs=runs)
    labels = series_names(runs)
    run_ids = [run["run_id"] for run in runs]
    metrics = side_by_side(runs, "metrics", best=True)
    metric_keys = [row.key for row in metrics]
    # Default: the first metric on which the runs differ (one that is the same everywhere explains nothing).
    chosen = request.query_params.get("metric") or next((row.key for row in metrics if row.changed),
                                                        metric_keys[0] if metric_keys else None)
    if chosen is not None and chosen not in metric_keys:
        raise ValidationError(f"None of these runs logged a metric {chosen!r}; choose one of: "
                              f"{', '.join(metric_keys) or '(no metrics)'}.", field="metric")
    params = side_by_side(runs, "params")
    keys = curve_keys(store, run_ids)
    return page(
        request, "compare.html", runs=runs, labels=labels, params=params, tags=side_by_side(runs, "tags"),
        metrics=metrics, metric_keys=metric_keys, chosen=chosen,
        curves=[curve_chart(store, run_ids, labels, key) for key in keys[:MAX_CURVE_CHARTS]],
        curves_left_out=max(0, len(keys) - MAX_CURVE_CHARTS),
        parallel=parallel_chart(runs, labels, params, chosen), parallel_params_cap=MAX_PARALLEL_PARAMS,
    )


def series_names(runs: list[dict[str, Any]]) -> list[str]:
    """A legend name per run: its name, with a short id added where names repeat, so legends are unambiguous."""
    counts = Counter(run["name"] for run in runs)
    names = [run["name"] if counts[run["name"]] == 1 else f"{run['name']} ({run['run_id'][:7]})" for run in runs]
    if len(set(names)) < len(names):  # a name that looks like another's "name (id)": fall back to full ids
        names = [f"{run['name']} ({run['run_id']})" for run in runs]
    return names


def side_by_side(runs: list[dict[str, Any]], section: str, *, best: bool = False) -> list[Row]:
    """One row per key of ``section`` (params, tags or metrics) across the runs, sorted by key.

    A row is ``changed`` when the runs do not all have the same value (a missing value differs from any
    value). With ``best`` (metrics), ``Row.best`` holds the positions of the best value: the lowest for
    names like loss or error, else the highest; none when all values are equal.
    """
    keys = sorted({key for run in runs for key in run[section]})
    rows = []
    for key in keys:
        values = [run[section].get(key) for run in runs]
        distinct = {_same(value) for value in values}
        rows.append(Row(key, values, len(distinct) > 1, _best(key, values) if best and len(distinct) > 1 else set()))
    return rows


def _same(value: Any) -> Any:
    return "nan" if isinstance(value, float) and value != value else value  # NaN equals NaN here


def _best(key: str, values: list[Any]) -> set[int]:
    numbers = [(value, index) for index, value in enumerate(values)
               if isinstance(value, float | int) and value == value and abs(value) != float("inf")]
    if not numbers:
        return set()
    target = min(numbers)[0] if _LOWER_IS_BETTER.search(key) else max(numbers)[0]
    return {index for value, index in numbers if value == target}


def curve_chart(store: Any, run_ids: list[str], labels: list[str], key: str) -> dict[str, Any]:
    """The overlay of one metric: x = steps, one series per run (runs without the metric left out)."""
    x, by_run = overlay(histories(store, run_ids, key))
    series = {label: [_rounded(value) for value in by_run[run_id]]
              for run_id, label in zip(run_ids, labels, strict=True) if run_id in by_run}
    return {"key": key, "spec": charts.lines(x, series, x_label="step", y_label=key, height=240)}


def _rounded(value: float | None) -> float | None:
    """Six significant digits: what a chart can show, and a third of the page's bytes at 100 runs."""
    return None if value is None or value != value else float(f"{value:.6g}")


def parallel_chart(runs: list[dict[str, Any]], labels: list[str], params: list[Row],
                   metric: str | None) -> dict[str, Any] | None:
    """Params (those that differ, else all; at most MAX_PARALLEL_PARAMS) -> ``metric``, one line per run.

    A param whose logged values all read as numbers gets a numeric axis; any other an ordered category axis.
    """
    candidates = [row for row in params if row.changed] or params
    rows = candidates[:MAX_PARALLEL_PARAMS]
    axes = [row.key for row in rows]
    columns = [_axis_values(row.values) for row in rows]
    if metric is not None:
        axes.append(metric)
        columns.append([run["metrics"].get(metric) for run in runs])
    if len(axes) < 2:
        return None
    lines = {label: [column[index] for column in columns] for index, label in enumerate(labels)}
    return {"spec": charts.parallel(axes, lines, color_axis=metric, height=340),
            "axes": axes, "params_left_out": len(candidates) - len(rows)}


def _axis_values(values: list[Any]) -> list[Any]:
    """Params are text; an axis is numeric when every present value reads as a number."""
    if all(value is None or _NUMBER.match(str(value).strip()) for value in values):
        return [None if value is None else float(value) for value in values]
    return values


ROUTES = [Route("/compare", compare, name="compare")]
