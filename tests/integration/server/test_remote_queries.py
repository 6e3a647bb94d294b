"""The CLI's reading commands and ``shipyard repro`` through a real ``shipyard server`` (``SHIPYARD_TRACKING_URI``).

Each reading command must print through the server exactly what it prints against the server's own store named
with ``--store``: the server answers with the very query functions the local commands call. ``repro`` logs its
stage runs to the server (hashes, params, metrics, the commit) and keeps its data cache in the workspace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import shipyard
from tests._support import git, init_repo
from tests.integration.server._server import SHIPYARD
from tests.integration.server.conftest import Team

pytestmark = pytest.mark.slow
API = "/api/shipyard/v1"

RUNS = r'''
import json, shipyard
ids = {}
with shipyard.start_run("churn", "baseline", tags={"team": "blue"}) as run:
    shipyard.log_params({"C": 1.0, "penalty": "l2"})
    shipyard.log_metrics({"auc": 0.81, "loss": 0.4})
    shipyard.log_metric("odd", float("nan"))
    with shipyard.start_run(name="fold-1") as child:
        shipyard.log_metric("auc", 0.79)
    ids["baseline"], ids["fold"] = run.id, child.id
with shipyard.start_run("churn", "stronger") as run:
    shipyard.log_params({"C": 0.1, "penalty": "l1"})
    shipyard.log_metrics({"auc": 0.86, "loss": 0.35})
    shipyard.log_metric("odd", float("inf"))
    ids["stronger"] = run.id
with shipyard.start_run("other", "lonely") as run:
    shipyard.log_metric("rmse", 3.5)
    ids["lonely"] = run.id
frame = shipyard.search_runs("churn", filter="metrics.auc > 0.8", order_by="metrics.auc DESC")
print(json.dumps({**ids, "search": [list(frame["run_id"]), list(frame["metrics.auc"]), list(frame["params.C"])],
                  "experiments": [[item.name, item.run_count] for item in shipyard.list_experiments()],
                  "prefix": shipyard.get_run(ids["lonely"][:10]).name,
                  "lineage": shipyard.lineage(ids["fold"])["run"]["parent_run_id"] == ids["baseline"]}))
'''


def _cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    bare = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    return subprocess.run([str(SHIPYARD), *args], capture_output=True, text=True, timeout=120, check=False,
                          cwd=cwd, env={**bare, "COLUMNS": "200", **env})


def _through_server(team: Team, role: str = "reader") -> dict[str, str]:
    return {"SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": team.tokens[role]}


def _objects(team: Team) -> dict[str, str]:
    return {"SHIPYARD_OBJECTS_URI": str(team.objects)}


def _log_runs(team: Team, folder: Path) -> dict[str, str]:
    folder.mkdir(exist_ok=True)
    done = subprocess.run([sys.executable, "-c", RUNS], capture_output=True, text=True, timeout=120, cwd=folder,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")},
                               **_through_server(team, "writer")}, check=False)
    assert done.returncode == 0, done.stderr
    answer: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_read_commands_print_through_the_server_what_they_print_from_its_store(team: Team, tmp_path: Path) -> None:
    ids = _log_runs(team, tmp_path / "client")
    # The fluent reads went through the server too (they refused before): the same answers as a local store's.
    assert ids["search"] == [[ids["stronger"], ids["baseline"]], [0.86, 0.81], ["0.1", "1.0"]]
    assert ids["experiments"] == [["churn", 3], ["other", 1]] and ids["prefix"] == "lonely"
    assert ids["lineage"] is True

    elsewhere = tmp_path / "elsewhere"  # no .shipyard/ here or above: nothing local to fall back on
    elsewhere.mkdir()
    commands = [
        ("runs", "list", "--json"),
        ("runs", "list"),
        ("runs", "list", "-e", "churn", "-f", "metrics.auc > 0.8 and params.penalty = 'l1'", "--json"),
        ("runs", "list", "-s", "-metrics.auc", "-s", "params.C", "-n", "2", "--columns", "Run,auc,C"),
        ("runs", "list", "-f", "attributes.status = 'FINISHED'", "-s", "attributes.start_time", "--json"),
        ("runs", "show", ids["baseline"][:8], "--json"),
        ("runs", "show", ids["stronger"]),
        ("runs", "compare", ids["baseline"][:6], ids["stronger"], ids["lonely"], "--json"),
        ("runs", "compare", ids["baseline"], ids["stronger"], "--only-diff"),
        ("experiments", "list", "--json"),
        ("experiments", "list"),
        ("lineage", ids["fold"][:8], "--json"),
        ("lineage", ids["baseline"]),
    ]
    for command in commands:
        served = _cli(*command, cwd=elsewhere, env=_through_server(team))
        stored = _cli("--store", team.database, *command, cwd=elsewhere, env=_objects(team))
        assert served.returncode == 0, (command, served.stderr)
        assert stored.returncode == 0, (command, stored.stderr)
        assert served.stdout == stored.stdout, command
        assert served.stdout.strip() and not (elsewhere / ".shipyard").exists()
    listed = json.loads(_cli("runs", "list", "--json", cwd=elsewhere, env=_through_server(team)).stdout)
    odd = {run["name"]: run["metrics"].get("odd") for run in listed}
    assert odd["baseline"] == "NaN" and odd["stronger"] == "Infinity"  # carried as they are, not as null

    # The same errors, too: an unknown experiment, an ambiguous or unknown prefix, a bad filter.
    for command in [("runs", "list", "-e", "nope"), ("runs", "show", "0" * 32), ("runs", "show", "xyz"),
                    ("runs", "list", "-f", "metrics.auc >")]:
        served = _cli(*command, cwd=elsewhere, env=_through_server(team))
        stored = _cli("--store", team.database, *command, cwd=elsewhere, env=_objects(team))
        assert served.returncode == stored.returncode == 2, (command, served.stderr, stored.stderr)
        assert served.stderr == stored.stderr and "Traceback" not in served.stderr


def test_reads_need_a_token_and_bad_input_is_a_4xx_naming_the_field(team: Team, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    no_token = _cli("runs", "list", cwd=elsewhere, env={"SHIPYARD_TRACKING_URI": team.server.url})
    assert no_token.returncode == 2 and len(no_token.stderr.strip().splitlines()) == 1
    assert "token" in no_token.stderr.lower() and "Traceback" not in no_token.stderr
    assert _cli("experiments", "list", cwd=elsewhere, env=_through_server(team)).stdout.strip() == "No experiments yet."

    bad_filter = _cli("runs", "list", "-f", "metrics.auc ~ 3", cwd=elsewhere, env=_through_server(team))
    assert bad_filter.returncode == 2 and "Invalid filter at position 12" in bad_filter.stderr
    assert "Traceback" not in bad_filter.stderr

    reader = {"Authorization": f"Bearer {team.tokens['reader']}"}
    for query, field in [({"filter": "nonsense.x = 1"}, "filter"), ({"order_by": "metrics.auc SIDEWAYS"}, "order_by"),
                         ({"max_results": "0"}, "max_results"), ({"offset": "-1"}, "offset"),
                         ({"max_results": "many"}, "max_results")]:
        answer = httpx.get(f"{team.server.url}{API}/query/runs", params=query, headers=reader, timeout=30)
        assert answer.status_code == 422, (query, answer.text)
        assert answer.json()["error"]["field"] == field
    answer = httpx.get(f"{team.server.url}{API}/query/lineage", headers=reader, timeout=30)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "target"
    answer = httpx.get(f"{team.server.url}{API}/query/runs", timeout=30)
    assert answer.status_code == 401

    # A prefix two runs share is ambiguous through the server as in the store: exit 2, the candidates named.
    writer = {"Authorization": f"Bearer {team.tokens['writer']}"}
    for run_id in ("ab12" + "0" * 28, "ab34" + "0" * 28):
        created = httpx.post(f"{team.server.url}{API}/runs", headers=writer, timeout=30,
                             json={"run_id": run_id, "experiment": "twins", "name": run_id[:4]})
        assert created.status_code == 200, created.text
    served = _cli("runs", "show", "ab", cwd=elsewhere, env=_through_server(team))
    stored = _cli("--store", team.database, "runs", "show", "ab", cwd=elsewhere, env=_objects(team))
    assert served.returncode == stored.returncode == 2 and served.stderr == stored.stderr
    assert "ab12" in served.stderr and "ab34" in served.stderr
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", team.server.url)
    monkeypatch.setenv("SHIPYARD_TOKEN", team.tokens["reader"])
    with pytest.raises(shipyard.AmbiguousError, match="matches several runs"):  # the class the store raises
        shipyard.get_run("ab")
    assert shipyard.get_run("ab1").id == "ab12" + "0" * 28

    # A request id needs the prediction log, which the server does not keep: said in one line.
    unknown = _cli("lineage", "feedc0de", cwd=elsewhere, env=_through_server(team))
    assert unknown.returncode == 2 and "--log-dir" in unknown.stderr and len(unknown.stderr.strip().splitlines()) == 1


MODEL = r'''
import json, numpy as np, pandas as pd, shipyard
from sklearn.linear_model import LogisticRegression
frame = pd.DataFrame({"tenure": np.arange(20), "charges": np.linspace(20, 90, 20)})
model = LogisticRegression().fit(frame, (frame["tenure"] > 9).astype(int))
with shipyard.start_run("churn", "trained") as run:
    shipyard.log_metric("auc", 0.9)
    info = shipyard.log_model(model, input_example=frame)
shipyard.register_model(info, "churn")
print(json.dumps({"run": run.id}))
'''


def test_lineage_of_a_request_reads_the_log_here_and_the_model_chain_from_the_server(team: Team,
                                                                                     tmp_path: Path) -> None:
    from shipyard.predlog.location import open_folder
    from shipyard.predlog.schema import PredictionEntry, predictions_table
    from shipyard.predlog.writer import PartitionedLog

    client = tmp_path / "client"
    client.mkdir()
    done = subprocess.run([sys.executable, "-c", MODEL], capture_output=True, text=True, timeout=300, cwd=client,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")},
                               **_through_server(team, "writer")}, check=False)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout.strip().splitlines()[-1])["run"]
    log_dir = tmp_path / "predictions-log"
    log = PartitionedLog(open_folder(str(log_dir)) / "predictions", predictions_table, flush_interval=0.05)
    log.start()
    request_id = "c0ffee00112233445566778899aabbcc"
    moment = time.time_ns() // 1_000_000
    log.append("churn", moment, PredictionEntry(
        request_id, moment, "churn", "champion", False, "churn", 1, "models:/churn/1", "python", 1.5, None,
        {"tenure": [3], "charges": [41.5]}, {"tenure": "integer", "charges": "float"}, [1], [[0.25, 0.75]]))
    log.close()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in [("lineage", request_id[:6], "--log-dir", str(log_dir), "--json"),
                    ("lineage", request_id, "--log-dir", str(log_dir))]:
        served = _cli(*command, cwd=elsewhere, env=_through_server(team))
        stored = _cli("--store", team.database, *command, cwd=elsewhere, env=_objects(team))
        assert served.returncode == 0 and stored.returncode == 0, (served.stderr, stored.stderr)
        assert served.stdout == stored.stdout
    chain = json.loads(_cli("lineage", request_id, "--log-dir", str(log_dir), "--json", cwd=elsewhere,
                            env=_through_server(team)).stdout)
    assert chain["prediction"][0]["inputs"] == {"tenure": 3, "charges": 41.5}
    behind = chain["models"]["models:/churn/1"]
    assert behind["run"]["run_id"] == run_id and behind["metrics"] == {"auc": 0.9}


PIPELINE = """\
stages:
  prep:
    cmd: PYTHON prep.py
    deps: [prep.py, data/raw.csv]
    params: [prep.scale]
    outs: [data/clean.csv]
  train:
    cmd: PYTHON train.py
    deps: [train.py, data/clean.csv]
    outs: [model.txt]
    metrics: [metrics.json]
