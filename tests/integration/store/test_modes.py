"""The store is private to its owner: files 0600 in folders 0700, whatever the umask; crash logs likewise.

A store holds a project's parameters, metrics, models, data and logs, and the prediction log beside it holds
every input a model was asked about. With the usual umask (022) they were readable by every user of the
machine. Each test works in a child process whose umask is 000, the most permissive there is, so a mode can
only be right because Shipyard chose it.

Crash logs used to go to ``$TMPDIR/shipyard-logs/``, a folder any user can create first, or replace with a
symlink that makes the next crash write wherever its planter wants. They now go to the user's cache folder,
created exclusively and never through a symlink.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

import shipyard
from tests.integration.pipeline._pipelines import SHIPYARD_SCRIPT, make_project, plain, use_venv_python

SPEC = """\
stages:
  train:
    cmd: python -c "print('training'); open('model.txt', 'w').write('weights')"
    outs: [model.txt]
"""

# Everything that writes under the store: a run with params, metrics and a text artifact; an artifact
# folder; a pack of objects (what a pull stores); a pipeline stage (its log and its cached output). The
# database's -wal and -shm files exist only while a connection is open, so their modes are read here.
USE_EVERYTHING = """
import json
import os
import pathlib
import sys

os.umask(0)
import shipyard
from shipyard.pipeline.repro import repro
from shipyard.store import current_store
from shipyard.store.hashing import hash_bytes

root = pathlib.Path(sys.argv[1])
with shipyard.start_run(experiment="modes") as run:
    shipyard.log_params({"C": 1.0})
    shipyard.log_metric("loss", 0.5)
    shipyard.log_text("notes", "notes/summary.txt")
    folder = root / "artifact-folder"
    (folder / "deep").mkdir(parents=True)
    (folder / "deep" / "weights.bin").write_bytes(b"w" * 1000)
    shipyard.log_artifact(folder, "model")
    shipyard.flush()
blobs = [b"packed one", b"packed two"]
current_store().objects.put_pack([(hash_bytes(blob), blob) for blob in blobs])
repro(root=root)
store = current_store().location.root
print(json.dumps({name: oct(os.stat(store / name).st_mode & 0o777)
                  for name in ("meta.db-wal", "meta.db-shm") if (store / name).exists()}))
"""


def modes_under(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` (itself included) with its permission bits, symlinks not followed."""
    found = {".": oct(folder.stat().st_mode & 0o777)}
    for path in sorted(folder.rglob("*")):
        found[path.relative_to(folder).as_posix()] = oct(path.lstat().st_mode & 0o777)
    return found


