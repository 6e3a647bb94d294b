"""The same tracking code on a real PostgreSQL server: portable SQL, upserts, search and concurrency."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

import shipyard
from tests._servers.postgres import unavailable_reason
from tests._support import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(unavailable_reason() is not None,
                                                       reason=unavailable_reason() or "")]


def test_tracking_round_trip(pg_store: str) -> None:
    with shipyard.start_run(experiment="churn", name="pg", tags={"team": "ds"}) as run:
        shipyard.log_params({"C": 1.0, "penalty": "l2"})
        shipyard.log_param("C", 1.0)
        for step in range(500):
            shipyard.log_metric("loss", 1 / (step + 1), step=step)
        shipyard.log_metrics({"auc": 0.84, "nan": float("nan"), "inf": float("inf")})
        shipyard.log_text("hello", "notes/hello.txt")
        with pytest.raises(shipyard.ValidationError, match="already '1.0'"):
            shipyard.log_param("C", 2.0)
    found = shipyard.get_run(run.id[:8])
    assert found.status == "FINISHED"
    assert found.params == {"C": "1.0", "penalty": "l2"}
    assert found.metrics["loss"] == 0.002 and found.metrics["inf"] == math.inf and math.isnan(found.metrics["nan"])
    assert len(shipyard.metric_history(run.id, "loss")) == 500
    assert shipyard.read_artifact(run.id, "notes/hello.txt") == b"hello"


def test_search_semantics_match_sqlite(pg_store: str) -> None:
    for name, c_value, auc, team in (("a", 0.5, 0.7, "ds"), ("b", 2, 0.9, "DS"), ("c", "auto", 0.95, "ml")):
        with shipyard.start_run(experiment="e", name=name, tags={"team": team}):
            shipyard.log_params({"C": c_value})
            shipyard.log_metric("auc", auc)
    numeric = shipyard.search_runs(experiment="e", filter="params.C >= 1 or metrics.auc < 0.75",
                                   order_by=["metrics.auc DESC"])
    assert list(numeric["name"]) == ["b", "a"]
    assert list(shipyard.search_runs(filter="tags.team LIKE 'd%'")["name"]) == ["a"]
    assert sorted(shipyard.search_runs(filter="tags.team ILIKE 'd%'")["name"]) == ["a", "b"]
    assert list(shipyard.search_runs(order_by=["params.C DESC"])["name"])[:2] == ["b", "a"]
    with shipyard.start_run(experiment="e", name="exploded"):
        shipyard.log_metrics({"loss": float("inf"), "grad": float("-inf")})
    exploded = shipyard.search_runs(filter="attributes.name = 'exploded'")
    assert exploded.loc[0, "metrics.loss"] == math.inf and exploded.loc[0, "metrics.grad"] == -math.inf


def test_concurrent_writers(pg_store: str, tmp_path: Path) -> None:
    code = (
        "import shipyard\n"
        "with shipyard.start_run(experiment='conc'):\n"
        "    for step in range(2000):\n"
        "        shipyard.log_metric('x', step, step=step)\n"
    )
    children = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0, 0], errors
    frame = shipyard.search_runs(experiment="conc")
    assert len(frame) == 4
    assert all(len(shipyard.metric_history(run_id, "x")) == 2000 for run_id in frame["run_id"])


def test_registry_on_postgres(pg_store: str) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=100), "y": rng.normal(size=100)})
    target = (frame["x"] > 0).astype(int)
    for _ in range(2):
        with shipyard.start_run(experiment="models"):
            info = shipyard.log_model(LogisticRegression().fit(frame, target), input_example=frame)
        shipyard.register_model(info, "churn")
    shipyard.set_alias("churn", "champion", 1)
    shipyard.set_alias("churn", "champion", 2, reason="newer")
    loaded = shipyard.load_model("models:/churn@champion")
    assert loaded.version == 2
    assert [(event.from_version, event.to_version) for event in shipyard.alias_history("churn")] == [(None, 1), (1, 2)]
    assert shipyard.lineage("models:/churn/1")["training_data"]["rows"] == 100


def test_processes_creating_the_same_experiment_at_once_all_get_it(pg_store: str, tmp_path: Path) -> None:
    """PostgreSQL runs writers in parallel (SQLite queues them): two first uses of one experiment name both
    find nothing and both insert, and the loser used to die on the unique name instead of using the winner's."""
    go = tmp_path / "go"
    code = (
        "import pathlib, time\n"
        "from shipyard.store import current_store\n"
        "from shipyard.tracking.experiments import experiment_id\n"
        "store = current_store()\n"
        "store.db.read(lambda conn: None)  # connected before the start, so the inserts meet\n"
        f"pathlib.Path({str(tmp_path)!r}, f'ready-{{__import__(\"os\").getpid()}}').touch()\n"
        f"while not pathlib.Path({str(go)!r}).exists():\n"
        "    time.sleep(0.001)\n"
        "for round in range(100):\n"
        "    print(experiment_id(store, f'race-{round}'), flush=True)\n"
    )
    children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(6)]
    wait_until(lambda: len(list(tmp_path.glob("ready-*"))) == 6, timeout=60, what="6 connected processes")
    go.touch()
    results = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0] * 6, [err for _, err in results]
    ids = {out for out, _ in results}
    assert len(ids) == 1, "every process must get the same 100 experiment ids"


def test_processes_registering_the_first_versions_of_a_model_at_once_get_distinct_numbers(
        pg_store: str, tmp_path: Path) -> None:
    """The first registration creates the model's row; concurrent ones must neither fail on it nor share a number."""
    go = tmp_path / "go"
    code = (
        "import os, pathlib, time\n"
        "import shipyard\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "import pandas as pd\n"
        "frame = pd.DataFrame({'x': [0.0, 1.0, 2.0, 3.0]})\n"
        "with shipyard.start_run():\n"
        "    info = shipyard.log_model(LogisticRegression().fit(frame, [0, 0, 1, 1]), input_example=frame)\n"
        f"pathlib.Path({str(tmp_path)!r}, f'ready-{{os.getpid()}}').touch()\n"
        f"while not pathlib.Path({str(go)!r}).exists():\n"
        "    time.sleep(0.001)\n"
        "print(shipyard.register_model(info.uri, 'race').version, flush=True)\n"
    )
    children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(6)]
    wait_until(lambda: len(list(tmp_path.glob("ready-*"))) == 6, timeout=120, what="6 processes with a model")
    go.touch()
    results = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0] * 6, [err for _, err in results]
    assert sorted(int(out) for out, _ in results) == [1, 2, 3, 4, 5, 6]
