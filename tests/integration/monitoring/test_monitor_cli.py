"""``shipyard monitor check`` as scripts and CI run it (a subprocess on the test's store), and the monitoring
gauges of a real ``shipyard serve`` on ``/metrics``.

Exit codes: 0 nothing out of line (warnings too, unless ``--strict``), 1 warnings with ``--strict`` or an
undeliverable ``--notify``, 2 bad input, 3 alerts. Webhooks are received by a real HTTP server on
127.0.0.1; servers and receivers listen on ports the OS picks and are stopped by PID or by handle.

Every test here starts Python subprocesses (about 1.5 s of imports each), so all are marked slow.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shipyard.monitoring.monitor import monitor
from tests._support import wait_until
from tests.integration.monitoring._traffic import (
    CATEGORICAL,
    NUMERIC,
    TARGET,
    Hours,
    Template,
    log_traffic,
    monitor_window,
    world,
    write_feedback,
)

SHIFT = {"monthly_charges": 16.0, "age": 10, "contract": [0.30, 0.30, 0.40]}
pytestmark = pytest.mark.slow
CHECK_KEYS = {"check", "feature", "status", "statistic", "value", "threshold", "message"}
CHECK_NAMES = {"drift", "missing", "new_categories", "out_of_range", "prediction_drift", "confused", "volume",
               "latency", "errors", "quality", "ab", "shadow"}  # as docs/monitoring.md lists them


def shipyard(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``python -m shipyard ARGS`` on the test's store (``SHIPYARD_STORE`` is inherited)."""
    return subprocess.Popen([sys.executable, "-m", "shipyard", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "250", **(env or {})})


