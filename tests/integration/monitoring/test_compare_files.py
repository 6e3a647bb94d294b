"""compare_files and ``shipyard monitor compare`` on real CSV and Parquet files: every format pairing gives the
same answer as the in-memory comparison, the current file streams in batches, CSV missing cells count as
missing, and bad files are refused naming the file and the column."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from shipyard.errors import NotFoundError, ShipyardError, ValidationError
from shipyard.monitoring.compare import compare_files, compare_frames

ROWS = 6_000


def churn_like(rows: int, seed: int, *, drifted: bool) -> pd.DataFrame:
    """Telco-churn-like columns; ``drifted`` shifts charges, empties total_charges and adds contract levels."""
    rng = np.random.default_rng(seed)
    contracts = np.array(["month-to-month", "one year", "two year"], dtype=object)
    contract = contracts[rng.choice(3, rows, p=[0.55, 0.25, 0.2])]
    total = rng.gamma(2.0, 1_100.0, rows).round(2)
    total[rng.random(rows) < 0.002] = np.nan
    if drifted:
        contract[:rows // 20] = "weekly"
        total[rows // 2:] = np.nan
    return pd.DataFrame({
        "tenure": rng.integers(0, 73, rows),
        "monthly_charges": (rng.normal(65, 30, rows) + (25 if drifted else 0)).round(2),
        "total_charges": total,
        "contract": contract,
        "payment": rng.choice(["electronic check", "mailed check", "bank transfer", "credit card"], rows),
        "senior": rng.random(rows) < 0.16,
    })


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    reference, current = churn_like(ROWS, 1, drifted=False), churn_like(ROWS, 2, drifted=True)
    paths = {}
    for name, frame in (("reference", reference), ("current", current)):
        paths[f"{name}.csv"] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[f"{name}.csv"], index=False)
        paths[f"{name}.parquet"] = tmp_path / f"{name}.parquet"
        frame.to_parquet(paths[f"{name}.parquet"], row_group_size=1_000)
    return paths


def outcome(result: object) -> list[tuple[str, str | None, str, str | None, float | None]]:
    return [(item.check, item.feature, item.status, item.statistic, None if item.value is None else
             round(item.value, 9)) for item in result.results]  # type: ignore[attr-defined]


@pytest.mark.parametrize("formats", [("csv", "csv"), ("parquet", "parquet"), ("csv", "parquet"), ("parquet", "csv")])
def test_every_format_pairing_gives_the_in_memory_answer(data: dict[str, Path], formats: tuple[str, str]) -> None:
    expected = compare_frames(churn_like(ROWS, 1, drifted=False), churn_like(ROWS, 2, drifted=True))
    result = compare_files(data[f"reference.{formats[0]}"], data[f"current.{formats[1]}"])
    assert outcome(result) == outcome(expected)
    assert result.flagged("drift") == ["monthly_charges", "contract"]
    assert result.flagged("missing") == ["total_charges"]
    assert result.to_dict()["current"] == {"kind": "data", "path": str(data[f"current.{formats[1]}"]),
                                           "format": formats[1], "rows": ROWS}
    messages = {item.message for item in result.failing()}
    assert "missing in `total_charges` went from 0.2% to 50.0%" in messages
    assert "`contract` has 1 new level: 'weekly' (5.0% of rows)" in messages


def test_the_current_file_streams_in_batches_with_the_same_counts(data: dict[str, Path]) -> None:
    assert pq.ParquetFile(data["current.parquet"]).metadata.num_row_groups == 6
    whole = compare_files(data["reference.parquet"], data["current.parquet"])
    streamed = compare_files(data["reference.parquet"], data["current.parquet"], batch_rows=700)
    assert streamed.current.rows == whole.current.rows == ROWS
    for name, feature in whole.current.features.items():
        other = streamed.current.features[name]
        assert math.isclose(other.total, feature.total) and other.total_exponent == feature.total_exponent == 0
        other.total = feature.total  # sums differ in the last bits
        assert other == feature, name
    assert [item.status for item in streamed.results] == [item.status for item in whole.results]


def test_a_parquet_file_without_a_suffix_is_recognised(data: dict[str, Path], tmp_path: Path) -> None:
    bare = tmp_path / "current-export"
    bare.write_bytes(data["current.parquet"].read_bytes())
    result = compare_files(data["reference.csv"], bare)
    assert result.current_source.format == "parquet" and result.current_source.rows == ROWS


def test_csv_missing_cells_count_as_missing(tmp_path: Path) -> None:
    reference = tmp_path / "reference.tsv"
    reference.write_text("amount\tplan\tnote\n" + "".join(f"{index}.5\tbasic\t\n" for index in range(200)))
    current = tmp_path / "current.csv"
    current.write_text("amount,plan,note\n" + "1.5,basic,\n" * 100 + ",,hi\nNA,NA,\nnull,null,\nNaN,,\n")
    result = compare_files(reference, current)
    amount, plan = result.current.features["amount"], result.current.features["plan"]
    assert (amount.count, amount.missing) == (100, 4)
    assert (plan.count, plan.missing, plan.levels) == (100, 4, {"basic": 100})
    assert result.reference.profile["columns"]["note"] == {"type": "empty", "count": 0, "missing": 200}
    assert result.notes == [f"`note` has no values in {reference}: only its missing values were compared."]


def test_text_in_a_numeric_column_names_the_file_and_the_column(data: dict[str, Path], tmp_path: Path) -> None:
    frame = churn_like(300, 3, drifted=False).astype({"monthly_charges": object})
    frame.loc[250, "monthly_charges"] = "n/a - see notes"  # past the first rows: found while streaming
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    with pytest.raises(ValidationError) as caught:
        compare_files(data["reference.csv"], bad)
    assert str(bad) in str(caught.value) and "column `monthly_charges`" in str(caught.value)
    assert caught.value.field == "monthly_charges"


def test_a_missing_file_is_not_found(data: dict[str, Path], tmp_path: Path) -> None:
    absent = tmp_path / "nowhere" / "current.parquet"
    with pytest.raises(NotFoundError, match=r"The current file .*nowhere/current.parquet does not exist") as caught:
        compare_files(data["reference.parquet"], absent)
    assert isinstance(caught.value, LookupError) and caught.value.exit_code == 2


def test_a_column_missing_from_the_current_file_is_named(data: dict[str, Path], tmp_path: Path) -> None:
    narrow = tmp_path / "narrow.parquet"
    churn_like(500, 4, drifted=False).drop(columns=["payment", "senior"]).to_parquet(narrow)
    with pytest.raises(ValidationError) as caught:
        compare_files(data["reference.csv"], narrow)
    message = str(caught.value)
    assert message.startswith(f"Column `payment` is in {data['reference.csv']} but not in {narrow} (nor `senior`)")
    assert caught.value.field == "payment"
    result = compare_files(data["reference.csv"], narrow, columns=["tenure", "contract"])  # the way out it names
    assert {item.feature for item in result.results} == {"tenure", "contract"}


@pytest.mark.parametrize("content", [b"not a parquet file at all" * 10, "truncated", b""], ids=[
    "garbage", "truncated", "empty"])
def test_an_unreadable_file_is_refused_with_its_name(data: dict[str, Path], tmp_path: Path,
                                                     content: bytes | str) -> None:
    broken = tmp_path / "broken.parquet"
    whole = data["current.parquet"].read_bytes()
    broken.write_bytes(whole[: len(whole) // 2] if content == "truncated" else content)  # type: ignore[index]
    with pytest.raises(ValidationError, match=rf"{broken} cannot be read as PARQUET") as caught:
        compare_files(data["reference.parquet"], broken)
    assert caught.value.field == "current"
    assert isinstance(caught.value, ShipyardError)


def test_empty_files_and_a_folder_are_refused(data: dict[str, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValidationError, match=rf"{empty} cannot be read as CSV: Empty CSV file"):
        compare_files(empty, data["current.csv"])
    header_only = tmp_path / "header.csv"
    header_only.write_text(data["current.csv"].read_text().splitlines()[0] + "\n")
    with pytest.raises(ValidationError, match=rf"{header_only} has no rows: there is nothing to compare"):
        compare_files(data["reference.csv"], header_only)
    with pytest.raises(ValidationError, match="is a folder"):
        compare_files(data["reference.csv"], tmp_path)


def shipyard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipyard", "monitor", "compare", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "200"}, check=False)


def verdict_line(stdout: str) -> str:
    """The verdict sentence printed above the table, unwrapped (Rich folds it at the terminal width)."""
    return " ".join(line.strip() for line in stdout.split("\u250f")[0].splitlines() if line.strip())


def test_the_cli_exit_codes_and_json(data: dict[str, Path]) -> None:
    drifted = shipyard(str(data["reference.parquet"]), str(data["current.csv"]), "--json")
    assert drifted.returncode == 3, drifted.stderr
    payload = json.loads(drifted.stdout)
    assert payload["verdict"] == "alert" and payload["current"]["rows"] == ROWS
    assert {check["feature"] for check in payload["checks"] if check["status"] != "ok"} >= {
        "monthly_charges", "contract", "total_charges"}
    same = shipyard(str(data["reference.csv"]), str(data["reference.parquet"]))
    assert same.returncode == 0, same.stdout + same.stderr
    assert verdict_line(same.stdout).startswith(f"OK: {ROWS:,} rows of "), same.stdout  # once, not "OK OK:"
    missing = shipyard(str(data["reference.csv"]), "absent.csv")
    assert missing.returncode == 2
    assert "absent.csv does not exist" in missing.stdout + missing.stderr


def test_the_cli_reports_new_columns_and_huge_values_once_and_without_warnings(data: dict[str, Path],
                                                                               tmp_path: Path) -> None:
    """A column only in the current file is a finding (exit 0, 1 with --strict); values near the largest double
    give finite statistics with no numpy warning on stderr; the verdict's status is printed once."""
    current = churn_like(ROWS, 3, drifted=False)
    current["discount"] = 0.1
    wider = tmp_path / "wider.csv"
    current.to_csv(wider, index=False)
    huge = churn_like(ROWS, 4, drifted=False)
    huge.loc[:ROWS // 2, "monthly_charges"] = 1e308  # half the rows: out of range, and a sum past the largest double
    huge_path = tmp_path / "huge.csv"
    huge.to_csv(huge_path, index=False)
    reference_path = data["reference.csv"]

    warned, strict, alerted = (shipyard(str(reference_path), str(wider)),
                               shipyard(str(reference_path), str(wider), "--strict"),
                               shipyard(str(reference_path), str(huge_path)))

    assert (warned.returncode, strict.returncode, alerted.returncode) == (0, 1, 3), warned.stderr + alerted.stderr
    for done in (warned, strict, alerted):
        assert done.stderr == "", done.stderr  # no RuntimeWarning, no traceback
    first = verdict_line(warned.stdout)  # the message is cut past 100 characters in the verdict (long paths)
    assert first.startswith("WARN: 0 alert(s), 1 warning(s): New column `discount` is in "), first  # path may be cut
    assert not first.endswith("...."), first
    assert "│ new_columns " in warned.stdout and "discount" in warned.stdout
    verdict = verdict_line(alerted.stdout)
    assert verdict.startswith("ALERT: ") and not verdict.startswith("ALERT ALERT"), verdict
    assert "outside the reference range" in alerted.stdout and "training range" not in alerted.stdout
    assert "inf" not in alerted.stdout and "nan" not in alerted.stdout.lower(), alerted.stdout
    share_mean = float(f"{(ROWS // 2 + 1) / ROWS * 1e308:.4g}")  # the non-huge half adds < 1e-300 of it
    assert f"mean {share_mean:.4g} vs " in alerted.stdout, alerted.stdout
