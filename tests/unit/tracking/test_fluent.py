"""The fluent API against a real SQLite store: runs, params, metrics, tags, nesting and failures."""

from __future__ import annotations

import math
import threading

import pytest

import shipyard


def test_run_records_params_metrics_tags_and_finishes() -> None:
    with shipyard.start_run(experiment="churn", name="logreg-baseline", tags={"team": "ds"}) as run:
        shipyard.log_params({"C": 1.0, "penalty": "l2"})
        for epoch in range(100):
            shipyard.log_metric("loss", 1 / (epoch + 1), step=epoch)
        shipyard.log_metrics({"auc": 0.84, "f1": 0.61})
        shipyard.set_tag("stage", "baseline")
    found = shipyard.get_run(run.id)
    assert found.status == "FINISHED"
    assert found.name == "logreg-baseline"
    assert found.experiment == "churn"
    assert found.params == {"C": "1.0", "penalty": "l2"}
    assert found.metrics == {"auc": 0.84, "f1": 0.61, "loss": 0.01}
    assert found.tags == {"team": "ds", "stage": "baseline"}
    assert found.end_time is not None and found.duration_s is not None and found.duration_s >= 0


def test_metric_history_keeps_every_point_in_step_order() -> None:
    with shipyard.start_run() as run:
        for step in (2, 0, 1):
            shipyard.log_metric("loss", step * 10.0, step=step)
    history = shipyard.metric_history(run.id, "loss")
    assert list(history["step"]) == [0, 1, 2]
    assert list(history["value"]) == [0.0, 10.0, 20.0]
    assert str(history["timestamp"].dt.tz) == "UTC"


def test_steps_default_to_the_next_one_per_key() -> None:
    with shipyard.start_run() as run:
        for value in (3.0, 2.0, 1.0):
            shipyard.log_metric("loss", value)
        shipyard.log_metric("acc", 0.5)
    assert list(shipyard.metric_history(run.id, "loss")["step"]) == [0, 1, 2]
    assert list(shipyard.metric_history(run.id, "acc")["step"]) == [0]


def test_latest_metric_is_the_value_at_the_highest_step() -> None:
    with shipyard.start_run() as run:
        shipyard.log_metric("loss", 0.1, step=10)
        shipyard.log_metric("loss", 0.9, step=3)  # an older step logged later does not win
    assert shipyard.get_run(run.id).metrics["loss"] == 0.1


def test_nan_and_infinities_are_stored_as_such() -> None:
    with shipyard.start_run() as run:
        shipyard.log_metrics({"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf")})
    metrics = shipyard.get_run(run.id).metrics
    assert math.isnan(metrics["nan"])
    assert metrics["inf"] == math.inf and metrics["ninf"] == -math.inf
    assert math.isnan(shipyard.metric_history(run.id, "nan")["value"][0])


def test_an_exception_marks_the_run_failed_with_the_message() -> None:
    with pytest.raises(RuntimeError), shipyard.start_run() as run:
        shipyard.log_metric("loss", 1.0)
        raise RuntimeError("diverged at epoch 3")
    found = shipyard.get_run(run.id)
    assert found.status == "FAILED"
    assert found.error == "RuntimeError: diverged at epoch 3"
    assert found.metrics == {"loss": 1.0}  # flushed although the block failed


def test_keyboard_interrupt_marks_the_run_killed() -> None:
    with pytest.raises(KeyboardInterrupt), shipyard.start_run() as run:
        raise KeyboardInterrupt
    assert shipyard.get_run(run.id).status == "KILLED"


def test_nested_with_blocks_make_child_runs() -> None:
    with shipyard.start_run(experiment="sweep", name="parent") as parent:
        with shipyard.start_run(name="child-1") as child:
            shipyard.log_metric("auc", 0.7)
        shipyard.log_metric("best_auc", 0.7)
    child_run = shipyard.get_run(child.id)
    assert child_run.parent_id == parent.id
    assert child_run.experiment == "sweep"  # inherited from the parent
    assert child_run.metrics == {"auc": 0.7}
    assert shipyard.get_run(parent.id).metrics == {"best_auc": 0.7}


def test_explicit_parent_and_nested_false() -> None:
    with shipyard.start_run(name="parent") as parent:
        pass
    with shipyard.start_run(parent=parent.id[:10], name="late-child") as child:
        pass
    assert shipyard.get_run(child.id).parent_id == parent.id
    with shipyard.start_run(), pytest.raises(shipyard.ConflictError):
        shipyard.start_run(nested=False)


def test_logging_outside_a_block_starts_an_implicit_run() -> None:
    shipyard.log_metric("loss", 0.5)
    run = shipyard.active_run()
    assert run is not None and run.implicit
    shipyard.end_run()
    assert shipyard.active_run() is None
    assert shipyard.get_run(run.id).status == "FINISHED"


