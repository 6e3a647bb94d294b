"""``shipyard experiments``: the experiments in the store."""

from __future__ import annotations

import typer
from rich.table import Table

from . import _output
from ._store import existing_store

app = typer.Typer(help="List experiments.\n\nExample: shipyard experiments list --json", no_args_is_help=True)


@app.command("list")
def list_command(json_output: bool = typer.Option(False, "--json", help="Print JSON (see docs/cli-json.md).")) -> None:
    """List experiments with their run counts.

    Example: shipyard experiments list --json
    """
    from datetime import UTC, datetime

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
    table = Table("Experiment", "Runs", "Created")
    for exp in found:
        created = datetime.fromtimestamp(exp.created_at_ms / 1000, tz=UTC)
        table.add_row(_output.escape(exp.name), str(exp.run_count), _output.fmt_time(created))
    _output.console.print(table)
