"""Webhook alerts: the one module that writes their JSON messages and posts them.

Two messages go out: a monitoring result that is out of line (``shipyard monitor check --notify URL``) and
a loop cycle that failed for good (``on_failure.notify`` in shipyard.yaml). Both are one JSON POST with
``Content-Type: application/json``, a ``User-Agent`` naming the sender and a 10-second timeout, sent once:
a POST that timed out may still have arrived, and retrying it could page someone twice.

Whether an alert that did not arrive is fatal is the sender's decision, so :func:`post` returns the
reason instead of raising: the CLI exits 1 (the operator must see it), the loop scheduler says so in its
log and carries on with the next cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..errors import ValidationError

MONITOR_AGENT = "shipyard-monitor"
LOOP_AGENT = "shipyard-loop"
TIMEOUT_S = 10.0
WEBHOOK_SCHEMES = ("http://", "https://")


class CheckedResult(Protocol):
    """What a monitoring alert is made of: a :class:`~shipyard.monitoring.monitor.MonitoringResult` or a
    :class:`~shipyard.monitoring.compare.Comparison`."""

    def to_dict(self, *, details: bool = False) -> dict[str, Any]: ...

    def summary(self, *, status: bool = True) -> str: ...


def monitoring_alert(result: CheckedResult) -> dict[str, Any]:
    """The message of a monitoring result: its JSON (docs/monitoring.md) plus the one-line ``summary``."""
    return {**result.to_dict(), "summary": result.summary()}


def loop_failure(loop: str, cycle: int, status: str, error: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The message of a loop cycle that failed: which loop and cycle, the error, and every step's result."""
    return {"loop": loop, "cycle": cycle, "status": status, "error": error, "steps": steps}


def require_webhook_url(url: str, *, option: str) -> None:
    """Refuse anything but an http(s) URL, naming the command-line ``option`` that gave it.

    Raises:
        ValidationError: with ``field`` set to the option's name without dashes.
    """
    if not url.startswith(WEBHOOK_SCHEMES):
        raise ValidationError(f"{option} needs an http(s) URL, got {url!r}.", field=option.lstrip("-"))


def post(url: str, payload: Mapping[str, Any], *, agent: str, timeout_s: float = TIMEOUT_S) -> str | None:
    """POST ``payload`` as JSON to ``url`` once (values JSON does not know are sent as text).

    Args:
        agent: the ``User-Agent`` (:data:`MONITOR_AGENT`, :data:`LOOP_AGENT`), so a receiver can tell them apart.
        timeout_s: how long to wait to connect, and then for each read of the answer.

    Returns:
        None once the webhook answered with a 2xx or 3xx status; otherwise why not, as a short phrase
        (``[Errno 111] Connection refused``, ``timed out``, an HTTP status's reason such as ``Not Found``).

    Raises:
        ValidationError: ``url`` is not http(s) (the callers check their own inputs first).
    """
    import json
    import urllib.error
    import urllib.request

    if not url.startswith(WEBHOOK_SCHEMES):
        raise ValidationError(f"A webhook needs an http(s) URL, got {url!r}.", field="url")
    request = urllib.request.Request(url, data=json.dumps(payload, default=str).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": agent})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))
    return None
