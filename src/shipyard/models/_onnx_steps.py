"""How a scikit-learn model meets skl2onnx's one-input-per-column graph, and which step a refusal is about.

An exported graph takes one ``(N, 1)`` input per signature column (the serving convention). A pipeline
whose first step is a ``ColumnTransformer`` routes those inputs itself; any other model (a bare
estimator, or a pipeline starting with a scaler) saw the columns as one matrix when it was fitted, and
skl2onnx refuses to feed it several inputs. When every column is numeric, :func:`as_converted` puts the
matrix back together in front of the model (a pass-through ``ColumnTransformer``, i.e. an ONNX ``Concat``
in the model's own column order); the export's verification then proves the result answers as the
Python model does. Text columns cannot share a float tensor with numbers, so that case is refused by
:func:`refusal`, which also names a rejected step by its path in the pipeline (``pre/cat/imp``).
"""

from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from .signature import Signature

JOIN_STEP = "joined_columns"


def as_converted(estimator: Any, signature: Signature) -> Any:
    """The model skl2onnx should convert: ``estimator`` itself, or it behind a join of its numeric inputs."""
    names = signature.column_names
    if len(names) < 2 or _routes_columns(first_step(estimator)) or any(
            spec.kind == "string" for spec in signature.inputs):
        return estimator
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    fitted_order = [str(name) for name in getattr(estimator, "feature_names_in_", [])]
    order = fitted_order if sorted(fitted_order) == sorted(names) else names
    join = ColumnTransformer([("columns", "passthrough", order)])
    join.fit(pd.DataFrame({name: [0.0] for name in order}))  # pass-through learns nothing but the names
    return Pipeline([(JOIN_STEP, join), ("model", estimator)])


def first_step(estimator: Any) -> Any:
    """The step that receives the input columns: the first step of (nested) pipelines, or the model."""
    steps = getattr(estimator, "steps", None)
    return first_step(steps[0][1]) if steps else estimator


def refusal(uri: str, estimator: Any, signature: Signature, exc: Exception) -> ValidationError:
    """The error for a conversion skl2onnx gave up on: what failed, where, and what to change."""
    failed = _failing_object(exc, estimator)
    where = _describe(estimator, failed)
    text = [spec.name for spec in signature.inputs if spec.kind == "string"]
    too_many = getattr(exc, "max_input_count", None) is not None
    if too_many and failed is first_step(estimator) and len(signature.inputs) > 1 and text:
        listed = ", ".join(signature.column_names)
        plural = "s" if len(text) > 1 else ""
        return ValidationError(
            f"Cannot convert {uri} to ONNX: {where} takes the columns as one matrix, but an ONNX graph gets one "
            f"input per column ({len(signature.inputs)}: {listed}), and the text column{plural} "
            f"{', '.join(text)} cannot be joined with numbers into one tensor. Make the model a Pipeline whose "
            "first step is a ColumnTransformer (OneHotEncoder for the text columns, 'passthrough' or a scaler "
            "for the numbers), log it again and export that.", field="model")
    return ValidationError(f"Cannot convert {uri} to ONNX: {where} is not supported ({type(exc).__name__}: {exc}). "
                           "Replace that step or serve the Python model.", field="model")


def _routes_columns(step: Any) -> bool:
    """A step that takes the columns one by one: ONNX inputs go to it unjoined."""
    return hasattr(step, "transformers") or hasattr(step, "transformer_list")  # ColumnTransformer, FeatureUnion


def _failing_object(exc: Exception, estimator: Any) -> Any:
    """The scikit-learn object whose converter raised, or None.

    skl2onnx's input-count errors carry the operator; other converter errors do not, so the traceback is
    searched for the innermost ``operator`` that skl2onnx's converters receive (its ``raw_operator`` is the
    fitted object being converted). Errors raised before any operator exists (no converter registered for a
    type) name the type in their text: the first step of that type is taken.
    """
    found = getattr(getattr(exc, "operator", None), "raw_operator", None)
    trace = None if found is not None else exc.__traceback__
    while trace is not None:
        found = getattr(trace.tb_frame.f_locals.get("operator"), "raw_operator", found)
        trace = trace.tb_next
    if found is None:
        found = next((step for _path, step in walk(estimator) if type(step).__name__ in str(exc)), None)
    return found


def _describe(estimator: Any, failed: Any) -> str:
    if failed is None:
        return "a step of the model"
    if failed is estimator:
        return f"the model ({type(failed).__name__})"
    for path, step in walk(estimator):
        if step is failed:
            return f"step {path!r} ({type(step).__name__})"
    return f"a {type(failed).__name__} step"


def walk(estimator: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every step and transformer inside ``estimator`` with its path (``pre/cat/imp``); fitted ones, since
    those are what skl2onnx converts (a ColumnTransformer fits clones of the transformers it was given)."""
    found = []
    children = list(getattr(estimator, "steps", None) or [])
    children += list(getattr(estimator, "transformer_list", None) or [])
    transformers = getattr(estimator, "transformers_", None) or getattr(estimator, "transformers", None) or []
    children += [(name, transformer) for name, transformer, _columns in transformers]
    for name, step in children:
        if isinstance(step, str):  # "drop", "passthrough"
            continue
        found.append((prefix + name, step))
        found.extend(walk(step, prefix + name + "/"))
    return found


def input_types(signature: Signature, data_types: Any) -> list[tuple[str, Any]]:
    """skl2onnx's initial types: one (N, 1) input per column, strings for text and floats for numbers.

    Raises:
        ValidationError: a date column (ONNX graphs take no dates).
    """
    types = []
    for spec in signature.inputs:
        if spec.kind == "datetime":
            raise ValidationError(f"Column {spec.name!r} holds dates, which ONNX models cannot take as input; "
                                  "derive numeric features from it inside the pipeline's caller.", field=spec.name)
        tensor = data_types.StringTensorType([None, 1]) if spec.kind == "string" else data_types.FloatTensorType(
            [None, 1])
        types.append((spec.name, tensor))
    return types


def restore_input_names(onnx_model: Any, signature: Signature) -> None:
    """Give the graph's inputs back the columns' own names.

    skl2onnx turns an input name into an identifier ('mean radius' becomes 'mean_radius'), while everything that
    feeds a graph (the verification, the ONNX predictor, the server's feeds) keys by the column's name. The inputs
    are in the signature's order, so they are renamed by position, with every node (and output) that reads them.
    """
    graph = onnx_model.graph
    if len(graph.input) != len(signature.inputs):
        return
    renamed = {item.name: spec.name for item, spec in zip(graph.input, signature.inputs, strict=True)
               if item.name != spec.name}
    if not renamed:
        return
    for item in graph.input:
        item.name = renamed.get(item.name, item.name)
    for node in graph.node:
        node.input[:] = [renamed.get(name, name) for name in node.input]
    for item in graph.output:
        item.name = renamed.get(item.name, item.name)
