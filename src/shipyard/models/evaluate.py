"""Scoring a model on labelled data, for the promotion gate (and later for quality monitoring)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import NotFoundError, ValidationError
from .datafile import checked_encoding, encoding_error


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    needs_probabilities: bool
    task: str  # classification | regression


METRICS = {
    metric.name: metric
    for metric in (
        Metric("roc_auc", True, True, "classification"),
        Metric("log_loss", False, True, "classification"),
        Metric("accuracy", True, False, "classification"),
        Metric("f1", True, False, "classification"),
        Metric("precision", True, False, "classification"),
        Metric("recall", True, False, "classification"),
        Metric("rmse", False, False, "regression"),
        Metric("mae", False, False, "regression"),
        Metric("r2", True, False, "regression"),
    )
}


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ValidationError(f"Unknown metric {name!r}; use one of {', '.join(sorted(METRICS))}.",
                              field="metric") from None


def read_table(path: str | os.PathLike[str], *, encoding: str | None = None) -> Any:
    """A CSV or Parquet file as a DataFrame, with errors that name the file.

    pandas reads the CSV (its types are what the gate has always scored on) and decodes it strictly in
    ``encoding`` (UTF-8 by default); a byte that is not text is reported by :mod:`.datafile`, the one place of
    the encoding rule, naming the row, the column and the byte offset (pandas' own offset counts from a chunk).
    """
    import pandas as pd

    text = os.fspath(path)
    if not os.path.exists(text):
        raise NotFoundError(f"Data file {text!r} does not exist.")
    lowered = text.lower()
    name = checked_encoding(encoding)
    try:
        if lowered.endswith((".parquet", ".pq")):
            return pd.read_parquet(text)
        if lowered.endswith((".csv", ".csv.gz", ".txt")):
            return pd.read_csv(text, encoding=name, encoding_errors="strict")
    except UnicodeDecodeError as exc:
        raise (encoding_error(text, name) or ValidationError(f"Cannot read {text!r}: {exc}", field="data")) from None
    except Exception as exc:
        raise ValidationError(f"Cannot read {text!r}: {exc}", field="data") from exc
    raise ValidationError(f"{text!r} is neither CSV nor Parquet (by its extension).", field="data")


@dataclass(frozen=True)
class Outputs:
    """One model's answers on every holdout row, kept row by row so that two models can be compared pairwise.

    ``truth`` holds the labels in the model's own classes (or the numbers, for regression); ``output`` holds
    the class probabilities (rows x classes) for metrics that need them, else the predictions.
    """

    metric: Metric
    truth: Any
    output: Any
    classes: list[Any]


def outputs(model: Any, frame: Any, target: str, metric: str) -> Outputs:
    """The model's row-by-row answers on ``frame``, whose column ``target`` holds the truth."""
    import numpy as np

    chosen = get_metric(metric)
    if target not in frame.columns:
        raise ValidationError(f"The data has no target column {target!r} (columns: "
                              f"{', '.join(map(str, frame.columns[:12]))}).", field="target")
    truth = frame[target]
    # A labelled table usually carries more than the model's inputs (customer ids, dates): score on exactly the
    # columns the signature names, so that an id column is neither an error nor a feature.
    expected = list(model.signature.column_names)
    missing = [name for name in expected if name not in frame.columns]
    if missing:
        raise ValidationError(f"The data lacks the model's input column(s) {', '.join(map(repr, missing))}.",
                              field=missing[0])
    features = frame[expected]
    if chosen.task == "regression":
        return Outputs(chosen, np.asarray(truth, dtype=float), np.asarray(model.predict(features), dtype=float), [])
    classes = list(model.signature.output.classes)
    truth = _align_labels(truth, classes)
    if chosen.needs_probabilities:
        return Outputs(chosen, np.asarray(truth), np.asarray(model.predict_proba(features).to_numpy(), dtype=float),
                       classes)
    return Outputs(chosen, np.asarray(truth), np.asarray(model.predict(features)), classes)


def metric_value(answers: Outputs) -> float:
    """The metric of one model's answers, as scikit-learn computes it."""
    from sklearn import metrics as sk

    metric, truth, output, classes = answers.metric.name, answers.truth, answers.output, answers.classes
    if answers.metric.task == "regression":
        if metric == "rmse":
            return float(sk.mean_squared_error(truth, output) ** 0.5)
        return float(sk.mean_absolute_error(truth, output) if metric == "mae" else sk.r2_score(truth, output))
    if answers.metric.needs_probabilities:
        if metric == "log_loss":
            return float(sk.log_loss(truth, output, labels=classes))
        if len(classes) == 2:
            return float(sk.roc_auc_score(truth, output[:, 1]))
        return float(sk.roc_auc_score(truth, output, multi_class="ovr", labels=classes))
    if metric == "accuracy":
        return float(sk.accuracy_score(truth, output))
    average = "binary" if len(classes) == 2 else "macro"
    options: dict[str, Any] = {"average": average, "zero_division": 0}
    if average == "binary":
        options["pos_label"] = classes[1]
    function = {"f1": sk.f1_score, "precision": sk.precision_score, "recall": sk.recall_score}[metric]
    return float(function(truth, output, **options))


def score(model: Any, frame: Any, target: str, metric: str) -> float:
    """The model's ``metric`` on ``frame``, whose column ``target`` holds the truth."""
    return metric_value(outputs(model, frame, target, metric))


def _align_labels(truth: Any, classes: list[Any]) -> Any:
    """Labels read from CSV may be text where the model learnt numbers (or the reverse)."""
    import pandas as pd

    if not classes or truth.isin(classes).all():
        return truth
    as_text = {str(label): label for label in classes}
    mapped = truth.map(lambda value: as_text.get(str(value), value))
    if mapped.isin(classes).all():
        return mapped
    unknown = sorted({str(value) for value in pd.unique(truth[~mapped.isin(classes)])})[:5]
    raise ValidationError(f"The target has labels the model never learnt: {', '.join(unknown)} "
                          f"(model classes: {', '.join(map(str, classes))}).", field="target")
