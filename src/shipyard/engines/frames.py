"""Answers for DataFrames an engine hands over (a Spark Arrow batch, a Dask partition), row for row.

The Spark UDF and the Dask ``predict`` score through the local engine's per-batch step too
(:func:`shipyard.models.batch.score_batch`), then put the answer back on every input row: a column engine cannot
drop rows, so a bad row either fails the batch (``on_error="fail"``, naming its row in the batch and its column) or
gets nulls (``on_error="null"``).
"""

from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from ..models.batch import BatchResult, score_batch
from ..models.package import LoadedModel
from ..models.signature import Signature

RESULTS = ("prediction", "probabilities", "all")
FRAME_ON_ERROR = ("fail", "null")


def check_options(signature: Signature, result: str, on_error: str) -> None:
    if result not in RESULTS:
        raise ValidationError(f"result must be one of {', '.join(RESULTS)}, got {result!r}.", field="result")
    if on_error not in FRAME_ON_ERROR:
        raise ValidationError(f"on_error must be one of {', '.join(FRAME_ON_ERROR)}, got {on_error!r}.",
                              field="on_error")
    if result != "prediction" and not signature.output.probability_columns:
        raise ValidationError(f"result={result!r} needs a classifier with probabilities; this model answers only a "
                              "prediction: use result='prediction'.", field="result")


def output_columns(signature: Signature, result: str) -> list[str]:
    probabilities = list(signature.output.probability_columns)
    return {"prediction": ["prediction"], "probabilities": probabilities, "all": ["prediction", *probabilities]}[result]


def label_kind(signature: Signature) -> str:
    """``string``, ``integer``, ``boolean`` or ``float``: what the ``prediction`` column holds."""
    classes = signature.output.classes
    if signature.output.kind == "classifier" and classes:
        if all(isinstance(value, bool) for value in classes):
            return "boolean"
        if all(isinstance(value, int) and not isinstance(value, bool) for value in classes):
            return "integer"
        if all(isinstance(value, str) for value in classes):
            return "string"
    return "float"


def answer(model: LoadedModel, frame: Any, result: str, on_error: str, source_name: str) -> Any:
    """``frame``'s answers as a DataFrame of :func:`output_columns`, one row per input row, in its order and index."""
    import pandas as pd

    index = frame.index
    frame = frame.reset_index(drop=True)  # error messages name rows by position in the batch
    columns = output_columns(model.signature, result)
    scored = score_batch(model, frame, [], "fail" if on_error == "fail" else "skip",
                         BatchResult(output=source_name), source_name)
    if scored is None:
        scored = pd.DataFrame(columns=["prediction", *model.signature.output.probability_columns])
    answers = scored[columns].reindex(frame.index)
    if len(scored) < len(frame) and "prediction" in columns:  # rows left out as bad: nulls that fit the column
        kind = label_kind(model.signature)
        dtype = {"integer": "Int64", "boolean": "boolean"}.get(kind)
        if dtype is not None:
            answers["prediction"] = answers["prediction"].astype(dtype)
    answers.index = index
    return answers