"""
PREP = """\
import yaml
scale = yaml.safe_load(open("params.yaml"))["prep"]["scale"]
rows = open("data/raw.csv").read().splitlines()
open("data/clean.csv", "w").write("\\n".join(str(float(row) * scale) for row in rows))
"""
TRAIN = """\
import json, shipyard
values = [float(row) for row in open("data/clean.csv").read().splitlines()]
open("model.txt", "w").write(str(sum(values)))
json.dump({"total": sum(values)}, open("metrics.json", "w"))
with shipyard.start_run() as run:  # joins the stage's run on the server
    shipyard.log_metric("from_inside", 1.0)
"""


def test_repro_logs_its_stage_runs_to_the_server_and_lineage_reads_them(team: Team, tmp_path: Path) -> None:
    workspace = init_repo(tmp_path / "workspace")
    (workspace / "data").mkdir()
    (workspace / "data" / "raw.csv").write_text("1\n2\n3\n")
    (workspace / "shipyard.yaml").write_text(PIPELINE.replace("PYTHON", sys.executable))
    (workspace / "params.yaml").write_text("prep:\n  scale: 2\n")
    (workspace / "prep.py").write_text(PREP)
    (workspace / "train.py").write_text(TRAIN)
    git(workspace, "add", ".")
    git(workspace, "commit", "-q", "-m", "pipeline")
    commit = git(workspace, "rev-parse", "HEAD").strip()

    done = _cli("repro", "--json", cwd=workspace, env=_through_server(team, "writer"))
    assert done.returncode == 0, done.stderr
    outcomes = {item["stage"]: item for item in json.loads(done.stdout)}
    assert [outcomes[name]["action"] for name in ("prep", "train")] == ["ran", "ran"]
    train_run = outcomes["train"]["run_id"]

    chain = json.loads(_cli("lineage", train_run, "--json", cwd=workspace, env=_through_server(team)).stdout)
    assert chain["git"]["commit"] == commit and chain["git"]["dirty"] is False
    assert chain["metrics"] == {"from_inside": 1.0, "total": 12.0}
    assert chain["stage"]["stage"] == "train" and chain["stage"]["git"]["commit"] == commit
    clean = next(item for item in chain["stage"]["deps"] if item["path"] == "data/clean.csv")
    assert clean["produced_by"]["stage"] == "prep" and clean["produced_by"]["run_id"] == outcomes["prep"]["run_id"]
    upstream = chain["upstream"][0]
    assert upstream["stage"] == "prep" and upstream["git"]["commit"] == commit
    lock = (workspace / "shipyard.lock").read_text()
    assert clean["hash"] in lock  # the hash the workspace's lock file records for the data

    prep = json.loads(_cli("runs", "show", outcomes["prep"]["run_id"], "--json", cwd=workspace,
                           env=_through_server(team)).stdout)
    assert prep["params"] == {"prep.scale": "2"} and prep["status"] == "FINISHED"
    assert [item["path"] for item in prep["artifacts"]] == ["stage.json"]
    # The runs went to the server only; the data cache stayed in the workspace's own store.
    local = _cli("--store", str(workspace / ".shipyard"), "runs", "list", "--json", cwd=workspace, env={})
    assert local.returncode == 0 and json.loads(local.stdout) == []
    assert any((workspace / ".shipyard" / "objects").rglob("*"))
    text = _cli("lineage", train_run, cwd=workspace, env=_through_server(team))
    assert f"commit {commit[:8]}" in text.stdout and "from prep" in text.stdout

    again = _cli("repro", "--json", cwd=workspace, env=_through_server(team, "writer"))
    assert [item["action"] for item in json.loads(again.stdout)] == ["skipped", "skipped"]
    status = _cli("status", cwd=workspace, env=_through_server(team))
    assert status.returncode == 0 and "up to date" in status.stdout
