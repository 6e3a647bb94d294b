"""``shipyard status`` for data added with ``shipyard add``: right answers, and a no-op that stays cheap.

A no-op status must not import SQLAlchemy: it reads the stat cache with the stdlib ``sqlite3`` driver.
The answers must be the same whichever way the cache is read, so every case also runs on a store given
as a database URI that the stdlib reader declines (the SQLAlchemy path).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.pipeline._data import Project, assert_ok, cli, make_project, write

STATUS = ("import json, sys\nsys.argv = ['shipyard', 'status', '--json']\nfrom shipyard.cli.main import main\n"
          "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
          "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n")


def status_in_a_new_process(cwd: Path) -> tuple[dict[str, tuple[str, list[str]]], set[str]]:
    """The data part of ``shipyard status --json`` as {path: (state, reasons)}, and the modules it loaded."""
    done = subprocess.run([sys.executable, "-c", STATUS], cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    data = {item["path"]: (item["state"], item["reasons"]) for item in report["data"]}
    return data, set(json.loads(done.stderr.splitlines()[-1]))


@pytest.fixture(params=["store directory", "database URI"])
def project(request: pytest.FixtureRequest, tmp_path: Path, isolated_store: Path,
            monkeypatch: pytest.MonkeyPatch) -> Project:
    """A git project with a tracked directory of 40 files and a tracked file."""
    if request.param == "database URI":  # a relative path: read_sqlite leaves it to SQLAlchemy
        monkeypatch.setenv("SHIPYARD_STORE", "sqlite:///../meta.db")
        monkeypatch.setenv("SHIPYARD_OBJECTS", str(tmp_path / "objects"))
    project = make_project(tmp_path, isolated_store, monkeypatch)
    write(project.root, {**{f"data/f{index:02d}.txt": f"row {index}\n" for index in range(40)},
                         "raw.csv": "a,b\n1,2\n"})
    assert_ok(cli("add", "data", "raw.csv"))
    return project


def test_a_noop_status_is_up_to_date_without_importing_sqlalchemy(project: Project) -> None:
    data, modules = status_in_a_new_process(project.root)
    assert data == {"data": ("up to date", []), "raw.csv": ("up to date", [])}
    if os.environ["SHIPYARD_STORE"].startswith("sqlite:"):
        assert (project.root.parent / "meta.db").is_file()  # the URI store really is in use
    else:
        assert "sqlalchemy" not in modules


def test_changes_are_found_and_the_refreshed_cache_is_read_back(project: Project) -> None:
    (project.root / "data" / "f03.txt").write_text("row 3, edited\n")
    (project.root / "data" / "f07.txt").unlink()
    raw = project.root / "raw.csv"
    os.utime(raw, ns=(raw.stat().st_atime_ns, raw.stat().st_mtime_ns + 10**9))  # touched, same bytes
    stale = ("stale", ["changed since it was added (shipyard add data)"])
    expected = {"data": stale, "raw.csv": ("up to date", [])}
    assert status_in_a_new_process(project.root)[0] == expected
    assert status_in_a_new_process(project.root)[0] == expected  # now answered from the updated stat cache
    write(project.root, {"data/f03.txt": "row 3\n", "data/f07.txt": "row 7\n"})  # back as added
    assert status_in_a_new_process(project.root)[0] == {"data": ("up to date", []), "raw.csv": ("up to date", [])}


def test_a_missing_directory_is_restorable_from_the_cache(project: Project) -> None:
    for path in (project.root / "data").iterdir():
        path.unlink()
    (project.root / "data").rmdir()
    data, _ = status_in_a_new_process(project.root)
    assert data["data"] == ("restorable", ["missing (in the cache: shipyard checkout)"])
