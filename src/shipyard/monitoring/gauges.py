"""Monitoring on a server's ``/metrics``: drift per feature, confused-model share, feedback coverage.

A serving plugin (``shipyard serve`` adds it when monitoring is installed): every ``monitor_interval_s``
one worker runs the checks over the last hour of each deployment's log, in a thread, and sets gauges, so
Prometheus and Grafana users alert on model health with the tools they already have
(``docs/grafana-dashboard.json`` is a starting dashboard).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..errors import NotFoundError
from ..serving.spec import ServingConfig
from .monitor import monitor

log = logging.getLogger("shipyard.monitoring")
PLUGIN = "shipyard.monitoring.gauges:jobs"
WINDOW = "1h"
STATUS_VALUE = {"ok": 0, "warn": 1, "alert": 2}


def jobs(config: ServingConfig) -> list[Any]:
    """The plugin factory named in ``ServingConfig.plugins``."""
    return [MonitoringJob(config.monitor_interval_s, config.log_dir)]


@dataclass
class MonitoringJob:
    interval: float
    log_dir: str | None
    _gauges: dict[str, Any] | None = None

    def run(self, state: Any) -> None:
        gauges = self._gauges or self._register(state.metrics.registry, state.metrics.multiprocess)
        self._gauges = gauges
        for deployment in state.fleet.deployments:
            try:
                result = monitor(deployment, since=WINDOW, log_dir=self.log_dir, store=state.store)
            except NotFoundError:  # no traffic in the window yet
                continue
            gauges["status"].labels(deployment).set(STATUS_VALUE[result.verdict])
            for item in result.results:
                if item.check == "drift" and item.feature and item.value is not None:
                    gauges["drift"].labels(deployment, item.feature, item.statistic or "").set(item.value)
                elif item.check == "confused" and item.value is not None:
                    gauges["confused"].labels(deployment).set(item.value)
            coverage = result.labelled_rows / result.current.rows if result.current.rows else 0.0
            gauges["coverage"].labels(deployment).set(coverage)

    @staticmethod
    def _register(registry: Any, multiprocess: bool) -> dict[str, Any]:
        from prometheus_client import Gauge

        target: Any = None if multiprocess else registry
        mode: Any = "mostrecent"
        return {
            "drift": Gauge("shipyard_feature_drift_score", "Drift statistic per input feature over the last hour "
                           "(statistic label: psi, ks, chi2 or jensen_shannon).",
                           ["deployment", "feature", "statistic"], registry=target, multiprocess_mode=mode),
            "confused": Gauge("shipyard_confused_answers_ratio", "Share of answers whose top class probability is "
                              "under 0.55 over the last hour.", ["deployment"], registry=target,
                              multiprocess_mode=mode),
            "coverage": Gauge("shipyard_feedback_coverage_ratio", "Share of the last hour's predictions that have "
                              "a label.", ["deployment"], registry=target, multiprocess_mode=mode),
            "status": Gauge("shipyard_monitor_status", "Worst check status over the last hour: 0 ok, 1 warn, "
                            "2 alert.", ["deployment"], registry=target, multiprocess_mode=mode),
        }
