"""The Shipyard wheel an image installs: built from a source tree, packed from an install, or refused clearly.

Real distributions on disk stand in for the installs: a wheel extracted into a folder is exactly what an
installer leaves (its files plus a ``.dist-info`` with RECORD), and a ``.dist-info`` with a
``direct_url.json`` is what an editable install leaves.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from shipyard.errors import ConfigError
from shipyard.serving.shipyard_wheel import (
    build_from_source,
    check_wheel,
    editable_source,
    repack_installed,
    shipyard_wheel,
)

VERSION = metadata.version("shipyard-ml")
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this source tree, built as ``make dist`` builds it."""
    return build_from_source(REPO, tmp_path_factory.mktemp("built"), VERSION)


def _record(archive: zipfile.ZipFile) -> dict[str, str]:
    name = next(item for item in archive.namelist() if item.endswith(".dist-info/RECORD"))
    rows = [line.split(",") for line in archive.read(name).decode().splitlines() if line]
    return {path: digest for path, digest, _ in rows}


def _check_record(archive: zipfile.ZipFile) -> None:
    """Every entry is in RECORD with its sha256 (urlsafe base64, no padding), RECORD itself without one."""
    record = _record(archive)
    assert set(record) == set(archive.namelist())
    for path, digest in record.items():
        if path.endswith("/RECORD"):
            assert digest == ""
            continue
        expected = base64.urlsafe_b64encode(hashlib.sha256(archive.read(path)).digest()).rstrip(b"=").decode()
        assert digest == f"sha256={expected}", path


@pytest.mark.slow  # the module's wheel takes a few seconds to build
def test_a_wheel_of_the_source_tree_holds_the_package_and_its_data(built: Path) -> None:
    assert built.name == f"shipyard_ml-{VERSION}-py3-none-any.whl"
    assert check_wheel(built) == VERSION
    with zipfile.ZipFile(built) as archive:
        names = set(archive.namelist())
        _check_record(archive)
    assert {"shipyard/__init__.py", "shipyard/py.typed", "shipyard/serving/shipyard_wheel.py"} <= names
    assert any(name.startswith("shipyard/scaffold/templates/") for name in names)


@pytest.mark.slow  # the module's wheel takes a few seconds to build
def test_an_install_from_the_wheel_packs_back_into_the_same_files(built: Path, tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(built) as archive:
        archive.extractall(site)
        original = {name: archive.read(name) for name in archive.namelist() if not name.endswith("/RECORD")}
    info = site / f"shipyard_ml-{VERSION}.dist-info"
    (info / "INSTALLER").write_text("pip\n")  # what an installer adds, listed in RECORD as installers do
    with (info / "RECORD").open("a") as record:
        record.write(f"shipyard_ml-{VERSION}.dist-info/INSTALLER,,\n../../../bin/shipyard,,\n")
    packed = repack_installed(metadata.PathDistribution(info), tmp_path / "out")
    assert packed.name == built.name
    with zipfile.ZipFile(packed) as archive:
        _check_record(archive)
        repacked = {name: archive.read(name) for name in archive.namelist() if not name.endswith("/RECORD")}
    assert repacked == original  # the installer's file and the console script stay out


@pytest.mark.slow  # the module's wheel takes a few seconds to build
def test_a_modified_install_is_refused_naming_the_option(built: Path, tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(built) as archive:
        archive.extractall(site)
    (site / "shipyard" / "errors.py").write_text("# changed after the install\n")
    with pytest.raises(ConfigError, match=r"errors\.py differs from what the installed shipyard-ml .* RECORD hash.*"
                                          r"--shipyard-wheel PATH"):
        repack_installed(metadata.PathDistribution(site / f"shipyard_ml-{VERSION}.dist-info"), tmp_path / "out")


def test_an_editable_install_names_its_source_tree_and_a_missing_tree_is_refused(tmp_path: Path) -> None:
    info = tmp_path / f"shipyard_ml-{VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: shipyard-ml\nVersion: {VERSION}\n")
    gone = tmp_path / "deleted-clone"
    (info / "direct_url.json").write_text(json.dumps({"url": gone.as_uri(), "dir_info": {"editable": True}}))
    distribution = metadata.PathDistribution(info)
    assert editable_source(distribution) == gone
    with pytest.raises(ConfigError, match=r"deleted-clone, which no longer holds its source.*--shipyard-wheel PATH"):
        build_from_source(gone, tmp_path / "out", VERSION)
    (info / "direct_url.json").write_text(json.dumps({"url": gone.as_uri(), "dir_info": {}}))
    assert editable_source(distribution) is None  # installed from a folder, not editable: its files are packed


@pytest.mark.slow  # the module's wheel takes a few seconds to build
def test_a_given_wheel_is_checked_and_copied(built: Path, tmp_path: Path) -> None:
    wheel = shipyard_wheel(tmp_path / "context", given=built)
    assert (wheel.origin, wheel.version) == ("given", VERSION)
    assert wheel.path.read_bytes() == built.read_bytes()
    other = tmp_path / "shipyard_ml-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("shipyard_ml-9.9.9.dist-info/METADATA", "Name: shipyard-ml\nVersion: 9.9.9\n")
    with pytest.raises(ConfigError, match=rf"--shipyard-wheel .* is shipyard-ml 9\.9\.9, but {VERSION} is installed"):
        shipyard_wheel(tmp_path / "context", given=other)
    for name, message in (("numpy-2.0-py3-none-any.whl", "is not a shipyard-ml wheel"),
                          ("nothing-here.whl", "no such file")):
        if name.startswith("numpy"):
            (tmp_path / name).write_bytes(b"")
        with pytest.raises(ConfigError, match=message):
            check_wheel(tmp_path / name)


def test_shipyard_run_from_an_install_that_cannot_give_a_wheel_exits_2_naming_the_option(tmp_path: Path) -> None:
    """A real process whose ``shipyard-ml`` distribution is an editable install of a clone that was deleted."""
    info = tmp_path / "site" / f"shipyard_ml-{VERSION}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: shipyard-ml\nVersion: {VERSION}\n")
    (info / "direct_url.json").write_text(json.dumps({"url": (tmp_path / "gone").as_uri(),
                                                      "dir_info": {"editable": True}}))
    code = ("import sys; from pathlib import Path; from shipyard.errors import ConfigError\n"
            "from shipyard.serving.shipyard_wheel import shipyard_wheel\n"
            "try:\n    shipyard_wheel(Path(sys.argv[1]))\n"
            "except ConfigError as exc:\n    print(exc); raise SystemExit(exc.exit_code)\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True,
                          env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"}, timeout=60, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--shipyard-wheel PATH" in done.stdout and "gone" in done.stdout
