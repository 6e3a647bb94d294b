"""Finding the store: explicit choice, environment, then the nearest .shipyard like git finds .git."""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard
from shipyard.store.location import find_store_dir, location_for, resolve_location


def test_nearest_existing_store_wins(tmp_path: Path) -> None:
    (tmp_path / "project" / ".shipyard").mkdir(parents=True)
    deep = tmp_path / "project" / "notebooks" / "eda"
    deep.mkdir(parents=True)
    assert find_store_dir(deep) == tmp_path / "project" / ".shipyard"


def test_a_new_store_goes_to_the_git_root(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    notebooks = tmp_path / "repo" / "notebooks"
    notebooks.mkdir()
    assert find_store_dir(notebooks) == tmp_path / "repo" / ".shipyard"


def test_outside_git_a_new_store_goes_to_the_working_directory(tmp_path: Path) -> None:
    assert find_store_dir(tmp_path) == tmp_path / ".shipyard"


def test_environment_variable_and_set_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_STORE", str(tmp_path / "from-env"))
    assert resolve_location().root == tmp_path / "from-env"
    opened = shipyard.set_store(tmp_path / "explicit")
    assert opened is not None and opened.location.root == tmp_path / "explicit"
    with shipyard.start_run() as run:
        pass
    assert (tmp_path / "explicit" / "meta.db").is_file()
    assert (tmp_path / "explicit" / ".gitignore").read_text().strip().endswith("*")
    assert shipyard.get_run(run.id).status == "FINISHED"
    shipyard.set_store(None)
    assert shipyard.current_store().location.root == tmp_path / "from-env"


def test_bad_locations(tmp_path: Path) -> None:
    with pytest.raises(shipyard.ConfigError, match="empty"):
        location_for("  ")
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(shipyard.ConfigError, match="is a file"):
        location_for(afile)
    with pytest.raises(shipyard.ConfigError, match="SHIPYARD_OBJECTS"):
        location_for("postgresql://user@127.0.0.1/db")
    remote = location_for("postgresql://user@127.0.0.1/db", objects="/srv/objects")
    assert remote.root is None and remote.objects_uri == "/srv/objects"


def test_a_store_that_cannot_be_created_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(shipyard.StoreUnavailableError, match="Cannot create the store directory"):
        shipyard.set_store(str(blocker / ".shipyard"))


def test_switching_stores_writes_buffered_metrics_to_the_old_one(tmp_path: Path) -> None:
    shipyard.set_store(tmp_path / "first")
    run = shipyard.start_run()
    shipyard.log_metric("loss", 0.5)  # still in the buffer
    shipyard.set_store(tmp_path / "second")
    shipyard.set_store(tmp_path / "first")
    history = shipyard.metric_history(run.id, "loss")
    assert list(history["value"]) == [0.5]


def test_each_part_of_the_store_can_be_named_by_its_own_variable(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_STORE", str(tmp_path / "folder"))
    monkeypatch.setenv("SHIPYARD_OBJECTS_URI", "s3://team-bucket/shipyard/")
    folder_with_s3 = resolve_location()
    assert folder_with_s3.root == tmp_path / "folder"
    assert folder_with_s3.db_uri == f"sqlite:///{tmp_path / 'folder' / 'meta.db'}"
    assert folder_with_s3.objects_uri == "s3://team-bucket/shipyard"
    assert folder_with_s3.local_database == tmp_path / "folder" / "meta.db" and folder_with_s3.local_objects is None

    monkeypatch.setenv("SHIPYARD_DATABASE_URI", "postgresql+psycopg://ds@db/shipyard")
    both = resolve_location()
    assert (both.db_uri, both.objects_uri) == ("postgresql+psycopg://ds@db/shipyard", "s3://team-bucket/shipyard")
    assert both.root == tmp_path / "folder" and both.local_database is None  # the folder keeps the logs

    monkeypatch.delenv("SHIPYARD_STORE")
    no_folder = resolve_location()
    assert no_folder.root is None and no_folder.db_uri == "postgresql+psycopg://ds@db/shipyard"


def test_the_older_objects_variable_still_counts_and_the_new_one_wins(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_STORE", "postgresql+psycopg://ds@db/shipyard")
    monkeypatch.setenv("SHIPYARD_OBJECTS", str(tmp_path / "old"))
    assert resolve_location().objects_uri == str(tmp_path / "old")
    monkeypatch.setenv("SHIPYARD_OBJECTS_URI", str(tmp_path / "new"))
    assert resolve_location().objects_uri == str(tmp_path / "new")


def test_explicit_parts_win_and_a_folder_named_explicitly_keeps_its_own_objects(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_OBJECTS_URI", "s3://from-env/objects")
    chosen = resolve_location(database="sqlite:////srv/meta.db", objects="s3://chosen/objects")
    assert (chosen.db_uri, chosen.objects_uri) == ("sqlite:////srv/meta.db", "s3://chosen/objects")
    exported = location_for(tmp_path / "image-store")  # e.g. a store baked into a Docker image: self-contained
    assert exported.objects_uri == str(tmp_path / "image-store" / "objects")


def test_the_environment_of_a_location_reopens_the_same_store_in_a_child(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    location = location_for(tmp_path / "folder", "s3://bucket/objects", database="sqlite:////srv/meta.db")
    for key, value in location.environment().items():
        monkeypatch.setenv(key, value)
    assert resolve_location() == location


def test_bad_parts_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_DATABASE_URI", "/not/a/uri.db")
    with pytest.raises(shipyard.ConfigError, match="SHIPYARD_DATABASE_URI is '/not/a/uri.db', which is not a database"):
        resolve_location()
    monkeypatch.delenv("SHIPYARD_DATABASE_URI")
    monkeypatch.delenv("SHIPYARD_STORE")
    with pytest.raises(shipyard.ConfigError, match="SHIPYARD_OBJECTS_URI"):
        shipyard.set_store(database="postgresql+psycopg://ds@db/shipyard")
    with pytest.raises(shipyard.ConfigError, match="name the database once"):
        location_for("sqlite:////a.db", database="sqlite:////b.db")
    with pytest.raises(shipyard.ConfigError, match="scheme fsspec does not know"):
        shipyard.set_store(tmp_path / "store", objects="nosuchscheme://bucket/objects")
    assert not (tmp_path / "store" / "meta.db").exists()  # refused before anything was created
