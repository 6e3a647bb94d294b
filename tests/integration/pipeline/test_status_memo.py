"""The status memo: a no-op ``shipyard status`` answered before Typer, YAML or the store are imported, and
never once anything that decides the status has changed.

Each case brings a real pipeline (the churn stages) plus a directory added with ``shipyard add`` up to date,
runs the full status once (which writes the memo), changes one thing, and checks that the memo no longer
answers and that the full status then says what changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import shipyard
from shipyard.pipeline.repro import repro
from shipyard.pipeline.status_memo import MEMO_FILE, fingerprint, recall, remember
from tests.integration.pipeline._pipelines import invoke, make_project, plain, set_param, use_venv_python

UP_TO_DATE = "Everything is up to date: 3 stages, 1 tracked data path.\n"
FAST_STATUS = ("import sys\nsys.argv = ['shipyard', 'status']\nfrom shipyard.cli.console_script import main\n"
               "main()\nheavy = ('typer', 'rich', 'yaml', 'sqlalchemy')\n"
               "print(sorted(name for name in heavy if name in sys.modules))\n")


@pytest.fixture
def project(tmp_path: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The churn pipeline, run, with ``images/`` (30 files) tracked; the store in the project's .shipyard/."""
    use_venv_python(monkeypatch)
    root = make_project(tmp_path / "churn")
    monkeypatch.setenv("SHIPYARD_STORE", str(root / ".shipyard"))
    monkeypatch.chdir(root)
    shipyard.set_store(None)
    for index in range(30):
        path = root / "images" / f"part{index % 3}" / f"{index:02d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes([index]) * 64)
    repro(root=root)
    assert invoke("add", "images").exit_code == 0
    result = invoke("status")
    assert (result.exit_code, result.stdout) == (0, UP_TO_DATE)
    assert (root / ".shipyard" / MEMO_FILE).is_file()
    return root


def test_the_console_script_answers_from_the_memo_without_loading_the_cli(project: Path) -> None:
    done = subprocess.run([sys.executable, "-c", FAST_STATUS], cwd=project / "src", capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    answer, modules = done.stdout.splitlines()
    assert answer + "\n" == UP_TO_DATE
    assert modules == "[]"  # neither Typer, Rich, YAML nor SQLAlchemy was imported
    assert json.loads(recall(str(project), json_output=True) or "null") == json.loads(invoke("status", "--json").stdout)


def edit_param(root: Path) -> None:
    set_param(root, "train", "C", 0.5)


def edit_data_same_size(root: Path) -> None:
    path = root / "images" / "part1" / "04.bin"
    path.write_bytes(b"x" * path.stat().st_size)


def add_a_file_to_tracked_data(root: Path) -> None:
    (root / "images" / "part2" / "new.bin").write_bytes(b"new")


def delete_an_output(root: Path) -> None:
    shutil.rmtree(root / "models")


def edit_a_dependency(root: Path) -> None:
    with open(root / "src" / "train.py", "a") as handle:
        handle.write("# tweak\n")


def edit_the_lock(root: Path) -> None:
    lock = root / "shipyard.lock"
    lock.write_text(lock.read_text().replace("cmd: python src/train.py", "cmd: python src/train.py --old"))


def add_another_pointer(root: Path) -> None:
    (root / "extra.csv").write_text("a\n1\n")
    assert invoke("add", "extra.csv").exit_code == 0


def remove_a_pointer(root: Path) -> None:
    (root / "images.ship").unlink()


CHANGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "param": (edit_param, "param train.C 1.0 -> 0.5"),
    "data edited, same size": (edit_data_same_size, "changed since it was added"),
    "file added to tracked data": (add_a_file_to_tracked_data, "changed since it was added"),
    "output deleted": (delete_an_output, "out models missing"),
    "dependency edited": (edit_a_dependency, "dep src/train.py changed"),
    "lock edited": (edit_the_lock, "command changed"),
    "new pointer file": (add_another_pointer, "Everything is up to date: 3 stages, 2 tracked data paths."),
    "pointer removed": (remove_a_pointer, "Everything is up to date: 3 stages."),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_any_change_that_decides_the_status_invalidates_the_memo(project: Path, change: str) -> None:
    apply, expected = CHANGES[change]
    apply(project)
    assert recall(str(project)) is None
    result = invoke("status")
    assert result.exit_code == 0, result.output
    assert expected in plain(result.stdout)
    if "Everything is up to date" not in expected:
        assert not (project / ".shipyard" / MEMO_FILE).exists()  # a stale workspace leaves no memo behind


def test_another_store_location_is_not_answered_from_the_memo(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    monkeypatch.setenv("SHIPYARD_STORE", str(tmp_path / "elsewhere"))
    assert recall(str(project)) is None


def test_a_change_while_the_status_ran_writes_no_memo(project: Path) -> None:
    (project / ".shipyard" / MEMO_FILE).unlink()
    watched = ["images", "src/train.py"]
    before = fingerprint(str(project), watched)
    edit_a_dependency(project)
    assert not remember(str(project), watched, before, text="stale answer\n", json_text="{}\n")
    assert not (project / ".shipyard" / MEMO_FILE).exists()


def test_a_damaged_memo_is_ignored(project: Path) -> None:
    memo = project / ".shipyard" / MEMO_FILE
    good = memo.read_text()
    for damaged in (good[: len(good) // 2], good[:-1], good.replace("\0", "", 1),
                    good.replace(str(project), "/elsewhere", 1),
                    "shipyard status memo 0" + good[len("shipyard status memo 1"):], "\0\0", ""):
        memo.write_text(damaged)
        assert recall(str(project)) is None, repr(damaged[:80])
    assert invoke("status").stdout == UP_TO_DATE  # and the full status writes a good one again
    assert recall(str(project)) == UP_TO_DATE


def test_without_a_store_folder_in_the_project_there_is_no_memo(tmp_path: Path, isolated_store: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    use_venv_python(monkeypatch)
    root = make_project(tmp_path / "elsewhere")  # the store stays at tmp_path/.shipyard, outside the project
    monkeypatch.chdir(root)
    repro(root=root)
    assert invoke("status").stdout == "Everything is up to date: 3 stages.\n"
    assert not (root / ".shipyard").exists() and recall(str(root)) is None
    assert os.environ["SHIPYARD_STORE"] == str(isolated_store)
