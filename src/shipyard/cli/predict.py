"""``shipyard predict``: batch scoring of CSV and Parquet files, here or on Spark or Dask (``--engine``)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from . import _output
from ._store import existing_store, tracking_server_of_command


class EngineName(StrEnum):
    local = "local"
    spark = "spark"
    dask = "dask"


class RuntimeName(StrEnum):
    auto = "auto"
    python = "python"
    onnx = "onnx"


def predict_command(
    model_uri: str = typer.Argument(..., help="models:/NAME@ALIAS, models:/NAME/N or runs:/RUN/PATH."),
    input: str = typer.Argument(..., help="CSV or Parquet file to score (Spark and Dask: a Parquet file or folder, "
                                "a path or s3:// URL)."),
    output: str = typer.Option(..., "--output", "-o", help="Where predictions go (.csv or .parquet; Spark and Dask: "
                               ".parquet, a path or s3:// URL)."),
    batch_size: int = typer.Option(50_000, "--batch-size", min=1, help="Rows per batch."),
    id_column: list[str] = typer.Option([], "--id-column", help="Input column copied to the output (repeatable)."),
    on_error: str = typer.Option("fail", "--on-error", help="fail: stop at the first bad row; skip: leave bad rows "
                                 "out and list them in OUTPUT.errors.csv."),
    trust: list[str] = typer.Option([], "--trust", help="A type the model package lists as unknown to trust "
                                    "(repeatable)."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of a CSV input (e.g. latin-1); a byte "
                                 "that is not text in it stops the run, naming its row and byte offset."),
    engine: EngineName = typer.Option(EngineName.local, "--engine", help="local: stream the file here; spark or "
                                      "dask: score Parquet on a cluster (the spark or dask extra)."),
    master: str | None = typer.Option(None, "--master", help="Spark master URL for --engine spark (default "
                                      "local[*]), e.g. spark://host:7077."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address for --engine dask "
                                         "(default: a local cluster of this machine's cores), e.g. tcp://host:8786."),
    runtime: RuntimeName | None = typer.Option(None, "--runtime", help="Spark and Dask: auto (the verified ONNX "
                                               "export when attached, the default), python or onnx."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Score a file with a registered model, streaming it so memory stays flat, or on a Spark or Dask cluster.

    Example: shipyard predict models:/churn@champion customers.parquet -o scores.parquet --id-column customer_id

    Example: shipyard predict models:/churn@champion s3://data/customers/ -o s3://data/scores.parquet --engine spark
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..models.batch import predict_file
    from ..models.package import load_model

    _check_engine_options(engine, master, scheduler, runtime)
    if tracking_server_of_command() is None:  # through a team server, load_model and the engines download from it
        existing_store()
    if engine is not EngineName.local:
        scored, label = _predict_on_engine(engine, model_uri, input, output, master=master, scheduler=scheduler,
                                           runtime=(runtime or RuntimeName.auto).value, batch_size=batch_size,
                                           id_columns=id_column, on_error=on_error, trust=trust)
        _report(scored, label, json_output)
        return
    model = load_model(model_uri, trust=trust)
    with Progress(TextColumn("[bold]scoring[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=_output.err_console, transient=True,
                  disable=json_output or not _output.err_console.is_terminal) as progress:
        task = progress.add_task("score", total=None)

        def advance(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        result = predict_file(model, Path(input), Path(output), batch_size=batch_size, id_columns=id_column,
                              on_error=on_error, progress=advance, encoding=encoding)
    _report(result, f"{model.name} v{model.version}" if model.name else model.uri, json_output)


def _report(result: Any, label: str, json_output: bool) -> None:
    if json_output:
        _output.print_json(result.to_dict())
        return
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


def _check_engine_options(engine: EngineName, master: str | None, scheduler: str | None,
                          runtime: RuntimeName | None) -> None:
    from ..errors import ValidationError

    if master is not None and engine is not EngineName.spark:
        raise ValidationError("--master is the Spark master: use it with --engine spark.", field="master")
    if scheduler is not None and engine is not EngineName.dask:
        raise ValidationError("--scheduler is the Dask scheduler: use it with --engine dask.", field="scheduler")
    if runtime is not None and engine is EngineName.local:
        raise ValidationError("The local engine runs the packaged Python model; --runtime is for --engine spark or "
                              "dask.", field="runtime")


def _predict_on_engine(engine: EngineName, model_uri: str, source: str, output: str, *, master: str | None,
                       scheduler: str | None, **options: Any) -> tuple[Any, str]:
    """Check the model and the input first (a bad one starts no cluster), then start the engine for the run only."""
    from ..engines.run import prepare, run
    from ..extras import require

    if engine is EngineName.spark:  # the engine's extra is named before the model's own
        require("pyspark", "The Spark engine")
    else:
        require("distributed", "The Dask engine")
    prepared = prepare(model_uri, source, output, **options)
    if engine is EngineName.spark:
        from ..engines.spark_engine import spark_engine

        with spark_engine(master) as spark:
            return run(spark, prepared), prepared.label
    from ..engines.dask_engine import dask_engine

    with dask_engine(scheduler) as dask:
        return run(dask, prepared), prepared.label
