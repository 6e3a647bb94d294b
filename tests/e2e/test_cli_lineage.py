"""``shipyard lineage`` with a prefix of a request id, as with run ids: unique prefixes resolve, ambiguous ones list
candidates, too-short ones are refused; the search stays within the recent log (it never reads all of it)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.predlog.layout import serving_root
from shipyard.predlog.schema import PredictionEntry, predictions_table
from shipyard.predlog.writer import PartitionedLog
from tests.e2e.conftest import ErrorCheck, ScriptRunner

pytestmark = pytest.mark.slow  # each test runs `shipyard lineage` in child processes
DAY_MS = 86_400_000
UNIQUE = "b7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5"
TWINS = ["3f2a9c0e11112222333344445555aaaa", "3f2a77aa11112222333344445555bbbb"]
RECENT_OF_PAIR = "e5d4aaaa11112222333344445555cccc"
OLD_OF_PAIR = "e5d4bbbb11112222333344445555dddd"  # logged 40 days ago: outside the prefix search
NAMED = ["order-1", "order-12"]  # ids a client chose
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture
def logged() -> str:
    """``models:/churn/1`` and a prediction log written by the real log writer; returns the model's run id."""
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"tenure": np.arange(20), "charges": np.linspace(20, 90, 20)})
    model = LogisticRegression().fit(frame, (frame["tenure"] > 9).astype(int))
    with shipyard.start_run() as run:
        info = shipyard.log_model(model, input_example=frame)
    shipyard.register_model(info, "churn")
    log = PartitionedLog(serving_root(shipyard.current_store()) / "predictions", predictions_table, flush_interval=0.05)
    log.start()
    now = time.time_ns() // 1_000_000
    crossing = run.id[:8] + "0" * 24  # a request id sharing its first 8 characters with the run's id
    for request_id, moment in [(UNIQUE, now), (TWINS[0], now - 3_600_000), (TWINS[1], now - 2 * DAY_MS),
                               (RECENT_OF_PAIR, now), (OLD_OF_PAIR, now - 40 * DAY_MS), (NAMED[0], now),
                               (NAMED[1], now), (crossing, now)]:
        log.append("churn", moment, PredictionEntry(
            request_id, moment, "churn", "champion", False, "churn", 1, "models:/churn/1", "python", 1.5, None,
            {"tenure": [3], "charges": [41.5]}, {"tenure": "integer", "charges": "float"}, [1], [[0.25, 0.75]]))
    log.close()
    shipyard.set_store(None)
    return run.id


def test_a_unique_prefix_finds_the_request(run_script: ScriptRunner, logged: str) -> None:
    done = run_script("lineage", UNIQUE[:6])
    assert done.returncode == 0, done.stdout + done.stderr
    assert UNIQUE in _ANSI.sub("", done.stdout) and "models:/churn/1" in done.stdout
    as_json = run_script("lineage", UNIQUE[:4], "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert f'"request_id": "{UNIQUE}"' in as_json.stdout


def test_the_python_api_takes_the_same_prefixes(logged: str) -> None:
    assert shipyard.lineage(UNIQUE[:5])["request_id"] == UNIQUE
    with pytest.raises(shipyard.AmbiguousError) as caught:
        shipyard.lineage(TWINS[0][:4])
    assert sorted(caught.value.candidates) == sorted(TWINS)


def test_an_ambiguous_prefix_lists_the_candidates(run_script: ScriptRunner, input_error: ErrorCheck,
                                                  logged: str) -> None:
    done = run_script("lineage", "3f2a")
    line = input_error(done.returncode, done.stdout, done.stderr)
    assert "3f2a9c0e" in line and "3f2a77aa" in line and "more characters" in line
    longer = run_script("lineage", "3f2a9")
    assert longer.returncode == 0 and TWINS[0] in longer.stdout


def test_a_prefix_shorter_than_four_characters_is_refused(run_script: ScriptRunner, input_error: ErrorCheck,
                                                          logged: str) -> None:
    done = run_script("lineage", UNIQUE[:3])
    line = input_error(done.returncode, done.stdout, done.stderr)
    assert repr(UNIQUE[:3]) in line and "at least 4" in line


def test_prefixes_search_the_recent_log_and_full_ids_all_of_it(run_script: ScriptRunner, logged: str) -> None:
    recent = run_script("lineage", "e5d4", "--json")
    assert recent.returncode == 0, recent.stderr
    assert f'"request_id": "{RECENT_OF_PAIR}"' in recent.stdout  # the 40-day-old twin is outside the window
    old = run_script("lineage", OLD_OF_PAIR, "--json")
    assert old.returncode == 0, old.stderr
    assert f'"request_id": "{OLD_OF_PAIR}"' in old.stdout


def test_an_id_a_client_chose_is_found_exactly_even_when_it_prefixes_another(logged: str) -> None:
    assert shipyard.lineage("order-1")["request_id"] == "order-1"
    assert shipyard.lineage("order-12")["request_id"] == "order-12"
    with pytest.raises(shipyard.NotFoundError, match="order-"):
        shipyard.lineage("order-")  # not hexadecimal: only whole ids are looked up


def test_a_prefix_of_both_a_run_and_a_request_is_ambiguous(run_script: ScriptRunner, input_error: ErrorCheck,
                                                           logged: str, tmp_path: Path) -> None:
    done = run_script("lineage", logged[:8])
    line = input_error(done.returncode, done.stdout, done.stderr)
    assert "run" in line and "request" in line and logged[:8] in line
    assert run_script("lineage", logged).returncode == 0  # the full run id is not ambiguous
