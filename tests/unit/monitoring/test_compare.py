"""compare_frames on generated data whose truth is known: shifted columns flagged, unshifted ones not (false
alarms counted over several seeds, in both the large-sample and the p-value regime), missing values and new
levels reported in words, the same counts as the live-traffic window builder, and bad input refused."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from shipyard.errors import ShipyardError, ValidationError
from shipyard.models.profile import categorical_profile, numeric_profile
from shipyard.monitoring.checks import CheckResult
from shipyard.monitoring.compare import Comparison, CurrentProfiler, compare_frames, reference_profile
from shipyard.monitoring.config import Thresholds
from shipyard.monitoring.monitor import MonitoringResult
from shipyard.monitoring.source import Reference, Window
from shipyard.monitoring.windows import WindowBuilder, WindowProfile

SHIFTED = ("income", "usage", "plan", "segment")
UNSHIFTED = ("tenure", "latency", "score", "heavy", "region", "city", "paperless", "device")
SEEDS = (11, 22, 33, 44, 55)
MAX_FALSE_ALARM_RATE = 0.05


def levels(rng: np.random.Generator, rows: int, name: str, count: int, *, zipf: float, reverse: bool = False,
           new: float = 0.0, dictionary: bool = False) -> pa.Array:
    names = [f"{name}_{index}" for index in range(count)]
    shares = 1.0 / np.arange(1, count + 1) ** zipf
    shares = shares / shares.sum()
    if reverse:
        shares = shares[::-1]
    if new:
        names.append(f"{name}_new")
        shares = np.append(shares * (1 - new), new)
    encoded = pa.DictionaryArray.from_arrays(pa.array(rng.choice(len(names), rows, p=shares).astype("int32")),
                                             pa.array(names))
    return encoded if dictionary else encoded.cast(pa.string())


def make_table(rows: int, seed: int, *, shifted: bool) -> pa.Table:
    """Six numeric and six categorical columns; with ``shifted``, the four SHIFTED columns change."""
    rng = np.random.default_rng(seed)
    usage = rng.normal(300, 40, rows)
    return pa.table({
        "income": rng.normal(50_000, 12_000, rows) + (6_000 if shifted else 0),  # mean +0.5 sd
        "usage": 300 + (usage - 300) * 1.6 if shifted else usage,  # spread x1.6
        "tenure": rng.poisson(30, rows).astype("int64"),  # integers: ties on the decile edges
        "latency": rng.lognormal(3.0, 0.6, rows),
        "score": rng.beta(2.0, 5.0, rows),
        "heavy": rng.standard_t(3, rows),  # heavy tails: values beyond the reference range happen
        "plan": levels(rng, rows, "plan", 3, zipf=1.2, reverse=shifted),  # shares reversed
        "segment": levels(rng, rows, "segment", 5, zipf=0.8, new=0.15 if shifted else 0.0),  # a new level
        "region": levels(rng, rows, "region", 8, zipf=0.5),
        "city": levels(rng, rows, "city", 50, zipf=1.2),  # rare levels
        "paperless": pa.array(rng.random(rows) < 0.6),
        "device": levels(rng, rows, "device", 4, zipf=0.7, dictionary=True),  # as a pandas categorical
    })


def column_checks(result: Comparison, columns: tuple[str, ...]) -> list[CheckResult]:
    return [item for item in result.results if item.feature in columns]


@pytest.mark.slow
@pytest.mark.parametrize(("reference_rows", "current_rows", "statistics"), [
    (100_000, 1_000_000, {"psi", "jensen_shannon"}),  # large samples: effect sizes
    (2_000, 2_000, {"ks", "chi2"}),  # effective size 1,000: p-value tests
], ids=["1M-vs-100k", "2k-vs-2k"])
def test_shifted_columns_are_flagged_and_false_alarms_stay_rare(
        reference_rows: int, current_rows: int, statistics: set[str], record_property: Any) -> None:
    false_alarms, checked = [], 0
    for seed in SEEDS:
        result = compare_frames(make_table(reference_rows, seed, shifted=False),
                                make_table(current_rows, seed + 1000, shifted=True))
        drift = {item.feature: item for item in result.results if item.check == "drift"}
        assert {item.statistic for item in drift.values()} == statistics
        missed = [name for name in SHIFTED if drift[name].status == "ok"]
        assert not missed, f"seed {seed}: shifted columns not flagged: {[drift[name].message for name in missed]}"
        unshifted = column_checks(result, UNSHIFTED)
        checked += len(unshifted)
        false_alarms += [f"seed {seed}: {item.check} {item.message}" for item in unshifted if item.status != "ok"]
    rate = len(false_alarms) / checked
    record_property("false_alarm_rate", rate)
    assert checked == len(SEEDS) * len(UNSHIFTED) * 3  # drift, missing, and range or new levels per column
    assert rate <= MAX_FALSE_ALARM_RATE, f"false-alarm rate {rate:.1%} over {checked} checks: {false_alarms}"


def test_the_new_level_and_the_reversed_shares_are_named() -> None:
    result = compare_frames(make_table(20_000, 1, shifted=False), make_table(20_000, 2, shifted=True))
    new = next(item for item in result.results if item.check == "new_categories" and item.feature == "segment")
    assert new.status == "alert"
    assert new.message.startswith("`segment` has 1 new level: 'segment_new' (")
    assert result.verdict == "alert"
    assert result.flagged("drift") == list(SHIFTED)


def test_missing_values_and_new_levels_are_reported_in_words() -> None:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({
        "total_charges": np.where(np.arange(10_000) % 500 == 0, np.nan, rng.gamma(2.0, 1000.0, 10_000)),  # 0.2%
        "contract": rng.choice(["month-to-month", "one year", "two year"], 10_000),
    })
    charges = rng.gamma(2.0, 1000.0, 10_000)
    charges[:4_100] = np.nan  # 41.0% missing, suddenly
    contract = rng.choice(["month-to-month", "one year", "two year"], 10_000).astype(object)
    contract[:300], contract[300:500], contract[500:600] = "weekly", "daily", "hourly"
    current = pd.DataFrame({"total_charges": charges, "contract": contract})

    result = compare_frames(reference, current)

    by_check = {(item.check, item.feature): item for item in result.results}
    missing = by_check["missing", "total_charges"]
    assert missing.message == "missing in `total_charges` went from 0.2% to 41.0%"
    assert missing.status == "alert" and math.isclose(missing.details["current_rate"], 0.41)
    new = by_check["new_categories", "contract"]
    assert new.message == "`contract` has 3 new levels: 'weekly', 'daily', 'hourly' (6.0% of rows)"
    assert new.status == "alert"
    assert by_check["missing", "contract"].status == "ok"
    assert "ALERT" in result.summary() and "total_charges" in result.summary()


def test_counts_are_the_window_builders_counts() -> None:
    """The current side is folded exactly as windows.WindowBuilder folds the prediction log."""
    rng = np.random.default_rng(5)
    reference = pa.table({"x": rng.normal(0, 1, 5_000), "n": rng.integers(0, 20, 5_000),
                          "c": levels(rng, 5_000, "c", 6, zipf=1.0)})
    profile = reference_profile(reference)
    edges = profile["columns"]["x"]["decile_edges"] + profile["columns"]["x"]["hist_edges"]
    x = np.concatenate([rng.normal(0.3, 1.4, 3_000), edges, [np.nan] * 7, [np.inf, -np.inf, 1e9, -1e9]])
    rows = len(x)
    current = pa.table({"x": x, "n": pa.array(rng.integers(-5, 30, rows)),
                        "c": pa.array([None] * 11 + levels(rng, rows - 11, "c", 8, zipf=1.0).to_pylist())})

    ours = CurrentProfiler(profile)
    for batch in current.to_batches(max_chunksize=700):  # several batches: counts must add up
        ours.add(batch)

    log = pa.table({
        "row": pa.array(np.arange(rows)), "timestamp": pa.array(np.zeros(rows, dtype="int64"), pa.timestamp("ms")),
        "latency_ms": pa.array(np.ones(rows)), "variant": ["live"] * rows, "model_version": ["1"] * rows,
        "prediction": ["a"] * rows, "probabilities": pa.nulls(rows, pa.list_(pa.float64())),
        **{f"input.{name}": current.column(name) for name in current.column_names},
    })
    builder = WindowBuilder(profile, None, 0, 1)
    builder.add_batch(log)
    for name in ("x", "n", "c"):
        mine, theirs = ours.finish().features[name], builder.finish().features[name]
        assert (mine.count, mine.missing, mine.below, mine.above) == (theirs.count, theirs.missing, theirs.below,
                                                                      theirs.above), name
        assert mine.decile_counts == theirs.decile_counts and mine.hist_counts == theirs.hist_counts, name
        assert mine.levels == theirs.levels, name
        assert math.isclose(mine.total, theirs.total) and mine.total_exponent == theirs.total_exponent
    finite = x[np.isfinite(x)]
    assert ours.finish().features["x"].decile_counts[1:-1] == numeric_profile(finite, profile["columns"]["x"])[
        "decile_counts"][1:-1]


def test_reference_levels_are_the_training_profiles_levels() -> None:
    values = pd.Series(["b", "a", None, "b", "c", "b", None, "a"] * 50)
    flags = pd.Series([True, False, True, None] * 100, dtype=object)
    profile = reference_profile(pa.table({"s": pa.array(values), "f": pa.array(flags, pa.bool_())}))
    assert profile["columns"]["s"] == categorical_profile(values)
    assert profile["columns"]["f"] == categorical_profile(flags)
    assert profile["rows"] == 400


def test_pandas_and_arrow_inputs_give_the_same_result() -> None:
    reference, current = make_table(3_000, 8, shifted=False), make_table(3_000, 9, shifted=True)
    from_arrow = compare_frames(reference, current)
    from_pandas = compare_frames(reference.to_pandas(), current.to_pandas())
    assert [item.to_dict() for item in from_pandas.results] == [item.to_dict() for item in from_arrow.results]
    assert from_pandas.to_dict()["reference"]["format"] == "dataframe"
    assert from_arrow.to_dict()["current"] == {"kind": "data", "path": None, "format": "arrow", "rows": 3_000}


def test_json_has_the_shape_of_a_monitoring_result() -> None:
    result = compare_frames(make_table(2_000, 1, shifted=False), make_table(2_000, 2, shifted=True))
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    live = MonitoringResult("churn", Window(0, 1), Reference("training", None, {"rows": 1}, None),
                            WindowProfile(0, 1), None, []).to_dict()
    assert set(data) == set(live)
    assert data["verdict"] == "alert" and data["deployment"] is None
    assert data["reference"]["rows"] == 2_000 and len(data["reference"]["columns"]) == 12
    assert {tuple(sorted(check)) for check in data["checks"]} == {
        ("check", "feature", "message", "statistic", "status", "threshold", "value")}
    assert {check["check"] for check in data["checks"]} == {"drift", "missing", "out_of_range", "new_categories"}
    assert "details" in result.to_dict(details=True)["checks"][0]


def test_identical_data_is_ok_and_says_so() -> None:
    table = make_table(5_000, 3, shifted=False)
    result = compare_frames(table, table)
    assert result.verdict == "ok" and result.failing() == []
    assert result.summary() == ("OK: 5,000 rows of the current data compared with 5,000 rows of the reference "
                                "data over 12 column(s), nothing out of line.")


def test_thresholds_and_columns_are_honoured() -> None:
    reference, current = make_table(20_000, 4, shifted=False), make_table(20_000, 5, shifted=True)
    lenient = Thresholds({"features": {"income": {"drift": {"psi_warn": 5.0, "psi_alert": 9.0}}}})
    result = compare_frames(reference, current, thresholds=lenient, columns=["income", "usage"])
    assert {item.feature for item in result.results} == {"income", "usage"}
    assert result.flagged("drift") == ["usage"]
    assert result.to_dict()["reference"]["columns"] == ["income", "usage"]
    assert result.notes == []  # the other columns were left out by choice: no finding, no note


def test_a_column_without_reference_values_only_counts_missing() -> None:
    reference = pa.table({"x": pa.array([None] * 100, pa.float64()), "y": np.arange(100.0)})
    current = pa.table({"x": pa.array(np.arange(100.0)), "y": np.arange(100.0)})
    result = compare_frames(reference, current)
    assert [(item.check, item.feature) for item in result.results if item.feature == "x"] == [("missing", "x")]
    assert result.notes == ["`x` has no values in the reference data: only its missing values were compared."]


@pytest.mark.parametrize(("reference", "current", "field", "words"), [
    (pd.DataFrame({"a": [1.0], "b": [2.0]}), pd.DataFrame({"a": [1.0]}), "b",
     "Column `b` is in the reference data but not in the current data"),
    (pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": ["one"]}), "a",
     "Column `a` is numeric in the reference, but the current data holds values there that are not numbers"),
    (pd.DataFrame({"a": [1.0]}), [[1.0]], "current", "the current data must be a pandas DataFrame or an Arrow"),
    (pd.DataFrame({"a": pd.Series([], dtype="float64")}), pd.DataFrame({"a": [1.0]}), "reference",
     "the reference data has no rows"),
    (pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": pd.Series([], dtype="float64")}), "current",
     "the current data has no rows"),
    (pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": [1.0, "x"]}, dtype=object), "a",
     "the current data cannot be converted to Arrow"),
])
def test_bad_input_is_refused_with_the_column_named(reference: Any, current: Any, field: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words) as caught:
        compare_frames(reference, current)
    assert caught.value.field == field
    assert isinstance(caught.value, ShipyardError) and caught.value.exit_code == 2


def test_an_unknown_column_is_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(ValidationError, match=r"Column `nope` is not in the reference data; its columns are `a`, `b`"):
        compare_frames(pd.DataFrame({"a": [1.0], "b": [1.0]}), pd.DataFrame({"a": [1.0], "b": [1.0]}),
                       columns=["nope"])


def test_a_column_only_in_the_current_data_is_a_finding() -> None:
    reference = make_table(3_000, 6, shifted=False)
    current = reference.append_column("discount", pa.array(np.linspace(0, 1, 3_000))).append_column(
        "channel", pa.array(["web"] * 3_000))
    result = compare_frames(reference, current)
    found = [item for item in result.results if item.check == "new_columns"]
    assert [(item.feature, item.status) for item in found] == [("discount", "warn"), ("channel", "warn")]
    assert found[0].message == ("New column `discount` is in the current data but not in the reference data: "
                                "it was not compared.")
    assert result.verdict == "warn"
    assert result.summary() == ("WARN: 0 alert(s), 2 warning(s): New column `discount` is in the current data but "
                                "not in the reference data: it was not compared; New column `channel` is in the "
                                "current data but not in the reference data: it was not compared.")
    assert result.notes == []  # said once, as findings


def test_ranges_and_levels_are_named_after_the_reference_they_come_from() -> None:
    reference = pd.DataFrame({"x": np.linspace(10, 20, 1_000), "c": ["a", "b"] * 500})
    current = pd.DataFrame({"x": np.linspace(15, 35, 1_000), "c": ["a", "b"] * 500})
    result = compare_frames(reference, current)
    messages = {item.check: item.message for item in result.results}
    assert messages["out_of_range"] == ("75.0% of `x` values are outside the reference range 10 to 20 (0 below, "
                                        "750 above)")
    assert messages["new_categories"] == "`c`: no levels unseen in the reference"
    assert "training" not in " ".join(messages.values())


def test_huge_finite_values_give_a_finite_mean_without_warnings() -> None:
    """Two values of 1e308 overflow a plain sum (numpy's RuntimeWarning, an error here, and a mean of inf)."""
    from fractions import Fraction

    rng = np.random.default_rng(9)
    reference = pd.DataFrame({"x": rng.normal(50, 10, 2_000)})
    values = rng.normal(50, 10, 2_000)
    values[[10, 20]] = 1e308
    result = compare_frames(reference, pd.DataFrame({"x": values}))
    expected = float(sum(Fraction(value) for value in values) / len(values))  # exact, then rounded once
    window = result.current.features["x"]
    assert window.mean == pytest.approx(expected, rel=1e-14) and math.isfinite(expected)
    drift = next(item for item in result.results if item.check == "drift")
    assert f"mean {expected:.4g} vs " in drift.message, drift.message
    out = next(item for item in result.results if item.check == "out_of_range")
    assert (window.above, out.status) == (2, "ok")
    assert result.verdict == "ok"
