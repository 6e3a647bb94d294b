"""Bad input gets exit code 2 and one "Error:" line on stderr, never a traceback: in-process and for real."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import shipyard

if TYPE_CHECKING:
    from .conftest import CliInvoker, ErrorCheck, ScriptRunner, Seeded


BAD_FILTER = "metrics.auc >> 0.8"
BAD_FILTER_CARET = ["  " + BAD_FILTER, "  " + " " * BAD_FILTER.index(">> ") + " ^"]
GARBAGE = b"this is not a SQLite database\n" * 200


def _case(name: str, args: list[str], message: str, extra_lines: list[str] | None = None) -> object:
    return pytest.param(args, message, extra_lines or [], id=name)


@pytest.mark.parametrize(
    ("args", "message", "extra_lines"),
    [
        _case("unknown-id", ["runs", "show", "0" * 32], "No run has the id '" + "0" * 32 + "'"),
        _case("unknown-id-in-compare", ["runs", "compare", "{baseline}", "0" * 32], "No run has the id"),
        _case("non-hex-id", ["runs", "show", "zz-top"], "'zz-top' is not a run id"),
        _case("too-long-id", ["runs", "show", "a" * 33], "is not a run id: run ids are 32 hexadecimal digits"),
        _case("bad-filter", ["runs", "list", "--filter", BAD_FILTER],
              f"Invalid filter at position {BAD_FILTER.index('>> ') + 1}", BAD_FILTER_CARET),
        _case("bad-sort", ["runs", "list", "--sort", "metrics.auc sideways"], "Expected ASC or DESC",
              ["  metrics.auc sideways", "  " + " " * 12 + "^"]),
        _case("unknown-experiment", ["runs", "list", "--experiment", "nope"], "There is no experiment named 'nope'"),
        _case("unknown-experiment-markup", ["runs", "list", "-e", "[red]nope"], "no experiment named '[red]nope'"),
        _case("compare-one-id", ["runs", "compare", "{baseline}"], "Give at least two different runs to compare."),
        _case("missing-store", ["--store", "/nonexistent/x", "runs", "list"], "No Shipyard store at /nonexistent/x"),
        _case("missing-store-show", ["--store", "/nonexistent/x", "runs", "show", "{baseline}"], "No Shipyard store"),
        _case("missing-store-experiments", ["--store", "/nonexistent/x", "experiments", "list"], "No Shipyard store"),
    ],
)
def test_bad_input_in_process(cli: CliInvoker, input_error: ErrorCheck, seeded: Seeded, args: list[str],
                              message: str, extra_lines: list[str]) -> None:
    result = cli(*[arg.format(baseline=seeded.baseline[:8]) for arg in args])
    line = input_error(result.exit_code, result.stdout, result.stderr, extra_lines=extra_lines)
    assert message in line
    assert not Path("/nonexistent").exists()


def test_an_ambiguous_prefix_lists_the_candidates(cli: CliInvoker, input_error: ErrorCheck) -> None:
    by_first_digit: dict[str, list[str]] = {}
    for _ in range(17):  # 16 hex digits: the 17th run shares one at the latest
        with shipyard.start_run(experiment="many") as run:
            pass
        by_first_digit.setdefault(run.id[0], []).append(run.id)
        if len(by_first_digit[run.id[0]]) == 2:
            break
    digit, (first, second) = next((key, ids) for key, ids in by_first_digit.items() if len(ids) == 2)
    for args in (["runs", "show", digit], ["runs", "compare", digit, first]):
        result = cli(*args)
        line = input_error(result.exit_code, result.stdout, result.stderr)
        assert f"The prefix '{digit}' matches several runs" in line
        assert first[:5] in line and second[:5] in line and "give more characters" in line
    assert cli("runs", "show", first[:12]).exit_code == 0  # more characters do it


def test_a_garbage_meta_db_is_reported_not_crashed_on(cli: CliInvoker, input_error: ErrorCheck,
                                                      isolated_store: Path) -> None:
    isolated_store.mkdir()
    (isolated_store / "meta.db").write_bytes(GARBAGE)
    for args in (["runs", "list"], ["runs", "show", "abc"], ["experiments", "list", "--json"]):
        result = cli(*args)
        line = input_error(result.exit_code, result.stdout, result.stderr)
        assert "meta.db cannot be used: file is not a database" in line
    assert (isolated_store / "meta.db").read_bytes() == GARBAGE  # left alone for the user to inspect


def test_a_bad_sort_is_not_called_a_filter(cli: CliInvoker, input_error: ErrorCheck, seeded: Seeded) -> None:
    result = cli("runs", "list", "--sort", "metrics.auc sideways")
    line = input_error(result.exit_code, result.stdout, result.stderr,
                       extra_lines=["  metrics.auc sideways", "  " + " " * 12 + "^"])
    assert "filter" not in line.lower()


def test_a_missing_explicit_store_does_not_claim_a_search(cli: CliInvoker, input_error: ErrorCheck) -> None:
    result = cli("--store", "/nonexistent/x", "runs", "list")
    line = input_error(result.exit_code, result.stdout, result.stderr)
    assert "/nonexistent/x" in line and "searched from" not in line


# The same refusals from the real console script: exit status, stderr and no traceback in a real process.


def test_script_unknown_run_id(run_script: ScriptRunner, input_error: ErrorCheck, seeded: Seeded) -> None:
    done = run_script("runs", "show", "0" * 32)
    line = input_error(done.returncode, done.stdout, done.stderr)
    assert "No run has the id" in line


def test_script_bad_filter_points_at_the_token(run_script: ScriptRunner, input_error: ErrorCheck,
                                               seeded: Seeded) -> None:
    done = run_script("runs", "list", "--filter", BAD_FILTER)
    line = input_error(done.returncode, done.stdout, done.stderr, extra_lines=BAD_FILTER_CARET)
    assert line.startswith("Error: Invalid filter at position 13:")


def test_script_garbage_meta_db_and_missing_store(run_script: ScriptRunner, input_error: ErrorCheck,
                                                  isolated_store: Path, tmp_path: Path) -> None:
    isolated_store.mkdir()
    (isolated_store / "meta.db").write_bytes(GARBAGE)
    done = run_script("runs", "list", "--json")
    assert "file is not a database" in input_error(done.returncode, done.stdout, done.stderr)
    missing = tmp_path / "missing" / ".shipyard"
    done = run_script("--store", str(missing), "experiments", "list")
    assert f"No Shipyard store at {missing}" in input_error(done.returncode, done.stdout, done.stderr)
    assert not (tmp_path / "missing").exists()


def test_script_names_an_empty_meta_db_instead_of_calling_the_store_missing(
        run_script: ScriptRunner, input_error: ErrorCheck, isolated_store: Path, tmp_path: Path) -> None:
    isolated_store.mkdir()
    db = isolated_store / "meta.db"
    db.write_bytes(b"")
    for args in (["runs", "list"], ["experiments", "list", "--json"]):
        done = run_script(*args)
        line = input_error(done.returncode, done.stdout, done.stderr)
        assert f"{db} is empty (0 bytes)" in line and "No Shipyard store" not in line
    assert db.read_bytes() == b""
