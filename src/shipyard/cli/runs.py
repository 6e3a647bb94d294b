"""``shipyard runs``: list, show and compare runs."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from . import _output
from ._store import existing_store

app = typer.Typer(help="List, show and compare runs.\n\nExample: shipyard runs list -e churn --sort -metrics.auc",
                  no_args_is_help=True)

_MAX_METRIC_COLUMNS = 6
_MAX_PARAM_COLUMNS = 4


@app.command("list")
def list_command(
    experiment: list[str] = typer.Option([], "--experiment", "-e", help="Only runs of this experiment (repeatable)."),
    filter: str = typer.Option("", "--filter", "-f", help="e.g. \"metrics.auc > 0.8 and params.penalty = 'l2'\"."),
    sort: list[str] = typer.Option(
        [], "--sort", "-s", help="Order, e.g. 'metrics.auc DESC' or -metrics.auc (repeatable). Newest first by default."
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="At most this many runs."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON (see docs/cli-json.md)."),
) -> None:
    """List runs with their status, duration, commit, metrics and params.

    Example: shipyard runs list -e churn -f "metrics.auc > 0.8" -s -metrics.auc -n 10
    """
    from ..tracking.search import search_run_records

    orders = [f"{text[1:]} DESC" if text.startswith("-") else text for text in sort]
    records = search_run_records(existing_store(), experiment=experiment or None, filter=filter or None,
                                 order_by=orders, max_results=limit)
    if json_output:
        _output.print_json(records)
        return
    if not records:
        _output.console.print("No runs match." if filter or experiment else "No runs yet.")
        return
    _output.console.print(runs_table(records))


def runs_table(records: list[dict[str, Any]]) -> Table:
    """The runs table shared by ``runs list`` and the demo."""
    metric_keys = sorted({key for record in records for key in record["metrics"]})
    param_keys = sorted({key for record in records for key in record["params"]})
    shown_metrics, shown_params = metric_keys[:_MAX_METRIC_COLUMNS], param_keys[:_MAX_PARAM_COLUMNS]
    hidden = (len(metric_keys) - len(shown_metrics)) + (len(param_keys) - len(shown_params))
    caption = f"{len(records)} run{'s' if len(records) != 1 else ''}"
    table = Table(caption=caption + (f"; {hidden} more columns in --json" if hidden else ""))
    for header in ("Run", "Name", "Experiment", "Status", "Started", "Duration", "Commit"):
        table.add_column(header, no_wrap=header in ("Run", "Started"))
    for key in shown_metrics:
        table.add_column(_output.escape(key), justify="right", style="bold")
    for key in shown_params:
        table.add_column(_output.escape(key), style="dim")
    for record, depth in _under_parents(records):
        commit = record["git_commit"][:8] + ("*" if record["git_dirty"] else "") if record["git_commit"] else "-"
        name = ("  " * (depth - 1) + "└ " if depth else "") + _output.escape(record["name"])
        table.add_row(
            record["run_id"][:8], name, _output.escape(record["experiment"]), _output.fmt_status(record["status"]),
            _output.fmt_time(record["start_time"]), _output.fmt_duration(record["duration_s"]), commit,
            *[_output.fmt_value(record["metrics"].get(key)) for key in shown_metrics],
            *[_output.escape(_output.fmt_value(record["params"].get(key))) for key in shown_params],
        )
    return table


def _under_parents(records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """The records with each child run moved right below its parent (when both are listed), with depth.

    Runs keep the requested order among their siblings; a child whose parent is not in the list stays
    where the order put it.
    """
    listed = {record["run_id"] for record in records}
    children: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record["parent_run_id"] in listed:
            children.setdefault(record["parent_run_id"], []).append(record)
    ordered: list[tuple[dict[str, Any], int]] = []

    def visit(record: dict[str, Any], depth: int) -> None:
        ordered.append((record, depth))
        for child in children.get(record["run_id"], []):
            visit(child, depth + 1)

    for record in records:
        if record["parent_run_id"] not in listed:
            visit(record, 0)
    return ordered


@app.command("show")
def show_command(
    run_id: str = typer.Argument(..., help="Run id or a unique prefix of it."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON (see docs/cli-json.md)."),
) -> None:
    """Show one run: params, latest metrics, tags, lineage and artifacts.

    Example: shipyard runs show 3f2a
    """
    from ..tracking.runs import get_run

    run = get_run(existing_store(), run_id)
    if json_output:
        _output.print_json(run.to_dict())
        return
    esc = _output.escape
    lines = [
        f"[bold]{esc(run.name)}[/]  {run.id}",
        f"experiment {esc(run.experiment)}   status {_output.fmt_status(run.status)}   "
        f"started {_output.fmt_time(run.start_time)}   duration {_output.fmt_duration(run.duration_s)}",
    ]
    if run.parent_id:
        lines.append(f"parent run {run.parent_id}")
    if run.error:
        lines.append(f"[red]error: {esc(run.error)}[/]")
    git = run.lineage.get("git")
    if git:
        dirty = f" [yellow](dirty, diff {git['diff_hash'][:12]})[/]" if git["dirty"] and git["diff_hash"] else (
            " [yellow](dirty)[/]" if git["dirty"] else "")
        lines.append(f"git {git['commit'] or '(no commit yet)'} on {esc(git['branch'] or 'detached HEAD')}{dirty}")
    env = run.lineage.get("environment")
    process = run.lineage["process"]
    if env:
        lines.append(f"environment {env['hash'][:12]}: Python {env['python']}, {env['packages']} packages")
    lines.append(f"by {esc(process['user'])} on {esc(process['host'])}: {esc(process['command'])}")
    _output.console.print("\n".join(lines))
    for title, values, numeric in (("Params", run.params, False), ("Metrics", run.metrics, True),
                                   ("Tags", run.tags, False)):
        if values:
            table = Table(title=title, title_justify="left", show_header=False)
            table.add_column("key", style="bold")
            table.add_column("value", justify="right" if numeric else "left")
            for key, value in values.items():
                table.add_row(esc(key), esc(_output.fmt_value(value)))
            _output.console.print(table)
    if run.artifacts:
        table = Table("Artifact", "Size", "Hash", title="Artifacts", title_justify="left")
        for item in run.artifacts:
            table.add_row(esc(item["path"]), f"{item['size']:,}", item["hash"][:12])
        _output.console.print(table)


@app.command("compare")
def compare_command(
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids (unique prefixes are enough)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON (see docs/cli-json.md)."),
    only_diff: bool = typer.Option(False, "--only-diff", help="Show only the params and metrics that differ."),
) -> None:
    """Compare runs side by side: params and metrics, differences highlighted.

    Example: shipyard runs compare 3f2a 9b1c
    """
    from ..errors import ValidationError
    from ..tracking.runs import Run, get_run

    store = existing_store()
    found: list[Run] = []
    for run_id in run_ids:
        run = get_run(store, run_id)
        if all(run.id != seen.id for seen in found):
            found.append(run)
    if len(found) < 2:
        raise ValidationError("Give at least two different runs to compare.", field="run_ids")
    sections = {
        "params": _side_by_side([run.params for run in found], [run.id for run in found]),
        "metrics": _side_by_side([run.metrics for run in found], [run.id for run in found]),
    }
    differences = {name: [key for key, row in rows.items() if _differs(list(row.values()))]
                   for name, rows in sections.items()}
    if json_output:
        _output.print_json({"runs": [{"run_id": run.id, "name": run.name, "experiment": run.experiment,
                                      "status": run.status} for run in found],
                            **sections, "differences": differences})
        return
    table = Table("", *[f"{_output.escape(run.name)}\n[dim]{run.id[:8]}[/]" for run in found])
    for name, rows in sections.items():
        table.add_row(f"[bold underline]{name}[/]", *[""] * len(found))
        for key, row in rows.items():
            differs = key in differences[name]
            if only_diff and not differs:
                continue
            style = "bold yellow" if differs else "dim"
            table.add_row(f"[{style}]{_output.escape(key)}[/]",
                          *[f"[{style}]{_output.escape(_output.fmt_value(value))}[/]" for value in row.values()])
    _output.console.print(table)
    total = sum(len(keys) for keys in differences.values())
    _output.console.print(f"{total} of {sum(len(rows) for rows in sections.values())} values differ "
                          "(highlighted).")


def _side_by_side(values: list[dict[str, Any]], ids: list[str]) -> dict[str, dict[str, Any]]:
    keys = sorted({key for run_values in values for key in run_values})
    return {key: {run_id: run_values.get(key) for run_id, run_values in zip(ids, values, strict=True)}
            for key in keys}


def _differs(row: list[Any]) -> bool:
    normalised = {"NaN" if isinstance(value, float) and value != value else value for value in row}
    return len(normalised) > 1
