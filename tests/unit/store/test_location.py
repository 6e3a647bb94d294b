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
