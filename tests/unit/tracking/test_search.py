"""search_runs against a real store: filter semantics, ordering, limits and the DataFrame shape."""

from __future__ import annotations

import math

import pytest

import shipyard


@pytest.fixture
def runs() -> dict[str, str]:
    """Five runs in 'churn' and one in 'other'; returns name -> run id."""
    made = {}
    specs = [
        ("a", {"C": 0.1, "penalty": "l2"}, {"auc": 0.70, "f1": 0.5}, {"team": "ds"}),
        ("b", {"C": 1.0, "penalty": "l2"}, {"auc": 0.85, "f1": 0.6}, {"team": "DS"}),
        ("c", {"C": 10, "penalty": "l1"}, {"auc": 0.90}, {}),
        ("d", {"C": "auto", "penalty": "l1"}, {"auc": float("nan"), "f1": 0.2}, {"team": "ml"}),
        ("e", {"C": 2}, {"auc": 0.80}, {}),
    ]
    for name, params, metrics, tags in specs:
        with shipyard.start_run(experiment="churn", name=name, tags=tags) as run:
            shipyard.log_params(params)
            shipyard.log_metrics(metrics)
        made[name] = run.id
    with pytest.raises(ValueError), shipyard.start_run(experiment="churn", name="failed"):
        raise ValueError("boom")
    with shipyard.start_run(experiment="other", name="x") as run:
        shipyard.log_metric("auc", 0.99)
    made["x"] = run.id
    return made


def names(frame) -> list[str]:  # type: ignore[no-untyped-def]
    return list(frame["name"])


def test_the_documented_query(runs: dict[str, str]) -> None:
    found = shipyard.search_runs(experiment="churn", filter="metrics.auc > 0.8 and params.penalty = 'l2'",
                                 order_by=["metrics.auc DESC"], max_results=100)
    assert names(found) == ["b"]
    assert found.loc[0, "run_id"] == runs["b"]
    assert found.loc[0, "metrics.auc"] == 0.85
    assert found.loc[0, "params.C"] == "1.0"


def test_order_by_metric_puts_missing_and_nan_last(runs: dict[str, str]) -> None:
    found = shipyard.search_runs(experiment="churn", order_by=["metrics.auc DESC"])
    assert names(found)[:4] == ["c", "b", "e", "a"]
    assert set(names(found)[4:]) == {"d", "failed"}
    ascending = shipyard.search_runs(experiment="churn", order_by="metrics.auc ASC")
    assert names(ascending)[:4] == ["a", "e", "b", "c"]


def test_params_compare_as_numbers_when_given_a_number(runs: dict[str, str]) -> None:
    found = shipyard.search_runs(experiment="churn", filter="params.C >= 2", order_by=["params.C"])
    assert names(found) == ["e", "c"]  # 'auto' never matches a number; 10 > 2 numerically, not as text
    assert names(shipyard.search_runs(filter="params.C = 'auto'")) == ["d"]


def test_like_is_case_sensitive_and_ilike_is_not(runs: dict[str, str]) -> None:
    assert names(shipyard.search_runs(filter="tags.team LIKE 'd%'")) == ["a"]
    assert sorted(names(shipyard.search_runs(filter="tags.team ILIKE 'd%'"))) == ["a", "b"]


def test_or_in_and_null(runs: dict[str, str]) -> None:
    either = shipyard.search_runs(filter="metrics.f1 < 0.3 or metrics.auc > 0.95")
    assert sorted(names(either)) == ["d", "x"]
    assert sorted(names(shipyard.search_runs(filter="params.penalty IN ('l1')"))) == ["c", "d"]
    assert sorted(names(shipyard.search_runs(experiment="churn", filter="metrics.f1 IS NULL"))) == [
        "c", "e", "failed"]


def test_attributes(runs: dict[str, str]) -> None:
    failed = shipyard.search_runs(filter="attributes.status = 'FAILED'")
    assert names(failed) == ["failed"]
    assert failed.loc[0, "status"] == "FAILED"
    assert names(shipyard.search_runs(filter="attributes.experiment = 'other'")) == ["x"]
    assert names(shipyard.search_runs(filter=f"attributes.run_id LIKE '{runs['c'][:12]}%'")) == ["c"]
    assert len(shipyard.search_runs(filter="attributes.duration >= 0")) == 7
    assert len(shipyard.search_runs(filter="attributes.start_time > '2000-01-01'")) == 7
    with pytest.raises(shipyard.ValidationError, match="ISO date"):
        shipyard.search_runs(filter="attributes.start_time > 'yesterday'")


