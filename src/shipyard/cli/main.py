"""The ``shipyard`` command: global options, sub-commands, and the one place errors become exit codes.

``ShipyardError`` subclasses carry their exit code (2 for bad input, 1 for failures); they are printed as
one red line plus an optional hint. ``CheckFailedError`` (3: a check ran and said no) adds no line: the command
that raised it has printed its verdict already. Anything else is a bug: the traceback goes to a log file (shown
with ``--debug``) and the user gets one line saying where it is. Tracebacks never show local variables.

Start-up time is part of the interface (``shipyard status`` should feel instant), so this module and
the command modules it registers import only Typer, Rich and light parts of Shipyard; each command
imports the library code it runs inside its function. ``tests/unit/test_imports.py`` keeps it so.
"""

from __future__ import annotations

import os
import time
from contextlib import suppress
from importlib import import_module
from pathlib import Path
from typing import Any

import click
import typer
from typer.core import TyperGroup

from ..errors import CheckFailedError, ShipyardError
from . import _output
from ._store import choose

# The sub-commands, in the order ``--help`` lists them: name -> "module:attribute" in shipyard.cli. A
# typer.Typer becomes a group, a function a command. Adding one is one line, e.g. "serve": "serve:app";
# keep the new module's top-level imports to Typer, Rich and ``._output``/``._store``.
_COMMANDS: dict[str, str] = {
    "init": "init:init_command",
    "runs": "runs:app",
    "experiments": "experiments:app",
    "models": "models:app",
    "lineage": "lineage:lineage_command",
    "predict": "predict:predict_command",
    "repro": "pipeline:repro_command",
    "status": "pipeline:status_command",
    "dag": "pipeline:dag_command",
    "add": "data:add_command",
    "checkout": "data:checkout_command",
    "push": "data:push_command",
    "pull": "data:pull_command",
    "gc": "data:gc_command",
    "remote": "data:remote_app",
    "params": "data:params_app",
    "metrics": "data:metrics_app",
    "serve": "serve:serve_command",
    "dockerfile": "serve:dockerfile_command",
    "k8s": "k8s:app",
    "predictions": "serve:predictions_command",
    "monitor": "monitor:app",
    "rollout": "rollout:app",
    "bandit": "bandit:app",
    "loop": "loop:app",
    "scheduler": "loop:scheduler_command",
    "ui": "ui:ui_command",
    "server": "server:app",
    "import": "importer:app",
}


_GIVEN_ARGS = "shipyard.given_args"
# Commands that need a whole extra: a missing module of an extra it includes names this one instead, so
# `shipyard ui` without starlette asks for [ui] (which brings [serve]) rather than for [serve] alone.
_COMMAND_EXTRAS = {"ui": "ui", "demo": "demo", "scheduler": "loop", "loop": "loop", "monitor": "monitoring",
                   "serve": "serve", "models export-onnx": "onnx",
                   "server": "ui"}


class _ShipyardGroup(TyperGroup):
    def invoke(self, ctx: Any) -> Any:  # typer.Context; its vendored click types differ
        try:
            return super().invoke(ctx)
        except CheckFailedError as exc:  # the command printed its verdict: the exit code (3) is all that is left
            ctx.exit(exc.exit_code)
        except ShipyardError as exc:
            _output.err_console.print(f"[bold red]Error:[/] {_output.escape(exc.message)}")
            if exc.hint:
                _output.err_console.print(f"[dim]Hint:[/] {_output.escape(exc.hint)}")
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise  # usage errors and exits: Click prints and exits as usual
        except Exception as exc:
            if isinstance(exc, ModuleNotFoundError):  # an optional dependency: name its extra, not a bug
                from ..extras import from_module_not_found

                path = self._command_path(ctx)
                wanted = next((extra for command, extra in _COMMAND_EXTRAS.items()
                               if f"{path} ".startswith(f"shipyard {command} ")), None)
                missing = from_module_not_found(exc, f"`{path}`", wanted=wanted)
                if missing is not None:
                    _output.err_console.print(f"[bold red]Error:[/] {_output.escape(missing.message)}")
                    ctx.exit(missing.exit_code)
            if ctx.find_root().params.get("debug"):
                raise
            import traceback

            text = "".join(traceback.format_exception(exc))
            headline = f"[bold red]Unexpected error:[/] {_output.escape(type(exc).__name__)}: {_output.escape(exc)}"
            try:
                log = _write_crash_log(text)
            except OSError as failure:  # no safe place for it: show it rather than lose it
                _output.err_console.print(f"{headline}\nThe traceback could not be kept: "
                                          f"{_output.escape(failure.strerror or failure)}. Please report it:")
                _output.err_console.print(_output.escape(text.rstrip()))
            else:
                _output.err_console.print(
                    f"{headline}\nThe traceback is in {log}; run again with --debug to see it, and please report it.")
            ctx.exit(1)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta[_GIVEN_ARGS] = list(args)  # for _command_path: click empties ctx.args as it dispatches
        return super().parse_args(ctx, args)

    def _command_path(self, ctx: Any) -> str:
        """``shipyard monitor compare`` for the arguments that were given, options and their values left out."""
        takes_value = {opt for param in self.params if isinstance(param, click.Option) and not param.is_flag
                       for opt in param.opts}
        words, given = ["shipyard"], ctx.meta.get(_GIVEN_ARGS, [])
        group: click.Command = self
        index = 0
        while index < len(given):
            arg = given[index]
            if arg.startswith("-"):
                index += 2 if arg in takes_value else 1
                continue
            command = group.get_command(ctx, arg) if isinstance(group, click.Group) else None
            if command is None:
                break
            words.append(arg)
            group, index = command, index + 1
        return " ".join(words)


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


