"""The open-bin counting rule, shared by the stored training profile and the live drift statistics.

A profile stores a numeric column as counts in open bins around its reference deciles
(``models/profile.py``); monitoring counts a live window in the same bins (``monitoring/stats``) and compares
or merges the two bin by bin. Both must count with the very same rule, or a value on an edge lands in
different bins on the two sides and drift appears from nothing. So the rule lives once, here, at the bottom
of the layers: the statistics depend on numpy, scipy and this module only, and the profile, which sits below
monitoring, can use it too. numpy is imported inside the function, so ``import shipyard`` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def count_in_open_bins(values: Any, inner_edges: Sequence[float]) -> list[int]:
    """Counts in ``len(inner_edges) + 1`` bins: (-inf, e0], (e0, e1], ..., (e_last, +inf).

    A value equal to an edge falls in the bin below it. The caller passes finite values and strictly
    increasing finite edges (``monitoring.stats.open_bin_counts`` checks both for outside callers).
    """
    import numpy as np

    indexes = np.searchsorted(np.asarray(inner_edges, dtype="float64"), values, side="left")
    return [int(count) for count in np.bincount(indexes, minlength=len(inner_edges) + 1)]
