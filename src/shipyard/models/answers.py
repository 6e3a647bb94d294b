"""What a model answered, checked before anyone sees it: a probability or prediction that is not finite is the
model's failure, never an answer.

Input checks refuse infinity and numbers the model's input type cannot hold, but a model can still overflow
inside (a scaler multiplying 3e38 by 3,500 in float32 gives infinity, and infinity minus infinity NaN). JSON
cannot carry NaN: the server would answer ``null`` and the prediction log would count it as a class, so every
predict path (the server's runtimes, ``load_model(...).predict``, batch scoring) raises
:class:`~shipyard.errors.ModelOutputError` instead. Values in, nothing out: numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ModelOutputError


def check_finite(probabilities: Any, predictions: Any, source: str, *, rows: Sequence[Any] | None = None) -> None:
    """Raise for the first row whose probabilities (a 2-D array, or None) or numeric predictions are not finite.

    ``source`` says who answered and on what, e.g. ``"models:/churn/3 (onnx runtime)"``; the message adds the row,
    taken from ``rows`` (the input's row labels, e.g. a file's row numbers) when given, else its position.
    Labels that are not floating-point numbers (classes, text) cannot be non-finite and are not looked at.
    """
    import numpy as np

    for output, values in (("probability", probabilities), ("prediction", predictions)):
        if values is None:
            continue
        array = np.asarray(values)
        if array.dtype.kind != "f":
            continue
        finite = np.isfinite(array)
        if finite.all():
            continue
        bad = np.argwhere(~finite)[0]
        value = float(array[tuple(bad)])
        row = int(bad[0]) if rows is None else int(rows[int(bad[0])])
        raise ModelOutputError(f"{source} answered a {output} that is not finite ({value!r}) for row {row}; it was "
                               "not returned. The model overflows on this input (look for values far outside the "
                               "training range).", row=row, output=output)
