"""Docs that run: the quickstart examples give the results their guides promise.

Every example is also run in its own process by tests/e2e/test_docs.py, which checks the guides quote its output.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "docs" / "examples").glob("*.py"))


def test_tracking_quickstart_finds_the_best_run(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLES[0].with_name("tracking_quickstart.py")), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:2] == ["alpha-0.1", "0.1"]
    assert "history points: 20" in lines
    assert "parent: True" in lines


def test_models_quickstart_promotes_the_better_model(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLES[0].with_name("models_quickstart.py")), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "promoted: True | champion is now 2"
    assert lines[1] == "scored rows: 500"
    assert lines[2] == "trained on: 1500 rows"


def test_the_wheel_the_install_sections_name_is_the_one_make_dist_builds() -> None:
    """shipyard-ml is not on an index: the docs name the wheel `make dist` writes, so it must follow the version."""
    import re
    import tomllib

    root = Path(__file__).resolve().parents[2]
    version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    named = {match for page in pages for match in re.findall(r"dist/shipyard_ml-([^-\s]+)-py3-none-any\.whl",
                                                             page.read_text())}
    assert named == {version}
    for page in pages:
        text = page.read_text()
        assert not re.search(r"pip install ['\"]?shipyard-ml\b", text), f"{page.name} installs from an index"
