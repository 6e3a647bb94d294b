"""Compare two datasets column by column, without a server: what ``shipyard monitor compare REF CUR`` runs.

The reference (say the training set) is profiled as a model's training data is (``models/profile.py``:
reference deciles and a 20-bin chart histogram per numeric column, level counts per categorical one), the
current data is folded into counts on the reference's own bins, as ``windows.WindowBuilder`` folds the
prediction log, and the input checks of live monitoring run on the two (``checks.input_checks``): drift,
missing values, new categories and values outside the reference range. A column only the current data has is
a finding of its own (``new_columns``, a warning): it cannot be compared, and the data changed shape.

Column kinds come from the reference's Arrow types: integers, floats and decimals are numeric; strings,
dictionaries (pandas categoricals) and booleans are categorical; anything else (dates, binary...) is only
checked for missing values. Files are read by ``_datafiles``: the current file in record batches, never
whole. Counting is vectorised (numpy comparisons and Arrow ``value_counts``): no Python code runs per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from ..models.datafile import type_family
from ..models.profile import MAX_LEVELS, PROFILE_VERSION, numeric_profile
from . import _datafiles as files, checks, estimated_quality
from ._datafiles import DataSource
from .config import Thresholds
from .source import Reference
from .windows import SCAN_BATCH_ROWS, FeatureWindow, WindowProfile, fold_levels


@dataclass
class Comparison:
    """The checks of one comparison; ``to_dict`` has the shape of ``MonitoringResult.to_dict``."""

    reference: Reference
    current: WindowProfile
    results: list[checks.CheckResult]
    reference_source: DataSource
    current_source: DataSource
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return checks.worst(self.results)

    def failing(self) -> list[checks.CheckResult]:
        return [result for result in self.results if result.status != "ok"]

    def flagged(self, check: str = "drift") -> list[str]:
        """The features whose ``check`` is not ok, in column order."""
        return [str(result.feature) for result in self.results if result.check == check and result.status != "ok"]

    def to_dict(self, *, details: bool = False) -> dict[str, Any]:
        columns = self.reference.profile.get("columns", {})
        return {
            "verdict": self.verdict,
            "deployment": None,
            "reference": {"kind": "data", **self.reference_source.to_dict(), "columns": list(columns)},
            "current": {"kind": "data", **self.current_source.to_dict()},
            "checks": [result.to_dict(details=details) for result in self.results],
            "notes": self.notes,
        }

    def summary(self, *, status: bool = True) -> str:
        """The verdict in one sentence, naming the worst findings ("WARN: 0 alert(s), 1 warning(s): ...");
        ``status=False`` leaves out the leading status word for a caller that shows it already."""
        columns = len(self.reference.profile.get("columns", {}))
        text = checks.findings(self.results) or (
            f"{self.current_source.rows:,} rows of {self.current_source.label} compared with "
            f"{self.reference_source.rows:,} rows of {self.reference_source.label} over {columns} column(s), "
            "nothing out of line.")
        return checks.verdict_sentence(self.verdict, text, status=status)


def compare_frames(reference: Any, current: Any, *, thresholds: Thresholds | None = None,
                   columns: Sequence[str] | None = None, model: Any = None, target: str | None = None) -> Comparison:
    """Compare two in-memory datasets (pandas DataFrames or Arrow tables) column by column.

    Args:
        reference: the data that is right (e.g. the training set); it fixes the columns, kinds and bins.
        current: the data to check against it; it must have every compared column.
        thresholds: check thresholds (default: ``monitoring.config.DEFAULTS``).
        columns: compare only these columns (default: every column of the reference).
        model: a model URI or loaded classifier: its performance on ``current`` is estimated from its scores
            (:mod:`.estimated_quality`), and compared with the labels where ``current`` has them.
        target: the label column, which the reference must have (required with ``model``; never compared).

    Returns:
        A :class:`Comparison` with ``verdict``, ``results``, ``summary()`` and ``to_dict()``.

    Raises:
        ValidationError: not a DataFrame or Arrow table, a column missing from either side, or a current
            column whose values cannot be read as the reference's kind (text where numbers were).
    """
    ref_source, cur_source = files.memory_source(reference, "reference"), files.memory_source(current, "current")
    ref_table, cur_table = files.as_table(reference, ref_source), files.as_table(current, cur_source)
    names = _without(_chosen_columns(ref_table.schema.names, columns, ref_source), target)
    _require_columns(names, cur_table.schema.names, ref_source, cur_source)
    new = _without(_new_columns(ref_table.schema.names, cur_table.schema.names), target) if columns is None else []
    comparison = _compare(ref_table.select(names), [cur_table.select(names)], new, ref_source, cur_source,
                          thresholds)
    if model is not None:
        comparison.results += estimated_quality.checks_for(model, ref_table.to_pandas(), cur_table.to_pandas(),
                                                           _required_target(target), thresholds=thresholds)
    return comparison


def compare_files(reference_path: str | Path, current_path: str | Path, *, thresholds: Thresholds | None = None,
                  columns: Sequence[str] | None = None, batch_rows: int = SCAN_BATCH_ROWS,
                  encoding: str | None = None, model: Any = None, target: str | None = None,
                  trust: bool | Sequence[str] = ()) -> Comparison:
    """Compare two CSV or Parquet files column by column, reading the current file in record batches.

    The format comes from the suffix (``.csv``, ``.tsv``, ``.csv.gz``; ``.parquet``, ``.pq``) or, without
    one, from the content (Parquet files start with ``PAR1``). Empty CSV cells and the usual spellings of a
    missing value (``NA``, ``NaN``, ``null``...) are missing. The reference file is read whole, as Arrow (its
    deciles need every value); the current file never is, so its size is bounded by the disk, not memory.

    Args:
        reference_path: the reference file (e.g. the training set); it fixes the columns, kinds and bins.
        current_path: the file to check; it must have every compared column.
        thresholds: check thresholds (default: ``monitoring.config.DEFAULTS``).
        columns: compare only these columns (default: every column of the reference).
        batch_rows: rows per Parquet record batch while streaming the current file.
        encoding: the text encoding of CSV files (UTF-8 by default, decoded strictly: a byte that is not text is
            an error naming the file, row and byte offset), e.g. ``"latin-1"``.
        model, target: estimate the model's performance on the current file (see :func:`compare_frames`).
        trust: what ``load_model`` may trust when ``model`` is a URI of a pickled package.

    Returns:
        A :class:`Comparison` (see :func:`compare_frames`).

    Raises:
        NotFoundError: a file does not exist.
        ValidationError: a file that is not readable CSV/Parquet or not text in its encoding, a column missing
            from either file, or a current column whose values cannot be read as the reference's kind.
    """
    ref_source = files.file_source(reference_path, "reference", encoding)
    cur_source = files.file_source(current_path, "current", encoding)
    ref_names = files.file_schema(ref_source).names
    names = _without(_chosen_columns(ref_names, columns, ref_source), target)
    cur_names = files.file_schema(cur_source).names
    _require_columns(names, cur_names, ref_source, cur_source)
    if model is not None:  # before the scan: a wrong URI or target should not cost a pass over the data
        model = estimated_quality.as_model(model, trust)
        _required_target(target)
    ref_table = files.read_table(ref_source, names, ref_names)
    batches = files.stream_batches(cur_source, ref_table.schema, cur_names, batch_rows)
    new = _without(_new_columns(ref_names, cur_names), target) if columns is None else []
    comparison = _compare(ref_table, batches, new, ref_source, cur_source, thresholds)
    if model is not None:
        from ..models.evaluate import read_table

        comparison.results += estimated_quality.checks_for(
            model, read_table(reference_path, encoding=encoding), read_table(current_path, encoding=encoding),
            _required_target(target), thresholds=thresholds)
    return comparison


def reference_profile(table: Any) -> dict[str, Any]:
    """The profile of an Arrow table, shaped like ``models.profile.profile_frame``'s (its bins come from it).

    Numeric columns get ``numeric_profile``; categorical ones the level counts ``categorical_profile`` keeps
    (levels as ``str(value)``, the ``MAX_LEVELS`` most frequent, the rest summed as ``other``), counted by
    Arrow instead of pandas. Other columns (type: their Arrow type) and columns without a single value (type
    ``"empty"``) only count present and missing values.
    """
    columns: dict[str, Any] = {}
    for name in table.schema.names:
        column = table.column(name)
        kind = files.kind_of(column.type)
        present = len(column) - column.null_count
        if kind == "numeric":
            profile = numeric_profile(_float_values(column))
            columns[name] = profile if profile["min"] is not None else _counts_only(column, "empty")
        elif kind == "categorical":
            columns[name] = _categorical_reference(column) if present else _counts_only(column, "empty")
        else:  # an all-empty CSV column has Arrow's null type
            columns[name] = _counts_only(column, "empty" if column.null_count == len(column) else str(column.type))
    return {"version": PROFILE_VERSION, "rows": table.num_rows, "columns": columns}


class CurrentProfiler:
    """Fold record batches (or tables) of current data into a :class:`WindowProfile` on the reference's bins:
    per feature the counts ``windows.WindowBuilder`` keeps for the prediction log."""

    def __init__(self, reference: dict[str, Any], source: DataSource | None = None) -> None:
        self.reference = reference  # reference_profile(...): {"columns": {name: profile}}
        self.source = source or DataSource("current", "the current data", "arrow")
        self.profile = WindowProfile(0, 0)

    def add(self, batch: Any) -> None:
        """Count one record batch or table (columns by name; columns not in the reference are ignored)."""
        self.profile.rows += batch.num_rows
        names = batch.schema.names
        for name, reference in self.reference.get("columns", {}).items():
            if name in names:
                self._add_feature(name, reference, batch.column(names.index(name)))

    def finish(self) -> WindowProfile:
        return self.profile

    def _add_feature(self, name: str, reference: dict[str, Any], column: Any) -> None:
        kind = reference.get("type")
        feature = self.profile.features.get(name)
        if kind == "numeric":
            feature = feature or FeatureWindow("numeric", decile_counts=[0] * (len(reference["decile_edges"]) + 1),
                                               hist_counts=[0] * max(len(reference["hist_edges"]) - 1, 0))
            _fold_numeric(feature, reference, self._numbers(name, column))
        elif kind == "categorical":
            if type_family(column.type) == "binary":
                raise ValidationError(
                    f"Column `{name}` is text in the reference, but {self.source.label} holds binary data (raw bytes) "
                    "there; decode it as text with its encoding first (e.g. .str.decode('latin-1')).", field=name)
            feature = feature or FeatureWindow("categorical")
            fold_levels(feature, column)
        else:
            feature = feature or FeatureWindow(str(kind))
            feature.missing += column.null_count
            feature.count += len(column) - column.null_count
        self.profile.features[name] = feature

    def _numbers(self, name: str, column: Any) -> Any:
        import pyarrow as pa

        family = type_family(column.type)
        if family not in ("integer", "float", "decimal", "null"):  # text that spells numbers is still text
            raise ValidationError(
                f"Column `{name}` is numeric in the reference, but {self.source.label} holds values there that are "
                f"not numbers (its type is {column.type}); fix the data or leave the column out (columns=[...]).",
                field=name)
        try:
            return _float_values(column)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValidationError(
                f"Column `{name}` is numeric in the reference, but {self.source.label} holds values there that are "
                f"not numbers ({files.arrow_reason(exc)}); fix the data or leave the column out (columns=[...]).",
                field=name) from None


# ------------------------------------------------------------------------------------------------ internals


def _compare(ref_table: Any, batches: Iterable[Any], new_columns: Sequence[str], ref_source: DataSource,
             cur_source: DataSource, thresholds: Thresholds | None) -> Comparison:
    ref_source.rows = ref_table.num_rows
    if ref_table.num_rows == 0:
        raise ValidationError(f"{ref_source.label} has no rows: there is nothing to compare against.",
                              field="reference")
    profile = reference_profile(ref_table)
    profiler = CurrentProfiler(profile, cur_source)
    for batch in batches:
        profiler.add(batch)
    current = profiler.finish()
    cur_source.rows = current.rows
    if current.rows == 0:
        raise ValidationError(f"{cur_source.label} has no rows: there is nothing to compare.", field="current")
    reference = Reference("reference", None, profile, None)
    results = checks.input_checks(reference, current, thresholds or Thresholds())
    results += [checks.new_column(name, cur_source.label, ref_source.label) for name in new_columns]
    notes = []
    for name, column in profile["columns"].items():
        if column["type"] == "empty":
            notes.append(f"`{name}` has no values in {ref_source.label}: only its missing values were compared.")
        elif column["type"] not in ("numeric", "categorical"):
            notes.append(f"`{name}` ({column['type']}) is neither numeric nor categorical: only its missing values "
                         "were compared.")
    return Comparison(reference, current, results, ref_source, cur_source, notes)


def _fold_numeric(feature: FeatureWindow, reference: dict[str, Any], values: Any) -> None:
    """Add a float array's counts (NaN is missing) on the reference's decile and chart bins."""
    import numpy as np

    nan = np.isnan(values)
    missing = int(np.count_nonzero(nan))
    present = int(values.size - missing)
    feature.missing += missing
    feature.count += present
    if not present:
        return
    # Each bin count is a difference of two counts of "values at or below an edge": one comparison per edge,
    # branch-free and many times faster than searchsorted + bincount on unsorted values, and NaN, which
    # compares false, needs no copy to drop. The bins are WindowBuilder's: the deciles as
    # searchsorted(side="left"), i.e. (e_i-1, e_i] with open outer bins; the chart bins as np.histogram after
    # clipping to the outer edges, i.e. [e_i, e_i+1) with the last one closed.
    at_or_below = [int(np.count_nonzero(values <= edge)) for edge in reference["decile_edges"]]
    feature.decile_counts = _add(feature.decile_counts, _differences(at_or_below, present))
    hist_edges = reference["hist_edges"]
    if len(hist_edges) >= 2:
        below_edge = [int(np.count_nonzero(values < edge)) for edge in hist_edges[1:-1]]
        feature.hist_counts = _add(feature.hist_counts, _differences(below_edge, present))
    feature.below += int(np.count_nonzero(values < reference["min"]))
    feature.above += int(np.count_nonzero(values > reference["max"]))
    finite = np.isfinite(values)
    feature.add_total(values if missing == 0 and bool(finite.all()) else values[finite])


def _new_columns(reference_names: Sequence[str], current_names: Sequence[str]) -> list[str]:
    """Columns only the current data has, in its order (columns left out with ``columns=`` are not new)."""
    known = set(reference_names)
    return [name for name in current_names if name not in known]


def _differences(cumulative: list[int], total: int) -> list[int]:
    """Bin counts from the running counts at each inner edge."""
    return [high - low for low, high in pairwise([0, *cumulative, total])]


def _categorical_reference(column: Any) -> dict[str, Any]:
    import pyarrow.compute as pc

    counts = pc.value_counts(column)
    levels: dict[str, int] = {}
    for value, count in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True):
        if value is not None:
            key = str(value)
            levels[key] = levels.get(key, 0) + count
    ranked = sorted(levels.items(), key=lambda item: -item[1])
    return {"type": "categorical", "count": len(column) - column.null_count, "missing": column.null_count,
            "levels": dict(ranked[:MAX_LEVELS]), "other": sum(count for _, count in ranked[MAX_LEVELS:])}


def _counts_only(column: Any, kind: str) -> dict[str, Any]:
    return {"type": kind, "count": len(column) - column.null_count, "missing": column.null_count}


def _float_values(column: Any) -> Any:
    """A float64 numpy array of an Arrow column; nulls become NaN."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_float64(column.type):
        column = pc.cast(column, pa.float64())
    if column.null_count:
        column = pc.fill_null(column, float("nan"))  # much faster than to_numpy's own null handling
    return column.to_numpy(zero_copy_only=False)


