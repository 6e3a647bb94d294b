"""``shipyard predict``: batch scoring of CSV and Parquet files."""

from __future__ import annotations

from pathlib import Path

import typer

from . import _output
from ._store import existing_store


def predict_command(
    model_uri: str = typer.Argument(..., help="models:/NAME@ALIAS, models:/NAME/N or runs:/RUN/PATH."),
    input: Path = typer.Argument(..., help="CSV or Parquet file to score."),
    output: Path = typer.Option(..., "--output", "-o", help="Where predictions go (.csv or .parquet)."),
    batch_size: int = typer.Option(50_000, "--batch-size", min=1, help="Rows per batch."),
    id_column: list[str] = typer.Option([], "--id-column", help="Input column copied to the output (repeatable)."),
    on_error: str = typer.Option("fail", "--on-error", help="fail: stop at the first bad row; skip: leave bad rows "
                                 "out and list them in OUTPUT.errors.csv."),
    trust: list[str] = typer.Option([], "--trust", help="A type the model package lists as unknown to trust "
                                    "(repeatable)."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of a CSV input (e.g. latin-1); a byte "
                                 "that is not text in it stops the run, naming its row and byte offset."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Score a file with a registered model, streaming it so memory stays flat.

    Example: shipyard predict models:/churn@champion customers.parquet -o scores.parquet --id-column customer_id
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..models.batch import predict_file
    from ..models.package import load_model

    existing_store()
    model = load_model(model_uri, trust=trust)
    with Progress(TextColumn("[bold]scoring[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=_output.err_console, transient=True,
                  disable=json_output or not _output.err_console.is_terminal) as progress:
        task = progress.add_task("score", total=None)

        def advance(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        result = predict_file(model, input, output, batch_size=batch_size, id_columns=id_column, on_error=on_error,
                              progress=advance, encoding=encoding)
    if json_output:
        _output.print_json(result.to_dict())
        return
    label = f"{model.name} v{model.version}" if model.name else model.uri
    _output.console.print(f"Scored {result.rows_out:,} of {result.rows_in:,} rows with {_output.escape(label)} "
                          f"into {_output.escape(str(result.output))}.")
    if result.errors_file:
        _output.console.print(f"[yellow]{len(result.skipped):,} bad rows skipped[/]; see "
                              f"{_output.escape(str(result.errors_file))}.")
    if result.ignored_columns:
        _output.console.print(f"[dim]columns the model does not use (ignored): "
                              f"{_output.escape(', '.join(result.ignored_columns))}[/]")
    for title, counts in (("unseen categories", result.unseen_levels), ("out-of-range values", result.out_of_range)):
        if counts:
            shown = ", ".join(f"{column}: {count:,}" for column, count in counts.items())
            _output.console.print(f"[dim]{title} (accepted, counted): {_output.escape(shown)}[/]")
