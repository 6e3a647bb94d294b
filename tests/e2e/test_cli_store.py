"""Which store the CLI reads: ``--store``, then ``SHIPYARD_STORE``, then the nearest ``.shipyard/``; reading never
creates one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import shipyard

if TYPE_CHECKING:
    from .conftest import CliInvoker, ErrorCheck, ScriptRunner


@pytest.fixture
def two_stores(tmp_path: Path, isolated_store: Path) -> Path:
    """A run named "here" in the test's default store and one named "elsewhere" in ``tmp_path/other``."""
    with shipyard.start_run(experiment="home", name="here"):
        pass
    other = tmp_path / "other" / ".shipyard"
    shipyard.set_store(other)
    with shipyard.start_run(experiment="away", name="elsewhere"):
        pass
    shipyard.set_store(None)  # back to discovery, with no store open: the CLI picks one itself
    return other


def _names(stdout: str) -> list[str]:
    return [record["name"] for record in json.loads(stdout)]


def test_store_option_selects_the_store(cli: CliInvoker, two_stores: Path) -> None:
    result = cli("--store", str(two_stores), "runs", "list", "--json")
    assert result.exit_code == 0, result.output
    assert _names(result.stdout) == ["elsewhere"]


def test_environment_variable_selects_the_store(cli: CliInvoker, two_stores: Path) -> None:
    result = cli("experiments", "list", "--json", env={"SHIPYARD_STORE": str(two_stores)})
    assert [item["name"] for item in json.loads(result.stdout)] == ["away"]


def test_default_is_the_environment_store(cli: CliInvoker, two_stores: Path) -> None:
    assert _names(cli("runs", "list", "--json").stdout) == ["here"]


def test_script_store_option_beats_the_environment(run_script: ScriptRunner, two_stores: Path) -> None:
    from_option = run_script("--store", str(two_stores), "runs", "list", "--json")  # SHIPYARD_STORE names "here"
    assert from_option.returncode == 0, from_option.stderr
    assert _names(from_option.stdout) == ["elsewhere"]
    from_env = run_script("runs", "list", "--json", env={"SHIPYARD_STORE": str(two_stores)})
    assert _names(from_env.stdout) == ["elsewhere"]


@pytest.mark.parametrize(
    "args",
    [["runs", "list"], ["runs", "list", "--json"], ["experiments", "list"], ["runs", "show", "abc"],
     ["runs", "compare", "abc", "def"]],
    ids=" ".join,
)
def test_reading_without_a_store_creates_none(cli: CliInvoker, input_error: ErrorCheck, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("SHIPYARD_STORE")
    result = cli(*args)
    line = input_error(result.exit_code, result.stdout, result.stderr)
    assert f"No Shipyard store at {work / '.shipyard'}" in line
    assert not (work / ".shipyard").exists()
    assert not (tmp_path / ".shipyard").exists()


def test_reading_a_missing_environment_store_creates_none(cli: CliInvoker, input_error: ErrorCheck,
                                                          tmp_path: Path) -> None:
    missing = tmp_path / "not-yet" / ".shipyard"
    result = cli("runs", "list", env={"SHIPYARD_STORE": str(missing)})
    assert f"No Shipyard store at {missing}" in input_error(result.exit_code, result.stdout, result.stderr)
    assert not (tmp_path / "not-yet").exists()


def test_script_reading_without_a_store_creates_none(run_script: ScriptRunner, input_error: ErrorCheck,
                                                     tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    done = run_script("runs", "list", cwd=work, env={"SHIPYARD_STORE": None})
    assert "No Shipyard store at" in input_error(done.returncode, done.stdout, done.stderr)
    assert list(work.iterdir()) == []
    assert not (tmp_path / ".shipyard").exists()


def test_store_option_wins_over_a_store_already_open_in_process(cli: CliInvoker, two_stores: Path) -> None:
    shipyard.current_store()  # e.g. the program logged a run before invoking the CLI
    result = cli("--store", str(two_stores), "runs", "list", "--json")
    assert _names(result.stdout) == ["elsewhere"]
