"""The install is the committed lock: uv.lock matches pyproject.toml, and the Makefile's uv is the locked one.

`make lint` runs ``uv lock --check``; these tests show that the check really fails on a stale lock (a
check that always passes would let a dependency edit land without `make lock`), and that the uv the
Makefile bootstraps with pip is the same version that ``uv sync`` then keeps in the venv.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"


def _locked_versions(name: str) -> set[str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {package["version"] for package in lock["package"] if package["name"] == name}


def _uv_lock_check(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(UV), "lock", "--check", "--offline", "--project", str(project)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_makefile_bootstraps_the_uv_that_the_lock_pins() -> None:
    makefile = (ROOT / "Makefile").read_text()
    bootstrap = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert bootstrap, "Makefile lost its UV_VERSION line"
    assert _locked_versions("uv") == {bootstrap.group(1)}


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """pyproject.toml and uv.lock in a folder of their own, so that editing them touches nothing here."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    return copy


@pytest.mark.skipif(not UV.exists(), reason="uv is installed by `make` into the venv")
def test_lock_check_passes_on_the_committed_lock(project_copy: Path) -> None:
    done = _uv_lock_check(project_copy)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(not UV.exists(), reason="uv is installed by `make` into the venv")
def test_lock_check_fails_when_pyproject_changed_without_make_lock(project_copy: Path) -> None:
    pyproject = project_copy / "pyproject.toml"
    text = pyproject.read_text()
    assert '"pyyaml>=' in text
    pyproject.write_text(re.sub(r'"pyyaml>=[^"]*"', '"pyyaml>=6.0.3"', text, count=1))
    done = _uv_lock_check(project_copy)
    assert done.returncode != 0


def _lower_bound(requirement: str) -> tuple[str, str]:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    parsed = Requirement(requirement)
    bounds = [spec.version for spec in parsed.specifier if spec.operator == ">="]
    assert len(bounds) == 1, f"{requirement}: every core dependency needs exactly one >= lower bound"
    return canonicalize_name(parsed.name), bounds[0]


def test_base_lowest_requirements_pin_every_core_dependency_at_its_lower_bound() -> None:
    """requirements/base-lowest.txt is what the base-install test installs: if a lower bound in pyproject.toml
    moves without `make lock`, the bound we promise is not the one we test."""
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    promised = dict(_lower_bound(requirement) for requirement in project["dependencies"])
    text = (ROOT / "requirements" / "base-lowest.txt").read_text()
    pins = {canonicalize_name(name): Version(version)
            for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.MULTILINE)}
    assert {name: pins.get(name) for name in promised} == {name: Version(bound) for name, bound in promised.items()}
