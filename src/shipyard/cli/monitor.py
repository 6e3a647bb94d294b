"""``shipyard monitor``: check logged traffic, write the HTML report, compare two data files.

Exit codes of ``check`` and ``compare`` are for scripts and CI: 0 when nothing is out of line (warnings
included, unless ``--strict``), 1 for warnings with ``--strict``, 3 for alerts (2 stays bad input).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..errors import CheckFailedError, ValidationError
from . import _output
from ._store import LOG_DIR_HELP, existing_store, log_dir as resolve_log_dir, tracking_server_of_command
from ._table import COLUMNS_OPTION, WIDE_OPTION, ColumnChoice, column_choice

app = typer.Typer(help="Monitoring: drift, response distribution, volume, latency, quality and A/B from the "
                  "prediction log.", no_args_is_help=True)

_SINCE = typer.Option(None, "--since", help="A duration back from now: 30m, 24h, 7d (default 24h).")
_FROM = typer.Option(None, "--from", help="Start of the window (ISO time, e.g. 2026-11-22T08:00).")
_TO = typer.Option(None, "--to", help="End of the window (ISO time; default now).")
_REFERENCE = typer.Option("training", "--reference", help="training: the model's training profile; window: "
                          "the window of the same length before.")
_LOG_DIR = typer.Option(None, "--log-dir", help=LOG_DIR_HELP)
_CONFIG = typer.Option(None, "--config", help="monitoring.yaml with thresholds (default ./monitoring.yaml if "
                       "present).")


@app.command("check")
def check_command(
    deployment: str = typer.Option(..., "--deployment", "-d", help="The deployment to check."),
    since: str | None = _SINCE, start: str | None = _FROM, end: str | None = _TO,
    reference: str = _REFERENCE, config: Path | None = _CONFIG,
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when there are warnings (alerts always exit 3)."),
    notify: str | None = typer.Option(None, "--notify", help="POST the result as JSON to this webhook URL when "
                                      "something is out of line."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON (docs/monitoring.md)."),
    columns: str | None = COLUMNS_OPTION,
    wide: bool = WIDE_OPTION,
    log_dir: str | None = _LOG_DIR,
) -> None:
    """Run every check on a deployment's logged traffic and print what is out of line.

    Example: shipyard monitor check -d churn --since 24h --notify http://127.0.0.1:9000/hook
    """
    from ..monitoring.config import load_thresholds
    from ..monitoring.monitor import monitor

    choice = column_choice(columns, wide)
    facts, traffic = _facts_and_log(log_dir)
    result = monitor(deployment, since=since, start=start, end=end, reference=reference,
                     thresholds=load_thresholds(config), store=facts, log_dir=traffic)
    _finish(result, json_output=json_output, strict=strict, notify=notify, choice=choice)


@app.command("report")
def report_command(
    deployment: str = typer.Option(..., "--deployment", "-d", help="The deployment to report on."),
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="Where to write the HTML report."),
    since: str | None = _SINCE, start: str | None = _FROM, end: str | None = _TO,
    reference: str = _REFERENCE, config: Path | None = _CONFIG,
    json_output: bool = typer.Option(False, "--json", help="Also print the result as JSON."),
    log_dir: str | None = _LOG_DIR,
) -> None:
    """Write one self-contained HTML report (works offline) with the verdict on top and a chart per check.

    Example: shipyard monitor report -d churn --since 24h -o report.html
    """
    from ..monitoring.config import load_thresholds
    from ..monitoring.monitor import monitor
    from ..monitoring.report import write_report

    facts, traffic = _facts_and_log(log_dir)
    result = monitor(deployment, since=since, start=start, end=end, reference=reference,
                     thresholds=load_thresholds(config), store=facts, log_dir=traffic)
    written = write_report(result, output)
    if json_output:
        _output.print_json({**result.to_dict(), "report": str(written)})
        return
    _output.console.print(f"{_badge(result.verdict)}: {_output.escape(result.summary(status=False))}")
    _output.console.print(f"Report: {_output.escape(str(written))} ({written.stat().st_size / 1024:,.0f} kB)")


@app.command("compare")
def compare_command(
    reference: Path = typer.Argument(..., help="Reference data (CSV or Parquet), e.g. the training set."),
    current: Path = typer.Argument(..., help="Current data (CSV or Parquet) to compare with it."),
    config: Path | None = _CONFIG,
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when there are warnings (alerts always exit 3)."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of CSV files (e.g. latin-1); a byte "
                                 "that is not text in it is an error naming its row and byte offset."),
    model: str | None = typer.Option(None, "--model", help="A classifier's URI (models:/churn@champion): also "
                                     "estimate its accuracy, precision, recall, F1 and ROC AUC on the current "
                                     "data from its scores, with 90% intervals; needs --target."),
    target: str | None = typer.Option(None, "--target", help="The label column: the reference must have it; "
                                      "current rows that have it are checked against the estimate (concept drift)."),
    trust: bool = typer.Option(False, "--trust", help="Load a pickled --model (only for packages you trust)."),
    columns: str | None = COLUMNS_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """Compare two data files column by column (drift, missing values, new categories, range), no server needed.

    With --model and --target it also estimates the model's performance on the current data before its labels
    arrive, and flags concept drift where some labels have arrived.

    Example: shipyard monitor compare data/train.parquet data/this_week.parquet
    Example: shipyard monitor compare holdout.parquet today.parquet --model models:/churn@champion --target churn
    """
    from ..extras import require

    require("scipy", "`shipyard monitor compare`")  # up front: whether a test needs it depends on the data
    from ..monitoring.compare import compare_files
    from ..monitoring.config import load_thresholds

    choice = column_choice(columns, wide)
    if target and not model:
        raise ValidationError("--target goes with --model: it names the label the model's estimate is checked "
                              "against.", field="--target")
    if model and not target:
        raise ValidationError("--model needs --target, the label column of the reference that teaches the estimate.",
                              field="--target")
    result = compare_files(reference, current, thresholds=load_thresholds(config), encoding=encoding, model=model,
                           target=target, trust=trust)
    _finish(result, json_output=json_output, strict=strict, notify=None, choice=choice)


def _facts_and_log(option: str | None) -> tuple[Any, str | None]:
    """Where the model versions' facts come from (the team server when ``SHIPYARD_TRACKING_URI`` is set and no
    store is named, else the store) and the prediction log to read. Through a server the log must be named: the
    default, a store's ``serving/`` folder, is not the team's."""
    from ..monitoring.model_facts import ServerFacts

    traffic = resolve_log_dir(option)
    tracker = tracking_server_of_command()
    if tracker is None:
        return existing_store(), traffic
    if traffic is None:
        raise ValidationError(f"Monitoring through the tracking server {tracker.url} reads the prediction log where "
                              "the servers write it: give --log-dir (a folder or s3://bucket/prefix), "
                              "SHIPYARD_LOG_DIR, or log_dir in serving.yaml.", field="--log-dir")
    return ServerFacts(tracker), traffic


def _finish(result: Any, *, json_output: bool, strict: bool, notify: str | None, choice: ColumnChoice) -> None:
    if notify and result.verdict != "ok":
        _notify(notify, result)
    if json_output:
        _output.print_json(result.to_dict())
    else:
        _print_table(result, choice)
    if result.verdict == "alert":
        raise CheckFailedError(result.summary(), check="monitoring")
    if result.verdict == "warn" and strict:
        raise typer.Exit(1)


def _print_table(result: Any, choice: ColumnChoice) -> None:
    from rich.text import Text

    from ._table import Column, FittedTable, show

    _output.console.print(f"{_badge(result.verdict)}: {_output.escape(result.summary(status=False))}")
    failing = [item for item in result.results if item.status != "ok" and item.check != "estimated_quality"]
    if failing:  # the findings first: --columns names this table's columns
        rows = [(Text.from_markup(_badge(item.status)), item.check, item.feature or "-", item.statistic or "-",
                 "" if item.value is None else f"{item.value:.4g}", item.message)
                for item in sorted(failing, key=lambda item: item.status != "alert")]
        show(FittedTable([Column("status"), Column("check"), Column("feature", 1), Column("statistic", 3),
                          Column("value", 2), Column("message", 1, wrap=True)], rows, choice=choice))
    _print_estimates([item for item in result.results if item.check == "estimated_quality"], choice)


def _print_estimates(estimates: list[Any], choice: ColumnChoice) -> None:
    """The model's estimated performance, every metric (an estimate is news even when it is fine)."""
    from rich.text import Text

    from ._table import Column, FittedTable, show

    if not estimates:
        return

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    rows = [(item.statistic, number(item.value), f"{number(item.extra['low'])} to {number(item.extra['high'])}",
             number(item.extra["realized"]), number(item.extra["reference"]), Text.from_markup(_badge(item.status)))
            for item in estimates]
    show(FittedTable([Column("metric"), Column("estimated"), Column("90% interval"), Column("realized", 2),
                      Column("reference", 3), Column("status")], rows,
                     choice=ColumnChoice(wide=choice.wide)))  # --columns names the findings table's columns


def _badge(status: str) -> str:
    colour = {"ok": "green", "warn": "yellow", "alert": "red"}.get(status, "white")
    return f"[bold {colour}]{status.upper()}[/]"


def _notify(url: str, result: Any) -> None:
    """POST the alert; a webhook that cannot be reached is an error the operator must see (exit 1)."""
    from ..errors import ShipyardError
    from ..monitoring import alerts

    alerts.require_webhook_url(url, option="--notify")
    failure = alerts.post(url, alerts.monitoring_alert(result), agent=alerts.MONITOR_AGENT)
    if failure is not None:
        raise ShipyardError(f"Could not notify {url}: {failure}; the check result was not delivered.")
