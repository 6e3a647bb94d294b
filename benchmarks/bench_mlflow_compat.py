"""The same MLflow client code against ``shipyard server`` and against ``mlflow server``: only the server changes.

    python -m benchmarks.bench_mlflow_compat [--clients 4] [--seconds 20] [--rounds 1]

One PostgreSQL 15 (Debian's, fsync off as in the tests) holds two databases; ``shipyard server --workers 2`` serves
one (with a writer token, so every call is authenticated) and ``mlflow server --workers 2`` (MLflow 3.17.2 in its
own venv under ``.bench/venvs/``, built with uv on first use) the other, each with a local artifacts folder.
``--clients`` processes of :mod:`benchmarks.mlflow_compat_workload` run plain MLflow code against one server at a
time: ``set_experiment``, ``start_run``, then ``mlflow.log_metric("loss", v, step=i)`` in a loop for ``--seconds``,
every call timed. The workload is sized by time, not by count: MLflow's server takes about 70 calls/s here, so a
fixed count sized for Shipyard would keep the anchor busy for many minutes. Both servers run during the whole
benchmark, the sides alternate per round, and afterwards every run's metric history is read back through each
server's own API: a lost or duplicated point fails the benchmark.

Reported per side: calls/s over all clients (sum of calls / the longest client's logging time), p50 and p99 of a
call's latency as the client sees it; the ratio is Shipyard's over MLflow's. The machine is shared: read the ratios,
measured in the same run, rather than the absolute figures. Writes the "MLflow client compatibility" section of
RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks._load import descendants, free_port, start, stop, tail, wait_ready
from benchmarks._postgres import postgres
from benchmarks._results import machine, write_section
from benchmarks.anchors import VENVS

HERE = Path(__file__).resolve().parent
MLFLOW_VERSION = "3.17.2"  # what tests/integration/server/_mlflow.py pins
VENV = VENVS / f"mlflow-{MLFLOW_VERSION}-postgres"
# Retries as MLflow's defaults allow them but quick: a client's first call after waiting for the start signal may
# find its kept-alive connection closed by the server (uvicorn closes idle ones after 5 s); both sides alike.
MLFLOW_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
              "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0", "DO_NOT_TRACK": "1", "GIT_PYTHON_REFRESH": "quiet",
              "PYTHONWARNINGS": "ignore", "MLFLOW_HTTP_REQUEST_TIMEOUT": "120"}
SHIPYARD = Path(sys.executable).with_name("shipyard")


@dataclass
class Side:
    """One server under test and what its clients measured."""

    name: str
    url: str
    token: str | None
    calls: int = 0
    elapsed_s: float = 0.0
    latencies: list[float] | None = None
    checked_points: int = 0
    server_pid: int = 0
    server_cpu_s: float = 0.0
    database_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    def cpu_ms(self, seconds: float) -> float:
        """CPU milliseconds per call."""
        return seconds / self.calls * 1000 if self.calls else 0.0

    @property
    def rate(self) -> float:
        return self.calls / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies or [0.0])
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def mlflow_python() -> Path:
    """MLflow and a PostgreSQL driver in a venv of their own (their pins must not meet Shipyard's)."""
    python = VENV / "bin" / "python"
    marker = VENV / ".complete"
    if marker.exists() and python.exists():
        return python
    uv = Path(sys.executable).with_name("uv")
    env = {**os.environ, "UV_COMPILE_BYTECODE": "1", "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([str(uv), "venv", "--quiet", "--python", base, str(VENV)], check=True, env=env)
    subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python), "--exclude-newer",
                    "2026-12-06T00:00:00Z", f"mlflow=={MLFLOW_VERSION}", "psycopg2-binary"], check=True, env=env)
    marker.write_text("built\n")
    return python


