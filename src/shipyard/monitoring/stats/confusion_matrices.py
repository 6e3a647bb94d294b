"""The metrics of stacks of confusion matrices, shared by the estimate and the reference's bootstraps.

Counts may be fractional (expected counts, or rows weighted like a window). Binary metrics are for class 1 and
multiclass ones are macro averages, the conventions of :mod:`.quality`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def metrics_of_confusions(confusion: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    """Accuracy, precision, recall and F1 of a stack of confusion matrices (draws x true x predicted); NaN where
    a binary value is undefined, an undefined class counted as 0 in a macro average."""
    k = confusion.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.trace(confusion, axis1=1, axis2=2) / confusion.sum(axis=(1, 2))
        tp = np.diagonal(confusion, axis1=1, axis2=2)
        precision = tp / confusion.sum(axis=1)
        recall = tp / confusion.sum(axis=2)
        f1 = 2 * tp / (confusion.sum(axis=1) + confusion.sum(axis=2))
    if k == 2:
        return {"accuracy": accuracy, "precision": precision[:, 1], "recall": recall[:, 1], "f1": f1[:, 1]}
    return {"accuracy": accuracy, "precision": np.nan_to_num(precision).mean(axis=1),
            "recall": np.nan_to_num(recall).mean(axis=1), "f1": np.nan_to_num(f1).mean(axis=1)}
