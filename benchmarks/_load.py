"""Load generation with wrk and servers started as processes, for the serving benchmark.

wrk shares the 2 cores with the server under test, so absolute numbers are modest; every server is
measured the same way in the same run and the report quotes ratios.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass
class LoadResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], deadline_s: float = 180.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {deadline_s:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL it after 30 s; then any descendant left behind.

    Some servers (BentoML's circus arbiter) put their workers in process groups of their own: those are
    recorded before the signal and killed by PID if they outlive their parent.
    """
    if process.poll() is None:
        family = descendants(process.pid)
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        deadline = time.monotonic() + 10
        while (left := [pid for pid in family if _alive(pid)]) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
          log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a server in a session of its own; its output goes to ``log`` (appended) or is dropped."""
    if log is None:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def tail(path: Path, lines: int = 5) -> str:
    """The last ``lines`` lines of a log file, for an error message ('' when there is none)."""
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def wrk(url: str, body: dict[str, object], *, connections: int, seconds: int, threads: int = 2) -> LoadResult:
    """POST ``body`` as JSON to ``url`` for ``seconds`` with ``connections`` open connections."""
    script = ("wrk.method = 'POST'\n"
              "wrk.headers['Content-Type'] = 'application/json'\n"
              f"wrk.body = [[{json.dumps(body)}]]\n")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        out = subprocess.run(["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds}s",
                              "--latency", "-s", handle.name, url], capture_output=True, text=True, check=True,
                             timeout=seconds + 60).stdout
    finally:
        os.unlink(handle.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if found := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(found.group(1))
    if found := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(value) for value in found.groups())
    return LoadResult(rate, _percentile(out, "50%"), _percentile(out, "99%"), errors, total)


def serve_single_rows(registered: str, runtime: str, row: dict[str, object], *, env: dict[str, str], cwd: Path,
                      seconds: int, trust: tuple[str, ...] = ()) -> dict[str, float]:
    """``models:/REGISTERED/1`` served alone by ``shipyard serve --workers 2`` (micro-batching, the default) under
    wrk's single-row requests on 64 connections, after a 2 s warm-up on 8; the server is stopped afterwards.
    ``trust`` (a PythonModel's code reference, say) goes in a serving config, the one place a server takes it."""
    port = free_port()
    target = [f"models:/{registered}/1", "--runtime", runtime]
    if trust:
        config = cwd / f"{registered}-serving.json"  # JSON is YAML: no writer needed
        config.write_text(json.dumps({"trust": list(trust), "deployments": {
            registered: {"model": f"models:/{registered}/1", "runtime": runtime}}}))
        target = ["--config", str(config)]
    process = start([sys.executable, "-m", "shipyard", "serve", *target, "--port", str(port), "--workers", "2"],
                    env=env, cwd=cwd)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/health/ready", process)
        body: dict[str, object] = {"records": [row]}
        wrk(f"{url}/predict/{registered}", body, connections=8, seconds=2)  # warm-up
        return wrk(f"{url}/predict/{registered}", body, connections=64, seconds=seconds).__dict__
    finally:
        stop(process)


def load_table(results: dict[str, dict[str, float]]) -> list[str]:
    """The Markdown table of :func:`serve_single_rows` results, one row per model."""
    lines = ["| model | rows/s | p50 ms | p99 ms | errors |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {name} | {found['requests_per_s']:.0f} | {found['p50_ms']:.1f} | {found['p99_ms']:.1f} | "
              f"{found['errors']} |" for name, found in results.items()]
    return lines


def _percentile(out: str, label: str) -> float:
    found = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    return float(found.group(1)) * _UNITS[found.group(2)] if found else float("nan")


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """Children, grandchildren and so on of ``pid`` (at the time of the call)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            if child not in found:
                found.append(child)
                todo.append(child)
    return found
