"""Team server throughput: Shipyard clients via `shipyard server` against MLflow clients via `mlflow server`.

    python -m benchmarks.bench_team_server [--clients 16] [--points 10000] [--mlflow-seconds 20]

One PostgreSQL 15 (Debian's binaries, as tests/_servers/postgres.py starts it) holds both servers' databases; each
server runs with two workers on 127.0.0.1, and the clients are separate processes released together:

- Shipyard: ``--clients`` processes each log ``--points`` metric points with the unchanged fluent API
  (``SHIPYARD_TRACKING_URI``, ``SHIPYARD_TOKEN``); ``log_metric`` buffers, a background sender ships batches with
  idempotency keys, and the run's end waits until the server acknowledged them all.
- MLflow 3.17.2 (its own cached venv with psycopg, tests/_foreign_venv.py): the same number of processes call
  ``mlflow.log_metric`` for ``--mlflow-seconds`` each, one request per call. MLflow takes about 70 calls/s here, so
  its side is sized by time: the same count would take it half an hour.

Throughput is points stored per second from the first client's start to the last client's end (the end of a
Shipyard run includes its last batch being committed). Every stored point is counted in PostgreSQL afterwards:
nothing lost, nothing duplicated. A second Shipyard round kills the server (SIGKILL of its process group) once a
fifth of the points are in and starts it again on the same port; the clients retry, and every point is counted again.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._results import machine, write_section
from benchmarks._suite import from_tests

MLFLOW_VERSION = "3.17.2"

SHIPYARD_CLIENT = r'''
import json, os, pathlib, sys, time
import shipyard
from shipyard.tracking.remote import tracking_server
go, points, paced = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "paced"
go.with_name(f"ready-{os.getpid()}").touch()
while not go.exists():
    time.sleep(0.005)  # released together by the harness
started = time.time()
with shipyard.start_run("bench", f"client-{os.getpid()}") as run:
    for step in range(points):
        shipyard.log_metric("m", step * 0.5, step=step)
        if paced and step % 50 == 49:
            time.sleep(0.05)  # the restart round spreads its points over about 10 s, so the kill lands mid-load
ended = time.time()
print(json.dumps({"run": run.id, "start": started, "end": ended, "calls": points,
                  "retries": tracking_server().client.retries}))
'''

MLFLOW_CLIENT = r'''
import json, os, pathlib, sys, time
import mlflow
go, seconds = pathlib.Path(sys.argv[1]), float(sys.argv[2])
mlflow.set_experiment(f"bench-{os.getpid()}")  # one each: concurrent creates of one name fail in MLflow
go.with_name(f"ready-{os.getpid()}").touch()
while not go.exists():
    time.sleep(0.005)  # released together by the harness
started = time.time()
calls = 0
with mlflow.start_run() as run:
    while time.time() - started < seconds:
        mlflow.log_metric("m", calls * 0.5, step=calls)
        calls += 1
ended = time.time()
print(json.dumps({"run": run.info.run_id, "start": started, "end": ended, "calls": calls}))
'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--points", type=int, default=10_000, help="metric points per Shipyard client")
    parser.add_argument("--mlflow-seconds", type=float, default=20.0, help="seconds each MLflow client logs")
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args(argv)
    postgres = from_tests("_servers/postgres.py")
    create_database, postgres_server, unavailable_reason = (postgres.create_database, postgres.postgres_server,
                                                            postgres.unavailable_reason)
    reason = unavailable_reason()
    if reason is not None:
        print(f"skipped: {reason}")
        return 0
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-team-") as folder, postgres_server() as pg:
        work = Path(folder)
        shipyard_round = _shipyard_round(work / "s1", create_database(pg, "shipyard_bench"), args, restart=False)
        restart_round = _shipyard_round(work / "s2", create_database(pg, "shipyard_restart"), args, restart=True)
        mlflow_round = None if args.skip_mlflow else _mlflow_round(work / "m", create_database(pg, "mlflow_bench"),
                                                                   args)
    _report(args, shipyard_round, restart_round, mlflow_round)
    return 0


def _shipyard_round(work: Path, database: str, args: argparse.Namespace, *, restart: bool) -> dict[str, Any]:
    helpers = from_tests("integration/server/_server.py")
    TeamServer, create_token, shipyard = helpers.TeamServer, helpers.create_token, helpers.shipyard

    work.mkdir(parents=True)
    shipyard("server", "db", "upgrade", "--backend-store-uri", database)
    token = create_token(database, "bench", "writer")
    server = TeamServer(database, work / "objects", work / "server", extra=("--workers", "2")).start()
    env = {**os.environ, "SHIPYARD_TRACKING_URI": server.url, "SHIPYARD_TOKEN": token,
           "SHIPYARD_STORE": str(work / "no-local-store")}
    go = work / "go"
    pacing = "paced" if restart else "full-speed"
    procs = [subprocess.Popen([sys.executable, "-c", SHIPYARD_CLIENT, str(go), str(args.points), pacing], cwd=work,
                              env=env,
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(args.clients)]
    _release(go, procs)
    outage = None
    try:
        if restart:
            outage = _kill_and_restart(server, database, args.clients * args.points // 5, work)
            server = outage.pop("server")
        outcomes = [proc.communicate(timeout=1800) for proc in procs]
    finally:
        server.stop()
    failed = [err[-400:] for proc, (_, err) in zip(procs, outcomes, strict=True) if proc.returncode != 0]
    results = [json.loads(out.strip().splitlines()[-1]) for proc, (out, _) in zip(procs, outcomes, strict=True)
               if proc.returncode == 0]
    counted = _count(database, "SELECT run_id, COUNT(*), COUNT(DISTINCT step) FROM metrics WHERE key = 'm' "
                               "GROUP BY run_id")
    return {**_summary(results, counted), "failed": failed, "outage": outage,
            "retries": sum(item["retries"] for item in results)}


def _kill_and_restart(server: Any, database: str, after: int, work: Path) -> dict[str, Any]:
    TeamServer = from_tests("integration/server/_server.py").TeamServer

    deadline = time.monotonic() + 600
    while _total(database) < after:
        if time.monotonic() > deadline:
            raise SystemExit("the clients did not log a fifth of their points within 600 s")
        time.sleep(0.05)  # polling interval
    before = _total(database)
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=30)
    killed = time.monotonic()
    restarted = TeamServer(database, server.objects, work / "restarted", port=server.port,
                           extra=("--workers", "2")).start()
    return {"server": restarted, "points_at_kill": before, "down_s": time.monotonic() - killed}


def _mlflow_round(work: Path, database: str, args: argparse.Namespace) -> dict[str, Any]:
    python = _mlflow_python()
    work.mkdir(parents=True)
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "SHIPYARD_"))}
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "DO_NOT_TRACK": "1",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "120", "PYTHONWARNINGS": "ignore", "GIT_PYTHON_REFRESH": "quiet"})
    mlflow_bin = python.with_name("mlflow")
    with open(work / "server.log", "wb") as log:
        server = subprocess.Popen([str(mlflow_bin), "server", "--backend-store-uri", database,
                                   "--artifacts-destination", str(work / "artifacts"), "--host", "127.0.0.1",
                                   "--port", str(port), "--workers", "2"],
                                  env={**env, "PATH": f"{python.parent}:{env.get('PATH', '')}"}, stdout=log,
                                  stderr=log, start_new_session=True)
    try:
        _wait_for(f"http://127.0.0.1:{port}/health", server, work / "server.log")
        go = work / "go"
        client_env = {**env, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
        procs = [subprocess.Popen([str(python), "-c", MLFLOW_CLIENT, str(go), str(args.mlflow_seconds)], cwd=work,
                                  env=client_env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(args.clients)]
        _release(go, procs)
        outcomes = [proc.communicate(timeout=1800) for proc in procs]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    failed = [err[-400:] for proc, (_, err) in zip(procs, outcomes, strict=True) if proc.returncode != 0]
    results = [json.loads(out.strip().splitlines()[-1]) for proc, (out, _) in zip(procs, outcomes, strict=True)
               if proc.returncode == 0]
    counted = _count(database, "SELECT run_uuid, COUNT(*), COUNT(DISTINCT step) FROM metrics WHERE key = 'm' "
                               "GROUP BY run_uuid")
    return {**_summary(results, counted), "failed": failed}


def _release(go: Path, procs: list[subprocess.Popen[str]]) -> None:
    """Start every client at once, after all of them imported (start-up is not part of the measure)."""
    deadline = time.monotonic() + 600
    while len(list(go.parent.glob("ready-*"))) < len(procs):
        failed = [proc for proc in procs if proc.poll() is not None]
        if failed or time.monotonic() > deadline:
            go.touch()
            raise SystemExit(f"a client exited before the start: {failed[0].communicate()[1][-2000:]}" if failed
                             else "the clients were not ready within 600 s")
        time.sleep(0.05)  # polling interval
    go.touch()


def _summary(results: list[dict[str, Any]], counted: dict[str, tuple[int, int]]) -> dict[str, Any]:
    calls = sum(item["calls"] for item in results)
    elapsed = max(item["end"] for item in results) - min(item["start"] for item in results) if results else 0.0
    lost = sum(max(0, item["calls"] - counted.get(item["run"], (0, 0))[1]) for item in results)
    duplicated = sum(rows - distinct for rows, distinct in counted.values())
    return {"clients": len(results), "calls": calls, "elapsed_s": elapsed, "per_s": calls / elapsed if elapsed else 0,
            "stored": sum(rows for rows, _ in counted.values()), "lost": lost, "duplicated": duplicated}


def _count(database: str, sql: str) -> dict[str, tuple[int, int]]:
    import psycopg

    with psycopg.connect(database.replace("postgresql+psycopg", "postgresql")) as conn:
        return {run: (int(rows), int(distinct)) for run, rows, distinct in conn.execute(sql).fetchall()}


def _total(database: str) -> int:
    import psycopg

    with psycopg.connect(database.replace("postgresql+psycopg", "postgresql")) as conn:
        row = conn.execute("SELECT COUNT(*) FROM metrics").fetchone()
    return int(row[0]) if row else 0


def _mlflow_python() -> Path:
    ForeignVenv = from_tests("_foreign_venv.py").ForeignVenv

    venv = ForeignVenv(title=f"MLflow {MLFLOW_VERSION} with psycopg", folder=f"mlflow-{MLFLOW_VERSION}-postgres",
                       requirements=(f"mlflow=={MLFLOW_VERSION}", "psycopg[binary]"),
                       probe="import mlflow, psycopg", exclude_newer="2026-12-06T00:00:00Z", index_package="mlflow")
    return venv.python()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mlflow server exited {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)  # polling interval
    raise SystemExit(f"mlflow server did not answer {url} within 120 s:\n{log.read_text()[-2000:]}")


def _report(args: argparse.Namespace, ours: dict[str, Any], restart: dict[str, Any],
            theirs: dict[str, Any] | None) -> None:
    lines = [
        "## Team server: clients logging metrics through the server",
        "",
        f"{machine()}; {args.clients} client processes; one PostgreSQL 15 (fsync off) for both servers, each "
        f"with --workers 2 on 127.0.0.1. Run `python -m benchmarks.bench_team_server`.",
        "",
        "| server, client | points (calls) stored | seconds | points/s | lost | duplicated | clients failing |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        _row(f"shipyard server, shipyard fluent API ({args.points:,} points each)", ours),
        _row(f"shipyard server, killed mid-load and restarted ({args.points:,} each, paced over ~10 s)", restart),
    ]
    if theirs is not None:
        lines.append(_row(f"mlflow server {MLFLOW_VERSION}, mlflow.log_metric ({args.mlflow_seconds:.0f} s each)",
                          theirs))
    lines.append("")
    if theirs is not None and theirs["per_s"]:
        lines.append(f"Throughput ratio Shipyard / MLflow: **{ours['per_s'] / theirs['per_s']:,.0f}x** "
                     f"({ours['per_s']:,.0f} vs {theirs['per_s']:,.1f} points/s).")
    outage = restart.get("outage") or {}
    lines.append(f"Restart under load: SIGKILL of the server's process group at {outage.get('points_at_kill', 0):,} "
                 f"points stored, back after {outage.get('down_s', 0):.1f} s on the same port; the clients retried "
                 f"{restart['retries']} requests; {restart['lost']} points lost, {restart['duplicated']} duplicated.")
    section = "\n".join(lines) + "\n"
    print(section)
    for name, data in (("shipyard", ours), ("restart", restart), ("mlflow", theirs)):
        if data and data["failed"]:
            print(f"{name}: {len(data['failed'])} clients failed:\n" + "\n".join(data["failed"]))
    write_section("Team server: clients logging metrics through the server", section)


def _row(label: str, data: dict[str, Any]) -> str:
    return (f"| {label} | {data['stored']:,} ({data['calls']:,}) | {data['elapsed_s']:.1f} | {data['per_s']:,.1f} | "
            f"{data['lost']} | {data['duplicated']} | {len(data['failed'])} |")


if __name__ == "__main__":
    raise SystemExit(main())
