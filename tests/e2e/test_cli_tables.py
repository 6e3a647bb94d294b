"""Every listing command, rendered in a real terminal 80, 100 and 120 columns wide, and piped.

What a user of ``gh``, ``kubectl`` or ``docker ps`` expects: no line wider than the terminal, the values
that matter on screen in full (never ``0.…`` or a name cut to two letters), columns that do not fit left
out whole and named in one dim line with the flags that show them (``--columns``, ``--wide``, ``--json``),
and numbers with significant digits instead of 17 decimals. The store and project are built once per
module by ``_table_world.py`` with the public API and the real CLI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from rich.cells import cell_len

from tests.e2e._table_world import (
    BEST_NAME,
    EXPERIMENTS,
    METRICS,
    World,
    build_world,
    predictions_since,
)
from tests.e2e._terminal import ELLIPSIS, SHIPYARD_SCRIPT, Screen, assert_fits, more_columns_line, run_in_terminal
from tests.integration.monitoring._traffic import monitor_window

if TYPE_CHECKING:
    from tests.e2e.conftest import ErrorCheck

pytestmark = pytest.mark.slow
WIDTHS = (80, 100, 120)
_BOX = re.compile(r"[\s│┃|]")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("tables"))


def squeezed(text: str) -> str:
    """Text without whitespace and table rules: prose that wrapped inside its column reads as one string."""
    return _BOX.sub("", text)


@dataclass(frozen=True)
class Listing:
    """A listing command, where it runs, and what must be on screen at every width."""

    args: Callable[[World], list[str]]
    in_project: bool
    shown: Callable[[World], list[str]]  # values on screen, each on one line
    prose: Callable[[World], list[str]] = lambda world: []  # text that may wrap inside its column
    drops_at_80: bool = False  # the data has more columns than 80 columns hold
    exit_code: int = 0


LISTINGS = {
    "runs-sorted": Listing(lambda w: ["runs", "list", "--sort", "-metrics.roc_auc"], False,
                           lambda w: [w.best_run[:8], BEST_NAME, "0.8429", "FINISHED", "roc_auc"], drops_at_80=True),
    "runs-filtered": Listing(lambda w: ["runs", "list", "-f", "metrics.roc_auc > 0.84"], False,
                             lambda w: [w.best_run[:8], BEST_NAME, "0.8429", "roc_auc"], drops_at_80=True),
    "runs": Listing(lambda w: ["runs", "list"], False,
                    lambda w: [BEST_NAME, "hyperparameter-sweep-2026-q1", "logreg-l1-saga-diverged", "FAILED"],
                    drops_at_80=True),
    "runs-compare": Listing(lambda w: ["runs", "compare", *w.compared[:3]], False,
                            lambda w: [*w.compared[:3], "0.8429", "roc_auc", "learning_rate"]),
    "experiments": Listing(lambda w: ["experiments", "list"], False, lambda w: [*EXPERIMENTS, "Runs"]),
    "models": Listing(lambda w: ["models", "list"], False,
                      lambda w: ["customer-churn-propensity-model", "churn", "v2"], prose=lambda w: ["champion→v1"]),
    "model-versions": Listing(lambda w: ["models", "show", "churn"], False, lambda w: ["v1", "v2", "champion"]),
    "model-history": Listing(lambda w: ["models", "history", "churn"], False, lambda w: ["held_back", "champion"],
                             prose=lambda w: ["first baseline, trained on the 2026-q1 customers",
                                              "(higher is better): gain", "(alpha 0.05): worse by"]),
    "status": Listing(lambda w: ["status"], True, lambda w: ["train-gradient-boosting", "stale",
                                                               "data/customers-2026-q1.csv"],
                      prose=lambda w: ["param train.learning_rate 0.05 -> 0.1",
                                       "upstream stage 'prepare-customer-features' is stale"]),
    "params-diff": Listing(lambda w: ["params", "diff"], True,
                           lambda w: ["train.learning_rate", "0.05", "0.1", "+0.05", "train.max_depth"]),
    "metrics-diff": Listing(lambda w: ["metrics", "diff"], True,
                            lambda w: ["roc_auc", "0.8312", "0.8429", "+0.0117"]),
    "loops": Listing(lambda w: ["loop", "list"], True, lambda w: ["churn-weekday-retrain", "0 2 * * 1-5"]),
    "monitor-check": Listing(lambda w: ["monitor", "check", "-d", "churn", *monitor_window(w.hours)], False,
                             lambda w: ["ALERT", "monthly_charges", "drift"],
                             prose=lambda w: ["mean 81.4 vs 65.09 in training"], exit_code=3),
    "predictions": Listing(lambda w: ["predictions", "churn", "--since", predictions_since(w.hours), "--limit", "5"],
                           False, lambda w: [w.latest_request, f"{w.latest_latency:.6g}"]),
}


def _run(world: World, listing: Listing, columns: int, *extra: str) -> Screen:
    cwd = world.project if listing.in_project else world.store.parent
    return run_in_terminal(*listing.args(world), *extra, columns=columns, cwd=cwd, env=world.env)


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("name", list(LISTINGS))
def test_listing_fits_the_terminal_with_its_values_in_full(world: World, name: str, columns: int) -> None:
    listing = LISTINGS[name]
    screen = _run(world, listing, columns)
    assert_fits(screen, exit_code=listing.exit_code)
    for value in listing.shown(world):
        assert value in screen.text, f"{value!r} is not on screen:\n{screen}"
    for text in listing.prose(world):
        assert squeezed(text) in squeezed(screen.text), f"{text!r} is not on screen:\n{screen}"
    if listing.drops_at_80 and columns == 80:
        line = more_columns_line(screen)
        assert line is not None, f"no line says which columns were left out:\n{screen}"
        assert re.fullmatch(r"\d+ more columns? \(.+\): --columns, --wide, --json", line.strip()), line


@pytest.mark.parametrize("columns", WIDTHS)
def test_runs_list_keeps_the_sorted_metric_and_counts_what_it_left_out(world: World, columns: int) -> None:
    records = json.loads(_piped(world, "runs", "list", "--json").stdout)
    every = {"Run", "Name", "Experiment", "Status", "Started", "Duration", "Commit",
             *{key for record in records for section in ("metrics", "params") for key in record[section]}}
    screen = _run(world, LISTINGS["runs-sorted"], columns)
    header = next(line for line in screen.lines if "Run" in line and "Name" in line)
    shown = {cell.strip() for cell in re.split(r"[┃│]", header) if cell.strip()}
    assert {"Run", "Name", "Status", "roc_auc"} <= shown <= every, screen
    line = more_columns_line(screen)
    assert line is not None and line.startswith(f"{len(every - shown)} more columns ("), screen
    best = next(line for line in screen.lines if BEST_NAME in line and world.best_run[:8] in line)
    assert best.index("0.8429") > best.index(BEST_NAME)  # the value sits in the run's own row


def test_numbers_have_significant_digits_not_17_decimals(world: World) -> None:
    for name in ("runs-sorted", "runs-compare", "predictions", "metrics-diff"):
        screen = _run(world, LISTINGS[name], 120)
        assert_fits(screen)
        long_numbers = re.findall(r"\d+\.\d{7,}", screen.text)
        assert not long_numbers, f"{long_numbers} in\n{screen}"
    predictions = _run(world, LISTINGS["predictions"], 120)
    assert repr(world.latest_latency) not in predictions.text
    assert re.search(r"\b19\b", _run(world, LISTINGS["runs-sorted"], 200, "--columns", "name,n_features").text)


def test_the_window_size_alone_sets_the_width(world: World) -> None:
    listing = LISTINGS["runs-sorted"]
    screen = run_in_terminal(*listing.args(world), columns=80, cwd=world.store.parent, env=world.env,
                             set_columns=False)
    assert_fits(screen)
    assert "0.8429" in screen.text and more_columns_line(screen) is not None


def test_compare_of_many_runs_at_80_columns_says_which_runs_it_left_out(world: World) -> None:
    screen = run_in_terminal("runs", "compare", *world.compared, columns=80, cwd=world.store.parent, env=world.env)
    assert_fits(screen)
    assert world.compared[0] in screen.text and "0.8429" in screen.text
    line = more_columns_line(screen)
    assert line is not None, screen
    hidden = [run_id for run_id in world.compared if run_id not in screen.text.replace(line, "")]
    assert hidden and line.startswith(f"{len(hidden)} more run"), screen


# ------------------------------------------------------------------------------------------- choosing columns


def test_columns_chooses_and_orders_columns_case_insensitively(world: World) -> None:
    screen = run_in_terminal("runs", "list", "--columns", "ROC_AUC,name,Run", columns=80, cwd=world.store.parent,
                             env=world.env)
    assert_fits(screen)
    header = next(line for line in screen.lines if "Name" in line)
    assert [cell.strip() for cell in re.split(r"[┃│]", header) if cell.strip()] == ["roc_auc", "Name", "Run"]
    assert more_columns_line(screen) is None
    best = next(line for line in screen.lines if world.best_run[:8] in line)
    assert "0.8429" in best and BEST_NAME in best


def test_wide_shows_every_column_with_full_values(world: World) -> None:
    done = _piped(world, "runs", "list", "--wide", env={"COLUMNS": "80"})
    header = next(line for line in done.stdout.splitlines() if "Name" in line)
    for name in ("Experiment", "Started", "Commit", *METRICS, "learning_rate", "class_weight", "solver"):
        assert f" {name} " in header, header
    assert ELLIPSIS not in done.stdout
    assert "more column" not in done.stdout
    assert EXPERIMENTS[1] in done.stdout and BEST_NAME in done.stdout


@pytest.mark.parametrize("name", list(LISTINGS))
def test_every_listing_takes_columns_and_wide(world: World, name: str) -> None:
    listing = LISTINGS[name]
    cwd = world.project if listing.in_project else world.store.parent
    wide = _piped(world, *listing.args(world), "--wide", cwd=cwd, env={"COLUMNS": "80"}, exit_code=listing.exit_code)
    assert ELLIPSIS not in wide.stdout and "more column" not in wide.stdout
    first = _first_header(wide.stdout)
    chosen = _piped(world, *listing.args(world), "--columns", first, cwd=cwd, env={"COLUMNS": "80"},
                    exit_code=listing.exit_code)
    assert first in chosen.stdout


def test_an_unknown_column_is_a_usage_error_listing_the_valid_names(world: World, input_error: ErrorCheck) -> None:
    done = _piped(world, "runs", "list", "--columns", "name,no_such_metric", env={"COLUMNS": "80"}, exit_code=None)
    line = input_error(done.returncode, done.stdout, done.stderr)
    assert "no_such_metric" in line
    for name in ("run", "name", "status", "roc_auc", "learning_rate"):
        assert re.search(rf"\b{name}\b", line), line
    assert len(line) > 80  # one line on stderr, never folded to the width of the terminal


# ------------------------------------------------------------------------------------------------- piped


@pytest.mark.parametrize("columns", ["80", None])
def test_piped_output_honours_columns_and_keeps_values_whole(world: World, columns: str | None) -> None:
    done = _piped(world, "runs", "list", "--sort", "-metrics.roc_auc", env={"COLUMNS": columns})
    lines = done.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= 80, done.stdout
    assert ELLIPSIS not in done.stdout
    best = next(line for line in lines if world.best_run[:8] in line)
    assert "0.8429" in best and BEST_NAME in best and "FINISHED" in best
    assert any(re.match(r"\d+ more columns? \(", line) for line in lines), done.stdout


def test_piped_output_is_as_wide_as_columns_says(world: World) -> None:
    narrow = _piped(world, "runs", "list", env={"COLUMNS": "100"}).stdout
    wide = _piped(world, "runs", "list", env={"COLUMNS": "160"}).stdout
    assert max(cell_len(line) for line in narrow.splitlines()) <= 100
    assert 100 < max(cell_len(line) for line in wide.splitlines()) <= 160


def test_json_is_unchanged_by_the_table_options(world: World) -> None:
    plain = json.loads(_piped(world, "runs", "list", "--json").stdout)
    chosen = json.loads(_piped(world, "runs", "list", "--json", "--columns", "name", "--wide").stdout)
    assert plain == chosen and len(plain) > 10
    assert {"run_id", "name", "metrics", "params"} <= set(plain[0])


def _piped(world: World, *args: str, cwd: Path | None = None, env: dict[str, str | None] | None = None,
           exit_code: int | None = 0) -> subprocess.CompletedProcess[str]:
    """The console script with stdout and stderr piped and no terminal anywhere (stdin from /dev/null)."""
    environment = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "FORCE_COLOR")}
    for key, value in {**world.env, **(env or {})}.items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    done = subprocess.run([str(SHIPYARD_SCRIPT), *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          cwd=cwd or world.store.parent, env=environment, timeout=120, check=False)
    if exit_code is not None:
        assert done.returncode == exit_code, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _first_header(text: str) -> str:
    """The first column header of the first table in ``text``."""
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    return next(cell.strip() for cell in header.split("┃") if cell.strip())
