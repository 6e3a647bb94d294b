"""``shipyard loop`` (run, list, history, export-airflow) and ``shipyard scheduler``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from . import _output
from ._store import log_dir as resolve_log_dir, tracking_server_of_command, writable_store
from ._table import COLUMNS_OPTION, WIDE_OPTION, column_choice

if TYPE_CHECKING:
    from ..loop.backend import LoopBackend

app = typer.Typer(help="Continuous improvement loops: retrain, compare with the champion, promote when better.",
                  no_args_is_help=True)


@app.command("run")
def run_command(
    name: str = typer.Argument(..., help="The loop, as named under loops: in shipyard.yaml."),
    step: int | None = typer.Option(None, "--step", min=1, help="Run only this step (1-based), as Airflow tasks do."),
    cycle_key: str | None = typer.Option(
        None, "--cycle-key", metavar="KEY",
        help="Join the loop's cycle with this key, or start it: the steps an orchestrator runs one by one make one "
             "cycle (the Airflow DAG passes its run id)."),
    attempt: int | None = typer.Option(
        None, "--attempt", min=1, metavar="N",
        help="The orchestrator's try number, for an orchestrator that retries failed steps itself (the Airflow DAG "
             "passes its try number): the step runs once, without on_failure.retries, and the webhook is sent "
             "only when N is past them."),
    json_output: bool = typer.Option(False, "--json", help="Print the cycle as JSON."),
) -> None:
    """Run one cycle of a loop now: its steps in order, under the loop's lock; exit 1 if a step failed.

    Example: shipyard loop run churn-retrain
    """
    from ..errors import ValidationError
    from ..loop.cycle import run_cycle
    from ..loop.spec import get_loop
    from ..pipeline.interrupts import sigterm_as_interrupt
    from ..pipeline.spec import load_pipeline

    pipeline = load_pipeline()
    loop = get_loop(pipeline, name)
    if step is not None and step > len(loop.steps):
        raise ValidationError(f"Loop '{name}' has {len(loop.steps)} steps; --step {step} does not exist.",
                              field="step")
    if cycle_key is not None and (not cycle_key.strip() or len(cycle_key) > 250):
        raise ValidationError(f"--cycle-key must be 1 to 250 characters and not blank, got {cycle_key!r}.",
                              field="cycle_key")
    say = None if json_output else (lambda message: _output.console.print(_output.escape(message)))
    with sigterm_as_interrupt():  # SIGTERM: the stages end, the cycle is recorded interrupted, then we die by it
        result = run_cycle(_backend(), pipeline, loop, trigger="manual" if step is None else f"step {step}",
                           only_step=None if step is None else step - 1, say=say, cycle_key=cycle_key,
                           attempt=attempt)
    if json_output:
        _output.print_json({"loop": result.loop, "cycle": result.number, "status": result.status,
                            "error": result.error, "steps": result.steps})
    if result.status not in ("succeeded", "running"):  # running: a keyed cycle with steps still to come
        raise typer.Exit(1)


@app.command("list")
def list_command(
    columns: str | None = COLUMNS_OPTION,
    wide: bool = WIDE_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Loops with their schedule, next run, triggers, and the last cycle's outcome and duration.

    Example: shipyard loop list
    """
    from ..loop.scheduler import last_cycle, next_run
    from ..loop.spec import load_loops
    from ..pipeline.spec import load_pipeline

    choice = column_choice(columns, wide)
    pipeline = load_pipeline()
    backend = _backend()
    rows: list[dict[str, Any]] = []
    for loop in load_loops(pipeline).values():
        last = last_cycle(backend, loop.name)
        upcoming = next_run(loop)
        rows.append({"loop": loop.name, "schedule": loop.schedule,
                     "next_run": upcoming.isoformat() if upcoming else None,
                     "triggers": [trigger.describe() for trigger in loop.triggers],
                     "steps": [step.describe() for step in loop.steps],
                     "last": last.to_dict() if last else None})
    if json_output:
        _output.print_json(rows)
        return
    if not rows:
        _output.console.print("No loops in shipyard.yaml; add one under loops: (docs/loop.md).")
        return
    from ._table import Column, FittedTable, show

    cells = []
    for row in rows:
        last = row["last"]
        outcome = f"#{last['number']} {last['status']} {last['started_at']}" if last else "-"
        duration = f"{last['duration_s']:.1f}s" if last and last["duration_s"] is not None else "-"
        cells.append((row["loop"], row["schedule"] or "-", (row["next_run"] or "-")[:19],
                      "; ".join(row["triggers"]) or "-", outcome, duration))
    show(FittedTable([Column("loop"), Column("schedule", 1), Column("next run (UTC)", 2),
                      Column("triggers", 4, wrap=True), Column("last cycle", 1, wrap=True), Column("duration", 3)],
                     cells, choice=choice))


