"""``shipyard add``, ``checkout``, ``remote``, ``push``, ``pull``, ``gc`` and the ``params``/``metrics`` diffs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from . import _output
from ._store import project_root
from ._table import COLUMNS_OPTION, WIDE_OPTION, ColumnChoice, column_choice

if TYPE_CHECKING:  # pipeline.diff imports YAML and the pipeline spec: only the diff commands need them
    from ..pipeline.diff import Change

remote_app = typer.Typer(help="Remotes for the cache (a local path, s3://...).\n\nExample: shipyard remote add "
                         "storage s3://bucket/shipyard --default", no_args_is_help=True)
params_app = typer.Typer(help="Params of the workspace.\n\nExample: shipyard params diff HEAD~1", no_args_is_help=True)
metrics_app = typer.Typer(help="Metrics of the pipeline.\n\nExample: shipyard metrics diff main", no_args_is_help=True)


_LOCK_TIMEOUT_HELP = "Seconds to wait for another shipyard process using this workspace."
_LINK_HELP = ("How files come out of the cache: reflink (a copy-on-write clone where the filesystem allows, else a "
              "copy), copy, or hardlink (no copy at all, but the files become read-only; raw data only).")


def _waiting(holder: dict[str, object]) -> None:
    """Say whom a command is waiting for, so a silent pause never looks like a hang."""
    from ..pipeline.workspace_lock import describe_holder

    _output.err_console.print(f"waiting for the workspace lock held by {_output.escape(describe_holder(holder))}")


def add_command(
    paths: list[str] = typer.Argument(..., help="Files or directories of raw data."),
    lock_timeout: float = typer.Option(60.0, "--lock-timeout", help=_LOCK_TIMEOUT_HELP),
) -> None:
    """Track raw data: cache it, write PATH.ship to commit, keep PATH out of git.

    Example: shipyard add data/raw/churn.csv
    """
    from ..pipeline.dag import build_graph
    from ..pipeline.data import add
    from ..pipeline.spec import PIPELINE_FILE, load_pipeline
    from ._store import workspace_store

    root = project_root()
    produced = build_graph(load_pipeline(root)).producer if (root / PIPELINE_FILE).is_file() else {}
    for entry in add(workspace_store(), root, paths, produced=produced, lock_timeout=lock_timeout, on_wait=_waiting):
        files = f", {entry.files:,} files" if entry.is_dir else ""
        _output.console.print(f"Tracking {_output.escape(entry.path)} ({entry.size:,} bytes{files}); commit "
                              f"{_output.escape(entry.path)}.ship and .gitignore.")


def checkout_command(
    paths: list[str] = typer.Argument(None, help="Only these paths (default: all tracked)."),
    link: str = typer.Option("reflink", "--link", envvar="SHIPYARD_LINK", help=_LINK_HELP),
    lock_timeout: float = typer.Option(60.0, "--lock-timeout", help=_LOCK_TIMEOUT_HELP),
) -> None:
    """Restore the data that the pointer files and shipyard.lock name (after git checkout, say).

    Example: git checkout v1.0 && shipyard checkout
    """
    from ..pipeline.data import checkout
    from ..store.objects import check_link_mode
    from ._store import workspace_store

    mode = check_link_mode(link)
    restored, current = checkout(workspace_store(), project_root(), paths or None, link=mode,
                                 lock_timeout=lock_timeout, on_wait=_waiting)
    for path in restored:
        _output.console.print(f"restored {_output.escape(path)}")
    _output.console.print(f"{len(restored)} restored, {len(current)} already current.")


@remote_app.command("add")
def remote_add_command(
    name: str = typer.Argument(..., help="Remote name."),
    url: str = typer.Argument(..., help="A directory, or s3://bucket/prefix."),
    default: bool = typer.Option(False, "--default", help="Use it when no remote is named."),
    endpoint_url: str = typer.Option(None, "--endpoint-url", help="S3-compatible endpoint (MinIO, moto...)."),
    region: str = typer.Option(None, "--region", help="S3 region."),
) -> None:
    """Add a remote to shipyard.yaml.

    Example: shipyard remote add storage s3://bucket/shipyard --default
    """
    from ..pipeline.remotes import add_remote

    remote = add_remote(project_root(), name, url, default=default,
                        options={"endpoint_url": endpoint_url or "", "region": region or ""})
    _output.console.print(f"Remote {_output.escape(remote.name)} -> {_output.escape(remote.url)}"
                          + (" (default)" if remote.default else ""))


@remote_app.command("list")
def remote_list_command() -> None:
    """List the remotes in shipyard.yaml.

    Example: shipyard remote list
    """
    from ..pipeline.remotes import list_remotes

    for remote in list_remotes(project_root()):
        _output.console.print(f"{_output.escape(remote.name)}\t{_output.escape(remote.url)}"
                              + ("\t(default)" if remote.default else ""))


def _transfer(direction: str, remote_name: str | None, jobs: int, json_output: bool, *, link: str = "reflink",
              lock_timeout: float = 60.0) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..pipeline import remotes
    from ..store.objects import check_link_mode
    from ._store import workspace_store

    mode = check_link_mode(link)  # before any download: a typo must not cost a transfer
    root = project_root()
    remote = remotes.get_remote(root, remote_name)
    store = workspace_store()
    action = remotes.push if direction == "push" else remotes.pull
    with Progress(TextColumn(f"[bold]{direction}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=_output.err_console, transient=True,
                  disable=json_output or not _output.err_console.is_terminal) as progress:
        task = progress.add_task(direction, total=None)
        result = action(store, root, remote, jobs=jobs,
                        progress=lambda done, total: progress.update(task, completed=done, total=total))
    restored: list[str] = []
    if direction == "pull":
        from ..pipeline.data import checkout

        restored, _ = checkout(store, root, link=mode, lock_timeout=lock_timeout, on_wait=_waiting)
        if restored and not json_output:
            _output.console.print(f"checked out {len(restored)} paths")
    if json_output:
        _output.print_json({**result.to_dict(), **({"checked_out": restored} if direction == "pull" else {})})
        return
    verb = "uploaded" if direction == "push" else "downloaded"
    _output.console.print(f"{len(result.transferred):,} objects {verb}, {result.already:,} already there "
                          f"({_output.escape(remote.name)}).")
    if result.missing_everywhere:
        _output.err_console.print(f"[yellow]{len(result.missing_everywhere)} objects are in neither place[/] "
                                  "(data never added on any machine, or a cache cleaned by gc).")


def push_command(
    remote: str = typer.Option(None, "--remote", "-r", help="Remote name (default: the default remote)."),
    jobs: int = typer.Option(16, "--jobs", "-j", min=1, help="Parallel transfers."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Upload the cached objects the workspace names that the remote lacks.

    Example: shipyard push
    """
    _transfer("push", remote, jobs, json_output)


