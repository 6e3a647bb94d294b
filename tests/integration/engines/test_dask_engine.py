"""Batch scoring on a real ``dask.distributed`` LocalCluster (worker processes on 127.0.0.1): the same rows, order and
numbers as the local engine, bad rows handled as it handles them, the model loaded once per worker process."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import shipyard
from shipyard.engines.dask_engine import DaskEngine
from tests.integration.engines.conftest import Churn, RecordingEngine, assert_same_output, write_parts

distributed = pytest.importorskip("distributed", reason="the Dask engine needs the dask extra")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, scheduler_kwargs={"dashboard": False},
                                       silence_logs=logging.ERROR)
    with cluster, distributed.Client(cluster) as dask_client:
        yield dask_client



def test_a_folder_scores_as_the_local_engine_scores_the_whole_file(client: Any, churn: Churn, tmp_path: Path) -> None:
    from shipyard.engines.run import predict_on

    churn.live.to_parquet(tmp_path / "all.parquet")
    local = shipyard.predict_batch(churn.uri, tmp_path / "all.parquet", tmp_path / "local.parquet",
                                   id_columns=["customer_id"])
    write_parts(churn.live, tmp_path / "live")
    engine = RecordingEngine(DaskEngine(client))
    result = predict_on(engine, churn.uri, str(tmp_path / "live"), str(tmp_path / "dask.parquet"),
                        id_columns=["customer_id"], batch_size=250, runtime="python")
    assert (result.rows_in, result.rows_out, result.skipped) == (local.rows_in, local.rows_out, [])
    assert result.ignored_columns == local.ignored_columns == ["note"]
    assert_same_output(tmp_path / "dask.parquet", tmp_path / "local.parquet")
    processes = {summary.process for summary in engine.summaries}
    assert len(engine.summaries) > len(processes) == 2  # both workers scored, and some scored several pieces
    assert {summary.builds for summary in engine.summaries} == {1}  # each process built the model once
    assert [path.name for path in tmp_path.iterdir() if ".parts-" in path.name or path.name.endswith(".tmp")] == []


def test_bad_rows_fail_or_are_listed_exactly_as_the_local_engine_does(client: Any, churn: Churn,
                                                                     tmp_path: Path) -> None:
    from shipyard.dask import predict_file

    live = churn.live.astype({"tenure": "float64"})
    live.loc[[1700, 2900], "tenure"] = 2.5  # an integer column: a fraction is refused by row
    live.loc[2200, "monthly_charges"] = np.inf
    live.to_parquet(tmp_path / "all.parquet")
    write_parts(live, tmp_path / "live")
    with pytest.raises(shipyard.ValidationError) as local_error:
        shipyard.predict_batch(churn.uri, tmp_path / "all.parquet", tmp_path / "local.parquet")
    with pytest.raises(shipyard.ValidationError) as dask_error:
        predict_file(client, churn.uri, str(tmp_path / "live"), str(tmp_path / "dask.parquet"), runtime="python")
    assert dask_error.value.message.replace("live", "all.parquet") == local_error.value.message
    assert "row 1700" in dask_error.value.message and dask_error.value.field == "tenure"
    assert dask_error.value.hint == local_error.value.hint
    assert not (tmp_path / "dask.parquet").exists()

    local = shipyard.predict_batch(churn.uri, tmp_path / "all.parquet", tmp_path / "local.parquet",
                                   id_columns=["customer_id"], on_error="skip")
    result = predict_file(client, churn.uri, str(tmp_path / "live"), str(tmp_path / "dask.parquet"),
                          id_columns=["customer_id"], on_error="skip", runtime="python")
    assert result.skipped == local.skipped and [row["row"] for row in result.skipped] == [1700, 2200, 2900]
    assert pd.read_csv(f"{tmp_path / 'dask.parquet'}.errors.csv").equals(pd.read_csv(local.errors_file))
    assert_same_output(tmp_path / "dask.parquet", tmp_path / "local.parquet")


def test_dask_predict_maps_partitions_with_the_local_engines_answers(client: Any, churn: Churn,
                                                                     tmp_path: Path) -> None:
    import dask.dataframe as dd

    churn.live.to_parquet(tmp_path / "all.parquet")
    shipyard.predict_batch(churn.uri, tmp_path / "all.parquet", tmp_path / "local.parquet", id_columns=["customer_id"])
    reference = pd.read_parquet(tmp_path / "local.parquet")
    frame = dd.from_pandas(churn.live, npartitions=4)
    answers = shipyard.dask.predict(frame, churn.uri, result="all", runtime="python").compute()
    assert answers.index.tolist() == churn.live.index.tolist()
    assert answers["prediction"].tolist() == reference["prediction"].tolist()
    np.testing.assert_allclose(answers[["proba_0", "proba_1"]].to_numpy(),
                               reference[["proba_0", "proba_1"]].to_numpy(), rtol=0, atol=1e-12)
    labels = shipyard.dask.predict(frame, churn.uri, runtime="python").compute()
    assert labels.tolist() == reference["prediction"].tolist()


def test_an_attached_onnx_export_is_what_the_workers_run(client: Any, churn: Churn, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="the ONNX runtime needs the onnx extra")
    from shipyard.dask import predict_file
    from shipyard.models.onnx_flavor import OnnxPredictor

    shipyard.export_onnx(churn.uri, tmp_path / "churn.onnx")
    churn.live.to_parquet(tmp_path / "all.parquet")
    result = predict_file(client, churn.uri, str(tmp_path / "all.parquet"), str(tmp_path / "dask.parquet"),
                          id_columns=["customer_id"])  # runtime "auto"
    assert result.rows_out == len(churn.live)
    scored = pd.read_parquet(tmp_path / "dask.parquet")
    python = shipyard.load_model(churn.uri)
    onnx = OnnxPredictor((tmp_path / "churn.onnx").read_bytes(), python.signature, python.signature.output.classes)
    features = churn.live[python.signature.column_names]
    expected = onnx.predict_proba(python.check_input(features))
    np.testing.assert_allclose(scored[["proba_0", "proba_1"]].to_numpy(), expected, rtol=0, atol=1e-12)
    assert np.abs(scored["proba_1"].to_numpy() - python.predict_proba(features)["proba_1"].to_numpy()).max() > 0


def test_an_empty_input_gives_an_empty_output_with_the_columns(client: Any, churn: Churn, tmp_path: Path) -> None:
    from shipyard.dask import predict_file

    churn.live.head(0).to_parquet(tmp_path / "empty.parquet")
    result = predict_file(client, churn.uri, str(tmp_path / "empty.parquet"), str(tmp_path / "out.parquet"),
                          id_columns=["customer_id"], runtime="python")
    assert (result.rows_in, result.rows_out) == (0, 0)
    assert pq.read_table(tmp_path / "out.parquet").column_names == ["customer_id", "prediction", "proba_0", "proba_1"]
