"""`pip install shipyard-ml` alone: the core works, and every command that needs an extra says which one.

The base venv holds only the core dependencies, each at the lower bound pyproject.toml promises
(requirements/base-lowest.txt, written by `make lock`), so these tests also keep those bounds honest. It is
built once per requirements file under ~/.cache/shipyard-test/ and reused; Shipyard itself is installed
fresh from this checkout for every test session, without dependencies, into a folder on PYTHONPATH.

Models and deployments the commands refer to are made by this test process (the dev venv, which has
scikit-learn) in the test's store, which the base venv's commands then read.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import shipyard
from tests._cache import cache_root, exclusive

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements" / "base-lowest.txt"
UV = Path(sys.executable).with_name("uv")


@dataclass(frozen=True)
class BaseInstall:
    python: Path
    site: Path

    def run(self, *args: str, cwd: Path, code: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``shipyard ARGS`` (or ``python -c CODE``) in the base venv, with this test's store."""
        command = [str(self.python), "-c", code] if code else [str(self.python), "-m", "shipyard", *args]
        env = {**os.environ, "PYTHONPATH": str(self.site), "COLUMNS": "200", **(env or {})}
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False)


def _uv(*args: str) -> None:
    done = subprocess.run([str(UV), *args], capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, "UV_COMPILE_BYTECODE": "1"})
    if done.returncode != 0:
        raise AssertionError(f"uv {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def _base_venv() -> Path:
    """The cached venv with the core dependencies at their lower bounds (built when missing).

    Each xdist worker that runs one of these tests asks for it: the cache lock makes the first build it and the
    others wait for that build, and the rename makes a build killed half-way invisible.
    """
    key = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    venv = cache_root() / f"base-lowest-{key}"
    with exclusive(venv):
        if (venv / "complete").exists():
            return venv
        building = venv.with_name(f".building-{venv.name}")
        shutil.rmtree(building, ignore_errors=True)  # what a killed build left
        _uv("venv", "--quiet", "--relocatable", "--python", sys.executable, str(building))
        _uv("pip", "sync", "--quiet", "--require-hashes", "--python", str(building / "bin" / "python"),
            str(REQUIREMENTS))
        (building / "complete").touch()
        try:
            building.rename(venv)
        except OSError:  # a session without this lock (an older checkout) finished first
            if not (venv / "complete").exists():
                raise
            shutil.rmtree(building, ignore_errors=True)
    return venv


@pytest.fixture(scope="session")
def base(tmp_path_factory: pytest.TempPathFactory) -> BaseInstall:
    if not UV.exists():
        pytest.skip("uv is installed into the venv by `make`")
    venv = _base_venv()
    site = tmp_path_factory.mktemp("shipyard-base-site")
    _uv("pip", "install", "--quiet", "--no-deps", "--target", str(site), "--python", str(venv / "bin" / "python"),
        str(ROOT))
    return BaseInstall(venv / "bin" / "python", site)


@pytest.fixture
def churn_model(tmp_path: Path) -> str:
    """A registered scikit-learn model (alias champion) and a CSV of rows it takes, made with the dev venv."""
    from sklearn.linear_model import LogisticRegression

    rows = pd.DataFrame({"tenure": [1.0, 5.0, 30.0, 60.0] * 5, "charges": [70.0, 50.0, 30.0, 20.0] * 5})
    labels = [1, 1, 0, 0] * 5
    with shipyard.start_run(experiment="base"):
        info = shipyard.log_model(LogisticRegression().fit(rows, labels), input_example=rows)
    shipyard.register_model(info, "churn")
    shipyard.set_alias("churn", "champion", 1)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    rows.assign(tenure=rows.tenure * 2).to_csv(tmp_path / "later.csv", index=False)
    return "models:/churn@champion"


def _assert_names_extra(done: subprocess.CompletedProcess[str], extra: str, purpose: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("Warning: ")]
    assert len(lines) == 1, done.stderr
    assert f"{purpose} needs the '{extra}' extra" in lines[0], lines[0]
    assert f"pip install '{ROOT}[{extra}]'" in lines[0], lines[0]
    assert "Traceback" not in done.stderr and "report it" not in done.stderr


@pytest.mark.parametrize(("args", "extra", "purpose"), [
    (["serve", "models:/churn@champion"], "serve", "`shipyard serve`"),
    (["ui"], "ui", "`shipyard ui`"),
    (["monitor", "compare", "rows.csv", "later.csv"], "monitoring", "`shipyard monitor compare`"),
    (["predict", "models:/churn@champion", "rows.csv", "-o", "scores.parquet"], "sklearn",
     "Loading models:/churn@champion, a scikit-learn model,"),
    (["predict", "models:/churn@champion", "rows.parquet", "-o", "scores.parquet", "--engine", "spark"], "spark",
     "The Spark engine"),
    (["predict", "models:/churn@champion", "rows.parquet", "-o", "scores.parquet", "--engine", "dask"], "dask",
     "The Dask engine"),
    (["models", "export-onnx", "models:/churn@champion", "-o", "churn.onnx"], "onnx", "ONNX export"),
], ids=lambda value: " ".join(value[:2]) if isinstance(value, list) else None)
def test_a_command_that_needs_an_extra_names_it_in_one_line(base: BaseInstall, churn_model: str, tmp_path: Path,
                                                            args: list[str], extra: str, purpose: str) -> None:
    _assert_names_extra(base.run(*args, cwd=tmp_path), extra, purpose)


def test_loading_a_model_without_its_extra_names_the_extra_not_saving(base: BaseInstall, churn_model: str,
                                                                      tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import shipyard
        try:
            shipyard.load_model("models:/churn@champion")
        except shipyard.MissingExtraError as exc:
            print(exc.extra, exc.module, exc.message, sep="|")
    """)
    done = base.run(cwd=tmp_path, code=code)
    assert done.returncode == 0, done.stderr
    extra, module, message = done.stdout.strip().split("|")
    assert (extra, module) == ("sklearn", "skops")
    assert message.startswith("Loading ") and "Saving" not in message


def test_the_core_works_at_the_lowest_versions_it_promises(base: BaseInstall, tmp_path: Path) -> None:
    """Tracking, searching, listing and data versioning on pandas/numpy/pyarrow/SQLAlchemy/typer/rich at their
    lower bounds."""
    code = textwrap.dedent("""
        import shipyard
        with shipyard.start_run(experiment="core", name="lowest") as run:
            shipyard.log_params({"C": 0.5})
            for step in range(50):
                shipyard.log_metric("loss", 1 / (step + 1), step=step)
            shipyard.log_metrics({"auc": 0.8429})
        found = shipyard.search_runs(experiment="core", filter="metrics.auc > 0.8", order_by=["metrics.auc DESC"])
        print(len(found), run.id)
    """)
    done = base.run(cwd=tmp_path, code=code)
    assert done.returncode == 0, done.stderr
    count, run_id = done.stdout.split()
    assert count == "1"
    listed = base.run("runs", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert run_id in listed.stdout and "0.8429" in listed.stdout
    table = base.run("runs", "list", cwd=tmp_path)
    assert table.returncode == 0 and "lowest" in table.stdout, table.stderr
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    added = base.run("add", "data.csv", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert (tmp_path / "data.csv.ship").exists()


def test_a_notebook_stage_names_the_notebook_extra_before_any_run_is_recorded(base: BaseInstall,
                                                                             tmp_path: Path) -> None:
    (tmp_path / "shipyard.yaml").write_text("stages:\n  eda:\n    notebook: eda.ipynb\n")
    (tmp_path / "eda.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    done = base.run("repro", cwd=tmp_path)
    _assert_names_extra(done, "notebook", "Stage 'eda', a notebook,")
    assert shipyard.search_runs().empty  # no stage run was started and left behind


def test_pushing_to_s3_names_the_s3_extra(base: BaseInstall, tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "shipyard.yaml").write_text("remotes:\n  shared:\n    url: s3://bucket/cache\n")
    (tmp_path / "data.csv").write_text("a\n1\n")
    assert base.run("add", "data.csv", cwd=tmp_path).returncode == 0
    _assert_names_extra(base.run("push", "-r", "shared", cwd=tmp_path), "s3", "Remote 'shared' (s3://bucket/cache)")


def test_objects_on_s3_name_the_s3_extra(base: BaseInstall, tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a\n1\n")
    done = base.run("add", "data.csv", cwd=tmp_path, env={"SHIPYARD_OBJECTS_URI": "s3://team-bucket/shipyard"})
    _assert_names_extra(done, "s3", "The object store s3://team-bucket/shipyard")


def test_a_postgresql_store_names_the_postgres_extra(base: BaseInstall, tmp_path: Path) -> None:
    done = base.run("--store", "postgresql+psycopg://shipyard@127.0.0.1:9/shipyard", "runs", "list", cwd=tmp_path,
                    env={"SHIPYARD_OBJECTS": str(tmp_path / "objects")})
    _assert_names_extra(done, "postgres", "`shipyard runs list`")


@pytest.mark.parametrize("kind", ["xgboost-classifier", "lightgbm-pipeline"])
def test_loading_a_tree_model_without_its_library_names_the_flavor_s_extra(base: BaseInstall, tmp_path: Path,
                                                                           kind: str) -> None:
    from tests._tree_models import log_tree_model, telco

    with shipyard.start_run(experiment="trees"):
        info, _, _ = log_tree_model(kind)
    shipyard.register_model(info, "trees")
    telco()[0].head(5).to_csv(tmp_path / "rows.csv", index=False)
    flavor, title = ("xgboost", "an XGBoost model") if kind.startswith("xgboost") else ("lightgbm", "a LightGBM model")
    done = base.run("predict", "models:/trees/1", "rows.csv", "-o", "scores.parquet", cwd=tmp_path)
    _assert_names_extra(done, flavor, f"Loading models:/trees/1, {title},")