@app.command("history")
def history_command(
    name: str = typer.Argument(..., help="The loop."),
    limit: int = typer.Option(20, "--limit", min=1, help="How many cycles (newest first)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Past cycles of a loop with each step's result: the runs and versions they made, promotion decisions.

    Example: shipyard loop history churn-retrain
    """
    from ..loop.cycle import summarize

    found = _backend().cycles(name, limit=limit)
    if json_output:
        _output.print_json([cycle.to_dict() for cycle in found])
        return
    if not found:
        _output.console.print(f"Loop '{_output.escape(name)}' has no cycles yet; run one with `shipyard loop run "
                              f"{_output.escape(name)}`.")
        return
    for cycle in found:
        duration = f", {cycle.duration_s:.1f}s" if cycle.duration_s is not None else ""
        _output.console.print(f"[bold]#{cycle.number}[/] {cycle.status} ({_output.escape(cycle.trigger)}), "
                              f"{cycle.to_dict()['started_at']}{duration}")
        for step in cycle.steps:
            detail = step.get("error") if step["status"] == "failed" else summarize(step)
            _output.console.print(f"   step {step['step']} {step['kind']}: {step['status']}: "
                                  f"{_output.escape(str(detail))}")


@app.command("export-airflow")
def export_airflow_command(
    name: str = typer.Argument(..., help="The loop."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the DAG file."),
    project_dir: str | None = typer.Option(
        None, "--project-dir", metavar="DIR",
        help="The project folder as Airflow's workers see it, absolute or relative to the DAG file's folder "
             "(default: this project, relative to the DAG file)."),
    shipyard: str = typer.Option("shipyard", "--shipyard", metavar="COMMAND",
                                 help="The Shipyard CLI on Airflow's workers: a command on PATH or a path."),
) -> None:
    """Write an Airflow DAG for a loop: one task per step, one cycle per DAG run, retries done by Airflow.

    Example: shipyard loop export-airflow churn-retrain -o dags/churn_retrain.py --shipyard /opt/venv/bin/shipyard
    """
    from ..errors import ValidationError
    from ..loop.airflow import write_dag
    from ..loop.spec import get_loop
    from ..pipeline.spec import load_pipeline

    for flag, value in (("--project-dir", project_dir), ("--shipyard", shipyard)):
        if value is not None and not value.strip():
            raise ValidationError(f"{flag} must not be empty.", field=flag.lstrip("-").replace("-", "_"))
    pipeline = load_pipeline()
    written = write_dag(pipeline, get_loop(pipeline, name), output, project_dir=project_dir, shipyard=shipyard)
    _output.console.print(f"Wrote {_output.escape(str(written))}.")


def _backend() -> LoopBackend:
    """Where the loops' state is kept: the team server when ``SHIPYARD_TRACKING_URI`` is set and no store is named,
    else the store."""
    from ..loop.backend import StoreBackend
    from ..loop.remote import ServerBackend

    tracker = tracking_server_of_command()
    return ServerBackend(tracker) if tracker is not None else StoreBackend(writable_store())


def scheduler_command(
    poll: float = typer.Option(60.0, "--poll", min=0.5, help="Seconds between monitoring-trigger checks."),
) -> None:
    """Run loops on their schedules and monitoring triggers until SIGTERM or Ctrl-C.

    Example: shipyard scheduler
    """
    from ..errors import ValidationError
    from ..loop.scheduler import Scheduler
    from ..loop.spec import load_loops
    from ..monitoring.config import load_thresholds
    from ..pipeline.spec import load_pipeline

    pipeline = load_pipeline()
    config = pipeline.root / "monitoring.yaml"  # the thresholds `shipyard monitor check` uses in the project
    backend = _backend()
    log_dir = resolve_log_dir(None)
    if backend.store is None and log_dir is None and any(loop.triggers for loop in load_loops(pipeline).values()):
        raise ValidationError("Monitoring triggers through a tracking server read the prediction log where the "
                              "servers write it: set SHIPYARD_LOG_DIR or log_dir in serving.yaml.", field="log_dir")
    scheduler = Scheduler(backend, pipeline, poll_s=poll, log_dir=log_dir,
                          thresholds=load_thresholds(config if config.is_file() else None),
                          say=lambda message: _output.console.print(_output.escape(message)))
    scheduler.run()