def test_worker_threads_log_to_the_run_started_by_the_main_thread() -> None:
    with shipyard.start_run() as run:
        worker = threading.Thread(target=lambda: shipyard.log_metric("from_thread", 1.0))
        worker.start()
        worker.join()
    assert shipyard.get_run(run.id).metrics == {"from_thread": 1.0}


def test_the_same_param_value_twice_is_fine_a_different_one_is_refused() -> None:
    with shipyard.start_run() as run:
        shipyard.log_param("C", 1.0)
        shipyard.log_param("C", 1.0)
        with pytest.raises(shipyard.ValidationError, match=r"'C'.*already '1.0'.*'2.0'"):
            shipyard.log_params({"gamma": 3, "C": 2.0})
    assert shipyard.get_run(run.id).params == {"C": "1.0"}  # the refused call wrote nothing


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: shipyard.log_metric("", 1.0), "1 to 250 characters"),
        (lambda: shipyard.log_metric("a" * 251, 1.0), "1 to 250 characters"),
        (lambda: shipyard.log_metric("bad!key", 1.0), "may only contain"),
        (lambda: shipyard.log_metric("../up", 1.0), "'..'"),
        (lambda: shipyard.log_metric("loss", "high"), "must be a number"),
        (lambda: shipyard.log_metric("loss", 1.0, step=1.5), "must be an integer"),
        (lambda: shipyard.log_param("blob", "x" * 6001), "limit is 6000"),
        (lambda: shipyard.set_tag("note", "x" * 8001), "limit is 8000"),
        (lambda: shipyard.log_params({3: "x"}), "must be a string"),
    ],
)
def test_invalid_input_is_refused_with_a_clear_message(call, match) -> None:  # type: ignore[no-untyped-def]
    with shipyard.start_run(), pytest.raises(shipyard.ValidationError, match=match):
        call()


def test_unknown_and_ambiguous_run_ids() -> None:
    with pytest.raises(shipyard.NotFoundError, match="No run has the id"):
        shipyard.get_run("0" * 32)
    with pytest.raises(shipyard.ValidationError, match="not a run id"):
        shipyard.get_run("not-hex!")
    ids = []
    while True:  # make two runs sharing a first hex digit
        with shipyard.start_run() as run:
            ids.append(run.id)
        firsts = [run_id[0] for run_id in ids]
        shared = {first for first in firsts if firsts.count(first) > 1}
        if shared:
            break
    with pytest.raises(shipyard.AmbiguousError, match="matches several runs") as caught:
        shipyard.get_run(shared.pop())
    assert len(caught.value.candidates) >= 2


def test_artifacts_are_stored_listed_and_read_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    report = tmp_path / "reports"
    report.mkdir()
    (report / "confusion.csv").write_text("a,b\n1,2\n")
    (report / "deep").mkdir()
    (report / "deep" / "roc.json").write_text("{}")
    with shipyard.start_run() as run:
        assert shipyard.log_artifact(report / "confusion.csv") == ["confusion.csv"]
        assert shipyard.log_artifact(report, "reports") == ["reports/confusion.csv", "reports/deep/roc.json"]
        shipyard.log_text("hello", "notes/hello.txt")
        shipyard.log_dict({"b": 1}, "config.json")
    paths = [item["path"] for item in shipyard.list_artifacts(run.id)]
    assert paths == ["config.json", "confusion.csv", "notes/hello.txt", "reports/confusion.csv",
                     "reports/deep/roc.json"]
    assert shipyard.read_artifact(run.id, "notes/hello.txt") == b"hello"
    out = shipyard.download_artifacts(run.id, tmp_path / "out", "reports")
    assert (out / "deep" / "roc.json").read_text() == "{}"
    with pytest.raises(shipyard.ValidationError, match="relative path"):
        shipyard.log_text("x", "../escape.txt")
    with pytest.raises(shipyard.NotFoundError, match="no artifact"):
        shipyard.read_artifact(run.id, "missing.txt")


def test_joining_a_running_run_does_not_end_it_and_resuming_an_ended_one_does() -> None:
    owner = shipyard.start_run(name="shared")
    with shipyard.start_run(run_id=owner.id):  # e.g. a worker joining the parent's run
        shipyard.log_metric("worker", 1.0)
    assert shipyard.get_run(owner.id).status == "RUNNING"
    owner.__exit__(None, None, None)
    assert shipyard.get_run(owner.id).status == "FINISHED"
    with shipyard.start_run(run_id=owner.id[:10]):
        assert shipyard.get_run(owner.id).status == "RUNNING"
        shipyard.log_metric("later", 2.0)
    found = shipyard.get_run(owner.id)
    assert found.status == "FINISHED" and found.metrics == {"later": 2.0, "worker": 1.0}
