"""The version page's lineage graph from a pipeline-made model: raw data -> prepare -> train (the model's run's
stage) -> version -> deployment, built from a chain shaped as ``shipyard.models.lineage.lineage`` returns it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shipyard.models.registry import ModelVersion
from shipyard.ui._served import Served
from shipyard.ui._version import lineage_graph

PREPARE, TRAIN, FIT = "a" * 32, "b" * 32, "c" * 32


def chain() -> dict[str, Any]:
    def record(stage: str, run_id: str, deps: list[dict[str, Any]]) -> dict[str, Any]:
        return {"stage": stage, "pipeline": "tiny", "run_id": run_id, "status": "FINISHED", "start_time": "",
                "git": {"commit": "f" * 40, "dirty": False}, "deps": deps, "outs": []}

    train = record("train", TRAIN, [
        {"path": "data/train.csv", "hash": "1" * 64, "produced_by": {"stage": "prepare", "run_id": PREPARE}},
        {"path": "data/extra.csv", "hash": "4" * 64, "produced_by": {"stage": "prepare", "run_id": PREPARE}},
        {"path": "src/train.py", "hash": "2" * 64, "produced_by": None}])
    prepare = record("prepare", PREPARE, [{"path": "data/raw.csv", "hash": "3" * 64, "produced_by": None}])
    return {
        "run": {"run_id": FIT, "name": "fit", "experiment": "tiny", "status": "FINISHED", "parent_run_id": TRAIN},
        "training_data": {"hash": "9" * 64, "rows": 200, "columns": 2},
        "stage": train, "upstream": [prepare],
        "sources": [
            {"path": "src/train.py", "hash": "2" * 64, "added": None, "read_by": "train", "run_id": TRAIN,
             "git": train["git"]},
            {"path": "data/raw.csv", "hash": "3" * 64, "added": "5" * 64, "read_by": "prepare", "run_id": PREPARE,
             "git": prepare["git"]}],
    }


def test_a_pipeline_model_is_drawn_from_raw_data_to_its_deployment() -> None:
    version = ModelVersion("churn", 3, FIT, "model", "h", None, datetime.now(UTC), None, ("champion",))
    layout = lineage_graph(chain(), version, [Served("churn-api", {"main"})])
    column = {placed.node.id: placed.column for placed in layout.nodes}
    raw, code = f"data:data/raw.csv:{'3' * 64}", f"data:src/train.py:{'2' * 64}"
    assert column == {raw: 0, code: 0, "data:training-frame": 0, f"run:{PREPARE}": 1, f"run:{TRAIN}": 2,
                      f"run:{FIT}": 3, "version:churn/3": 4, "deployment:churn-api": 5}
    edges = {(placed.edge.source, placed.edge.target): placed.edge.title for placed in layout.edges}
    assert edges[(f"run:{PREPARE}", f"run:{TRAIN}")] == "data/train.csv, data/extra.csv"  # one edge, both paths
    assert (raw, f"run:{PREPARE}") in edges and (code, f"run:{TRAIN}") in edges
    assert (f"run:{TRAIN}", f"run:{FIT}") in edges and ("version:churn/3", "deployment:churn-api") in edges
    links = {placed.node.id: placed.node.href for placed in layout.nodes}
    assert links[f"run:{FIT}"] == f"/runs/{FIT}" and links[f"run:{PREPARE}"] == f"/runs/{PREPARE}"
    assert links["version:churn/3"] == "/models/churn/3" and links["deployment:churn-api"] == "/deployments/churn-api"
    assert links[raw] is None and "3" * 64 in layout.node(raw).title  # data shows its full hash, no link