def cpu_seconds(pid: int) -> float:
    """User and system CPU of ``pid`` and its descendants so far."""
    total = 0.0
    for each in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def run_clients(side: Side, python: Path, clients: int, seconds: float, work: Path, postmaster: int) -> None:
    """``clients`` workload processes against ``side``, started together; adds their counts and latencies."""
    go = work / f"go-{side.name}-{time.monotonic_ns()}"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "SHIPYARD_"))}
    env.update(MLFLOW_ENV, MLFLOW_TRACKING_URI=side.url, MLFLOW_COMPAT_GO=str(go))
    if side.token:
        env["MLFLOW_TRACKING_TOKEN"] = side.token
    outs = [work / f"{side.name}-{index}-{time.monotonic_ns()}.json" for index in range(clients)]
    procs = []
    for out in outs:
        with open(f"{out}.err", "wb") as errors:
            procs.append(subprocess.Popen([str(python), str(HERE / "mlflow_compat_workload.py"), str(seconds), "bench",
                                           str(out)], env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=errors))
    deadline = time.monotonic() + 300
    while not all(Path(f"{out}.ready").exists() for out in outs):  # start-up is not what is measured
        ended = [(proc.returncode, out) for proc, out in zip(procs, outs, strict=True) if proc.poll() is not None]
        if time.monotonic() > deadline or ended:
            code, out = ended[0] if ended else (None, outs[0])
            raise RuntimeError(f"a client of {side.name} did not start (exit {code}):\n{tail(Path(f'{out}.err'), 15)}")
        time.sleep(0.05)
    server_before, database_before = cpu_seconds(side.server_pid), cpu_seconds(postmaster)
    go.touch()
    for proc, out in zip(procs, outs, strict=True):
        if proc.wait(timeout=seconds + 600) != 0:
            raise RuntimeError(f"a client of {side.name} exited {proc.returncode}:\n{tail(Path(f'{out}.err'), 15)}")
    side.server_cpu_s += cpu_seconds(side.server_pid) - server_before  # the clients' run ends (with its end_run) here
    side.database_cpu_s += cpu_seconds(postmaster) - database_before
    elapsed = 0.0
    for out in outs:
        document = json.loads(out.read_text())
        side.calls += document["calls"]
        side.client_cpu_s += document["cpu_s"]
        elapsed = max(elapsed, document["elapsed_s"])
        side.latencies = (side.latencies or []) + document["latencies_s"]
        side.checked_points += check_history(side, document["run_id"], document["calls"])
    side.elapsed_s += elapsed


def check_history(side: Side, run_id: str, calls: int) -> int:
    """The run's ``loss`` history read back through the server's own API: one point per call, steps 0..calls-1."""
    headers = {"Authorization": f"Bearer {side.token}"} if side.token else {}
    steps: list[int] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"run_id": run_id, "metric_key": "loss", "max_results": 25000}
        if token:
            params["page_token"] = token
        answer = httpx.get(f"{side.url}/api/2.0/mlflow/metrics/get-history", params=params, headers=headers,
                           timeout=120)
        answer.raise_for_status()
        document = answer.json()
        steps += [int(point["step"]) for point in document.get("metrics", [])]
        token = document.get("next_page_token")
        if not token:
            break
    if sorted(steps) != list(range(calls)):
        raise RuntimeError(f"{side.name}: run {run_id} holds {len(steps)} points for {calls} calls "
                           f"({len(set(steps))} distinct steps): lost or duplicated")
    return len(steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4, help="client processes per side")
    parser.add_argument("--seconds", type=float, default=20.0, help="logging time of each client, per round")
    parser.add_argument("--rounds", type=int, default=1, help="rounds; the sides alternate within each")
    args = parser.parse_args(argv)
    python = mlflow_python()
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-compat-") as folder, \
            postgres(("shipyard", "mlflow")) as (databases, postmaster):
        work = Path(folder)
        servers: list[subprocess.Popen[bytes]] = []
        try:
            shipyard_side, mlflow_side = start_servers(databases, python, work, servers)
            for round_index in range(args.rounds):
                order = (shipyard_side, mlflow_side) if round_index % 2 == 0 else (mlflow_side, shipyard_side)
                for side in order:
                    run_clients(side, python, args.clients, args.seconds, work, postmaster)
                    print(f"round {round_index + 1}: {side.name} {side.rate:.0f} calls/s so far", flush=True)
        finally:
            for server in servers:
                stop(server)
    report(shipyard_side, mlflow_side, args)
    return 0