def run_all(*commands: list[str], env: dict[str, str] | None = None) -> list[subprocess.CompletedProcess[str]]:
    """Run several commands at once (each one mostly waits for imports) and collect them in order."""
    started = [(command, shipyard(*command, env=env)) for command in commands]
    done = []
    for command, proc in started:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(command, proc.returncode, out, err))
    return done


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The only line a failed command printed (stdout and stderr together); no traceback."""
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, f"{done.args}:\n{done.stdout}\n{done.stderr}"
    return lines[0]


@pytest.fixture
def hours(churn_store: Path) -> Hours:
    return Hours.recent()


@pytest.fixture
def deployments(template: Template, hours: Hours) -> Hours:
    """``calm`` (training-like, nothing out of line), ``slow`` (a latency warning only), ``drifted`` (alerts),
    each with 1,000 predictions in the current hour; ``drifted`` has 1,000 in the previous hour too."""
    tail = np.full(100, 5.0)
    tail[:2] = 250.0  # 2% of requests at 250 ms: p99 past the 100 ms warning line, under the 500 ms alert
    log_traffic(template, world(1000, seed=31), deployment="calm", start_ms=hours.current_start,
                end_ms=hours.current_end)
    log_traffic(template, world(1000, seed=32), deployment="slow", latency_ms=tail,
                start_ms=hours.current_start, end_ms=hours.current_end)
    log_traffic(template, world(1000, seed=33), deployment="drifted", start_ms=hours.previous_start,
                end_ms=hours.current_start)
    log_traffic(template, world(1000, seed=34, shift=SHIFT), deployment="drifted", start_ms=hours.current_start,
                end_ms=hours.current_end)
    return hours


# --------------------------------------------------------------------------------------------- exit codes


def test_check_exit_codes_follow_the_verdict_and_json_is_the_documented_shape(deployments: Hours) -> None:
    span = monitor_window(deployments)
    calm, slow, slow_strict, drifted = run_all(
        ["monitor", "check", "-d", "calm", *span, "--strict"], ["monitor", "check", "-d", "slow", *span],
        ["monitor", "check", "-d", "slow", *span, "--strict"], ["monitor", "check", "-d", "drifted", *span, "--json"])

    assert calm.returncode == 0, calm.stdout + calm.stderr  # --strict, and still 0: not even a warning
    assert calm.stdout.strip() == "OK: 1,000 predictions checked, nothing out of line."  # the status once
    assert (slow.returncode, slow_strict.returncode) == (0, 1), slow.stdout + slow.stderr
    for done in (slow, slow_strict):
        assert done.stdout.startswith("WARN: 0 alert(s), 1 warning(s): Server latency p50 "), done.stdout
        assert re.search(r"│ WARN\s+│ latency\s+│ -\s+│ p99_ms\s+│ 261\s+│", done.stdout), done.stdout
        assert "│ drift " not in done.stdout  # the table lists only what is out of line
    assert drifted.returncode == 3, drifted.stdout + drifted.stderr

    data = json.loads(drifted.stdout)
    assert {"verdict", "reference", "current", "checks"} <= set(data)
    assert data["verdict"] == "alert"
    assert data["reference"] == {"kind": "training", "model_uri": "models:/churn/1", "rows": 20_000}
    assert (data["current"]["from"], data["current"]["to"]) == (span[1] + "Z", span[3] + "Z")
    assert (data["current"]["rows"], data["current"]["requests"]) == (1000, 100)
    for item in data["checks"]:
        assert set(item) == CHECK_KEYS, item
        assert item["check"] in CHECK_NAMES and item["status"] in ("ok", "warn", "alert"), item
        assert item["feature"] is None or item["feature"] in NUMERIC + CATEGORICAL, item
        assert isinstance(item["message"], str) and item["message"]
    assert {item["feature"] for item in data["checks"] if item["check"] == "drift" and item["status"] == "alert"} == \
        set(SHIFT)
    library = monitor("drifted", start=span[1], end=span[3])
    assert data["checks"] == json.loads(json.dumps(library.to_dict()["checks"]))


def test_bad_input_exits_2_with_one_clear_line(deployments: Hours, tmp_path: Path) -> None:
    unknown_top = tmp_path / "top.yaml"
    unknown_top.write_text("thresholds:\n  drift: {psi_warn: 0.2}\nalerts: {slack: true}\n")
    unknown_nested = tmp_path / "nested.yaml"
    unknown_nested.write_text("features:\n  age:\n    drift: {psi_alrt: 0.3}\n")
    span = monitor_window(deployments)

    nowhere, since, top, nested, far, backwards = run_all(
        ["monitor", "check", "-d", "nowhere"], ["monitor", "check", "-d", "calm", "--since", "yesterday"],
        ["monitor", "check", "-d", "calm", *span, "--config", str(unknown_top)],
        ["monitor", "check", "-d", "calm", *span, "--config", str(unknown_nested)],
        ["monitor", "check", "-d", "calm", "--since", "999999999h"],  # before year 1: was an OverflowError
        ["monitor", "check", "-d", "calm", "--from", span[3], "--to", span[1]])

    assert [done.returncode for done in (nowhere, since, top, nested, far, backwards)] == [2] * 6
    assert re.fullmatch(r"Error: Deployment 'nowhere' logged no live predictions between .+ and .+; widen the "
                        r"window \(--since 7d\) or check the name\.", one_line(nowhere))
    assert one_line(since) == ("Error: since='yesterday' is neither a duration (30m, 24h, 7d) nor an ISO time "
                               "(2026-11-22T08:00).")
    assert one_line(far) == ("Error: since='999999999h' is out of range: times must fall between 1970-01-01 and "
                             "9999-12-31 UTC (a duration such as 24h or 7d counts back from now).")
    assert one_line(backwards) == "Error: The window is empty: --to must be after --from."  # the CLI's own flags
    assert one_line(top) == f"Error: {unknown_top} line 3: unknown key 'alerts'; allowed: features, thresholds."
    assert one_line(nested) == (f"Error: {unknown_nested} line 3: features.age.drift.psi_alrt is not a setting; known: "
                                "js_alert, js_warn, p_value, psi_alert, psi_warn.")


def test_huge_request_values_are_checked_without_numpy_warnings(template: Template, hours: Hours,
                                                                tmp_path: Path) -> None:
    """A finite value near the largest double (1e308) in logged requests: check and report print no
    RuntimeWarning, the mean stays finite and the verdict is printed once."""
    frame = world(1000, seed=38)
    frame.loc[:99, "monthly_charges"] = 1e308  # 10% of the rows: their sum is past the largest double
    log_traffic(template, frame, start_ms=hours.current_start, end_ms=hours.current_end)
    span = monitor_window(hours)
    checked, reported, as_json = run_all(
        ["monitor", "check", "-d", "churn", *span], ["monitor", "report", "-d", "churn", *span, "-o",
                                                      str(tmp_path / "report.html")],
        ["monitor", "check", "-d", "churn", *span, "--json"])

    for done in (checked, reported, as_json):
        assert done.stderr == "", done.stderr
    assert checked.returncode == 3 and checked.stdout.startswith("ALERT: "), checked.stdout
    assert reported.returncode == 0 and reported.stdout.startswith("ALERT: "), reported.stdout
    assert "ALERT ALERT" not in checked.stdout + reported.stdout
    drift = next(item for item in json.loads(as_json.stdout)["checks"]
                 if item["check"] == "drift" and item["feature"] == "monthly_charges")
    expected = 1e308 / 10 + frame.loc[100:, "monthly_charges"].sum() / 1000  # 100 of the 1,000 rows at 1e308
    assert f"mean {expected:.4g} vs " in drift["message"], drift["message"]
    out = next(item for item in json.loads(as_json.stdout)["checks"]
               if item["check"] == "out_of_range" and item["feature"] == "monthly_charges")
    assert out["status"] == "warn" and "10.0% of `monthly_charges` values are outside the training range" in out[
        "message"], out  # 5% warns, 20% alerts
    assert (tmp_path / "report.html").stat().st_size > 0


# ------------------------------------------------------------------------------------------------ webhook


@dataclass
class Received:
    path: str
    content_type: str | None
    body: Any


@dataclass
class Receiver:
    """A webhook on 127.0.0.1 (a free port) that records every POST."""

    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(Received(self.path, self.headers.get("Content-Type"), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port the OS just handed out, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def test_notify_posts_a_json_alert_and_an_unreachable_webhook_exits_1(deployments: Hours) -> None:
    span = monitor_window(deployments)
    nowhere = refused_url()
    with Receiver() as receiver:
        alerted, calm, refused = run_all(
            ["monitor", "check", "-d", "drifted", *span, "--reference", "window", "--notify", f"{receiver.url}/hook"],
            ["monitor", "check", "-d", "calm", *span, "--notify", f"{receiver.url}/calm"],
            ["monitor", "check", "-d", "drifted", *span, "--notify", nowhere])

    assert alerted.returncode == 3, alerted.stdout + alerted.stderr
    assert calm.returncode == 0, calm.stdout + calm.stderr  # nothing out of line: nobody is paged
    by_path = {item.path: item for item in receiver.received}
    assert list(by_path) == ["/hook"]
    alert = by_path["/hook"]
    assert alert.content_type == "application/json"
    assert alert.body["verdict"] == "alert" and alert.body["deployment"] == "drifted"
    assert alert.body["summary"].startswith("ALERT: ")
    assert all(set(item) == CHECK_KEYS for item in alert.body["checks"])
    # --reference window: the previous hour (1,000 training-like predictions) is what drift is measured against
    assert alert.body["reference"] == {"kind": "window", "model_uri": "models:/churn/1", "rows": 1000}
    drift = {item["feature"]: item for item in alert.body["checks"] if item["check"] == "drift"}
    assert {name for name, item in drift.items() if item["status"] != "ok"} == set(SHIFT)
    assert "in window" in drift["monthly_charges"]["message"]

    assert refused.returncode == 1
    assert re.fullmatch(rf"Error: Could not notify {re.escape(nowhere)}: \[Errno 111\] Connection refused; the "
                        r"check result was not delivered\.", one_line(refused))


# -------------------------------------------------------------------------------------------------- A/B


def test_ab_verdict_does_not_depend_on_the_hash_seed(template: Template, hours: Hours) -> None:
    """Two arms with the same number of labels: which one is the base must not change from run to run (a tie
    goes by name, so the base is ``challenger``)."""
    for variant, version, seed in (("champion", 2, 35), ("challenger", 1, 36)):
        frame = world(1000, seed=seed)
        batch = log_traffic(template, frame, version=version, variant=variant, start_ms=hours.current_start,
                            end_ms=hours.current_end)
        write_feedback(batch.keys, frame[TARGET].tolist(), timestamp_ms=hours.current_end)
    span = monitor_window(hours)
    runs = [run_all(["monitor", "check", "-d", "churn", *span, "--json"], env={"PYTHONHASHSEED": seed})[0]
            for seed in ("0", "4")]  # two seeds that iterate {"champion", "challenger"} in different orders

    verdicts = [next(item["message"] for item in json.loads(done.stdout)["checks"] if item["check"] == "ab")
                for done in runs]
    assert verdicts[0] == verdicts[1], verdicts
    assert re.fullmatch(r"Champion worse than challenger, p = .+, -[0-9.]+ pts accuracy\.", verdicts[0]), verdicts


# ------------------------------------------------------------------------------------------ server gauges


def test_server_exports_drift_gauges_from_the_log(template: Template, churn_store: Path, tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    now = int(time.time() * 1000)
    frame = world(2000, seed=37, shift={"monthly_charges": 16.0, "contract": [0.30, 0.30, 0.40]})
    batch = log_traffic(template, frame, start_ms=now - 40 * 60_000, end_ms=now - 60_000)  # inside "last hour"
    write_feedback(batch.keys[:500], frame[TARGET][:500].tolist(), timestamp_ms=now - 30_000)
    config = tmp_path / "serving.yaml"
    config.write_text("monitor_interval_s: 1\ndeployments:\n  churn:\n    variants:\n"
                      "      - {name: champion, model: 'models:/churn/1'}\n")
    out = tmp_path / "server.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "shipyard", "serve", "--config", str(config), "--host",
                                 "127.0.0.1", "--port", "0"], stdout=sink, stderr=subprocess.STDOUT,
                                env={**os.environ, "COLUMNS": "300"})
    try:
        def announced() -> str | None:
            assert proc.poll() is None, f"the server exited:\n{out.read_text()}"
            found = re.search(r"API docs at (http://127\.0\.0\.1:\d+)/docs", out.read_text())
            return found.group(1) if found else None

        url = wait_until(announced, timeout=90, what="the server to announce its URL")

        def gauges() -> str:
            import urllib.request

            with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
                page: str = response.read().decode()
            return page if "shipyard_feature_drift_score{" in page else ""

        page = wait_until(gauges, timeout=60, what="shipyard_feature_drift_score on /metrics", interval=0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    samples = {family.name: family.samples for family in text_string_to_metric_families(page)}
    drift = {sample.labels["feature"]: (sample.labels["statistic"], sample.value)
             for sample in samples["shipyard_feature_drift_score"] if sample.labels["deployment"] == "churn"}
    assert set(drift) == set(NUMERIC + CATEGORICAL)
    assert drift["monthly_charges"][0] == "psi" and drift["contract"][0] == "jensen_shannon"
    for shifted, warn_line in (("monthly_charges", 0.1), ("contract", 0.1)):
        statistic, value = drift[shifted]
        others = [other for name, (kind, other) in drift.items() if kind == statistic and name != shifted]
        assert value >= warn_line and value > 3 * max(others), drift
    status = {sample.labels["deployment"]: sample.value for sample in samples["shipyard_monitor_status"]}
    assert status == {"churn": 2.0}
    coverage = {sample.labels["deployment"]: sample.value for sample in samples["shipyard_feedback_coverage_ratio"]}
    assert coverage == {"churn": pytest.approx(0.25)}
    confused = {sample.labels["deployment"]: sample.value for sample in samples["shipyard_confused_answers_ratio"]}
    expected = next(item.value for item in monitor("churn", since="1h").results if item.check == "confused")
    assert confused == {"churn": pytest.approx(expected)}
