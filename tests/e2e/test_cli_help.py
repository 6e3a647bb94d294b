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
