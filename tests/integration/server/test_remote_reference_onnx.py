"""What the gate and the ONNX export leave with a version, kept on a real ``shipyard server``.

A gate run through the server keeps each judged version's labelled reference there (the deployment estimates
read it), and ``export_onnx`` converts and verifies on the client, then attaches the file to the version on the
server. Both are read back on the client through the verified cache and on the server's own store, and must be
the same bytes.
"""

from __future__ import annotations

import json

import pytest

from shipyard.models.labelled_reference import read_reference
from shipyard.models.onnx_export import read_attached_onnx
from shipyard.models.registry import get_version
from shipyard.store.hashing import hash_bytes
from tests.integration.server._server import shipyard
from tests.integration.server.conftest import Team
from tests.integration.server.test_remote_models import API, LOG_AND_REGISTER, _client, _server_store

pytestmark = pytest.mark.slow

GATE_AND_EXPORT = r'''
import json, shipyard
from sklearn.datasets import load_breast_cancer
from shipyard.models.labelled_reference import read_reference
from shipyard.models.onnx_export import read_attached_onnx
from shipyard.store.hashing import hash_bytes
from shipyard.tracking.remote import tracking_server
frame = load_breast_cancer(as_frame=True).frame
frame.iloc[::3].to_csv("holdout.csv", index=False)
decision = shipyard.promote_model("cancer", candidate=1, alias="staging", data="holdout.csv", target="target")
tracker = tracking_server()
reference = read_reference(tracker, "cancer", 1)
report = shipyard.export_onnx("models:/cancer/1", "cancer.onnx")
attached = read_attached_onnx(tracker, "models:/cancer/1")
print(json.dumps({"promoted": decision.promoted, "rows": reference.rows, "digest": reference.digest,
                  "source": reference.source, "classes": reference.classes,
                  "onnx": report.onnx_hash, "attached_to": report.attached_to, "checked": report.rows_checked,
                  "attached_hash": hash_bytes(attached), "file_hash": hash_bytes(open("cancer.onnx", "rb").read()),
                  "unjudged": read_reference(tracker, "cancer", 2) is None}))
'''


def test_the_gate_keeps_the_reference_and_the_export_attaches_onnx_on_the_server(team: Team, tmp_path) -> None:
    assert isinstance(_client(team, tmp_path, LOG_AND_REGISTER, team.tokens["writer"]), dict)
    answer = _client(team, tmp_path, GATE_AND_EXPORT, team.tokens["writer"])
    assert isinstance(answer, dict)
    assert answer["promoted"] is True and answer["rows"] == 190 and answer["classes"] == ["0", "1"]
    assert answer["source"] == "promotion gate, 190 holdout rows" and answer["unjudged"] is True
    assert answer["attached_to"] == "models:/cancer/1" and answer["checked"] > 30
    assert answer["onnx"] == answer["attached_hash"] == answer["file_hash"]
    assert not (tmp_path / "must-not-exist").exists()

    store = _server_store(team)  # the server's own store holds the same bytes under the same tags
    try:
        kept = read_reference(store, "cancer", 1)
        assert kept is not None and kept.digest == answer["digest"] and kept.rows == 190
        onnx = read_attached_onnx(store, "models:/cancer/1")
        assert onnx is not None and hash_bytes(onnx) == answer["onnx"]
        assert get_version(store, "cancer", 1).tags["onnx.path"] == "model/model.onnx"
    finally:
        store.close()

    # The CLI exports through the server too, and says where it attached the file.
    env = {"SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": team.tokens["writer"],
           "SHIPYARD_CACHE_DIR": str(tmp_path / "cache")}
    exported = shipyard("models", "export-onnx", "models:/cancer/2", "-o", str(tmp_path / "two.onnx"), "--json",
                        env=env)
    assert json.loads(exported.stdout)["attached_to"] == "models:/cancer/2"


def test_version_tags_through_the_api_need_a_writer_and_name_a_bad_field(team: Team, tmp_path) -> None:
    assert isinstance(_client(team, tmp_path, LOG_AND_REGISTER, team.tokens["writer"]), dict)
    path = f"{API}/models/cancer/versions/1/tags"
    tagged = team.server.call("POST", path, team.tokens["writer"], json={"tags": {"owner": "alice"}},
                              headers={"Idempotency-Key": "tag-once-0001"})
    assert tagged.status_code == 200 and tagged.json()["version"]["tags"]["owner"] == "alice"
    assert team.server.call("POST", path, team.tokens["reader"], json={"tags": {"a": "b"}}).status_code == 403
    empty = team.server.call("POST", path, team.tokens["writer"], json={"tags": {" ": "b"}})
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "tags"
    number = team.server.call("POST", path, team.tokens["writer"], json={"tags": {"a": 1}})
    assert number.status_code == 422 and number.json()["error"]["field"] == "tags"
    unknown = team.server.call("POST", f"{API}/models/cancer/versions/9/tags", team.tokens["writer"],
                               json={"tags": {"a": "b"}})
    assert unknown.status_code == 404
