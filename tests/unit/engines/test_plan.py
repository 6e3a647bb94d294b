"""Planning on the driver: pieces of whole row groups numbered by input row, and checks before any engine starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import shipyard
from shipyard.engines.plan import Piece, Plan, plan_input
from shipyard.models.signature import infer_signature


def test_pieces_join_row_groups_of_one_file_and_number_rows_across_files() -> None:
    plan = Plan("in", [("a.parquet", [100, 100, 100, 50]), ("b.parquet", [300, 10])], ["x"])
    assert plan.rows == 660
    pieces = plan.pieces(batch_size=150, parallelism=1)  # target: max(150, 660 / 3 = 220) rows a piece
    assert pieces == [Piece("a.parquet", (0, 1), 0, 200), Piece("a.parquet", (2, 3), 200, 150),
                      Piece("b.parquet", (0,), 350, 300), Piece("b.parquet", (1,), 650, 10)]
    assert [piece.row_groups for piece in plan.pieces(batch_size=1, parallelism=50)] == [(0,), (1,), (2,), (3,),
                                                                                          (0,), (1,)]


def test_a_missing_column_and_a_wrong_type_are_refused_from_the_footer(tmp_path: Path) -> None:
    signature = infer_signature(pd.DataFrame({"tenure": [1, 2], "contract": ["a", "b"]}))
    pq.write_table(pa.table({"tenure": [1, 2]}), tmp_path / "short.parquet")
    with pytest.raises(shipyard.ValidationError, match=r"short.parquet has no column 'contract'") as caught:
        plan_input(str(tmp_path / "short.parquet"), signature, [])
    assert caught.value.field == "contract"
    pq.write_table(pa.table({"tenure": ["one", "two"], "contract": ["a", "b"]}), tmp_path / "text.parquet")
    with pytest.raises(shipyard.ValidationError, match=r"column 'tenure' holds text \(e.g. 'one'\)"):
        plan_input(str(tmp_path / "text.parquet"), signature, [])
    with pytest.raises(shipyard.ValidationError, match="Id column 'customer_id' is not in"):
        plan_input(str(tmp_path / "text.parquet"), signature, ["customer_id"])
    with pytest.raises(shipyard.NotFoundError):
        plan_input(str(tmp_path / "nothing-here"), signature, [])


def test_a_folder_is_its_parquet_files_in_name_order_without_hidden_ones(tmp_path: Path) -> None:
    signature = infer_signature(pd.DataFrame({"tenure": [1, 2]}))
    for name, rows in (("b.parquet", 3), ("a.parquet", 2), ("_SUCCESS.parquet", 9), (".hidden.parquet", 9)):
        pq.write_table(pa.table({"tenure": list(range(rows)), "extra": [0] * rows}), tmp_path / name)
    plan = plan_input(str(tmp_path), signature, [])
    assert [Path(url).name for url, _ in plan.files] == ["a.parquet", "b.parquet"]
    assert (plan.rows, plan.source_name, plan.ignored_columns) == (5, tmp_path.name, ["extra"])


def test_the_engines_load_on_first_use_of_shipyard_spark_or_shipyard_dask(tmp_path: Path) -> None:
    code = ("import json, sys, shipyard\nbefore = [m for m in sys.modules if m.startswith('shipyard.engines')]\n"
            "shipyard.dask.predict\nprint(json.dumps([before, 'shipyard.engines.dask_frames' in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert json.loads(done.stdout) == [[], True]
