"""Lineage from a registered model back through the pipeline to the raw data and the commit.

A real two-stage pipeline in a temporary git repository: ``prepare`` reads raw data tracked with
``shipyard add`` and writes a training table; ``train`` fits a small scikit-learn model on it and logs it
with ``shipyard.log_model`` inside its stage run (or in a child run of it). The model is registered and
``lineage()`` and ``shipyard lineage`` must name the stage, its dep and out hashes (as ``shipyard.lock``
holds them), the prepare run that wrote the training table, and the raw data's pointer hash and commit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import shipyard
from shipyard.pipeline.repro import repro
from tests._support import git, init_repo
from tests.integration.pipeline._pipelines import invoke, lock_file, plain, set_param, use_venv_python

SPEC = """\
name: tiny
stages:
  prepare:
    cmd: python src/prepare.py
    deps: [data/raw/customers.csv, src/prepare.py]
    outs: [data/train.csv]
  train:
    cmd: python src/train.py
    deps: [data/train.csv, src/train.py]
    params: [train]
    outs: [models/uri.txt]
"""

PREPARE = """\
import pandas as pd

frame = pd.read_csv("data/raw/customers.csv")
frame["spend"] = frame["spend"].fillna(0.0)
frame.to_csv("data/train.csv", index=False)
"""

TRAIN = """\
import pathlib

import pandas as pd
import yaml
from sklearn.linear_model import LogisticRegression

import shipyard

params = yaml.safe_load(pathlib.Path("params.yaml").read_text())["train"]
frame = pd.read_csv("data/train.csv")
x, y = frame[["tenure", "spend"]], frame["churn"]
model = LogisticRegression(C=params["C"]).fit(x, y)
with shipyard.start_run():  # joins the stage run
    if params["nested"]:
        with shipyard.start_run(name="fit"):  # a child of the stage run
            info = shipyard.log_model(model, "model", input_example=x, y_example=y)
    else:
        info = shipyard.log_model(model, "model", input_example=x, y_example=y)
pathlib.Path("models").mkdir(exist_ok=True)
pathlib.Path("models/uri.txt").write_text(info.uri)
"""


@pytest.fixture(autouse=True)
def _venv_python(monkeypatch: pytest.MonkeyPatch) -> None:
    use_venv_python(monkeypatch)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny pipeline committed with its raw data added (pointer in git, data in the store)."""
    root = tmp_path / "tiny"
    rng = np.random.default_rng(7)
    tenure = rng.integers(0, 72, size=200)
    spend = np.round(rng.normal(60, 20, size=200), 2)
    churn = (rng.random(200) < 1 / (1 + np.exp((tenure - 20) / 10))).astype(int)
    rows = [f"{t},{'' if i % 25 == 0 else s},{c}" for i, (t, s, c) in enumerate(zip(tenure, spend, churn, strict=True))]
    files = {"shipyard.yaml": SPEC, "params.yaml": "train:\n  C: 1.0\n  nested: false\n",
             "src/prepare.py": PREPARE, "src/train.py": TRAIN,
             "data/raw/customers.csv": "tenure,spend,churn\n" + "\n".join(rows) + "\n"}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    init_repo(root)
    monkeypatch.chdir(root)
    added = invoke("add", "data/raw/customers.csv")
    assert added.exit_code == 0, added.output
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "tiny pipeline")
    return root


def hashes(records: list[dict[str, Any]]) -> dict[str, str]:
    return {record["path"]: record["hash"] for record in records}


def registered(root: Path, name: str = "scorer") -> str:
    """Register the model the last train run logged; returns its version URI."""
    version = shipyard.register_model((root / "models" / "uri.txt").read_text(), name)
    return f"models:/{name}/{version.version}"


def test_lineage_walks_from_the_model_to_the_stage_the_upstream_run_and_the_raw_data(project: Path) -> None:
    repro(root=project)
    lock = lock_file(project)
    prepare_id, train_id = lock["prepare"]["run_id"], lock["train"]["run_id"]
    commit = git(project, "rev-parse", "HEAD").strip()
    raw_hash = yaml.safe_load((project / "data/raw/customers.csv.ship").read_text())["hash"]

    chain = shipyard.lineage(registered(project))

    stage = chain["stage"]
    assert (stage["stage"], stage["pipeline"], stage["run_id"]) == ("train", "tiny", train_id)
    assert chain["run"]["run_id"] == train_id
    assert hashes(stage["deps"]) == hashes(lock["train"]["deps"])
    assert hashes(stage["outs"]) == hashes(lock["train"]["outs"])
    produced = {dep["path"]: dep["produced_by"] for dep in stage["deps"]}
    assert produced == {"data/train.csv": {"stage": "prepare", "run_id": prepare_id}, "src/train.py": None}
    assert stage["git"] == {"commit": commit, "dirty": False}

    (upstream,) = chain["upstream"]
    assert (upstream["stage"], upstream["run_id"]) == ("prepare", prepare_id)
    assert hashes(upstream["deps"]) == hashes(lock["prepare"]["deps"])
    assert hashes(upstream["outs"])["data/train.csv"] == hashes(stage["deps"])["data/train.csv"]
    assert all(dep["produced_by"] is None for dep in upstream["deps"])

    sources = {source["path"]: source for source in chain["sources"]}
    assert set(sources) == {"data/raw/customers.csv", "src/prepare.py", "src/train.py"}
    raw = sources["data/raw/customers.csv"]
    assert raw == {"path": "data/raw/customers.csv", "hash": raw_hash, "added": "data/raw/customers.csv.ship",
                   "read_by": "prepare", "run_id": prepare_id, "git": {"commit": commit, "dirty": False}}
    assert sources["src/train.py"]["added"] is None and sources["src/train.py"]["read_by"] == "train"


