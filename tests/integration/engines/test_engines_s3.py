"""The Dask engine reading its input from and writing its output to S3 (a real moto server on 127.0.0.1): the
workers open ``s3://`` with fsspec, the driver joins the parts into one object, and nothing else is left behind."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import shipyard
from tests._servers import s3
from tests.integration.engines.conftest import Churn, assert_same_output, write_parts

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(s3.unavailable_reason() is not None, reason=str(s3.unavailable_reason()))]
distributed = pytest.importorskip("distributed", reason="the Dask engine needs the dask extra")


@pytest.fixture
def endpoint(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto on 127.0.0.1, named to s3fs by the environment (the workers started afterwards inherit it)."""
    with s3.moto_server() as url:
        for key, value in s3.CREDENTIALS.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(Path(request.config.rootpath) / "nonexistent-aws-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(Path(request.config.rootpath) / "nonexistent-aws-creds"))
        s3.create_bucket(url, "scores")
        yield url


def test_input_and_output_on_s3_match_the_local_engine(endpoint: str, churn: Churn, tmp_path: Path) -> None:
    import s3fs

    live = churn.live.astype({"tenure": "float64"})
    live.loc[42, "tenure"] = 0.5  # one bad row: skipped, listed in the errors file next to the output
    live.to_parquet(tmp_path / "all.parquet")
    shipyard.predict_batch(churn.uri, tmp_path / "all.parquet", tmp_path / "local.parquet",
                           id_columns=["customer_id"], on_error="skip")
    write_parts(live, tmp_path / "live", files=2)
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint})
    fs.put(str(tmp_path / "live") + "/", "scores/in/live/", recursive=True)
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
                                       dashboard_address=None, scheduler_kwargs={"dashboard": False},
                                       silence_logs=logging.ERROR)
    with cluster, distributed.Client(cluster) as client:
        result = shipyard.dask.predict_file(client, churn.uri, "s3://scores/in/live", "s3://scores/out/scores.parquet",
                                            id_columns=["customer_id"], on_error="skip", runtime="python")
    assert (result.rows_in, result.rows_out) == (len(live), len(live) - 1)
    assert result.errors_file == "s3://scores/out/scores.parquet.errors.csv"
    fs.invalidate_cache()
    assert sorted(fs.ls("scores/out")) == ["scores/out/scores.parquet", "scores/out/scores.parquet.errors.csv"]
    fs.get("scores/out/scores.parquet", str(tmp_path / "from-s3.parquet"))
    assert_same_output(tmp_path / "from-s3.parquet", tmp_path / "local.parquet")
    errors = pd.read_csv(io.BytesIO(fs.cat("scores/out/scores.parquet.errors.csv")))
    assert errors[["row", "column"]].values.tolist() == [[42, "tenure"]]
