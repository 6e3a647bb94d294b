"""Damaged stores: an object whose bytes changed on disk, a metadata database that is no database.

Corruption is made the way it happens, by changing files under ``.shipyard`` behind Shipyard's back,
and must surface as the typed error naming what is broken, never as wrong bytes or a driver error.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import shipyard
from tests.integration._children import query

MODEL = bytes(range(256)) * 64  # 16 KiB


def flip_one_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def corrupted(tmp_path: Path, isolated_store: Path) -> tuple[str, str]:
    """A run with two artifacts, the model's object with one flipped byte: (run id, model artifact path)."""
    source = tmp_path / "out"
    source.mkdir()
    (source / "model.bin").write_bytes(MODEL)
    (source / "metrics.json").write_text('{"auc": 0.84}')
    with shipyard.start_run() as run:
        assert shipyard.log_artifact(source / "model.bin", "models") == ["models/model.bin"]
        shipyard.log_artifact(source / "metrics.json")
    digest = {item["path"]: item["hash"] for item in shipyard.list_artifacts(run.id)}["models/model.bin"]
    obj = isolated_store / "objects" / digest[:2] / digest[2:]
    assert obj.read_bytes() == MODEL  # the premise: this is the artifact's object file
    flip_one_byte(obj, len(MODEL) // 2)
    return run.id, "models/model.bin"


def test_reading_a_corrupted_artifact_raises_integrity_error(corrupted: tuple[str, str]) -> None:
    run_id, path = corrupted
    with pytest.raises(shipyard.IntegrityError) as caught:
        shipyard.read_artifact(run_id, path)
    message = str(caught.value)
    assert path in message and run_id[:8] in message
    hashes = {item["path"]: item["hash"] for item in shipyard.list_artifacts(run_id)}
    assert caught.value.object_hash == hashes[path]
    assert caught.value.exit_code == 1
    assert shipyard.read_artifact(run_id, "metrics.json") == b'{"auc": 0.84}'  # the intact one still reads


def test_downloading_a_corrupted_artifact_leaves_nothing_behind(corrupted: tuple[str, str],
                                                                 tmp_path: Path) -> None:
    run_id, path = corrupted
    dest = tmp_path / "download"
    with pytest.raises(shipyard.IntegrityError) as caught:
        shipyard.download_artifacts(run_id, dest, path)
    assert path in str(caught.value) and run_id[:8] in str(caught.value)
    left = [item for item in dest.rglob("*") if not item.is_dir()] if dest.exists() else []
    assert left == []  # neither the bad file nor a temporary file


def test_downloading_a_whole_run_stops_at_the_corrupted_file(corrupted: tuple[str, str], tmp_path: Path) -> None:
    run_id, path = corrupted
    dest = tmp_path / "download"
    with pytest.raises(shipyard.IntegrityError, match="models/model.bin"):
        shipyard.download_artifacts(run_id, dest)
    files = sorted(item.relative_to(dest).as_posix() for item in dest.rglob("*") if not item.is_dir())
    assert path not in files and not any(name.endswith(".tmp") for name in files), files
    assert set(files) <= {"metrics.json"}  # what was copied before the bad file is whole and verified
    if files:
        assert (dest / "metrics.json").read_bytes() == b'{"auc": 0.84}'


def test_downloading_over_a_good_copy_keeps_it(corrupted: tuple[str, str], tmp_path: Path) -> None:
    run_id, path = corrupted
    dest = tmp_path / "download"
    (dest / "models").mkdir(parents=True)
    (dest / "models" / "model.bin").write_bytes(MODEL)
    with pytest.raises(shipyard.IntegrityError):
        shipyard.download_artifacts(run_id, dest, path)
    assert (dest / "models" / "model.bin").read_bytes() == MODEL
    assert sorted(item.name for item in (dest / "models").iterdir()) == ["model.bin"]


def test_logging_the_same_bytes_again_repairs_the_object(corrupted: tuple[str, str], tmp_path: Path) -> None:
    """The IntegrityError says "log it again": doing so must replace the damaged object, not keep it."""
    run_id, path = corrupted
    with pytest.raises(shipyard.IntegrityError, match="log it again"):
        shipyard.read_artifact(run_id, path)
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "model.bin").write_bytes(MODEL)
    with shipyard.start_run() as again:
        shipyard.log_artifact(tmp_path / "again" / "model.bin", "models")
    assert shipyard.read_artifact(again.id, path) == MODEL
    assert shipyard.read_artifact(run_id, path) == MODEL


def test_a_store_deleted_and_recreated_in_the_same_process_still_takes_runs(isolated_store: Path) -> None:
    """Memos of experiment ids and environments must not outlive the store they describe."""
    with shipyard.start_run(experiment="churn"):
        shipyard.log_metric("loss", 0.5)
    shipyard.set_store(None)
    shutil.rmtree(isolated_store)  # "start from scratch" without restarting the notebook kernel
    with shipyard.start_run(experiment="churn") as run:
        shipyard.log_metric("loss", 0.25)
    found = shipyard.get_run(run.id)
    assert (found.status, found.experiment, found.metrics) == ("FINISHED", "churn", {"loss": 0.25})
    assert found.lineage["environment"] is not None


