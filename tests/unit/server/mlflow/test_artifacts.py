"""MLflow's listing of a run's artifact folder, from Shipyard's flat index of paths."""

from __future__ import annotations

from shipyard.server.mlflow.artifacts import children

INDEX = [{"path": "conf/model.json", "size": 12}, {"path": "hello.txt", "size": 5},
         {"path": "many/a.txt", "size": 1}, {"path": "many/inner/b.txt", "size": 2}]


def test_a_folder_lists_its_direct_files_and_folders_by_base_name() -> None:
    assert children(INDEX, None) == [{"path": "conf", "is_dir": True},
                                     {"path": "hello.txt", "is_dir": False, "file_size": 5},
                                     {"path": "many", "is_dir": True}]
    assert children(INDEX, "many") == [{"path": "a.txt", "is_dir": False, "file_size": 1},
                                       {"path": "inner", "is_dir": True}]


def test_a_file_lists_itself_and_an_unknown_folder_lists_nothing() -> None:
    assert children(INDEX, "many/inner/b.txt") == [{"path": "b.txt", "is_dir": False, "file_size": 2}]
    assert children(INDEX, "man") == []
