"""The fluent readers through a real ``shipyard server``: ``list_artifacts``, ``read_artifact``,
``download_artifacts`` and ``metric_history`` with a run-id prefix answer as they do on the server's own store.

One server for the whole module (the tests only add runs with ids of their own). Each reading script runs twice:
through the server (``SHIPYARD_TRACKING_URI``) and on the server's store itself (``SHIPYARD_DATABASE_URI`` and
``SHIPYARD_OBJECTS_URI``); the two must print the same JSON, errors included (by class).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from tests.integration.server.conftest import Team, migrated_database, running_team

pytestmark = pytest.mark.slow
API = "/api/shipyard/v1"

LOG = r'''
import json, pathlib, shipyard
folder = pathlib.Path("report")
(folder / "deep").mkdir(parents=True, exist_ok=True)
(folder / "summary.txt").write_text("all good\n")
(folder / "deep" / "table.csv").write_text("a,b\n1,2\n")
with shipyard.start_run("readers", "with-files") as run:
    shipyard.log_text("hello through the server", "notes/a.txt")
    shipyard.log_dict({"x": 1}, "plots/config.json")
    shipyard.log_artifact(str(folder), "report")
    for step in range(5):
        shipyard.log_metric("loss", 1.0 / (step + 1), step=step)
print(json.dumps({"run_id": run.id}))
'''

READ = r'''
import hashlib, json, pathlib, sys, tempfile, shipyard
run_id, ambiguous = sys.argv[1], sys.argv[2]
prefix = run_id[:9]
out = {}
def attempt(name, call):
    try:
        out[name] = call()
    except Exception as exc:
        out[name] = {"error": type(exc).__name__}
def tree(root):
    root = pathlib.Path(root)
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}
attempt("list", lambda: shipyard.list_artifacts(prefix))
attempt("read", lambda: shipyard.read_artifact(prefix, "notes/a.txt").decode())
with tempfile.TemporaryDirectory() as folder:
    attempt("download_all", lambda: [str(pathlib.Path(shipyard.download_artifacts(prefix, folder))) == folder,
                                     tree(folder)])
with tempfile.TemporaryDirectory() as folder:
    attempt("download_folder", lambda: [str(pathlib.Path(shipyard.download_artifacts(prefix, folder, "report"))
                                            .relative_to(folder)), tree(folder)])
with tempfile.TemporaryDirectory() as folder:
    attempt("download_missing", lambda: shipyard.download_artifacts(prefix, folder, "nothing/here"))
    out["missing_left_nothing"] = tree(folder)
attempt("read_missing", lambda: shipyard.read_artifact(prefix, "notes/b.txt"))
attempt("read_bad_path", lambda: shipyard.read_artifact(prefix, "../etc/passwd"))
attempt("history", lambda: shipyard.metric_history(prefix, "loss")[["step", "value"]].values.tolist())
attempt("history_ambiguous", lambda: shipyard.metric_history(ambiguous, "loss"))
attempt("history_unknown", lambda: shipyard.metric_history("fffff0", "loss"))
attempt("list_ambiguous", lambda: shipyard.list_artifacts(ambiguous))
attempt("list_not_hex", lambda: shipyard.list_artifacts("not-a-run"))
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def shared_team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    root = tmp_path_factory.mktemp("readers")
    with running_team(migrated_database(root), root) as started:
        yield started


def _python(script: str, *args: str, cwd: Path, env: dict[str, str]) -> dict[str, object]:
    bare = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=180,
                          cwd=cwd, env={**bare, **env}, check=False)
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def _create_run(team: Team, run_id: str) -> None:
    answer = team.server.call("POST", f"{API}/runs", team.tokens["writer"],
                              json={"run_id": run_id, "experiment": "readers", "name": f"twin-{run_id[-1]}"})
    assert answer.status_code == 200, answer.text


def test_artifact_readers_and_metric_history_by_prefix_answer_through_the_server_as_from_its_store(
        shared_team: Team, tmp_path: Path) -> None:
    team = shared_team
    server = {"SHIPYARD_TRACKING_URI": team.server.url}
    run_id = str(_python(LOG, cwd=tmp_path / "log", env={**server, "SHIPYARD_TOKEN": team.tokens["writer"]})["run_id"])
    for last in "12":  # two runs whose ids share the prefix "abcdef0": a prefix that names neither alone
        _create_run(team, "abcdef0" + "0" * 24 + last)

    remote = _python(READ, run_id, "abcdef0", cwd=tmp_path / "remote",
                     env={**server, "SHIPYARD_TOKEN": team.tokens["reader"]})
    local = _python(READ, run_id, "abcdef0", cwd=tmp_path / "local",
                    env={"SHIPYARD_DATABASE_URI": team.database, "SHIPYARD_OBJECTS_URI": str(team.objects)})

    assert remote == local
    listed = remote["list"]
    assert isinstance(listed, list)
    assert [item["path"] for item in listed] == ["notes/a.txt", "plots/config.json", "report/deep/table.csv",
                                                 "report/summary.txt"]
    assert remote["read"] == "hello through the server"
    all_files = remote["download_all"]
    assert isinstance(all_files, list) and all_files[0] is True and sorted(all_files[1]) == [
        "notes/a.txt", "plots/config.json", "report/deep/table.csv", "report/summary.txt"]
    assert remote["download_folder"] == ["report", {"report/deep/table.csv": all_files[1]["report/deep/table.csv"],
                                                    "report/summary.txt": all_files[1]["report/summary.txt"]}]
    assert remote["download_missing"] == {"error": "NotFoundError"} and remote["missing_left_nothing"] == {}
    assert remote["read_missing"] == {"error": "NotFoundError"}
    assert remote["read_bad_path"] == {"error": "ValidationError"}
    assert remote["history"] == [[step, 1.0 / (step + 1)] for step in range(5)]
    assert remote["history_ambiguous"] == {"error": "AmbiguousError"}
    assert remote["list_ambiguous"] == {"error": "AmbiguousError"}
    assert remote["history_unknown"] == {"error": "NotFoundError"}
    assert remote["list_not_hex"] == {"error": "ValidationError"}


def test_the_listing_endpoint_needs_a_token_and_names_the_field_of_a_bad_prefix(shared_team: Team) -> None:
    team = shared_team
    assert team.server.call("GET", f"{API}/query/runs/abc/artifacts").status_code == 401
    bad = team.server.call("GET", f"{API}/query/run-ids/zz-top", team.tokens["reader"])
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "run_id"
    unknown = team.server.call("GET", f"{API}/query/runs/0123456789/artifacts", team.tokens["reader"])
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "NotFoundError"


DAMAGED = r'''
import json, pathlib, sys, shipyard
from shipyard.errors import IntegrityError
out = {}
for name, call in (("read", lambda: shipyard.read_artifact(sys.argv[1], "weights.bin")),
                   ("download", lambda: shipyard.download_artifacts(sys.argv[1], "dest"))):
    try:
        call()
        out[name] = "no error"
    except IntegrityError:
        out[name] = "IntegrityError"
out["left"] = sorted(str(path) for path in pathlib.Path("dest").rglob("*")) if pathlib.Path("dest").exists() else []
print(json.dumps(out))
'''


def test_a_damaged_object_is_an_integrity_error_and_leaves_no_file(shared_team: Team, tmp_path: Path) -> None:
    team = shared_team
    data = b"weights that will rot on the server's disk"
    log = ("import json, shipyard\nwith shipyard.start_run('readers', 'damaged') as run:\n"
           f"    shipyard.log_text({data.decode()!r}, 'weights.bin')\n"
           "print(json.dumps({'run_id': run.id}))\n")
    run_id = str(_python(log, cwd=tmp_path / "log", env={"SHIPYARD_TRACKING_URI": team.server.url,
                                                          "SHIPYARD_TOKEN": team.tokens["writer"]})["run_id"])
    digest = blake3.blake3(data).hexdigest()
    stored = team.objects / digest[:2] / digest[2:]
    stored.chmod(0o600)
    stored.write_bytes(data.replace(b"rot", b"r0t"))  # one byte changed on disk, same size

    remote = _python(DAMAGED, run_id, cwd=tmp_path / "remote",
                     env={"SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": team.tokens["reader"]})
    local = _python(DAMAGED, run_id, cwd=tmp_path / "local",
                    env={"SHIPYARD_DATABASE_URI": team.database, "SHIPYARD_OBJECTS_URI": str(team.objects)})
    assert remote == local == {"read": "IntegrityError", "download": "IntegrityError", "left": []}
