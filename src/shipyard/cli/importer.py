"""``shipyard import``: bring another tool's history into the store (``shipyard import mlflow``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from . import _output
from ._store import writable_store

app = typer.Typer(help="Bring another tool's history into the store.\n\n"
                  "Example: shipyard import mlflow --from http://mlflow:5000", no_args_is_help=True)


@app.command("mlflow")
def mlflow_command(
    source: str = typer.Option(..., "--from", help="An MLflow server (http://host:5000) or its database "
                               "(sqlite:///mlflow.db, postgresql://...)."),
    artifacts: Path | None = typer.Option(None, "--artifacts", help="With a database: the artifacts folder "
                                          "(`mlflow server --artifacts-destination`, often ./mlartifacts)."),
    token: str | None = typer.Option(None, "--token", envvar="MLFLOW_TRACKING_TOKEN", show_envvar=True,
                                     help="Bearer token of a protected MLflow server."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON (see docs/from-mlflow.md)."),
) -> None:
    """Copy experiments, runs (params, tags, full metric histories, artifacts, times, user, status), registered
    models, versions and aliases from MLflow. Run it again at any time: nothing is imported twice, and an import
    that was interrupted is finished. Each run keeps its MLflow id in the tag mlflow.run_id.

    Example: shipyard import mlflow --from sqlite:///mlflow.db --artifacts ./mlartifacts
    """
    from ..errors import ValidationError
    from ..importers.mlflow_import import import_mlflow

    chosen: Any
    if source.startswith(("http://", "https://")):
        from ..importers.mlflow_rest import RestSource

        if artifacts is not None:
            raise ValidationError("--artifacts is for a database source; a server serves its own artifacts.",
                                  field="artifacts")
        chosen = RestSource(source, token=token, username=os.environ.get("MLFLOW_TRACKING_USERNAME"),
                            password=os.environ.get("MLFLOW_TRACKING_PASSWORD"))
    elif "://" in source or source.startswith("sqlite:"):
        from ..importers.mlflow_sql import SqlSource

        chosen = SqlSource(source, artifacts)
    else:
        raise ValidationError(f"--from {source!r} is neither an MLflow server URL (http://host:5000) nor a database "
                              "URL (sqlite:///mlflow.db).", field="from")
    try:
        store = writable_store()
        if json_output:
            summary = import_mlflow(store, chosen)
        else:
            summary = _with_progress(lambda progress: import_mlflow(store, chosen, progress=progress))
    finally:
        chosen.close()
    if json_output:
        _output.print_json(summary.to_dict())
        return
    _print_summary(summary.to_dict())


def _with_progress(work: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=_output.err_console, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"Importing {phase}", total=total)
            bar.update(tasks[phase], completed=done, total=total)

        return work(progress)


def _print_summary(summary: dict[str, Any]) -> None:
    runs, versions, aliases = summary["runs"], summary["model_versions"], summary["aliases"]
    console = _output.console
    console.print(f"Imported from {_output.escape(summary['source'])}: {summary['experiments']} experiments; "
                  f"runs {runs['imported']} new, {runs['resumed']} finished, {runs['already']} already here; "
                  f"{summary['metric_points']} metric points; {summary['artifacts']['files']} artifact files "
                  f"({summary['artifacts']['bytes']} bytes); model versions {versions['imported']} new, "
                  f"{versions['already']} already here; aliases {aliases['set']} set, {aliases['already']} "
                  "already in place.")
    for item in summary["skipped"]:
        console.print(f"[yellow]Skipped[/] {_output.escape(item['what'])}: {_output.escape(item['reason'])}")
