"""Every file the package reads at run time ships in the wheel.

setuptools puts only ``.py`` files into a wheel unless ``[tool.setuptools.package-data]`` names the rest; a
template missing from that list works from a clone and breaks for every user who installed the wheel.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "shipyard"


def test_every_data_file_under_the_package_is_named_by_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["shipyard"]
    data_files = [path for path in PACKAGE.rglob("*") if path.is_file() and path.suffix not in (".py", ".pyc")
                  and "__pycache__" not in path.parts]
    assert data_files, "the walk found no data files: the test would prove nothing"
    shipped = {path for pattern in globs for path in PACKAGE.glob(pattern) if path.is_file()}
    missing = sorted(str(path.relative_to(PACKAGE)) for path in data_files if path not in shipped)
    assert missing == [], f"add these to [tool.setuptools.package-data] in pyproject.toml: {missing}"
