"""The demo's pipeline half: a fresh copy of ``examples/churn`` run the way a user would run it.

The example project is copied to a work folder, made a git repository, its raw data is written and
tracked with ``shipyard add``, the code and the data pointer are committed, and ``shipyard repro`` runs
``prepare -> train -> evaluate`` as stage runs in the current store. The models are trained there, in
the stage processes, so what the registry half registers carries the pipeline's lineage (stage, data
hashes, commit), exactly as it would for a user's own project.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..pipeline.dag import build_graph
from ..pipeline.data import add
from ..pipeline.repro import StageOutcome, repro
from ..pipeline.spec import load_pipeline
from ..store import Store

RAW_DATA = "data/raw/churn.csv"
_MARKER = ".shipyard-demo"  # written into each copy, so only a folder the demo made is ever replaced
_COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.parquet", "churn.csv", "*.ship", "candidates.json",
                                      "reports", "shipyard.lock", ".git")


@dataclass(frozen=True)
class RawData:
    """The tracked raw data file and the commit that names it."""

    hash: str
    rows: int
    commit: str


def example_project() -> Path:
    """``examples/churn`` of the source checkout this package runs from."""
    here = Path(__file__).resolve()
    for folder in here.parents:
        candidate = folder / "examples" / "churn"
        if (candidate / "shipyard.yaml").is_file():
            return candidate
    raise ConfigError(f"The example project examples/churn was not found above {here.parent}; the demo runs from "
                      "a Shipyard source checkout (git clone, then `make demo`).")


def set_aside(folder: Path) -> Path | None:
    """Move an earlier demo's folder (project, store, exports) to ``<folder>-<when it ran>``; returns where.

    Each run tells its story from a fresh project and store: a second run into the same store would gate
    new versions against the first run's champion and trace lineage to commits of a replaced repository.
    The earlier run is kept, not deleted, under the date and time it ran. A folder the demo did not make is
    never touched.
    """
    if not folder.exists():
        return None
    marker = folder / "churn" / _MARKER
    if not marker.is_file():
        raise ConfigError(f"{folder} exists and was not made by the demo; move it away or run the demo from "
                          "another folder.")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(marker.stat().st_mtime))
    kept = folder.with_name(f"{folder.name}-{stamp}")
    suffix = 1
    while kept.exists():
        suffix += 1
        kept = folder.with_name(f"{folder.name}-{stamp}-{suffix}")
    folder.rename(kept)
    return kept


def fresh_copy(source: Path, target: Path) -> Path:
    """Copy the example to ``target``, replacing an earlier demo copy but never a folder the demo did not make."""
    if target.exists():
        if not (target / _MARKER).is_file():
            raise ConfigError(f"{target} exists and was not made by the demo; move it away or run the demo from "
                              "another folder.")
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=_COPY_IGNORE)
    (target / _MARKER).write_text("Made by `shipyard demo`; replaced by the next run.\n")
    return target.resolve()


def track_raw_data(store: Store, root: Path, rows: int | None) -> RawData:
    """Make ``root`` a git repository, write the raw data, ``shipyard add`` it and commit code and pointer."""
    _git(root, "init", "--quiet", "--initial-branch=main")
    for key, value in (("user.name", "Shipyard demo"), ("user.email", "demo@shipyard.invalid"),
                       ("commit.gpgsign", "false")):
        _git(root, "config", key, value)
    _python(root, "src/fetch_data.py", "--rows", str(rows or 0))
    with (root / RAW_DATA).open() as lines:
        count = sum(1 for _ in lines) - 1  # less the header
    (entry,) = add(store, root, [str(root / RAW_DATA)], produced=build_graph(load_pipeline(root)).producer)
    _git(root, "add", "--all")
    _git(root, "commit", "--quiet", "-m", "Churn pipeline with the pointer to its raw data")
    return RawData(entry.hash, count, _git(root, "rev-parse", "HEAD").strip())


def run_stages(root: Path) -> list[StageOutcome]:
    """``shipyard repro`` in ``root``: every stage a tracked run in the current store.

    Raises:
        StageFailedError: a stage failed (its ``tail`` holds its last output lines).
    """
    with _venv_first_on_path():
        return repro(root=root)


def add_new_data(store: Store, root: Path, frame: Any, target: str) -> RawData:
    """Append labelled production rows to the raw data, as a data team would; ``shipyard add`` and commit."""
    raw = root / RAW_DATA
    with raw.open() as lines:
        header = lines.readline().strip().split(",")
    rows = frame.copy()
    rows[target] = rows[target].map({1: "Yes", 0: "No"})
    rows[header].to_csv(raw, mode="a", header=False, index=False)  # in the file's column order
    with raw.open() as lines:
        count = sum(1 for _ in lines) - 1
    (entry,) = add(store, root, [str(raw)], produced=build_graph(load_pipeline(root)).producer)
    # Only the pointer: the stages' metrics files, rewritten by each stage, would make the next runs "dirty".
    _git(root, "add", f"{RAW_DATA}.ship")
    _git(root, "commit", "--quiet", "-m", f"Raw data with {len(rows)} labelled rows from production")
    return RawData(entry.hash, count, _git(root, "rev-parse", "HEAD").strip())


def split_sizes(root: Path, *, only_new: bool = False) -> dict[str, int]:
    """Rows of data/{train,test,holdout}.parquet; with ``only_new``, only the production customers' rows
    (ids starting with N, as the demo's traffic names them)."""
    import pyarrow.parquet as pq

    sizes = {}
    for name in ("train", "test", "holdout"):
        ids = pq.read_table(root / "data" / f"{name}.parquet", columns=["customer_id"]).column(0).to_pylist()
        sizes[name] = sum(1 for value in ids if str(value).startswith("N")) if only_new else len(ids)
    return sizes


def run_loop(store: Store, root: Path, name: str) -> Any:
    """One cycle of the project's loop ``name`` (repro -> register -> promote), stage commands on this Python."""
    from ..loop.cycle import run_cycle
    from ..loop.spec import get_loop

    pipeline = load_pipeline(root)
    with _venv_first_on_path():
        return run_cycle(store, pipeline, get_loop(pipeline, name), trigger="demo: new labelled data")


def candidates(root: Path) -> dict[str, dict[str, str]]:
    """What train logged: candidate name -> ``{"uri": "runs:/...", "estimator": class name}``, in fit order."""
    found: dict[str, dict[str, str]] = json.loads((root / "models" / "candidates.json").read_text())
    return found


def _python(root: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"`python {' '.join(args)}` failed in {root}: {done.stderr.strip()[-500:]}")


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ConfigError("The demo needs git on PATH: the example project is a git repository, so that every "
                          "stage run records the commit it ran.") from None
    if done.returncode != 0:
        raise ConfigError(f"`git {' '.join(args)}` failed in {root}: {done.stderr.strip()}")
    return done.stdout


@contextmanager
def _venv_first_on_path() -> Iterator[None]:
    """Stage commands say ``python``; make that this interpreter (with pandas, scikit-learn and Shipyard),
    whatever the user's PATH, as ``make demo`` runs ``.venv/bin/shipyard`` without activating the venv."""
    before = os.environ.get("PATH")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), *([before] if before else [])])
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = before