@pytest.fixture
def real_database(isolated_store: Path) -> bytes:
    """The bytes of a real meta.db holding one run, with every connection to it closed."""
    with shipyard.start_run():
        shipyard.log_metric("loss", 0.5)
    shipyard.set_store(None)  # closes the engine: the WAL is checkpointed into meta.db
    db = isolated_store / "meta.db"
    assert query(db, "SELECT COUNT(*) FROM runs") == [(1,)]
    for extra in ("meta.db-wal", "meta.db-shm"):
        (isolated_store / extra).unlink(missing_ok=True)
    return db.read_bytes()


GARBAGE = {
    "empty": lambda good: b"",  # SQLite itself takes a 0-byte file for a new database: Shipyard must not
    "random-bytes": lambda good: bytes((i * 7919 + 13) % 251 for i in range(8192)),
    "text": lambda good: b"this is not a database\n" * 200,
    "too-short": lambda good: b"SQLite",
    "header-kept-pages-garbage": lambda good: good[:100] + b"\xa5" * (len(good) - 100),
    "truncated": lambda good: good[: len(good) // 3],
}


@pytest.mark.parametrize("damage", GARBAGE.values(), ids=GARBAGE.keys())
def test_a_garbage_database_is_store_unavailable(isolated_store: Path, real_database: bytes, damage) -> None:  # type: ignore[no-untyped-def]
    db = isolated_store / "meta.db"
    db.write_bytes(damage(real_database))
    with pytest.raises(shipyard.StoreUnavailableError) as caught:
        shipyard.set_store(isolated_store)
    assert str(db) in str(caught.value)
    assert isinstance(caught.value, OSError) and caught.value.exit_code == 2

    shipyard.set_store(None)  # back to $SHIPYARD_STORE: the first call that needs the store fails the same way
    with pytest.raises(shipyard.StoreUnavailableError, match="meta.db"):
        shipyard.log_metric("loss", 1.0)
    assert shipyard.active_run() is None


def test_a_garbage_database_fails_a_script_with_the_message(isolated_store: Path, real_database: bytes,
                                                            run_python) -> None:  # type: ignore[no-untyped-def]
    db = isolated_store / "meta.db"
    db.write_bytes(b"\x00garbage" * 512)
    done = run_python("import shipyard\nshipyard.log_metric('loss', 1.0)\n", check=False)
    assert done.returncode == 1
    assert "shipyard.errors.StoreUnavailableError" in done.stderr
    assert str(db) in done.stderr
    assert db.read_bytes() == b"\x00garbage" * 512  # nothing overwrote the user's file


@pytest.mark.parametrize("opener", ["set_store", "current_store", "start_run", "log_metric"])
def test_an_empty_meta_db_is_refused_by_name_and_left_as_it_is(isolated_store: Path, opener: str) -> None:
    """A truncated meta.db (a full disk, a copy cut short) was silently replaced by an empty store."""
    isolated_store.mkdir()
    db = isolated_store / "meta.db"
    db.write_bytes(b"")
    open_it = {"set_store": lambda: shipyard.set_store(isolated_store), "current_store": shipyard.current_store,
               "start_run": shipyard.start_run, "log_metric": lambda: shipyard.log_metric("loss", 1.0)}[opener]
    with pytest.raises(shipyard.StoreUnavailableError) as caught:
        open_it()
    message = str(caught.value)
    assert f"The metadata database {db} is empty (0 bytes)" in message
    assert "backup" in message  # what to do next
    assert caught.value.exit_code == 2
    assert db.read_bytes() == b""
    assert sorted(path.name for path in isolated_store.iterdir()) == ["meta.db"]  # nothing created beside it


def test_a_store_whose_meta_db_is_gone_is_not_started_afresh(isolated_store: Path) -> None:
    """Objects without their database: the metadata was deleted or moved, and a new database would hide that."""
    with shipyard.start_run() as run:
        shipyard.log_text("notes", "notes.txt")
    shipyard.set_store(None)
    for name in ("meta.db", "meta.db-wal", "meta.db-shm"):
        (isolated_store / name).unlink(missing_ok=True)
    with pytest.raises(shipyard.StoreUnavailableError) as caught:
        shipyard.start_run()
    assert f"{isolated_store} holds objects but no meta.db" in str(caught.value)
    assert not (isolated_store / "meta.db").exists()
    assert run.id  # the run existed; its record is what the user must restore


def test_an_empty_store_folder_is_a_new_store(isolated_store: Path) -> None:
    isolated_store.mkdir()
    with shipyard.start_run() as run:
        shipyard.log_metric("loss", 0.5)
    assert shipyard.get_run(run.id).status == "FINISHED"
