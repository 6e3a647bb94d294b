"""The local object store: content addressing, atomic writes, verified reads."""

from __future__ import annotations

from pathlib import Path

import blake3
import pytest

from shipyard.errors import IntegrityError, NotFoundError, ValidationError
from shipyard.store.hashing import canonical_json, hash_bytes, hash_file, hash_json
from shipyard.store.objects import LocalObjectStore, ObjectStore


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects")


def test_it_is_an_object_store(store: LocalObjectStore) -> None:
    assert isinstance(store, ObjectStore)


def test_bytes_are_addressed_by_their_blake3_hash(store: LocalObjectStore) -> None:
    info = store.put_bytes(b"hello")
    assert info.hash == blake3.blake3(b"hello").hexdigest()
    assert info.size == 5
    path = store.path_for(info.hash)
    assert path.parent.name == info.hash[:2] and path.name == info.hash[2:]
    assert store.get_bytes(info.hash) == b"hello"
    assert store.put_bytes(b"hello") == info  # idempotent
    assert list(store.iter_hashes()) == [info.hash]


def test_large_files_stream_in_chunks_and_match_the_one_shot_hash(store: LocalObjectStore, tmp_path: Path) -> None:
    data = bytes(range(256)) * 50_000  # 12.8 MB: above the multithreading threshold
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    info = store.put_file(source)
    assert info.hash == hash_bytes(data) == hash_file(source)
    assert info.size == len(data)
    store.get_file(info.hash, tmp_path / "copy" / "big.bin")
    assert (tmp_path / "copy" / "big.bin").read_bytes() == data


def test_no_temporary_files_are_left_behind(store: LocalObjectStore) -> None:
    """Neither in the staging folder (streamed puts) nor in the fan-out folders (puts of bytes in memory)."""
    for index in range(5):
        store.put_bytes(f"object {index}".encode())
    store.put_bytes(b"object 0")
    streamed = store.root.parent / "streamed.bin"
    streamed.write_bytes(b"streamed through the staging folder")
    store.put_file(streamed)
    stored = {store.path_for(digest) for digest in store.iter_hashes()}
    leftovers = [path for path in store.root.rglob("*") if path.is_file() and path not in stored]
    assert leftovers == []


def test_a_changed_byte_is_detected_and_named(store: LocalObjectStore, tmp_path: Path) -> None:
    info = store.put_bytes(b"precious model weights")
    path = store.path_for(info.hash)
    path.chmod(0o644)
    raw = bytearray(path.read_bytes())
    raw[3] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="model.pkl.*corrupted") as caught:
        store.get_bytes(info.hash, label="model.pkl")
    assert caught.value.object_hash == info.hash
    destination = tmp_path / "out" / "model.pkl"
    with pytest.raises(IntegrityError):
        store.get_file(info.hash, destination, label="model.pkl")
    assert not destination.exists()
    assert list(destination.parent.iterdir()) == []  # no partial or temporary file


def test_missing_and_malformed_hashes(store: LocalObjectStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="report.csv"):
        store.get_bytes("a" * 64, label="report.csv")
    with pytest.raises(ValidationError, match="not an object hash"):
        store.get_bytes("../../etc/passwd")
    with pytest.raises(NotFoundError, match="no such file"):
        store.put_file(tmp_path / "absent.txt")
    with pytest.raises(ValidationError, match="directory"):
        store.put_file(tmp_path)


def test_canonical_json_is_order_independent_and_refuses_nan() -> None:
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert hash_json({"b": 1, "a": 2}) == hash_json({"a": 2, "b": 1})
    with pytest.raises(ValueError, match="nan"):
        canonical_json({"x": [float("nan")]})


def test_put_bytes_with_an_expected_hash_stores_nothing_when_it_differs(store: LocalObjectStore) -> None:
    """A download is checked and named with one hash; bytes that do not match never become an object."""
    wanted = hash_bytes(b"the bytes the remote promised")
    with pytest.raises(IntegrityError, match=wanted[:12]) as caught:
        store.put_bytes(b"the bytes that arrived", expected=wanted)
    assert caught.value.object_hash == wanted
    assert list(store.iter_hashes()) == []
    assert [path for path in store.root.rglob("*") if path.is_file()] == []
    assert store.put_bytes(b"the bytes the remote promised", expected=wanted).hash == wanted