def start_servers(databases: dict[str, str], python: Path, work: Path,
                  servers: list[subprocess.Popen[bytes]]) -> tuple[Side, Side]:
    uri = databases["shipyard"]
    subprocess.run([str(SHIPYARD), "server", "db", "upgrade", "--backend-store-uri", uri], check=True,
                   capture_output=True)
    created = subprocess.run([str(SHIPYARD), "server", "token", "create", "--name", "bench", "--role", "writer",
                              "--backend-store-uri", uri], check=True, capture_output=True, text=True)
    token = created.stdout.strip().splitlines()[-1]
    port = free_port()
    servers.append(start([str(SHIPYARD), "server", "--backend-store-uri", uri, "--artifacts-destination",
                          str(work / "shipyard-objects"), "--host", "127.0.0.1", "--port", str(port), "--workers",
                          "2"], cwd=work, log=work / "shipyard.log"))
    shipyard_side = Side("shipyard server", f"http://127.0.0.1:{port}", token, server_pid=servers[-1].pid)
    wait_ready(f"{shipyard_side.url}/health", servers[-1])
    mlflow_uri = databases["mlflow"].replace("postgresql+psycopg://", "postgresql+psycopg2://")
    port = free_port()
    env = {**os.environ, **MLFLOW_ENV, "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}"}
    servers.append(start([str(python), "-m", "mlflow", "server", "--backend-store-uri", mlflow_uri,
                          "--artifacts-destination", str(work / "mlflow-artifacts"), "--host", "127.0.0.1",
                          "--port", str(port), "--workers", "2"], env=env, cwd=work, log=work / "mlflow.log"))
    mlflow_side = Side("mlflow server", f"http://127.0.0.1:{port}", None, server_pid=servers[-1].pid)
    try:
        wait_ready(f"{mlflow_side.url}/health", servers[-1])
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\n{tail(work / 'mlflow.log', 20)}") from None
    return shipyard_side, mlflow_side


def report(shipyard_side: Side, mlflow_side: Side, args: argparse.Namespace) -> None:
    rows = [
        ("calls/s (all clients)", f"{shipyard_side.rate:,.0f}", f"{mlflow_side.rate:,.0f}",
         f"{shipyard_side.rate / mlflow_side.rate:.1f}x"),
        ("p50 per call (ms)", f"{shipyard_side.percentile(0.5):.1f}", f"{mlflow_side.percentile(0.5):.1f}",
         f"{mlflow_side.percentile(0.5) / shipyard_side.percentile(0.5):.1f}x lower"),
        ("p99 per call (ms)", f"{shipyard_side.percentile(0.99):.1f}", f"{mlflow_side.percentile(0.99):.1f}",
         f"{mlflow_side.percentile(0.99) / shipyard_side.percentile(0.99):.1f}x lower"),
        ("server CPU per call (ms, all its processes)", f"{shipyard_side.cpu_ms(shipyard_side.server_cpu_s):.2f}",
         f"{mlflow_side.cpu_ms(mlflow_side.server_cpu_s):.2f}",
         f"{mlflow_side.server_cpu_s / mlflow_side.calls / (shipyard_side.server_cpu_s / shipyard_side.calls):.1f}x "
         "less"),
        ("MLflow client CPU per call (ms)", f"{shipyard_side.cpu_ms(shipyard_side.client_cpu_s):.2f}",
         f"{mlflow_side.cpu_ms(mlflow_side.client_cpu_s):.2f}", ""),
        ("PostgreSQL CPU per call (ms)", f"{shipyard_side.cpu_ms(shipyard_side.database_cpu_s):.2f}",
         f"{mlflow_side.cpu_ms(mlflow_side.database_cpu_s):.2f}", ""),
        ("calls made (all read back, none lost or doubled)", f"{shipyard_side.calls:,}", f"{mlflow_side.calls:,}",
         ""),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"\n{'':{width}}  {'shipyard server':>16}  {'mlflow server':>14}  ratio")
    for label, ours, theirs, ratio in rows:
        print(f"{label:{width}}  {ours:>16}  {theirs:>14}  {ratio}")
    load = os.getloadavg()[0]
    markdown = [
        "## MLflow client compatibility",
        "",
        f"The same MLflow {MLFLOW_VERSION} client code (`mlflow.log_metric` in a loop, one request per call) against "
        f"`shipyard server --workers 2` and `mlflow server --workers 2` on one PostgreSQL 15: {args.clients} client "
        f"processes x {args.seconds:.0f} s x {args.rounds} round(s) per side, sides alternating. "
        f"`python -m benchmarks.bench_mlflow_compat`. {machine()}; load average {load:.1f} at the end.",
        "",
        "| | shipyard server | mlflow server | ratio |",
        "| --- | ---: | ---: | --- |",
        *[f"| {label} | {ours} | {theirs} | {ratio} |" for label, ours, theirs, ratio in rows],
    ]
    write_section("MLflow client compatibility", "\n".join(markdown))


if __name__ == "__main__":
    sys.exit(main())
