"""A team's store: metadata on a real PostgreSQL, objects on a real S3 server (moto), used through the public API,
fresh processes and the CLI exactly as on a laptop's ``.shipyard/``.

S3 is reached only through the standard AWS variables (``AWS_ENDPOINT_URL`` included); Shipyard is told nothing
but ``SHIPYARD_DATABASE_URI`` and ``SHIPYARD_OBJECTS_URI``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

import shipyard
from shipyard.store.hashing import hash_bytes, hash_file
from shipyard.store.object_store import object_key
from tests._servers import postgres, s3
from tests._tiny_model import tiny_frame, tiny_pipeline
from tests.integration.ui._ui import start_ui

pytestmark = pytest.mark.skipif(s3.unavailable_reason() is not None, reason=str(s3.unavailable_reason()))
PREFIX = "team/shipyard"


@dataclass
class Team:
    bucket: str
    endpoint: str
    database: str

    @property
    def objects(self) -> str:
        return f"s3://{self.bucket}/{PREFIX}"

    def keys(self) -> list[str]:
        return s3.list_keys(self.endpoint, self.bucket, PREFIX + "/")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3.moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str | None]:
    if postgres.unavailable_reason() is not None:  # the S3 half still runs, on a SQLite file
        yield None
        return
    with postgres.postgres_server() as url:
        yield url


def _aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str) -> None:
    for key, value in s3.CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def team(endpoint: str, pg_server: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Team:
    """A new bucket and a new database, named only by SHIPYARD_DATABASE_URI and SHIPYARD_OBJECTS_URI."""
    _aws(monkeypatch, tmp_path, endpoint)
    bucket = f"team-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(endpoint, bucket)
    if pg_server is not None:
        database = postgres.create_database(pg_server, f"t_{uuid.uuid4().hex[:12]}")
    else:
        database = f"sqlite:///{tmp_path / 'shared' / 'meta.db'}"
        (tmp_path / "shared").mkdir()
    monkeypatch.delenv("SHIPYARD_STORE")
    monkeypatch.setenv("SHIPYARD_DATABASE_URI", database)
    monkeypatch.setenv("SHIPYARD_OBJECTS_URI", f"s3://{bucket}/{PREFIX}")
    shipyard.set_store()
    return Team(bucket, endpoint, database)


def _python(code: str, *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=cwd,
                          env={**os.environ, **(env or {})}, check=False)


def _shipyard(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipyard", *args], capture_output=True, text=True, timeout=180,
                          cwd=cwd, env={**os.environ, "COLUMNS": "200", **(env or {})}, check=False)


def _one_error_line(done: subprocess.CompletedProcess[str], exit_code: int) -> str:
    assert done.returncode == exit_code, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr and "Unexpected error" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("Error: "), done.stderr
    return " ".join(line.strip() for line in lines)


@pytest.mark.slow
def test_a_team_store_on_postgresql_and_s3_end_to_end(team: Team, tmp_path: Path) -> None:
    frame, target = tiny_frame()
    report = tmp_path / "report.csv"
    report.write_text("threshold,recall\n0.5,0.74\n")
    with shipyard.start_run(experiment="churn", name="team") as run:
        shipyard.log_params({"C": 1.0})
        shipyard.log_metric("auc", 0.84)
        shipyard.log_artifact(report, "reports")
        info = shipyard.log_model(tiny_pipeline().fit(frame, target), "model", input_example=frame)
    version = shipyard.register_model(info, "churn")
    expected = shipyard.load_model(f"models:/churn/{version.version}").predict(frame.head(5))

    stored = {item["hash"] for item in shipyard.get_run(run.id).artifacts}
    assert {object_key(PREFIX, digest) for digest in stored} <= set(team.keys())  # every artifact is on S3
    assert not (tmp_path / ".shipyard").exists()  # and nothing was written beside the working directory

    frame.head(5).to_csv(tmp_path / "rows.csv", index=False)
    fresh = _python(
        "import json, pandas, shipyard\n"
        f"model = shipyard.load_model('models:/churn/{version.version}')\n"
        "print(json.dumps([float(x) for x in model.predict(pandas.read_csv('rows.csv'))]))\n"
        f"shipyard.download_artifacts({run.id!r}, 'downloaded')\n", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert json.loads(fresh.stdout.splitlines()[-1]) == [float(x) for x in expected]
    assert (tmp_path / "downloaded" / "reports" / "report.csv").read_bytes() == report.read_bytes()

    shown = _shipyard("runs", "show", run.id[:8], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "reports/report.csv" in shown.stdout and "model/model.json" in shown.stdout

    ui = start_ui(tmp_path / "ui-folder")  # a folder for the UI's own files; the store parts from the environment
    try:
        answer = httpx.get(f"{ui.url}/runs/{run.id}/artifacts/reports/report.csv", timeout=30)
    finally:
        ui.stop()
    assert answer.status_code == 200 and answer.content == report.read_bytes()


def test_an_object_edited_on_s3_behind_shipyards_back_is_refused(team: Team, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"the bytes as logged\n" * 100)
    with shipyard.start_run() as run:
        shipyard.log_artifact(notes)
    digest = shipyard.get_run(run.id).artifacts[0]["hash"]
    s3.client(team.endpoint).put_object(Bucket=team.bucket, Key=object_key(PREFIX, digest), Body=b"TAMPERED")

    with pytest.raises(shipyard.IntegrityError, match="corrupted") as caught:
        shipyard.read_artifact(run.id, "notes.txt")
    assert caught.value.path == "notes.txt"
    with pytest.raises(shipyard.IntegrityError):
        shipyard.download_artifacts(run.id, tmp_path / "out")
    assert not (tmp_path / "out" / "notes.txt").exists()


def test_a_bucket_that_does_not_exist_is_one_line_and_exit_1(team: Team, tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a\n1\n")
    done = _shipyard("add", "data.csv", cwd=tmp_path, env={"SHIPYARD_OBJECTS_URI": "s3://no-such-bucket/shipyard"})
    line = _one_error_line(done, 1)
    assert "bucket 'no-such-bucket'" in line and "does not exist" in line and "SHIPYARD_OBJECTS_URI" in line


def test_credentials_the_service_refuses_are_one_line_and_exit_1(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with s3.moto_server_checking_credentials() as endpoint:
        _aws(monkeypatch, tmp_path, endpoint)  # keys moto never issued
        (tmp_path / "data.csv").write_text("a\n1\n")
        done = _shipyard("add", "data.csv", cwd=tmp_path, env={"SHIPYARD_OBJECTS_URI": "s3://any-bucket/shipyard"})
    line = _one_error_line(done, 1)
    assert "s3://any-bucket/shipyard refused" in line and "AWS_ACCESS_KEY_ID" in line


def test_an_endpoint_that_does_not_answer_is_one_line_and_exit_1(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _aws(monkeypatch, tmp_path, f"http://127.0.0.1:{port}")
    (tmp_path / "data.csv").write_text("a\n1\n")
    done = _shipyard("add", "data.csv", cwd=tmp_path,
                     env={"SHIPYARD_OBJECTS_URI": "s3://any-bucket/shipyard", "AWS_MAX_ATTEMPTS": "1"})
    line = _one_error_line(done, 1)
    assert "Cannot look up object" in line and "AWS_ENDPOINT_URL" in line


_PEAK = """
import json, shipyard
def peak_mb():  # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it starts at pytest's own peak
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
"""


@pytest.mark.slow
def test_a_large_artifact_streams_both_ways_in_bounded_memory(team: Team, tmp_path: Path) -> None:
    """160 MB, generated on the fly, logged by one child process and downloaded by another while each one's
    peak resident memory is read: the growth over its peak before the first byte moved stays far below the
    artifact's size (measured here: about 61 MB up, whether the artifact is 160 or 256 MB; about 30 MB down)."""
    size_mb = 160
    upload = _python(_PEAK + f"""
with open("big.bin", "wb") as sink:
    for index in range({size_mb}):
        sink.write(index.to_bytes(4, "little") * (1 << 18))
with shipyard.start_run() as run:
    shipyard.log_text("warm-up", "warm.txt")  # the store, its database and its S3 filesystem are open
    shipyard.read_artifact(run.id, "warm.txt")
    before = peak_mb()
    shipyard.log_artifact("big.bin")
print(json.dumps({{"run": run.id, "before": before, "after": peak_mb()}}))
""", cwd=tmp_path)
    assert upload.returncode == 0, upload.stderr
    up = json.loads(upload.stdout.splitlines()[-1])
    download = _python(_PEAK + f"""
shipyard.read_artifact({up["run"]!r}, "warm.txt")
before = peak_mb()
shipyard.download_artifacts({up["run"]!r}, "back", "big.bin")
print(json.dumps({{"before": before, "after": peak_mb()}}))
""", cwd=tmp_path)
    assert download.returncode == 0, download.stderr
    down = json.loads(download.stdout.splitlines()[-1])
    print(f"peak RSS in MB around a {size_mb} MB artifact: upload {up}, download {down}")
    assert (tmp_path / "back" / "big.bin").stat().st_size == size_mb << 20
    assert hash_file(tmp_path / "back" / "big.bin") == hash_file(tmp_path / "big.bin")
    assert up["after"] - up["before"] < size_mb / 2, up  # a few 16 MB parts, never the file
    assert down["after"] - down["before"] < size_mb / 4, down  # 8 MB reads, never the object


