"""Help, version and start-up cost: every command explains itself with an example, and stays light to import."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

import shipyard

if TYPE_CHECKING:
    from .conftest import CliInvoker, ScriptRunner


COMMANDS = [[], ["runs"], ["runs", "list"], ["runs", "show"], ["runs", "compare"], ["experiments"],
            ["experiments", "list"], ["models"], ["models", "list"], ["models", "show"], ["models", "alias"],
            ["models", "history"], ["models", "promote"], ["lineage"], ["demo"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(command) or "shipyard")
def test_help_has_an_example(cli: CliInvoker, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert "Example" in result.stdout


def test_version(cli: CliInvoker) -> None:
    result = cli("--version")
    assert (result.exit_code, result.stdout) == (0, f"shipyard {shipyard.__version__}\n")


def test_console_script_help_and_version(run_script: ScriptRunner) -> None:
    helped = run_script("--help")
    assert helped.returncode == 0, helped.stderr
    assert "Example" in helped.stdout
    for group in ("runs", "experiments", "demo"):
        assert group in helped.stdout
    version = run_script("--version")
    assert (version.returncode, version.stdout, version.stderr) == (0, f"shipyard {shipyard.__version__}\n", "")


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "shipyard.cli.main", "--version"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, f"shipyard {shipyard.__version__}\n")


def test_importing_the_cli_does_not_import_pandas_or_sklearn() -> None:
    code = "import shipyard.cli.main, sys; print('pandas' in sys.modules, 'sklearn' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "False False\n"


def _every_command_path() -> list[list[str]]:
    """Every command and group of the CLI, walked from the click tree Typer builds."""
    import click
    import typer.main

    from shipyard.cli.main import app

    paths: list[list[str]] = []

    def walk(command: click.Command, path: list[str]) -> None:
        paths.append(path)
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


@pytest.mark.parametrize("command", _every_command_path(), ids=lambda command: " ".join(command) or "shipyard")
def test_help_names_placeholders_the_way_clis_do(cli: CliInvoker, command: list[str]) -> None:
    """`Usage: shipyard lineage [OPTIONS] TARGET` and `--store TEXT`: not `{target}` or `<str>`, which
    typer 0.27 started printing (the reason pyproject.toml keeps typer below it)."""
    result = cli(*command, "--help")
    assert result.exit_code == 0, result.output
    usage = next(line for line in result.stdout.splitlines() if "Usage:" in line)
    assert "{" not in usage, usage
    for placeholder in ("<str>", "<int>", "<float>", "<path>", "<bool>"):
        assert placeholder not in result.stdout, (command, placeholder)
