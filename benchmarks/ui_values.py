"""Params and metrics of the UI benchmark's runs, shared by Shipyard's fill and MLflow's (run as a file).

5 params and 5 metrics per run, derived from the run index alone. ``metrics.m0 > 0.5 and params.p0 = 'a'``
matches about 45% of runs (m0 is uniform in [0, 1), p0 is 'a' for 9 runs in 10), as in the tracking
benchmark's search.
"""

from __future__ import annotations

import random

FILTER = "metrics.m0 > 0.5 and params.p0 = 'a'"
ORDER = "metrics.m1 DESC"


def run_values(index: int) -> tuple[dict[str, str], dict[str, float]]:
    """5 params and 5 metrics for run number ``index``."""
    rng = random.Random(index)
    params = {f"p{k}": f"v{k}_{index % 7}" for k in range(5)}
    params["p0"] = "b" if index % 10 == 9 else "a"
    return params, {f"m{k}": rng.random() for k in range(5)}
