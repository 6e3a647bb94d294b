"""Missing text in an exported ONNX graph: the sentinel the feeds carry, and string imputers that look for it.

An ONNX string tensor has no missing value, so Shipyard's feeds (``onnx_export.onnx_feeds`` and serving's
``build_onnx_feeds``) send a missing text value as :data:`MISSING_TEXT`. A scikit-learn ``SimpleImputer``
fitted on text with NaN (or None) as its missing marker is one skl2onnx refuses ("implemented when the missing
values are string"); :func:`on_sentinel` gives skl2onnx a copy of the model in which those imputers look for
the sentinel instead, with the values they learned unchanged. The export's verification then proves, on rows
holding missing text in every column, that the graph fed this way answers as the Python model does.

The sentinel starts with a NUL character, which no form or CSV file produces, so an empty string or the text
"nan" remains an ordinary value, as it is for scikit-learn. It is written into the graph's metadata
(``shipyard.missing_text``) for callers that build their own feeds.
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import ValidationError
from ._onnx_steps import walk

MISSING_TEXT = "\x00missing"
METADATA_KEY = "shipyard.missing_text"


def on_sentinel(estimator: Any, uri: str) -> Any:
    """``estimator`` itself, or a copy whose text imputers treat :data:`MISSING_TEXT` as missing.

    Raises:
        ValidationError: a text imputer that adds indicator columns (skl2onnx leaves them out), named by its
            path in the pipeline (``pre/cat/imp``).
    """
    found = [(path, step) for path, step in walk(estimator) if _imputes_text_by_marker(step)]
    if not found:
        return estimator
    for path, step in found:
        if getattr(step, "add_indicator", False):
            raise ValidationError(
                f"Cannot convert {uri} to ONNX: step {path!r} ({type(step).__name__}) imputes text with "
                "add_indicator=True, and the ONNX converter leaves out the indicator columns, so the graph could not "
                "answer as the Python model does. Fit it with add_indicator=False, or serve the Python model.",
                field="model")
    rewritten = copy.deepcopy(estimator)  # the loaded model stays as it is: verification scores it
    for _path, step in walk(rewritten):
        if _imputes_text_by_marker(step):
            step.missing_values = MISSING_TEXT
    return rewritten


def _imputes_text_by_marker(step: Any) -> bool:
    """A fitted SimpleImputer over text whose missing marker is not a string (NaN, None, pandas' NA)."""
    if type(step).__name__ != "SimpleImputer" or not hasattr(step, "statistics_"):
        return False
    import numpy as np

    return np.asarray(step.statistics_).dtype.kind in "OUST" and not isinstance(step.missing_values, str)
