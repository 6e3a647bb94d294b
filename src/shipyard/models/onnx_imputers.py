"""Missing text in an exported ONNX graph: the sentinel the feeds carry, and string imputers that look for it.

An ONNX string tensor has no missing value, so Shipyard's feeds (``onnx_export.onnx_feeds`` and serving's
``build_onnx_feeds``) send a missing text value as :data:`MISSING_TEXT`. A scikit-learn ``SimpleImputer``
fitted on text with NaN (or None) as its missing marker is one skl2onnx refuses ("implemented when the missing
values are string"); :func:`on_sentinel` gives skl2onnx a copy of the model in which each such imputer is a
step replacing the sentinel by the fill values the imputer learned. The export's verification then proves, on rows
holding missing text in every column, that the graph fed this way answers as the Python model does.

The sentinel starts with a NUL character, which no form or CSV file produces, so an empty string or the text
"nan" remains an ordinary value, as it is for scikit-learn. It is written into the graph's metadata
(``shipyard.missing_text``) for callers that build their own feeds.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from ..errors import ValidationError
from ._onnx_steps import walk

MISSING_TEXT = "\x00missing"
METADATA_KEY = "shipyard.missing_text"


def on_sentinel(estimator: Any, uri: str) -> Any:
    """``estimator`` itself, or a copy in which each text imputer is :func:`sentinel_imputer`'s equivalent.

    Raises:
        ValidationError: a text imputer the graph could not reproduce (indicator columns, a column that was
            missing in every training row), named by its path in the pipeline (``pre/cat/imp``) with the reason.
    """
    found = [(path, step) for path, step in walk(estimator) if _imputes_text_by_marker(step)]
    if not found:
        return estimator
    for path, step in found:
        _check_reproducible(uri, path, step)
    rewritten = copy.deepcopy(estimator)  # the loaded model stays as it is: verification scores it
    replacement = sentinel_imputer()
    for _path, step in walk(rewritten):
        if _imputes_text_by_marker(step):
            _replace(rewritten, step, replacement(fills=tuple(str(value) for value in step.statistics_)))
    return rewritten


@functools.cache
def sentinel_imputer() -> type:
    """The step the graph holds in place of a text SimpleImputer: :data:`MISSING_TEXT` becomes each column's
    learned fill, in two ONNX nodes (``Equal`` then ``Where`` over all its columns at once) rather than the five
    per column skl2onnx writes. Built and registered with skl2onnx on first use, so importing this module stays
    free of scikit-learn."""
    import numpy as np
    from skl2onnx import update_registered_converter
    from sklearn.base import BaseEstimator, TransformerMixin

    class SentinelTextImputer(TransformerMixin, BaseEstimator):
        def __init__(self, fills: tuple[str, ...] = ()) -> None:
            self.fills = fills

        def fit(self, features: Any, target: Any = None) -> Any:
            return self

        def transform(self, features: Any) -> Any:
            values = np.asarray(features, dtype=object)
            return np.where(values == MISSING_TEXT, np.asarray(self.fills, dtype=object), values)

    update_registered_converter(SentinelTextImputer, "ShipyardSentinelTextImputer", _text_shape, _convert)
    return SentinelTextImputer


def _text_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import StringTensorType

    width = len(operator.raw_operator.fills)
    operator.outputs[0].type = StringTensorType([operator.inputs[0].get_first_dimension(), width])


def _convert(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto
    from skl2onnx.operator_converters.common import concatenate_variables

    features = concatenate_variables(scope, operator.inputs, container)
    fills = [value.encode() for value in operator.raw_operator.fills]
    sentinel, filled = scope.get_unique_variable_name("missing_text"), scope.get_unique_variable_name("fills")
    container.add_initializer(sentinel, TensorProto.STRING, [1], [MISSING_TEXT.encode()])
    container.add_initializer(filled, TensorProto.STRING, [1, len(fills)], fills)
    missing = scope.get_unique_variable_name("is_missing_text")
    container.add_node("Equal", [features, sentinel], [missing], name=scope.get_unique_operator_name("Equal"))
    container.add_node("Where", [missing, filled, features], [operator.outputs[0].full_name],
                       name=scope.get_unique_operator_name("Where"))


def _check_reproducible(uri: str, path: str, step: Any) -> None:
    where = f"Cannot convert {uri} to ONNX: step {path!r} ({type(step).__name__})"
    if getattr(step, "add_indicator", False):
        raise ValidationError(
            f"{where} imputes text with add_indicator=True, and the ONNX converter leaves out the indicator "
            "columns, so the graph could not answer as the Python model does. Fit it with add_indicator=False, or "
            "serve the Python model.", field="model")
    if not all(isinstance(value, str) for value in step.statistics_):
        raise ValidationError(
            f"{where} learned no fill for a column that was missing in every training row (scikit-learn drops "
            "such a column), which the graph cannot reproduce; drop the column before the pipeline, or serve the "
            "Python model.", field="model")


def _replace(holder: Any, old: Any, new: Any) -> None:
    """Put ``new`` where ``old`` stands in ``holder`` (its steps, transformer lists or fitted transformers)."""
    for attribute in ("steps", "transformer_list", "transformers_"):
        items = getattr(holder, attribute, None) or []
        for index, item in enumerate(items):
            if item[1] is old:
                items[index] = (item[0], new, *item[2:])
                return
            _replace(item[1], old, new)
def _imputes_text_by_marker(step: Any) -> bool:
    """A fitted SimpleImputer over text whose missing marker is not a string (NaN, None, pandas' NA)."""
    if type(step).__name__ != "SimpleImputer" or not hasattr(step, "statistics_"):
        return False
    import numpy as np

    return np.asarray(step.statistics_).dtype.kind in "OUST" and not isinstance(step.missing_values, str)