def test_every_file_of_the_store_is_private_whatever_the_umask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_venv_python(monkeypatch)
    project = make_project(tmp_path / "project", spec=SPEC, params=None)
    store = project / ".shipyard"
    monkeypatch.setenv("SHIPYARD_STORE", str(store))
    done = subprocess.run([sys.executable, "-c", USE_EVERYTHING, str(project)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    open_files = json.loads(done.stdout.splitlines()[-1])
    assert open_files == {"meta.db-wal": "0o600", "meta.db-shm": "0o600"}

    # `shipyard status` writes its memo into the project's .shipyard folder.
    status = subprocess.run(["sh", "-c", f'umask 000 && exec "{SHIPYARD_SCRIPT}" status'], cwd=project,
                            capture_output=True, text=True, timeout=60, check=False)
    assert status.returncode == 0, status.stderr

    modes = modes_under(store)
    kinds = {name: ("dir" if (store / name).is_dir() else "file") for name in modes}
    for expected_folder in (".", "objects", "objects/packs", "logs"):
        assert kinds[expected_folder] == "dir"
    assert any(name.startswith("logs/train-") for name in modes), modes  # the stage's output log
    assert any(name.endswith(".pack") for name in modes) and any(name.endswith(".idx") for name in modes)
    assert "meta.db" in modes and any(name.startswith("status") for name in modes), modes
    wrong = {name: mode for name, mode in modes.items()
             if mode != ("0o700" if kinds[name] == "dir" else "0o600")}
    assert wrong == {}
    assert (project / "model.txt").stat().st_mode & 0o077 != 0  # workspace files keep the modes the umask gives


# A broken environment record makes `shipyard runs show` fail with an error Shipyard did not expect: a crash.
def _crashing_run(store: Path) -> str:
    with shipyard.start_run() as run:
        pass
    with closing(sqlite3.connect(store / "meta.db")) as conn, conn:
        conn.execute("UPDATE environments SET packages = '{not json'")
    return run.id


def _crash(run_id: str, cwd: Path, env: dict[str, str], drop: tuple[str, ...] = ()) -> tuple[str, str]:
    environment = {key: value for key, value in os.environ.items() if key not in {"FORCE_COLOR", *drop}}
    environment.update(env)
    done = subprocess.run(["sh", "-c", f'umask 000 && exec "{SHIPYARD_SCRIPT}" runs show {run_id}'], cwd=cwd,
                          capture_output=True, text=True, timeout=60, env=environment, check=False)
    assert done.returncode == 1, done.stderr
    assert "Unexpected error: JSONDecodeError" in plain(done.stderr)
    return plain(done.stdout), " ".join(plain(done.stderr).split())  # joined: Rich wraps long paths


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, Path]:
    """A temp folder where another user planted ``shipyard-logs`` as a symlink to a folder of their choice."""
    temp, victim = tmp_path / "tmp", tmp_path / "victim"
    temp.mkdir()
    victim.mkdir()
    (temp / "shipyard-logs").symlink_to(victim)
    return temp, victim


def test_a_crash_log_goes_to_the_users_cache_folder_and_not_through_a_planted_symlink(
        tmp_path: Path, isolated_store: Path, planted: tuple[Path, Path]) -> None:
    temp, victim = planted
    run_id = _crashing_run(isolated_store)
    cache = tmp_path / "xdg-cache"
    _, stderr = _crash(run_id, tmp_path, {"TMPDIR": str(temp), "XDG_CACHE_HOME": str(cache)})

    assert list(victim.iterdir()) == []
    folder = cache / "shipyard"
    [log] = list(folder.iterdir())
    assert log.name.startswith("crash-") and log.name.endswith(".log")
    assert f"The traceback is in {log}" in stderr
    assert "JSONDecodeError" in log.read_text() and "Traceback" in log.read_text()
    assert (oct(folder.stat().st_mode & 0o777), oct(log.stat().st_mode & 0o777)) == ("0o700", "0o600")


def test_without_xdg_cache_home_the_crash_log_goes_under_home(tmp_path: Path, isolated_store: Path,
                                                             planted: tuple[Path, Path]) -> None:
    temp, victim = planted
    run_id = _crashing_run(isolated_store)
    home = tmp_path / "home"
    home.mkdir()
    _, stderr = _crash(run_id, tmp_path, {"TMPDIR": str(temp), "HOME": str(home)}, drop=("XDG_CACHE_HOME",))
    [log] = list((home / ".cache" / "shipyard").iterdir())
    assert f"The traceback is in {log}" in stderr
    assert oct((home / ".cache").stat().st_mode & 0o777) == "0o700"
    assert list(victim.iterdir()) == []


def test_a_symlink_in_place_of_the_cache_folder_is_not_followed(tmp_path: Path, isolated_store: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    cache = tmp_path / "xdg-cache"
    cache.mkdir()
    (cache / "shipyard").symlink_to(victim)
    run_id = _crashing_run(isolated_store)
    _, stderr = _crash(run_id, tmp_path, {"XDG_CACHE_HOME": str(cache)})
    assert list(victim.iterdir()) == []
    assert f"{cache / 'shipyard'} is not a folder of yours" in stderr
    assert "JSONDecodeError" in stderr and "Traceback" in stderr  # shown, since it could not be kept
