"""The ``shipyard`` command: global options, sub-commands, and the one place errors become exit codes.

``ShipyardError`` subclasses carry their exit code (2 for bad input, 1 for failures); they are printed as
one red line plus an optional hint. Anything else is a bug: the traceback goes to a log file (shown
with ``--debug``) and the user gets one line saying where it is. Tracebacks never show local variables.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from ..errors import ShipyardError
from . import _output
from ._store import choose
from .data import (
    add_command,
    checkout_command,
    gc_command,
    metrics_app,
    params_app,
    pull_command,
    push_command,
    remote_app,
)
from .experiments import app as experiments_app
from .lineage import lineage_command
from .models import app as models_app
from .pipeline import dag_command, repro_command, status_command
from .predict import predict_command
from .runs import app as runs_app


class _ShipyardGroup(TyperGroup):
    def invoke(self, ctx: Any) -> Any:  # typer.Context; its vendored click types differ
        try:
            return super().invoke(ctx)
        except ShipyardError as exc:
            _output.err_console.print(f"[bold red]Error:[/] {_output.escape(exc.message)}")
            if exc.hint:
                _output.err_console.print(f"[dim]Hint:[/] {_output.escape(exc.hint)}")
            ctx.exit(exc.exit_code)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # usage errors and exits: Typer prints and exits as usual
        except Exception as exc:
            if ctx.find_root().params.get("debug"):
                raise
            log = _write_crash_log(exc)
            _output.err_console.print(
                f"[bold red]Unexpected error:[/] {_output.escape(type(exc).__name__)}: {_output.escape(exc)}\n"
                f"The traceback is in {log}; run again with --debug to see it, and please report it."
            )
            ctx.exit(1)


app = typer.Typer(
    cls=_ShipyardGroup,
    name="shipyard",
    help="Shipyard: from notebook to production, with one lineage chain.\n\n"
    "Example: shipyard runs list --experiment churn --filter \"metrics.auc > 0.8\" --sort -metrics.auc",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    add_completion=False,
)
app.add_typer(runs_app, name="runs")
app.add_typer(experiments_app, name="experiments")
app.add_typer(models_app, name="models")
app.command("lineage")(lineage_command)
app.command("predict")(predict_command)
app.command("repro")(repro_command)
app.command("status")(status_command)
app.command("dag")(dag_command)
app.command("add")(add_command)
app.command("checkout")(checkout_command)
app.command("push")(push_command)
app.command("pull")(pull_command)
app.command("gc")(gc_command)
app.add_typer(remote_app, name="remote")
app.add_typer(params_app, name="params")
app.add_typer(metrics_app, name="metrics")


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        print(f"shipyard {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    store: str | None = typer.Option(
        None, "--store", help="Store directory or database URI (default: $SHIPYARD_STORE, else the nearest .shipyard/)."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks of unexpected errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    choose(store)


@app.command()
def demo(
    rows: int = typer.Option(0, "--rows", help="Use only the first N rows of the data (0 = all)."),
) -> None:
    """Train a churn model on the IBM Telco data as tracked runs and print the runs table.

    Example: shipyard demo
    """
    from ..demo.churn import run_demo
    from ..tracking.search import search_run_records
    from ._store import writable_store
    from .runs import runs_table

    store = writable_store()
    experiment = run_demo(console=_output.console, rows=rows or None)
    records = search_run_records(store, experiment=experiment, order_by=["metrics.roc_auc DESC"], max_results=20)
    _output.console.print(runs_table(records))
    best = records[0]
    _output.console.print(
        f"Best: [bold]{_output.escape(best['name'])}[/] (run {best['run_id'][:8]}), "
        f"ROC AUC {best['metrics']['roc_auc']:.4f}. Store: {store.location.describe()}\n"
        f"Next: shipyard runs compare {' '.join(record['run_id'][:8] for record in records[:2])}   |   "
        "shipyard models show churn   |   shipyard models history churn   |   "
        "shipyard lineage models:/churn@champion"
    )


def _write_crash_log(exc: BaseException) -> Path:
    folder = Path(tempfile.gettempdir()) / "shipyard-logs"
    folder.mkdir(exist_ok=True)
    path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    path.write_text("".join(traceback.format_exception(exc)))
    return path


def main() -> None:
    app(prog_name="shipyard")


if __name__ == "__main__":
    main()