@pytest.mark.slow
def test_data_pipelines_and_gc_on_a_folder_whose_objects_are_on_s3(endpoint: str, tmp_path: Path,
                                                                   isolated_store: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``add``, ``checkout``, ``repro`` outputs and ``gc`` keep their objects on S3; the folder keeps only the
    database (a SQLite file) and the logs."""
    from tests.integration.pipeline._data import assert_ok, cli, make_project, write

    _aws(monkeypatch, tmp_path, endpoint)
    bucket = f"data-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(endpoint, bucket)
    monkeypatch.setenv("SHIPYARD_OBJECTS_URI", f"s3://{bucket}/cache")
    project = make_project(tmp_path, isolated_store, monkeypatch)
    write(project.root, {f"data/raw/part-{index}.csv": f"id\n{index}\n" for index in range(5)})
    write(project.root, {"shipyard.yaml": (
        "stages:\n  double:\n"
        f"    cmd: {sys.executable} -c \"open('out.txt','w').write(open('data/raw/part-1.csv').read()*2)\"\n"
        "    deps: [data/raw]\n    outs: [out.txt]\n")})
    assert_ok(cli("add", "data/raw"))
    assert_ok(cli("repro"))
    keys = s3.list_keys(endpoint, bucket, "cache/")
    contents = [f"id\n{index}\n".encode() for index in range(5)] + [b"id\n1\nid\n1\n"]  # the data, the output
    assert {object_key("cache", hash_bytes(data)) for data in contents} <= set(keys)
    assert not (isolated_store / "objects").exists()

    (project.root / "out.txt").unlink()
    (project.root / "data/raw/part-3.csv").write_text("edited\n")
    assert_ok(cli("checkout", "--link", "copy"))
    assert (project.root / "data/raw/part-3.csv").read_text() == "id\n3\n"
    assert (project.root / "out.txt").read_text() == "id\n1\nid\n1\n"

    orphan = shipyard.current_store().objects.put_bytes(b"nothing refers to me").hash
    dry = json.loads(assert_ok(cli("gc", "--json")))
    assert dry["removable"] == 1 and dry["deleted"] is False
    assert json.loads(assert_ok(cli("gc", "--json", "--force")))["deleted"] is True
    assert object_key("cache", orphan) not in s3.list_keys(endpoint, bucket, "cache/")
    assert sorted(s3.list_keys(endpoint, bucket, "cache/")) == sorted(keys)


@pytest.mark.slow
def test_serve_workers_open_the_objects_on_s3_too(endpoint: str, tmp_path: Path, isolated_store: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder store whose objects are on S3: each worker of ``shipyard serve`` reopens all of it. Before, a worker
    was handed the folder alone, looked for the model in the folder's ``objects/`` and never became ready."""
    from tests.integration.serving._serving import running_server

    _aws(monkeypatch, tmp_path, endpoint)
    bucket = f"serve-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(endpoint, bucket)
    monkeypatch.setenv("SHIPYARD_OBJECTS_URI", f"s3://{bucket}/objects")
    frame, target = tiny_frame()
    with shipyard.start_run():
        info = shipyard.log_model(tiny_pipeline().fit(frame, target), "model", input_example=frame)
    shipyard.register_model(info, "churn")
    expected = shipyard.load_model("models:/churn/1").predict(frame.head(3))
    assert not (isolated_store / "objects").exists()
    rows = json.loads(frame.head(3).to_json(orient="records"))
    with running_server(["models:/churn/1", "--workers", "2"], cwd=tmp_path, store=isolated_store) as server:
        answer = server.post("/predict/churn", json={"records": rows})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == [int(label) for label in expected]


def test_opening_a_store_with_objects_on_s3_imports_no_s3_driver_until_an_object_is_touched(
        team: Team, tmp_path: Path) -> None:
    done = _python("import sys, shipyard\n"
                   "shipyard.current_store()\n"
                   "print('s3fs' in sys.modules, 'botocore' in sys.modules)\n"
                   "shipyard.search_runs()\n"
                   "print('s3fs' in sys.modules)\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "False"]


@pytest.mark.slow
def test_init_keeps_the_sample_data_on_s3_when_the_objects_are_there(endpoint: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``shipyard init`` opens the new project's folder; SHIPYARD_OBJECTS_URI still places the objects. Before, the
    sample data went to the folder's ``objects/`` and every later command, looking on S3, missed it."""
    _aws(monkeypatch, tmp_path, endpoint)
    bucket = f"init-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(endpoint, bucket)
    monkeypatch.delenv("SHIPYARD_STORE")
    done = _shipyard("init", "churn", cwd=tmp_path, env={"SHIPYARD_OBJECTS_URI": f"s3://{bucket}/objects",
                                                          "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid",
                                                          "GIT_COMMITTER_NAME": "t",
                                                          "GIT_COMMITTER_EMAIL": "t@t.invalid"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (tmp_path / "churn" / ".shipyard" / "objects").exists()
    pointer = next((tmp_path / "churn").rglob("*.ship"))
    digest = yaml.safe_load(pointer.read_text())["hash"]
    assert object_key("objects", digest) in s3.list_keys(endpoint, bucket, "objects/")


@pytest.mark.slow
def test_a_stage_command_logs_into_the_store_set_in_process_objects_on_s3_included(
        endpoint: str, tmp_path: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``set_store(folder, objects="s3://...")`` then ``repro``: the stage's own ``log_text`` reaches S3. Before, the
    stage was told the folder alone and wrote its object into the folder, where the parent never looks."""
    from shipyard.pipeline.repro import repro
    from tests.integration.pipeline._data import make_project, write

    _aws(monkeypatch, tmp_path, endpoint)
    bucket = f"stage-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(endpoint, bucket)
    project = make_project(tmp_path, isolated_store, monkeypatch)
    monkeypatch.delenv("SHIPYARD_STORE")
    write(project.root, {"stage.py": "import shipyard\nshipyard.log_text('from the stage', 'note.txt')\n"
                                     "open('out.txt', 'w').write('done')\n",
                         "shipyard.yaml": f"stages:\n  note:\n    cmd: {sys.executable} stage.py\n"
                                          "    deps: [stage.py]\n    outs: [out.txt]\n"})
    shipyard.set_store(tmp_path / "own-store", objects=f"s3://{bucket}/objects")
    [outcome] = repro(project.root)
    assert outcome.action == "ran" and outcome.run_id is not None
    assert shipyard.read_artifact(outcome.run_id, "note.txt") == b"from the stage"
    assert object_key("objects", hash_bytes(b"from the stage")) in s3.list_keys(endpoint, bucket, "objects/")
