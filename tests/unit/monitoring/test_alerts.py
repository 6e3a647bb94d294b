"""The webhook messages and the URL rule of ``monitoring.alerts`` (posting them is tested against a real
server in tests/integration/monitoring/test_alerts.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from shipyard.errors import ValidationError
from shipyard.monitoring import alerts


@dataclass
class Checked:
    """A result as the alert reads it (implements ``alerts.CheckedResult``)."""

    verdict: str

    def to_dict(self, *, details: bool = False) -> dict[str, Any]:
        return {"verdict": self.verdict, "checks": [{"check": "drift", "status": self.verdict}]}

    def summary(self, *, status: bool = True) -> str:
        return f"{self.verdict.upper()}: 1 check out of line" if status else "1 check out of line"


def test_a_monitoring_alert_is_the_result_json_with_its_summary() -> None:
    message = alerts.monitoring_alert(Checked("alert"))
    assert message == {"verdict": "alert", "checks": [{"check": "drift", "status": "alert"}],
                       "summary": "ALERT: 1 check out of line"}
    json.dumps(message)  # what is posted must be JSON


def test_a_loop_failure_names_the_loop_cycle_error_and_steps() -> None:
    steps = [{"step": 1, "kind": "repro", "status": "failed", "error": "boom"}]
    assert alerts.loop_failure("retrain", 4, "failed", "step 1 (repro) failed: boom", steps) == {
        "loop": "retrain", "cycle": 4, "status": "failed", "error": "step 1 (repro) failed: boom", "steps": steps}


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "127.0.0.1:9000/hook", ""])
def test_only_http_urls_are_webhooks(url: str) -> None:
    with pytest.raises(ValidationError, match=r"^--notify needs an http\(s\) URL, got ") as raised:
        alerts.require_webhook_url(url, option="--notify")
    assert raised.value.field == "notify"
    with pytest.raises(ValidationError, match=r"^A webhook needs an http\(s\) URL") as posted:
        alerts.post(url, {"verdict": "alert"}, agent=alerts.MONITOR_AGENT)
    assert posted.value.field == "url"


def test_http_and_https_urls_pass() -> None:
    alerts.require_webhook_url("http://127.0.0.1:9000/hook", option="--notify")
    alerts.require_webhook_url("https://hooks.example.com/T0/B0", option="--notify")
