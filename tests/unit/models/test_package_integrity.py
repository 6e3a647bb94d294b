"""A package's manifest is loaded only if it is the one Shipyard last wrote there, checked before any byte is
unpickled: against the hash the run's artifact index recorded (``runs:/``), and the registry's (``models:/``).

The tampering here is what a hand edit of ``meta.db`` (or any tool writing the store behind Shipyard's back)
does: the index row of ``model/model.json`` is pointed at another manifest object. Re-logging through
Shipyard's own writers stays legitimate and keeps the record in step.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import shipyard
from shipyard.models.package import load_model, log_model
from shipyard.store.hashing import hash_json
from shipyard.tracking.artifacts import log_bytes, read_artifact

MANIFEST_PATH = "model/model.json"


@pytest.fixture
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(16)
    frame = pd.DataFrame({"x": rng.normal(size=200), "y": rng.normal(size=200)})
    return frame, (frame["x"] * frame["y"] > 0).astype(int)


def _rows(store_root: Path, run_id: str) -> dict[str, str]:
    with sqlite3.connect(store_root / "meta.db") as conn:
        return dict(conn.execute("SELECT path, hash FROM artifacts WHERE run_id = ?", (run_id,)).fetchall())


def _point(store_root: Path, run_id: str, rows: dict[str, str]) -> None:
    """Rewrite the run's index rows in meta.db directly: no Shipyard writer is involved."""
    shipyard.set_store(None)
    with sqlite3.connect(store_root / "meta.db") as conn:
        for path, digest in rows.items():
            conn.execute("INSERT OR REPLACE INTO artifacts (run_id, path, hash, size) VALUES (?, ?, ?, 1)",
                         (run_id, path, digest))


