"""Prometheus metrics of a server, named by the conventions (``shipyard_`` prefix, base units, ``_total``).

With several worker processes each keeps its own counters; the supervisor points them at one
multiprocess directory (``PROMETHEUS_MULTIPROC_DIR``) so ``/metrics`` on any worker reports the sum.
"""

from __future__ import annotations

import os
from typing import Any

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServingMetrics:
    """The collectors of one app, on a registry of its own (tests run several apps in one process)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

        disable_created_metrics()
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        # Multiprocess values live in files, not in a registry: collectors then register nowhere.
        extra: dict[str, Any] = {"registry": None if self.multiprocess else self.registry}
        # How worker values combine in multiprocess mode (ignored otherwise).
        livesum: Any = "livesum"
        maximum: Any = "max"
        self.requests = Counter("shipyard_requests_total", "Prediction requests answered, by status code.",
                                ["deployment", "variant", "status"], **extra)
        self.latency = Histogram("shipyard_request_duration_seconds", "Time from request read to answer ready.",
                                 ["deployment", "variant"], buckets=LATENCY_BUCKETS, **extra)
        self.batch_rows = Histogram("shipyard_batch_rows", "Rows per model call (micro-batch size).",
                                    ["deployment", "variant"], buckets=BATCH_BUCKETS, **extra)
        self.model_seconds = Histogram("shipyard_model_duration_seconds", "Time spent inside the model per call.",
                                       ["deployment", "variant"], buckets=LATENCY_BUCKETS, **extra)
        self.load_seconds = Gauge("shipyard_model_load_seconds", "How long the served model version took to load.",
                                  ["deployment", "variant"], multiprocess_mode=maximum, **extra)
        self.predictions = Counter("shipyard_predictions_total", "Predicted records, by predicted class.",
                                   ["deployment", "variant", "prediction"], **extra)
        self.model_errors = Counter("shipyard_model_errors_total", "Answers refused because the model returned a "
                                    "probability or prediction that is not finite (503 for live variants).",
                                    ["deployment", "variant"], **extra)
        self.shadow_dropped = Counter("shipyard_shadow_dropped_total", "Shadow copies shed because the shadow "
                                      "model fell behind.", ["deployment", "variant"], **extra)
        self.log_queue = Gauge("shipyard_prediction_log_queue_entries", "Answers waiting to be written to the "
                               "prediction log.", multiprocess_mode=livesum, **extra)
        self.model_info = Gauge("shipyard_model_version_info", "The model version each variant serves (value 1).",
                                ["deployment", "variant", "model", "version", "runtime"], multiprocess_mode=maximum,
                                **extra)
        self.reloads = Counter("shipyard_model_reloads_total", "Alias moves picked up while serving.",
                               ["deployment", "variant"], **extra)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
