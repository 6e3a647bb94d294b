"""``shipyard predict --engine spark|dask`` as a user runs it, in a real process: the local engine's output from a
cluster, and bad input refused in one line (exit 2) before any cluster starts."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

import shipyard
from tests.e2e.conftest import SHIPYARD_SCRIPT, ErrorCheck, ScriptRunner
from tests.integration.engines.conftest import Churn, assert_same_output, churn_model, write_parts

pytestmark = pytest.mark.slow
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture
def churn(tmp_path: Path) -> Churn:
    model = churn_model(1_200)
    write_parts(model.live, tmp_path / "live", files=2, row_group_size=300)
    model.live.to_parquet(tmp_path / "all.parquet")
    shipyard.predict_batch(model.uri, tmp_path / "all.parquet", tmp_path / "local.parquet", id_columns=["customer_id"])
    shipyard.set_store(None)  # the children open the store themselves
    return model


def _predict(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script with a cluster's time to start (a JVM takes tens of seconds on a busy machine)."""
    env = {key: value for key, value in os.environ.items() if key != "FORCE_COLOR"}
    return subprocess.run([str(SHIPYARD_SCRIPT), "predict", *args], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path, env=env, check=False)


@pytest.mark.parametrize("engine", ["dask", "spark"])
def test_an_engine_writes_the_local_engines_output(engine: str, churn: Churn, tmp_path: Path) -> None:
    if engine == "spark":
        pytest.importorskip("pyspark", reason="the Spark engine needs the spark extra (pyspark)")
    else:
        pytest.importorskip("distributed", reason="the Dask engine needs the dask extra")
    done = _predict(tmp_path, churn.uri, "live", "-o", f"{engine}.parquet", "--id-column", "customer_id",
                    "--engine", engine, "--runtime", "python", "--json",
                    *(["--master", "local[2]"] if engine == "spark" else []))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert (summary["rows_in"], summary["rows_out"], summary["skipped_rows"]) == (1_200, 1_200, 0)
    assert summary["ignored_columns"] == ["note"] and summary["output"] == str(tmp_path / f"{engine}.parquet")
    assert "Traceback" not in done.stderr
    assert_same_output(tmp_path / f"{engine}.parquet", tmp_path / "local.parquet")


@pytest.mark.parametrize("engine", ["spark", "dask"])
def test_a_missing_column_is_refused_before_a_cluster_starts(engine: str, run_script: ScriptRunner,
                                                              input_error: ErrorCheck, churn: Churn,
                                                              tmp_path: Path) -> None:
    pytest.importorskip("pyspark" if engine == "spark" else "distributed", reason=f"needs the {engine} extra")
    churn.live.drop(columns=["contract"]).to_parquet(tmp_path / "partial.parquet")
    done = run_script("predict", churn.uri, "partial.parquet", "-o", "out.parquet", "--engine", engine)
    line = input_error(done.returncode, done.stdout, done.stderr)
    assert "partial.parquet has no column 'contract'" in line
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize(("args", "expected"), [
    (["--engine", "dask", "--master", "local[2]"], "--master is the Spark master"),
    (["--engine", "spark", "--scheduler", "tcp://127.0.0.1:8786"], "--scheduler is the Dask scheduler"),
    (["--runtime", "onnx"], "--runtime is for --engine spark or dask"),
    (["--engine", "dask", "-o", "out.csv"], "must be a .parquet file"),
], ids=["master-without-spark", "scheduler-without-dask", "runtime-on-local", "csv-output"])
def test_options_that_do_not_fit_the_engine_are_refused_in_one_line(args: list[str], expected: str,
                                                                     run_script: ScriptRunner, input_error: ErrorCheck,
                                                                     churn: Churn) -> None:
    output = [] if "-o" in args else ["-o", "out.parquet"]
    done = run_script("predict", churn.uri, "all.parquet", *output, *args)
    assert expected in input_error(done.returncode, done.stdout, done.stderr)


def test_an_unknown_engine_names_the_choices(run_script: ScriptRunner, churn: Churn) -> None:
    done = run_script("predict", churn.uri, "all.parquet", "-o", "out.parquet", "--engine", "ray")
    assert done.returncode == 2 and done.stdout == ""
    text = _ANSI.sub("", done.stderr)
    assert "Traceback" not in text and "'ray' is not one of" in text and "'spark'" in text and "'dask'" in text
