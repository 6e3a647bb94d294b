"""Planning a project checks every input before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.errors import ConflictError, NotFoundError, ValidationError
from shipyard.scaffold.project import plan_project


def test_a_plan_writes_nothing_and_names_the_project_after_its_folder(tmp_path: Path) -> None:
    plan = plan_project(tmp_path / "house-prices", template="regression")
    assert (plan.name, plan.package, plan.template, plan.raw_data) == (
        "house-prices", "house_prices", "regression", "data/raw/houses.csv")
    assert "src/house_prices/train.py" in plan.files
    assert not (tmp_path / "house-prices").exists()


def test_name_overrides_the_folder(tmp_path: Path) -> None:
    assert plan_project(tmp_path / "x", name="churn").package == "churn"


def test_an_empty_folder_or_one_holding_only_git_is_fine(tmp_path: Path) -> None:
    (tmp_path / "p" / ".git").mkdir(parents=True)
    assert plan_project(tmp_path / "p").package == "p"


def test_a_folder_that_is_not_empty_needs_force(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    for name in ("a", "b", "c", "d"):
        (folder / name).write_text("")
    message = r"is not empty \(4 entries: a, b, c, \.\.\.\); give a new folder"
    with pytest.raises(ConflictError, match=message) as caught:
        plan_project(folder)
    assert caught.value.exit_code == 2
    assert plan_project(folder, force=True).package == "p"


def test_a_file_is_not_a_folder_and_a_notebook_gets_a_hint(tmp_path: Path) -> None:
    (tmp_path / "eda.ipynb").write_text("{}")
    with pytest.raises(ConflictError, match="is a file; .* shipyard init my-project --from-notebook"):
        plan_project(tmp_path / "eda.ipynb", force=True)


def test_every_input_is_checked_before_the_notebook_is_read(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="Unknown template"):
        plan_project(tmp_path / "p", template="nope", from_notebook=tmp_path / "missing.ipynb")
    with pytest.raises(NotFoundError, match="missing.ipynb: no such file"):
        plan_project(tmp_path / "p", from_notebook=tmp_path / "missing.ipynb")


def test_a_notebook_adds_the_draft_module(tmp_path: Path) -> None:
    source = tmp_path / "eda.ipynb"
    source.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "!ls\nx = 1", "metadata": {},
                                             "outputs": [], "execution_count": 1}], "nbformat": 4, "metadata": {}}))
    plan = plan_project(tmp_path / "p", from_notebook=source)
    assert plan.draft is not None and plan.draft.commented_lines == 1
    assert plan.files["src/p/from_notebook.py"] == plan.draft.text
