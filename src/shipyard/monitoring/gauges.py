"""Monitoring on a server's ``/metrics``: drift per feature, confused-model share, feedback coverage.

A serving plugin (``shipyard serve`` adds it when monitoring is installed): every ``monitor_interval_s``
one worker runs the checks over the last hour of each deployment's log, in a thread, and sets gauges, so
Prometheus and Grafana users alert on model health with the tools they already have
(``docs/grafana-dashboard.json`` is a starting dashboard).

The server finds the plugin by name (:data:`PLUGIN`) and monitoring never imports serving: what the factory
and its job need of the server is declared here as protocols, which the server's config and state satisfy
structurally (serving declares its side in ``shipyard.serving.types``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import NotFoundError
from ..store import Store
from .model_facts import ServerFacts
from .monitor import monitor

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Gauge

    from ..tracking.remote import RemoteTracker

log = logging.getLogger("shipyard.monitoring")
PLUGIN = "shipyard.monitoring.gauges:jobs"
WINDOW = "1h"
STATUS_VALUE = {"ok": 0, "warn": 1, "alert": 2}


class GaugeSettings(Protocol):
    """What the factory reads of the server's config (``serving.yaml``)."""

    @property
    def monitor_interval_s(self) -> float: ...

    @property
    def log_dir(self) -> str | None: ...


class ServerMetrics(Protocol):
    """Where the gauges register: the server's Prometheus registry, unless workers share values in files."""

    @property
    def registry(self) -> CollectorRegistry: ...

    @property
    def multiprocess(self) -> bool: ...


@runtime_checkable
class MonitoredServer(Protocol):
    """What the job reads of the server it runs in."""

    @property
    def model_origin(self) -> Store | RemoteTracker: ...

    @property
    def metrics(self) -> ServerMetrics: ...

    def deployment_names(self) -> list[str]: ...


def jobs(config: GaugeSettings) -> list[MonitoringJob]:
    """The plugin factory named in ``serving.yaml``'s ``plugins`` (``shipyard serve`` adds it)."""
    return [MonitoringJob(config.monitor_interval_s, config.log_dir)]


@dataclass
class MonitoringJob:
    """Every ``interval`` seconds: the last hour's checks of each deployment, as gauges."""

    interval: float
    log_dir: str | None
    _gauges: dict[str, Gauge] | None = None

    def run(self, state: MonitoredServer) -> None:
        """Recompute every gauge (in a worker thread); a deployment without traffic in the window is skipped."""
        gauges = self._gauges or self._register(state.metrics.registry, state.metrics.multiprocess)
        self._gauges = gauges
        origin = state.model_origin
        facts = origin if isinstance(origin, Store) else ServerFacts(origin)
        for deployment in state.deployment_names():
            try:
                result = monitor(deployment, since=WINDOW, log_dir=self.log_dir, store=facts)
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
    def _register(registry: CollectorRegistry, multiprocess: bool) -> dict[str, Gauge]:
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