def test_experiments_and_limits(runs: dict[str, str]) -> None:
    assert len(shipyard.search_runs()) == 7
    assert len(shipyard.search_runs(experiment=["churn", "other"])) == 7
    newest_first = shipyard.search_runs(experiment="churn", max_results=2)
    assert names(newest_first) == ["failed", "e"]
    with pytest.raises(shipyard.NotFoundError, match="no experiment named 'nope'"):
        shipyard.search_runs(experiment="nope")
    with pytest.raises(shipyard.ValidationError, match="max_results"):
        shipyard.search_runs(max_results=0)


def test_frame_shape_and_types(runs: dict[str, str]) -> None:
    frame = shipyard.search_runs(experiment="churn", order_by=["attributes.name"])
    assert list(frame.columns[:10]) == ["run_id", "experiment", "name", "status", "start_time", "end_time",
                                       "duration_s", "parent_run_id", "git_commit", "git_dirty"]
    assert {"metrics.auc", "metrics.f1", "params.C", "params.penalty", "tags.team"} <= set(frame.columns)
    assert str(frame["start_time"].dt.tz) == "UTC"
    assert frame["metrics.f1"].dtype == "float64"
    row_c = frame[frame["name"] == "c"].iloc[0]
    assert math.isnan(row_c["metrics.f1"])
    assert row_c["tags.team"] is None  # a missing tag is None, as in the JSON form
    assert math.isnan(frame[frame["name"] == "d"].iloc[0]["metrics.auc"])  # NaN survives the round trip


def test_empty_result_has_the_run_columns() -> None:
    with shipyard.start_run(experiment="empty"):
        pass
    frame = shipyard.search_runs(experiment="empty", filter="metrics.auc > 2")
    assert len(frame) == 0
    assert "run_id" in frame.columns


def test_bad_filter_is_a_validation_error(runs: dict[str, str]) -> None:
    with pytest.raises(shipyard.FilterSyntaxError):
        shipyard.search_runs(filter="metrics.auc >")


def test_oversized_filters_are_validation_errors_not_store_errors(runs: dict[str, str]) -> None:
    from shipyard.tracking.filters import MAX_CONDITIONS, MAX_DEPTH

    with pytest.raises(shipyard.ValidationError, match=f"nest more than {MAX_DEPTH} deep"):
        shipyard.search_runs(experiment="churn", filter="(" * 2000 + "metrics.auc > 0" + ")" * 2000)
    with pytest.raises(shipyard.ValidationError, match=f"at most {MAX_CONDITIONS} conditions"):
        shipyard.search_runs(experiment="churn", filter=" and ".join(["metrics.auc > 0"] * 3000))
    # The largest filter allowed still runs in the database (under SQLite's expression depth).
    widest = " and ".join(["metrics.auc > 0.75"] * MAX_CONDITIONS)
    assert sorted(names(shipyard.search_runs(experiment="churn", filter=widest))) == ["b", "c", "e"]
    deepest = "(" * MAX_DEPTH + "metrics.auc > 0.75" + ")" * MAX_DEPTH
    assert sorted(names(shipyard.search_runs(experiment="churn", filter=deepest))) == ["b", "c", "e"]


def test_records_sent_by_a_server_come_back_as_the_store_gave_them(runs: dict[str, str]) -> None:
    """The wire form (``record_to_json``) keeps NaN, infinities and times, so a CLI reading through a server renders
    what it renders from the store, and ``search_runs``' DataFrame is the same built from either."""
    import json

    import pandas as pd

    from shipyard.tracking.search import record_from_json, record_to_json, runs_frame, search_run_records

    with shipyard.start_run(experiment="churn", name="infinite") as run:
        shipyard.log_metric("auc", float("-inf"))
    store = shipyard.current_store()
    records = search_run_records(store, order_by=["metrics.auc DESC"])
    sent = json.loads(json.dumps([record_to_json(record) for record in records], allow_nan=False))
    back = [record_from_json(document) for document in sent]
    assert [record["run_id"] for record in back] == [record["run_id"] for record in records]
    for before, after in zip(records, back, strict=True):
        assert after["start_time"] == before["start_time"] and after["end_time"] == before["end_time"]
        assert {key: str(value) for key, value in after["metrics"].items()} == {
            key: str(value) for key, value in before["metrics"].items()}
    assert back[[r["run_id"] for r in back].index(run.id)]["metrics"]["auc"] == float("-inf")
    assert math.isnan(back[[r["run_id"] for r in back].index(runs["d"])]["metrics"]["auc"])
    pd.testing.assert_frame_equal(runs_frame(back), shipyard.search_runs(order_by="metrics.auc DESC"))
