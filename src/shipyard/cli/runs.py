"""``shipyard runs``: list, show and compare runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

from . import _output
from ._store import existing_store, tracking_server_of_command
from ._table import COLUMNS_OPTION, WIDE_OPTION, Column, ColumnChoice, FittedTable, column_choice, show

if TYPE_CHECKING:
    from ..tracking.runs import Run

app = typer.Typer(help="List, show and compare runs.\n\nExample: shipyard runs list -e churn --sort -metrics.auc",
                  no_args_is_help=True)

@app.command("list")
def list_command(
    experiment: list[str] = typer.Option([], "--experiment", "-e", help="Only runs of this experiment (repeatable)."),
    filter: str = typer.Option("", "--filter", "-f", help="e.g. \"metrics.auc > 0.8 and params.penalty = 'l2'\"."),
    sort: list[str] = typer.Option(
        [], "--sort", "-s", help="Order, e.g. 'metrics.auc DESC' or -metrics.auc (repeatable). Newest first by default."
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="At most this many runs."),
    columns: str | None = COLUMNS_OPTION,
    wide: bool = WIDE_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print JSON (see docs/cli-json.md)."),
) -> None:
    """List runs with their status, metrics and params; the columns that fit, sorted and filtered ones first.

    Example: shipyard runs list -e churn -f "metrics.auc > 0.8" -s -metrics.auc -n 10
    """
    choice = column_choice(columns, wide)
    orders = [_order(text) for text in sort]
    tracker = tracking_server_of_command()
    if tracker is not None:
        from ..tracking.remote_queries import search_run_records as search_server

        records = search_server(tracker, experiment=experiment or None, filter=filter or None, order_by=orders,
                                max_results=limit)
    else:
        from ..tracking.search import search_run_records

        records = search_run_records(existing_store(), experiment=experiment or None, filter=filter or None,
                                     order_by=orders, max_results=limit)
    if json_output:
        _output.print_json(records)
        return
    if not records:
        _output.console.print("No runs match." if filter or experiment else "No runs yet.")
        return
    show(runs_table(records, sort=orders, filter=filter, choice=choice))


# The run columns in display order with their priorities (0: always shown): id, name, status, then what the
# runs are sorted or filtered by (_FOCUS), the other metrics, where and when they ran, and the params last.
_RUN_COLUMNS = {"Run": 0, "Name": 0, "Experiment": 4, "Status": 1, "Started": 5, "Duration": 6, "Commit": 7}
_FOCUS, _METRICS, _PARAMS = 2, 3, 8
_ATTRIBUTE_HEADERS = {"run_id": "Run", "name": "Name", "experiment": "Experiment", "status": "Status",
                      "start_time": "Started", "end_time": "Duration", "duration": "Duration", "git_commit": "Commit"}


def runs_table(records: list[dict[str, Any]], *, sort: Sequence[str] = (), filter: str | None = None,
               choice: ColumnChoice = ColumnChoice()) -> FittedTable:
    """The runs table shared by ``runs list`` and the demo, fitted to the width it is printed at.

    ``sort`` (orders as ``search_run_records`` takes them, e.g. ``"metrics.roc_auc DESC"`` or
    ``"-metrics.roc_auc"``) and ``filter`` name the metrics, params and attributes the reader is looking
    at: those columns come right after id, name and status, so a table sorted by a metric always shows it.
    """
    focus = _focus([_order(text) for text in sort], filter)
    metric_keys = _keys(records, "metrics", focus)
    param_keys = _keys(records, "params", focus)
    focused = {_ATTRIBUTE_HEADERS.get(key) for key in focus.get("attributes", ())}
    columns = [Column(header, min(priority, _FOCUS) if header in focused else priority)
               for header, priority in _RUN_COLUMNS.items()]
    columns += [Column(key, _FOCUS if key in focus.get("metrics", ()) else _METRICS, justify="right", style="bold",
                       aliases=(f"metrics.{key}",)) for key in metric_keys]
    columns += [Column(key, _FOCUS if key in focus.get("params", ()) else _PARAMS, style="dim",
                       aliases=(f"params.{key}",)) for key in param_keys]
    rows = []
    for record, depth in _under_parents(records):
        commit = record["git_commit"][:8] + ("*" if record["git_dirty"] else "") if record["git_commit"] else "-"
        rows.append((
            record["run_id"][:8], ("  " * (depth - 1) + "└ " if depth else "") + record["name"], record["experiment"],
            _output.status_text(record["status"]), _output.fmt_time(record["start_time"]),
            _output.fmt_duration(record["duration_s"]), commit,
            *[_output.fmt_value(record["metrics"].get(key)) for key in metric_keys],
            *[_output.fmt_value(record["params"].get(key)) for key in param_keys],
        ))
    caption = f"{len(records)} run{'s' if len(records) != 1 else ''}"
    return FittedTable(columns, rows, choice=choice, caption=caption)


def _order(text: str) -> str:
    """``-metrics.auc`` is short for ``metrics.auc DESC``."""
    return f"{text[1:]} DESC" if text.startswith("-") else text


def _focus(orders: list[str], filter: str | None) -> dict[str, list[str]]:
    """The keys the orders and the filter use, by kind (metrics, params, tags, attributes), in order."""
    from ..tracking.filters import Comparison, Node, parse_filter, parse_order_by

    fields = [parse_order_by(text)[0] for text in orders]

    def visit(node: Node | None) -> None:
        if isinstance(node, Comparison):
            fields.append(node.field)
        elif node is not None:
            for item in node.items:
                visit(item)

    visit(parse_filter(filter) if filter else None)
    focus: dict[str, list[str]] = {}
    for field in fields:
        focus.setdefault(field.kind, [])
        if field.key not in focus[field.kind]:
            focus[field.kind].append(field.key)
    return focus


def _keys(records: list[dict[str, Any]], section: str, focus: dict[str, list[str]]) -> list[str]:
    """The keys of a section the records have: those in focus first, in their order, then alphabetical."""
    present = {key for record in records for key in record[section]}
    first = [key for key in focus.get(section, ()) if key in present]
    return first + sorted(present - set(first))


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


def run_reader() -> Callable[[str], Run]:
    """How this command reads a run by id or unique prefix: from the team server when one is set, else the store."""
    tracker = tracking_server_of_command()
    if tracker is not None:
        from ..tracking.remote_queries import get_run as get_from_server

        return lambda run_id: get_from_server(tracker, run_id)
    from ..tracking.runs import get_run

    store = existing_store()
    return lambda run_id: get_run(store, run_id)


@app.command("show")
def show_command(
    run_id: str = typer.Argument(..., help="Run id or a unique prefix of it."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON (see docs/cli-json.md)."),
) -> None:
    """Show one run: params, latest metrics, tags, lineage and artifacts.

    Example: shipyard runs show 3f2a
    """
    run = run_reader()(run_id)
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
            show(FittedTable([Column("key", pinned=True, style="bold"),
                              Column("value", justify="right" if numeric else "left", wrap=True)],
                             [(key, _output.fmt_value(value)) for key, value in values.items()],
                             title=title, show_header=False, flags=["--json"]))
    if run.artifacts:
        show(FittedTable([Column("Artifact", wrap=True), Column("Size", 1, justify="right"), Column("Hash", 2)],
                         [(item["path"], f"{item['size']:,}", item["hash"][:12]) for item in run.artifacts],
                         title="Artifacts", flags=["--json"]))


@app.command("compare")
def compare_command(
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids (unique prefixes are enough)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON (see docs/cli-json.md)."),
    only_diff: bool = typer.Option(False, "--only-diff", help="Show only the params and metrics that differ."),
    columns: str | None = typer.Option(None, "--columns", metavar="A,B,C",
                                       help="Show these runs' columns in this order (run names or 8-digit ids)."),
    wide: bool = WIDE_OPTION,
) -> None:
    """Compare runs side by side: params and metrics, differences highlighted.

    A run that does not fit the terminal's width is left out whole and named below the table.

    Example: shipyard runs compare 3f2a 9b1c
    """
    from ..errors import ValidationError

    choice = column_choice(columns, wide)
    get_run = run_reader()
    found: list[Run] = []
    for run_id in run_ids:
        run = get_run(run_id)
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
    # One column per run, the first two always shown; a long name folds in its header, values never do.
    table_columns = [Column("key", pinned=True, label=Text(""))] + [
        Column(run.id[:8], 0 if position < 2 else 1, wrap=True, min_width=16, aliases=(run.name,),
               label=Text.assemble(run.name, "\n", (run.id[:8], "dim")))
        for position, run in enumerate(found)]
    rows: list[list[str | Text]] = []
    for name, section in sections.items():
        rows.append([Text(name, style="bold underline"), *[""] * len(found)])
        for key, row in section.items():
            differs = key in differences[name]
            if only_diff and not differs:
                continue
            style = "bold yellow" if differs else "dim"
            rows.append([Text(key, style=style), *[Text(_output.fmt_value(value), style=style)
                                                   for value in row.values()]])
    show(FittedTable(table_columns, rows, choice=choice, hidden_noun="run"))
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
