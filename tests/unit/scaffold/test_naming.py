"""Project names and the package names made from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import ValidationError
from shipyard.scaffold.naming import default_name, package_name


@pytest.mark.parametrize(("name", "package"), [("churn", "churn"), ("churn-model", "churn_model"),
                                               ("House_Prices2", "House_Prices2"), ("a-b-c", "a_b_c")])
def test_dashes_become_underscores(name: str, package: str) -> None:
    assert package_name(name) == package


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("2fast", "project_2fast"), ("my.project", "my_project"), ("My Project", "my_project"), ("class", "project_class"),
     ("_private", "private"), ("café", "caf"), ("", "project")],
)
def test_a_name_that_cannot_be_a_package_is_refused_with_a_suggestion(name: str, suggestion: str) -> None:
    with pytest.raises(ValidationError, match=f"must be a Python identifier .* Try --name {suggestion}\\.$") as caught:
        package_name(name)
    assert caught.value.exit_code == 2 and caught.value.field == "name"


@pytest.mark.parametrize("name", ["json", "test", "shipyard", "pandas", "sklearn", "tests"])
def test_a_package_that_would_hide_a_module_the_project_needs_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match=f"would hide the module '{name}'.*Try --name {name}_model"):
        package_name(name)


def test_the_message_says_when_the_name_came_from_the_folder() -> None:
    with pytest.raises(ValidationError, match="^The folder name 'my proj' cannot name"):
        package_name("my proj", from_folder=True)


def test_the_default_name_is_the_folders(tmp_path: Path) -> None:
    assert default_name(tmp_path / "churn" / ".." / "houses") == "houses"