def _register(commands: dict[str, str]) -> None:
    """Add the sub-commands of ``_COMMANDS`` (a table, so that adding one cannot forget the import)."""
    for name, target in commands.items():
        module, _, attribute = target.partition(":")
        command = getattr(import_module(f".{module}", __package__), attribute)
        if isinstance(command, typer.Typer):
            app.add_typer(command, name=name)
        else:
            app.command(name)(command)


_register(_COMMANDS)


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
    keep: bool = typer.Option(False, "--keep", help="Afterwards leave the model server and the web UI running "
                              "(Ctrl-C stops them)."),
    server: bool = typer.Option(False, "--server", help="The team story instead: a local `shipyard server` on "
                                "SQLite, tokens, training, autologging, the registry and the gate through it."),
) -> None:
    """The whole story on IBM Telco churn: pipeline, registry, ONNX, serving, monitoring, retraining loop.

    Works in shipyard-demo/ (an earlier run's folder is kept as shipyard-demo-DATE-TIME/) with a store of its
    own in shipyard-demo/churn/.shipyard, unless --store or SHIPYARD_STORE names one.

    With --server: the team story in shipyard-demo-team/ against a `shipyard server` it starts and stops.

    Example: shipyard demo --keep
    """
    from rich.console import Console

    if server:
        from ..demo.team import run_team_demo

        run_team_demo(Console(highlight=False, emoji=False, soft_wrap=True), rows=rows or None)
        return

    from ..demo.churn import run_demo
    from ..demo.keep import keep_running
    from ..demo.next_steps import next_steps
    from ..tracking.search import search_run_records
    from ._store import chosen_store_option, store_was_chosen, writable_store
    from .runs import runs_table

    # One line per step, as promised: soft wrap lets the terminal fold long lines instead of Rich cutting them.
    steps = Console(highlight=False, emoji=False, soft_wrap=True)
    if store_was_chosen():
        writable_store()  # --store applies to this process before the demo looks for the current store
    made = run_demo(console=steps, rows=rows or None, own_store=not store_was_chosen())
    store = writable_store()
    order = ["metrics.roc_auc DESC"]
    records = search_run_records(store, experiment=made.experiment, order_by=order, max_results=20)
    _output.console.print(runs_table(records, sort=order))  # the table keeps the column it is sorted by
    evaluations = sorted((record for record in records if record["name"] == "evaluate"),
                         key=lambda record: record["start_time"])
    best = records[0]
    _output.console.print(f"Best: [bold]{_output.escape(best['name'])}[/] (run {best['run_id'][:8]}), holdout "
                          f"ROC AUC {best['metrics']['roc_auc']:.4f}. Store: {store.location.describe()}")
    if keep:
        assert store.location.root is not None
        keep_running(store.location.root, made.project, made.project / "serving.yaml",
                     say=lambda line: _output.console.print(_output.escape(line)))
        return
    for line in next_steps(made.project, [record["run_id"] for record in evaluations], chosen_store_option()):
        _output.console.print(_output.escape(line))


def _write_crash_log(text: str) -> Path:
    """Keep a traceback in a new file under the user's cache folder (``$XDG_CACHE_HOME/shipyard``, else
    ``~/.cache/shipyard``), private to them, and return its path.

    Not in the system temp folder: anyone can create ``/tmp/shipyard-logs`` first, or a symlink there that
    makes the next crash write wherever its planter chose. The folder is opened without following a
    symlink and must belong to this user; the file is created 0600 and exclusively (``O_EXCL``), never
    through a symlink. Raises ``OSError`` (its ``strerror`` says why) when that cannot be done.
    """
    folder = _crash_folder()
    _make_private_dirs(folder.parent)
    with suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    try:
        directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:  # ELOOP: a symlink; ENOTDIR: a file
        raise OSError(exc.errno, f"{folder} is not a folder of yours (a symlink or a file is in its place)") from exc
    try:
        if os.fstat(directory).st_uid != os.getuid():
            raise OSError(0, f"{folder} is not a folder of yours (another user owns it)")
        stamp = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        for attempt in range(100):
            name = f"{stamp}{f'-{attempt}' if attempt else ''}.log"
            try:
                descriptor = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                     0o600, dir_fd=directory)
            except FileExistsError:
                continue
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
            return folder / name
        raise OSError(0, f"{folder} already holds 100 crash logs named {stamp}*")
    finally:
        os.close(directory)


def _crash_folder() -> Path:
    from ..store.cache_home import cache_home

    return cache_home()


def _make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and its missing parents 0700 (the XDG spec's mode for the folders it names)."""
    missing = []
    while not folder.is_dir() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        with suppress(FileExistsError):
            os.mkdir(path, 0o700)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """A library warning as one yellow line, without the source path and line it was raised at."""
    _output.err_console.print(f"[yellow]Warning:[/] {_output.escape(message)}")


def main() -> None:
    import warnings

    warnings.showwarning = _show_warning
    app(prog_name="shipyard")


if __name__ == "__main__":
    main()
