"""Params and metrics logged per run, shared by both tracking workload scripts.

Both tools must store identical data so search timings (and row counts) compare like for
like. Values are derived from the run index alone, so every run of the benchmark is the same.
``metrics.m0 > 0.5 and params.p0 = 'a'`` matches about 45% of runs: m0 is uniform in [0, 1)
and p0 is 'a' for 9 runs in 10, so both halves of the filter do real work.
"""

from __future__ import annotations

import random

SEARCH_FILTER = "metrics.m0 > 0.5 and params.p0 = 'a'"
SEARCH_ORDER_BY = ["metrics.m1 DESC"]


def run_values(i: int) -> tuple[dict[str, str], dict[str, float]]:
    """10 params and 10 metrics for run number ``i``."""
    rng = random.Random(i)
    params = {f"p{k}": f"v{k}_{i % 7}" for k in range(10)}
    params["p0"] = "b" if i % 10 == 9 else "a"
    metrics = {f"m{k}": rng.random() for k in range(10)}
    return params, metrics
