"""Serving and its plugins meet by structure only: the monitoring gauges are plugin jobs, the server's state is
what they read, and the server finds them by name without importing monitoring."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from shipyard.monitoring.gauges import PLUGIN, MonitoredServer, MonitoringJob
from shipyard.serving.plugins import load_jobs
from shipyard.serving.source import StoreSource
from shipyard.serving.spec import ServingConfig, parse_config
from shipyard.serving.state import ServerState
from shipyard.serving.types import PluginJob, PluginState
from shipyard.store import current_store


def config(tmp_path: Path, **settings: Any) -> ServingConfig:
    return parse_config({"log_dir": str(tmp_path / "logs"), **settings,
                         "deployments": {"churn": {"variants": [{"name": "champion", "model": "models:/churn/1"}]}}})


def test_the_server_loads_the_monitoring_jobs_by_name(tmp_path: Path) -> None:
    jobs = load_jobs(replace(config(tmp_path, monitor_interval_s=7), plugins=(PLUGIN,)))
    assert [type(job) for job in jobs] == [MonitoringJob]
    assert isinstance(jobs[0], PluginJob)
    assert jobs[0].interval == 7
    assert jobs[0].log_dir == str(tmp_path / "logs")


def test_the_server_state_is_what_a_plugin_may_touch(tmp_path: Path) -> None:
    state = ServerState(config(tmp_path), StoreSource(current_store()))
    assert isinstance(state, PluginState)
    assert isinstance(state, MonitoredServer)
    assert state.deployment_names() == []  # nothing is loaded before the app starts