def pull_command(
    remote: str = typer.Option(None, "--remote", "-r", help="Remote name (default: the default remote)."),
    jobs: int = typer.Option(16, "--jobs", "-j", min=1, help="Parallel transfers."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    link: str = typer.Option("reflink", "--link", envvar="SHIPYARD_LINK", help=_LINK_HELP),
    lock_timeout: float = typer.Option(60.0, "--lock-timeout", help=_LOCK_TIMEOUT_HELP),
) -> None:
    """Download the objects the workspace names that the local cache lacks, then check them out.

    Example: shipyard pull
    """
    _transfer("pull", remote, jobs, json_output, link=link, lock_timeout=lock_timeout)


def gc_command(
    keep_revs: int = typer.Option(0, "--keep-revs", min=0, help="Also keep what the last N git commits name."),
    force: bool = typer.Option(False, "--force", help="Delete (without it, only report)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    lock_timeout: float = typer.Option(60.0, "--lock-timeout", help=_LOCK_TIMEOUT_HELP),
) -> None:
    """Remove cached objects nothing refers to (dry run unless --force).

    Example: shipyard gc --keep-revs 5 --force
    """
    from contextlib import nullcontext

    from ..pipeline.gc import collect
    from ..pipeline.workspace_lock import lock_path, workspace_lock
    from ._store import workspace_store

    root = project_root()
    # Deleting takes the workspace lock: an `add` or `repro` caches objects before the pointer or lock file
    # that names them is written, and gc must not see that moment.
    guard = workspace_lock(lock_path(root), timeout=lock_timeout, on_wait=_waiting) if force else nullcontext()
    with guard:
        result = collect(workspace_store(), root, keep_revs=keep_revs, force=force)
    if json_output:
        _output.print_json(result.to_dict())
        return
    verb = "removed" if result.deleted else "would remove (use --force)"
    _output.console.print(f"{len(result.removable):,} objects {verb}, {result.removed_bytes:,} bytes; "
                          f"{result.kept:,} kept.")


def _diff_table(changes: list[Change], json_output: bool, choice: ColumnChoice) -> None:
    from ._table import Column, FittedTable, show

    if json_output:
        _output.print_json([change.to_dict() for change in changes])
        return
    if not changes:
        _output.console.print("No differences.")
        return
    rows = [(change.source, change.key, _output.fmt_value(change.old), _output.fmt_value(change.new),
             f"{change.delta:+.6g}" if change.delta is not None else "") for change in changes]
    show(FittedTable([Column("File", 2), Column("Key"), Column("Old"), Column("New"),
                      Column("Change", 1, justify="right")], rows, choice=choice))


@params_app.command("diff")
def params_diff_command(
    revision: str = typer.Argument("HEAD", help="Git revision to compare with."),
    all_keys: bool = typer.Option(False, "--all", help="Show unchanged keys too."),
    columns: str | None = COLUMNS_OPTION,
    wide: bool = WIDE_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Compare params.yaml in the workspace with a git revision.

    Example: shipyard params diff HEAD~1
    """
    from ..pipeline.diff import params_diff

    choice = column_choice(columns, wide)
    _diff_table(params_diff(project_root(), revision, all_keys=all_keys), json_output, choice)


@metrics_app.command("diff")
def metrics_diff_command(
    revision: str = typer.Argument("HEAD", help="Git revision to compare with."),
    all_keys: bool = typer.Option(False, "--all", help="Show unchanged keys too."),
    columns: str | None = COLUMNS_OPTION,
    wide: bool = WIDE_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Compare the pipeline's metrics files in the workspace with a git revision.

    Example: shipyard metrics diff main
    """
    from ..pipeline.diff import metrics_diff

    choice = column_choice(columns, wide)
    _diff_table(metrics_diff(project_root(), revision, all_keys=all_keys), json_output, choice)
