"""``shipyard repro``, ``shipyard status`` and ``shipyard dag``: the pipeline from the terminal."""

from __future__ import annotations

import sys
from collections import Counter

import typer
from rich.text import Text

from . import _output
from ._table import COLUMNS_OPTION, WIDE_OPTION, Column, FittedTable, column_choice, show


def repro_command(
    stages: list[str] = typer.Argument(None, help="Stages to bring up to date (with what they need); all if none."),
    force: bool = typer.Option(False, "--force", "-f", help="Run the stages even if they are up to date."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Run up to N independent stages at once."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would run, run nothing."),
    lock_timeout: float = typer.Option(60.0, "--lock-timeout", help="Seconds to wait for another shipyard "
                                       "process using this workspace."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Run the stale stages of shipyard.yaml in dependency order, each as a tracked run.

    Example: shipyard repro train --jobs 2
    """
    from ..errors import StageFailedError
    from ..pipeline.repro import repro
    from ..pipeline.stage_runs import ServerStageRuns, StoreStageRuns
    from ._store import tracking_server_of_command, workspace_store

    store = workspace_store()
    tracker = tracking_server_of_command()  # --store keeps the stage runs local even with a tracking URI set
    stage_runs = ServerStageRuns(tracker) if tracker is not None else StoreStageRuns(store)
    quiet = json_output

    def event(stage: str, message: str) -> None:
        if not quiet:
            prefix = f"[bold]{_output.escape(stage)}[/]: " if stage else ""
            _output.err_console.print(f"{prefix}{_output.escape(message)}")

    def output(stage: str, line: str) -> None:
        if quiet:
            return
        if jobs > 1:  # interleaved stages: say whose line it is
            _output.err_console.print(f"[dim]{_output.escape(stage)} |[/] {_output.escape(line)}")
        else:
            _output.err_console.print(_output.escape(line))

    try:
        outcomes = repro(targets=stages or None, force=force, jobs=jobs, dry_run=dry_run, lock_timeout=lock_timeout,
                         on_event=event, on_output=output, stage_runs=stage_runs)
    except StageFailedError as exc:
        if exc.tail:
            _output.err_console.print(f"[dim]last lines of {_output.escape(exc.stage)}:[/]")
            for line in exc.tail:
                _output.err_console.print(f"  {_output.escape(line)}")
        raise
    if json_output:
        _output.print_json([outcome.to_dict() for outcome in outcomes])
        return
    counts = Counter(outcome.action for outcome in outcomes)
    verb = "would run" if dry_run else "ran"
    restored = counts["would restore"] if dry_run else counts["restored"]
    _output.console.print(f"{len(outcomes)} stages: {counts[verb]} {verb}, {restored} restored from the cache, "
                          f"{counts['skipped']} up to date.")


def status_command(
    columns: str | None = COLUMNS_OPTION,
    wide: bool = WIDE_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show, per stage and per tracked data path, whether it is up to date and, if not, every reason why.

    Example: shipyard status
    """
    from ..pipeline.spec import PIPELINE_FILE, find_pipeline_root
    from ..pipeline.status import UP_TO_DATE, data_status, pipeline_status, watched_paths
    from ..pipeline.status_memo import fingerprint, forget, remember
    from ._store import project_root, workspace_store

    choice = column_choice(columns, wide)
    workspace_store()
    root = project_root()
    watched = watched_paths(root)
    before = fingerprint(str(root), watched)
    stages = pipeline_status(find_pipeline_root(root)) if (root / PIPELINE_FILE).is_file() else []
    data = data_status(root)
    payload = {"stages": [status.to_dict() for status in stages],
               "data": [{"path": item.name, "state": item.state, "reasons": item.reasons} for item in data]}
    if (stages or data) and all(status.state == UP_TO_DATE for status in (*stages, *data)):
        # The one-line answer the console script repeats from the memo while nothing changes.
        text = up_to_date_line(len(stages), len(data))
        json_text = _output.json_text(payload)
        remember(str(root), watched, before, text=text, json_text=json_text)
        sys.stdout.write(json_text if json_output else text)
        return
    forget(str(root))
    if json_output:
        _output.print_json(payload)
        return
    styles = {"up to date": "green", "stale": "yellow", "restorable": "cyan"}
    tables = [FittedTable([Column(title, pinned=True), Column("State"), Column("Why", 1, wrap=True)],
                          [(status.name, Text(status.state, style=styles[status.state]),
                            "; ".join(status.reasons) or "-") for status in statuses],
                          choice=choice, other_names={"stage", "data"})
              for title, statuses in (("Stage", stages), ("Data", data)) if statuses]
    for table in tables:
        show(table)
    if not stages and not data:
        _output.console.print("Nothing to report: no shipyard.yaml stages and no data added.")


def up_to_date_line(stages: int, data: int) -> str:
    """The answer when nothing is stale, e.g. ``Everything is up to date: 3 stages, 1 tracked data path.``

    Plain text, not Rich markup: the console script prints the same string from the memo.
    """
    parts = [f"{count} {noun}{'' if count == 1 else 's'}"
             for count, noun in ((stages, "stage"), (data, "tracked data path")) if count]
    return f"Everything is up to date: {', '.join(parts)}.\n"


def dag_command(mermaid: bool = typer.Option(False, "--mermaid", help="Print Mermaid text for docs.")) -> None:
    """Show the stage graph.

    Example: shipyard dag --mermaid
    """
    from ..pipeline.dag import build_graph
    from ..pipeline.spec import load_pipeline

    graph = build_graph(load_pipeline())
    order = graph.order()
    if mermaid:
        lines = ["flowchart TD"]
        lines += [f"    {name}[{name}]" for name in order]
        lines += [f"    {parent} --> {name}" for name in order for parent in graph.upstream[name]]
        print("\n".join(lines))
        return
    for level, names in enumerate(graph.levels(order)):
        for name in names:
            parents = ", ".join(graph.upstream[name])
            after = f"  [dim]<- {_output.escape(parents)}[/]" if parents else ""
            _output.console.print(f"{'  ' * level}[bold]{_output.escape(name)}[/]{after}")
