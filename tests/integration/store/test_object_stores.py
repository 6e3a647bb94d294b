"""One contract, every object store: a local folder, fsspec's in-memory filesystem and S3 (a real moto server).

Each case runs against the three; what only S3 shows (multipart uploads, versions that prove an object is not
rewritten, a bucket that does not exist) is below the shared cases.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.errors import IntegrityError, NotFoundError, RemoteStoreError, ValidationError
from shipyard.store.fsspec_objects import PART_BYTES, FsspecObjectStore
from shipyard.store.hashing import hash_bytes
from shipyard.store.object_store import ObjectStore, object_key
from shipyard.store.objects import LocalObjectStore
from tests._servers import s3

_NO_S3 = s3.unavailable_reason()


@dataclass
class Case:
    objects: ObjectStore
    tamper: Callable[[str, bytes], None]  # replace an object's bytes behind the store's back
    keys: Callable[[], list[str]]  # every file or key the store holds, temporary ones included


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    if _NO_S3:
        pytest.skip(_NO_S3)
    with s3.moto_server() as url:
        yield url


@pytest.fixture
def s3_env(endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Credentials and endpoint only in the standard AWS variables, as a user would set them."""
    for key, value in s3.CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return endpoint


def _bucket(endpoint: str) -> str:
    name = f"objects-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(endpoint, name)
    return name


def _local(tmp_path: Path) -> Case:
    store = LocalObjectStore(tmp_path / "objects")
    return Case(store, lambda digest, data: store.path_for(digest).write_bytes(data),
                lambda: sorted(str(path) for path in store.root.rglob("*") if path.is_file()))


def _memory() -> Case:
    import fsspec

    uri = f"memory://shipyard-{uuid.uuid4().hex[:12]}/objects"
    store = FsspecObjectStore(uri)
    fs = fsspec.filesystem("memory")
    base = uri.removeprefix("memory:/")
    return Case(store, lambda digest, data: fs.pipe_file(object_key(base, digest), data),
                lambda: sorted(fs.find(base)))


def _s3(endpoint: str) -> Case:
    bucket = _bucket(endpoint)
    store = FsspecObjectStore(f"s3://{bucket}/team/objects")
    storage = s3.client(endpoint)

    def tamper(digest: str, data: bytes) -> None:
        storage.put_object(Bucket=bucket, Key=object_key("team/objects", digest), Body=data)

    return Case(store, tamper, lambda: s3.list_keys(endpoint, bucket, ""))


@pytest.fixture(params=["local", "memory", "s3"])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Case:
    if request.param == "local":
        return _local(tmp_path)
    if request.param == "memory":
        return _memory()
    return _s3(request.getfixturevalue("s3_env"))


def test_bytes_round_trip_under_their_blake3_hash_and_a_second_put_adds_nothing(case: Case) -> None:
    info = case.objects.put_bytes(b"hello")
    assert info.hash == hash_bytes(b"hello") and info.size == 5
    assert case.objects.get_bytes(info.hash) == b"hello"
    assert case.objects.exists(info.hash) and case.objects.size(info.hash) == 5
    before = case.keys()
    assert case.objects.put_bytes(b"hello") == info
    assert case.keys() == before and len(before) == 1  # one object, no temporary left behind
    assert before[0].endswith(f"{info.hash[:2]}/{info.hash[2:]}")  # the layout: ab/cdef...
    assert list(case.objects.iter_hashes()) == [info.hash]


def test_files_stream_in_and_out_and_the_copy_is_whole(case: Case, tmp_path: Path) -> None:
    data = bytes(range(256)) * 80_000  # 20 MB: more than one upload part on S3
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    info = case.objects.put_file(source)
    assert info.hash == hash_bytes(data) and info.size == len(data)
    case.objects.get_file(info.hash, tmp_path / "out" / "big.bin")
    assert (tmp_path / "out" / "big.bin").read_bytes() == data
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["big.bin"]


def test_an_object_edited_behind_the_stores_back_is_refused_and_never_reaches_the_destination(
        case: Case, tmp_path: Path) -> None:
    info = case.objects.put_bytes(b"precious model weights")
    case.tamper(info.hash, b"tampered model weights")
    with pytest.raises(IntegrityError, match="corrupted") as caught:
        case.objects.get_bytes(info.hash, label="artifact 'model.skops' of run 1234abcd")
    assert caught.value.object_hash == info.hash and "model.skops" in str(caught.value)
    with pytest.raises(IntegrityError, match="corrupted"):
        case.objects.get_file(info.hash, tmp_path / "dest" / "model.skops")
    assert not (tmp_path / "dest").exists() or list((tmp_path / "dest").iterdir()) == []