def _add(first: list[int], second: Any) -> list[int]:
    if not first:
        return [int(count) for count in second]
    return [a + int(b) for a, b in zip(first, second, strict=True)]


def _without(names: list[str], target: str | None) -> list[str]:
    """The columns compared for drift: never the label, which the current data may not have yet."""
    return [name for name in names if name != target]


def _required_target(target: str | None) -> str:
    if not target:
        raise ValidationError("Estimating a model's performance needs the label column: pass --target.",
                              field="target")
    return target


def _chosen_columns(available: Sequence[str], columns: Sequence[str] | None, source: DataSource) -> list[str]:
    if columns is None:
        return list(available)
    unknown = [name for name in columns if name not in available]
    if unknown:
        raise ValidationError(f"Column `{unknown[0]}` is not in {source.label}; its columns are "
                              f"{_listing(available)}.", field=unknown[0])
    if not columns:
        raise ValidationError("columns is empty: name at least one column to compare.", field="columns")
    return list(dict.fromkeys(columns))


def _require_columns(names: Sequence[str], available: Sequence[str], ref: DataSource, cur: DataSource) -> None:
    present = set(available)
    missing = [name for name in names if name not in present]
    if missing:
        others = f" (nor {_listing(missing[1:])})" if len(missing) > 1 else ""
        raise ValidationError(f"Column `{missing[0]}` is in {ref.label} but not in {cur.label}{others}; add it "
                              "there, or compare only the columns both have (columns=[...]).", field=missing[0])


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(f"`{name}`" for name in list(names)[:12])
    return shown + (f" and {len(names) - 12} more" if len(names) > 12 else "")
