"""Push and pull against a real S3-compatible server: moto's, started by this module on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import shipyard
from shipyard.pipeline import remotes
from tests._servers import s3
from tests.integration.pipeline._data import Project, assert_ok, cli, digest, make_project, tree, write

pytestmark = pytest.mark.skipif(s3.unavailable_reason() is not None, reason=str(s3.unavailable_reason()))

FILES = {f"shard-{index // 50}/row-{index:03d}.csv": f"id,value\n{index},{index * index}\n".encode()
         for index in range(200)}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3.moto_server() as url:
        yield url


@pytest.fixture
def bucket(endpoint: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket for this test; credentials (any values do for moto) in the usual AWS variables."""
    for key, value in s3.CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(Path(request.config.rootpath) / "nonexistent-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(Path(request.config.rootpath) / "nonexistent-aws-creds"))
    name = "shipyard-" + request.node.name.replace("_", "-")[:40].lower().strip("-")
    s3.create_bucket(endpoint, name)
    return name


@pytest.fixture
def project(tmp_path: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    return make_project(tmp_path, isolated_store, monkeypatch)


def _track(project: Project, endpoint: str, bucket: str) -> set[str]:
    write(project.root, {f"data/rows/{name}": data for name, data in FILES.items()})
    assert_ok(cli("add", "data/rows"))
    assert_ok(cli("remote", "add", "s3", f"s3://{bucket}/cache", "--endpoint-url", endpoint, "--default"))
    manifest = yaml.safe_load((project.root / "data/rows.ship").read_text())["hash"]
    return {manifest, *(digest(data) for data in FILES.values())}


def test_push_and_pull_a_directory_of_200_files_through_s3(project: Project, endpoint: str, bucket: str) -> None:
    needed = _track(project, endpoint, bucket)
    assert len(needed) == 201

    first = json.loads(assert_ok(cli("push", "--json")))

    assert first == {"remote": "s3", "transferred": 201, "already_there": 0, "missing_everywhere": []}
    # 201 small objects travel as one pack and its index: two requests instead of 201.
    keys = s3.list_keys(endpoint, bucket, "cache/")
    packs = sorted(key for key in keys if key.endswith(".pack"))
    indexes = sorted(key for key in keys if key.endswith(".idx"))
    assert len(packs) == 1 and len(indexes) == 1 and len(keys) == 2
    storage = s3.client(endpoint)
    body = storage.get_object(Bucket=bucket, Key=packs[0])["Body"].read()
    assert digest(body) == packs[0].removeprefix("cache/packs/").removesuffix(".pack")  # named by its content
    index = json.loads(storage.get_object(Bucket=bucket, Key=indexes[0])["Body"].read())
    assert set(index) == needed
    for name, (offset, size) in list(index.items())[:25]:  # every object sits intact at its offset
        assert digest(body[offset : offset + size]) == name

    second = json.loads(assert_ok(cli("push", "--json")))
    assert second == {"remote": "s3", "transferred": 0, "already_there": 201, "missing_everywhere": []}

    project.lose_cache()
    shutil.rmtree(project.root / "data/rows")
    out = assert_ok(cli("pull"))

    assert out.splitlines()[0] == "checked out 1 paths"
    assert project.object_hashes() == needed
    assert tree(project.root / "data/rows") == FILES


def test_pull_from_s3_verifies_every_object(project: Project, endpoint: str, bucket: str) -> None:
    _track(project, endpoint, bucket)
    assert_ok(cli("push"))
    victim = digest(FILES["shard-2/row-123.csv"])
    s3.client(endpoint).put_object(Bucket=bucket, Key=f"cache/{victim[:2]}/{victim[2:]}", Body=b"tampered\n")
    project.object_path(victim).unlink()

    with pytest.raises(shipyard.IntegrityError) as caught:
        remotes.pull(shipyard.current_store(), project.root, remotes.get_remote(project.root, "s3"))

    assert caught.value.object_hash == victim
    assert f"Object {victim[:12]} on remote 's3' is corrupted" in caught.value.message
    assert not project.object_path(victim).exists()