class _Payload:
    """Unpickling this writes a file: proof that code from the package ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (self.marker.write_text, ("unpickled",))


def _swap_in_a_pickle(store_root: Path, run_id: str, marker: Path) -> str:
    """Point ``model/model.json`` of the run at a manifest whose model file is a pickle that writes ``marker``."""
    import pickle

    store = shipyard.current_store()
    manifest = json.loads(read_artifact(store, run_id, MANIFEST_PATH))
    payload = pickle.dumps(_Payload(marker))
    pkl = store.objects.put_bytes(payload)  # the object store alone: no artifact row, no record
    manifest.update(serializer="pickle", flavor="python",
                    files={"model.pkl": {"hash": pkl.hash, "size": pkl.size}})
    swapped = store.objects.put_bytes(json.dumps(manifest).encode())
    _point(store_root, run_id, {MANIFEST_PATH: swapped.hash, "model/model.pkl": pkl.hash})
    return hash_json(manifest)


def test_a_runs_uri_whose_manifest_was_swapped_in_the_index_is_refused_naming_both_hashes(
        data: tuple[pd.DataFrame, pd.Series], isolated_store: Path) -> None:
    frame, target = data
    with shipyard.start_run() as first:
        logged = log_model(LogisticRegression().fit(frame, target), input_example=frame)
    with shipyard.start_run() as second:
        other = log_model(DecisionTreeClassifier(max_depth=2).fit(frame, target), input_example=frame)
    theirs = _rows(isolated_store, second.id)
    _point(isolated_store, first.id, {MANIFEST_PATH: theirs[MANIFEST_PATH],
                                      "model/model.skops": theirs["model/model.skops"]})
    with pytest.raises(shipyard.IntegrityError) as caught:
        load_model(logged.uri)
    message = str(caught.value)
    assert first.id[:8] in message and MANIFEST_PATH in message
    assert logged.manifest_hash[:12] in message and other.manifest_hash[:12] in message
    assert caught.value.object_hash == logged.manifest_hash and caught.value.path == MANIFEST_PATH


def test_a_swapped_pickle_is_refused_before_it_is_unpickled_even_when_trusted(
        data: tuple[pd.DataFrame, pd.Series], isolated_store: Path, tmp_path: Path) -> None:
    frame, target = data
    with shipyard.start_run() as run:
        info = log_model(LogisticRegression().fit(frame, target), input_example=frame)
    marker = tmp_path / "code-ran.txt"
    _swap_in_a_pickle(isolated_store, run.id, marker)
    with pytest.raises(shipyard.IntegrityError, match=run.id[:8]):
        load_model(info.uri, trust=True)
    assert not marker.exists()


def test_a_registered_version_is_checked_before_its_pickle_runs(
        data: tuple[pd.DataFrame, pd.Series], isolated_store: Path, tmp_path: Path) -> None:
    frame, target = data
    with shipyard.start_run() as run:
        info = log_model(LogisticRegression().fit(frame, target), input_example=frame)
    shipyard.register_model(info, "churn")
    marker = tmp_path / "code-ran.txt"
    swapped = _swap_in_a_pickle(isolated_store, run.id, marker)
    with sqlite3.connect(isolated_store / "meta.db") as conn:  # the run's record follows the swap too
        conn.execute("UPDATE tags SET value = ? WHERE run_id = ? AND key = 'shipyard.model.model'", (swapped, run.id))
    with pytest.raises(shipyard.IntegrityError, match="version 1"):
        load_model("models:/churn/1", trust=True)
    assert not marker.exists()


def test_a_manifest_without_a_recorded_hash_is_refused(data: tuple[pd.DataFrame, pd.Series],
                                                       isolated_store: Path) -> None:
    frame, target = data
    with shipyard.start_run() as run:
        info = log_model(LogisticRegression().fit(frame, target), input_example=frame)
    shipyard.set_store(None)
    with sqlite3.connect(isolated_store / "meta.db") as conn:
        conn.execute("DELETE FROM tags WHERE run_id = ? AND key = 'shipyard.model.model'", (run.id,))
    with pytest.raises(shipyard.IntegrityError, match="no recorded hash") as caught:
        load_model(info.uri)
    assert MANIFEST_PATH in str(caught.value) and run.id[:8] in str(caught.value)


def test_re_logging_the_manifest_through_shipyard_updates_the_record(data: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, target = data
    with shipyard.start_run() as run:
        info = log_model(LogisticRegression().fit(frame, target), input_example=frame)
        assert shipyard.get_run(run.id).tags["shipyard.model.model"] == info.manifest_hash
        store = shipyard.current_store()
        manifest = json.loads(read_artifact(store, run.id, MANIFEST_PATH))
        manifest["created_at"] = "2026-12-01T00:00:00Z"
        shipyard.log_text(json.dumps(manifest), MANIFEST_PATH)
        assert shipyard.get_run(run.id).tags["shipyard.model.model"] == hash_json(manifest)
        manifest["created_at"] = "2026-12-02T00:00:00Z"
        log_bytes(store, run.id, json.dumps(manifest).encode(), MANIFEST_PATH)
    assert load_model(info.uri).manifest["created_at"] == "2026-12-02T00:00:00Z"


def test_a_package_logged_as_a_folder_is_recorded_and_loads(data: tuple[pd.DataFrame, pd.Series],
                                                             tmp_path: Path) -> None:
    """A package copied between runs with download_artifacts + log_artifact went through Shipyard's writers."""
    frame, target = data
    with shipyard.start_run() as source:
        log_model(LogisticRegression().fit(frame, target), input_example=frame)
    copied = shipyard.download_artifacts(source.id, tmp_path / "copy", "model")
    with shipyard.start_run() as run:
        shipyard.log_artifact(copied, "model")
    loaded = load_model(f"runs:/{run.id}/model")
    assert shipyard.get_run(run.id).tags["shipyard.model.model"] == loaded.manifest_hash
    np.testing.assert_array_equal(loaded.predict(frame.head(5)), load_model(f"runs:/{source.id}/model")
                                  .predict(frame.head(5)))


def test_log_model_refuses_a_name_that_is_no_artifact_path(data: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, target = data
    with shipyard.start_run() as run, pytest.raises(shipyard.ValidationError, match=r"'models\\\\v1'.*backslash"):
        log_model(LogisticRegression().fit(frame, target), "models\\v1", input_example=frame)
    assert shipyard.list_artifacts(run.id) == []