def test_missing_and_malformed_hashes(case: Case, tmp_path: Path) -> None:
    absent = hash_bytes(b"never stored")
    with pytest.raises(NotFoundError, match="is not in"):
        case.objects.get_bytes(absent, label="notes.txt")
    with pytest.raises(NotFoundError):
        case.objects.get_file(absent, tmp_path / "x")
    with pytest.raises(NotFoundError):
        case.objects.size(absent)
    assert not case.objects.exists(absent)
    with pytest.raises(ValidationError, match="not an object hash"):
        case.objects.get_bytes("../../etc/passwd")
    with pytest.raises(NotFoundError, match="no such file"):
        case.objects.put_file(tmp_path / "nope.bin")
    with pytest.raises(ValidationError, match="directory"):
        case.objects.put_file(tmp_path)


def test_put_bytes_with_an_expected_hash_stores_nothing_when_it_differs(case: Case) -> None:
    with pytest.raises(IntegrityError, match="nothing was stored"):
        case.objects.put_bytes(b"downloaded", expected=hash_bytes(b"something else"))
    assert case.keys() == []


def test_delete_many_and_batches(case: Case) -> None:
    with case.objects.batch():
        kept, gone, also_gone = (case.objects.put_bytes(f"object {index}".encode()).hash for index in range(3))
    case.objects.delete_many([gone, also_gone, hash_bytes(b"never stored")])
    assert list(case.objects.iter_hashes()) == [kept]
    case.objects.delete(kept)
    assert list(case.objects.iter_hashes()) == []


# -- what only S3 shows ------------------------------------------------------------------------------------


def test_s3_an_existing_object_is_not_uploaded_again(s3_env: str, tmp_path: Path) -> None:
    """Versioning on: every PUT would make a version, so one version after three puts means one upload."""
    bucket = _bucket(s3_env)
    s3.client(s3_env).put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    store = FsspecObjectStore(f"s3://{bucket}/objects")
    source = tmp_path / "weights.bin"
    source.write_bytes(b"w" * 1000)
    first = store.put_file(source)
    assert store.put_file(source) == first == store.put_bytes(b"w" * 1000)
    versions = s3.client(s3_env).list_object_versions(Bucket=bucket)["Versions"]
    assert [version["Key"] for version in versions] == [object_key("objects", first.hash)]


def test_s3_large_objects_go_up_in_parts(s3_env: str, tmp_path: Path) -> None:
    bucket = _bucket(s3_env)
    store = FsspecObjectStore(f"s3://{bucket}/objects")
    source = tmp_path / "big.bin"
    source.write_bytes(b"\x01" * (2 * PART_BYTES + 1000))
    info = store.put_file(source)
    head = s3.client(s3_env).head_object(Bucket=bucket, Key=object_key("objects", info.hash))
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three parts
    assert head["ContentLength"] == info.size


def test_s3_an_upload_that_fails_or_hashes_otherwise_is_aborted_and_leaves_nothing(s3_env: str) -> None:
    """Past the first part a multipart upload has started: a source that fails (a disk error) or whose bytes
    are not the ones named (a file that changed after it was hashed) aborts it, and nothing becomes visible."""
    bucket = _bucket(s3_env)
    store = FsspecObjectStore(f"s3://{bucket}/objects")
    data = b"a" * (PART_BYTES + 10)

    def source(payload: bytes, *, fail: bool) -> Callable[[int], bytes]:
        position = [0]

        def read(size: int) -> bytes:
            if fail and position[0] > PART_BYTES:
                raise OSError(5, "Input/output error")
            chunk = payload[position[0] : position[0] + size]
            position[0] += len(chunk)
            return chunk

        return read

    with pytest.raises(OSError, match="Input/output") as failed:
        store._upload(hash_bytes(data), source(data, fail=True))
    assert type(failed.value) is OSError  # the local disk's error, not blamed on the object store
    assert store._upload(hash_bytes(data), source(data[:-1] + b"b", fail=False)) is None
    assert s3.list_keys(s3_env, bucket, "") == []
    assert s3.client(s3_env).list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []  # aborted, not billed


def test_s3_a_bucket_that_does_not_exist_is_one_clear_error(s3_env: str, tmp_path: Path) -> None:
    store = FsspecObjectStore("s3://no-such-bucket-here/objects")
    with pytest.raises(RemoteStoreError, match="bucket 'no-such-bucket-here' .* does not exist") as caught:
        store.put_bytes(b"x")
    assert caught.value.exit_code == 1 and caught.value.uri == "s3://no-such-bucket-here/objects"
    with pytest.raises(RemoteStoreError, match="does not exist"):
        store.get_bytes(hash_bytes(b"x"))
    with pytest.raises(RemoteStoreError, match="does not exist"):
        list(store.iter_hashes())