def test_cli_prints_the_chain_as_json_and_as_text(project: Path) -> None:
    repro(root=project)
    lock = lock_file(project)
    prepare_id, train_id = lock["prepare"]["run_id"], lock["train"]["run_id"]
    commit = git(project, "rev-parse", "HEAD").strip()
    raw_hash = yaml.safe_load((project / "data/raw/customers.csv.ship").read_text())["hash"]
    uri = registered(project)

    as_json = invoke("lineage", uri, "--json")
    assert as_json.exit_code == 0, as_json.output
    chain = json.loads(as_json.stdout)
    assert chain["stage"]["run_id"] == train_id
    assert [item["run_id"] for item in chain["upstream"]] == [prepare_id]
    (raw,) = [source for source in chain["sources"] if source["added"]]
    assert (raw["path"], raw["hash"], raw["git"]["commit"]) == ("data/raw/customers.csv", raw_hash, commit)
    assert {key: chain[key] for key in ("stage", "upstream", "sources")} == {
        key: value for key, value in shipyard.lineage(uri).items() if key in ("stage", "upstream", "sources")}

    as_text = invoke("lineage", uri)
    assert as_text.exit_code == 0, as_text.output
    lines = plain(as_text.stdout).splitlines()
    assert f"stage     train of pipeline tiny, run {train_id[:8]}, commit {commit[:8]}" in lines
    assert f"upstream  prepare of pipeline tiny, run {prepare_id[:8]}, commit {commit[:8]}" in lines
    train_hash = hashes(lock["train"]["deps"])["data/train.csv"]
    assert f"            in  data/train.csv  {train_hash[:12]}  from prepare (run {prepare_id[:8]})" in lines
    assert (f"raw data  data/raw/customers.csv {raw_hash[:16]} (data/raw/customers.csv.ship), read by prepare at "
            f"commit {commit[:8]}") in lines


def test_a_model_logged_in_a_child_run_of_a_rerun_stage_links_to_the_prepare_run_that_was_kept(
        project: Path) -> None:
    repro(root=project)
    first_prepare = lock_file(project)["prepare"]["run_id"]
    set_param(project, "train", "nested", True)

    outcomes = repro(root=project)

    assert [(outcome.name, outcome.action) for outcome in outcomes] == [("prepare", "skipped"), ("train", "ran")]
    train_id = lock_file(project)["train"]["run_id"]
    chain = shipyard.lineage(registered(project))
    child = shipyard.get_run(chain["run"]["run_id"])
    assert child.name == "fit" and child.parent_id == train_id  # the model is in the child run...
    assert chain["stage"]["run_id"] == train_id  # ...whose parent is the stage run
    assert [item["run_id"] for item in chain["upstream"]] == [first_prepare]


def test_after_a_forced_rerun_each_version_links_to_the_prepare_run_before_its_own_train_run(project: Path) -> None:
    repro(root=project)
    first = lock_file(project)
    first_uri = registered(project)
    repro(root=project, force=True)  # the same bytes again: both prepare runs recorded the same out hash
    second = lock_file(project)
    second_uri = registered(project)
    assert hashes(first["prepare"]["outs"]) == hashes(second["prepare"]["outs"])
    assert first["prepare"]["run_id"] != second["prepare"]["run_id"]

    assert [item["run_id"] for item in shipyard.lineage(first_uri)["upstream"]] == [first["prepare"]["run_id"]]
    assert [item["run_id"] for item in shipyard.lineage(second_uri)["upstream"]] == [second["prepare"]["run_id"]]


def test_a_run_outside_any_pipeline_has_no_stage_part(project: Path) -> None:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame({"tenure": np.arange(10.0), "spend": np.arange(10.0) * 3})
    y = pd.Series([0, 1] * 5)
    with shipyard.start_run(experiment="notebook") as run:
        shipyard.log_model(LogisticRegression().fit(x, y), "model", input_example=x, y_example=y)

    chain = shipyard.lineage(run.id)

    assert chain["run"]["run_id"] == run.id
    assert not {"stage", "upstream", "sources"} & set(chain)
    text = invoke("lineage", run.id)
    assert text.exit_code == 0, text.output
    assert not [line for line in plain(text.stdout).splitlines() if line.startswith(("stage", "raw data"))]


def test_a_dep_whose_path_cannot_be_a_tag_key_is_left_out_and_the_stage_still_runs(tmp_path: Path) -> None:
    root = tmp_path / "odd"
    (root / "data").mkdir(parents=True)
    (root / "data" / "raw (v2).csv").write_text("a\n1\n")
    (root / "shipyard.yaml").write_text(
        "stages:\n  copy:\n    cmd: cp 'data/raw (v2).csv' data/copy.csv\n"
        "    deps: ['data/raw (v2).csv']\n    outs: [data/copy.csv]\n")

    (outcome,) = repro(root=root)

    assert outcome.action == "ran"
    assert outcome.run_id is not None
    chain = shipyard.lineage(outcome.run_id)
    assert chain["stage"]["deps"] == []  # "(" is not allowed in tag keys; stage.json still has it
    assert hashes(chain["stage"]["outs"]) == hashes(lock_file(root)["copy"]["outs"])
    assert shipyard.get_run(outcome.run_id).tags["shipyard.out.data/copy.csv"] == \
        hashes(lock_file(root)["copy"]["outs"])["data/copy.csv"]
