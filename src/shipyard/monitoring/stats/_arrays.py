"""Array helpers shared by the statistics modules: NaN-free float samples, and probabilities clipped into
[0, 1]."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    FloatArray = NDArray[np.float64]


def _values(values: ArrayLike, *, finite: bool = False) -> FloatArray:
    """A flat float array without NaN (and without +/-inf when ``finite``)."""
    array = np.asarray(values, dtype="float64").ravel()
    keep = np.isfinite(array) if finite else ~np.isnan(array)
    return np.asarray(array[keep], dtype="float64")


def _probability(value: Any) -> float:
    """A p-value or probability as a float clipped into [0, 1] (quadrature and special functions can overshoot)."""
    return min(1.0, max(0.0, float(value)))
