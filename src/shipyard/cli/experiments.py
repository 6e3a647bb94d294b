"""``shipyard experiments``: the experiments in the store."""

from __future__ import annotations

import typer

from . import _output
from ._store import existing_store, tracking_server_of_command
from ._table import COLUMNS_OPTION, WIDE_OPTION, Column, FittedTable, column_choice, show

app = typer.Typer(help="List experiments.\n\nExample: shipyard experiments list --json", no_args_is_help=True)


@app.command("list")
def list_command(
    columns: str | None = COLUMNS_OPTION,
    wide: bool = WIDE_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print JSON (see docs/cli-json.md)."),
) -> None:
    """List experiments with their run counts.

    Example: shipyard experiments list --json
    """
    from datetime import UTC, datetime

    choice = column_choice(columns, wide)
    tracker = tracking_server_of_command()
    if tracker is not None:
        from ..tracking.remote_queries import list_experiments as list_on_server

        found = list_on_server(tracker)
    else:
        from ..tracking.experiments import list_experiments

        found = list_experiments(existing_store())
    if json_output:
        _output.print_json([
            {"id": exp.id, "name": exp.name, "runs": exp.run_count,
             "created_at": datetime.fromtimestamp(exp.created_at_ms / 1000, tz=UTC)}
            for exp in found
        ])
        return
    if not found:
        _output.console.print("No experiments yet.")
        return
    rows = [(exp.name, str(exp.run_count), _output.fmt_time(datetime.fromtimestamp(exp.created_at_ms / 1000, tz=UTC)))
            for exp in found]
    show(FittedTable([Column("Experiment"), Column("Runs", 1, justify="right"), Column("Created", 2)], rows,
                     choice=choice))
