"""``shipyard serve --workers 2`` killed with SIGKILL: its workers must not outlive it.

A SIGKILL gives the supervisor no chance to stop its workers; before they watched their parent, both kept
serving and holding the port, so the restart that follows a crash failed with "Address already in use".
The test kills a real supervisor under load, polls (with a deadline) that every process it had started is
gone, then starts a new server on the same port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests._support import pid_alive, wait_until
from tests.integration.serving._serving import Load, Template, records, running_server, write_config

pytestmark = pytest.mark.slow

DIE_WITHIN_S = 2.0


def _children_of(pid: int) -> set[int]:
    """The live (not zombie) processes whose parent is ``pid``, read from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == pid and stat[0] != "Z":
                found.add(int(entry.name))
    return found


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of ``pid``, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return fields[0], int(fields[1])


@pytest.mark.alone  # the workers' graceful stop must end within DIE_WITHIN_S: CPU that other tests' loads take
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads worker processes from /proc")
def test_sigkill_of_the_supervisor_takes_its_workers_down_and_frees_the_port(
        churn_store: Path, template: Template, tmp_path: Path) -> None:
    config = write_config(tmp_path / "serving.yaml", {
        "deployments": {"churn": {"variants": [{"name": "champion", "model": "models:/churn@champion"}]}}})
    record = records(template.holdout(rows=1))[0]
    with running_server(["--config", str(config), "--workers", "2"], cwd=tmp_path, store=churn_store) as server:
        workers = wait_until(lambda: (found := _children_of(server.pid)) and len(found) >= 2 and found,
                             timeout=30, what="the supervisor's worker processes")
        port = urlsplit(server.url).port
        assert port is not None
        with Load(server.url, "/predict/churn", record, threads=2) as load:
            wait_until(lambda: len(load.answered()) >= 40, timeout=30, what="load on both workers")
            os.kill(server.pid, signal.SIGKILL)
            killed = time.monotonic()
            assert server.proc.wait(timeout=10) == -signal.SIGKILL

            def all_gone() -> bool:
                return not any(pid_alive(pid) for pid in workers)

            deadline = killed + DIE_WITHIN_S
            while not all_gone() and time.monotonic() < deadline:
                time.sleep(0.02)
            survivors = sorted(pid for pid in workers if pid_alive(pid))
            took = time.monotonic() - killed
            for pid in survivors:  # clean up before failing: never leave a server behind
                os.kill(pid, signal.SIGKILL)
            assert not survivors, f"workers {survivors} of the killed supervisor still run after {took:.1f} s"
            with socket.socket() as probe:  # bound as the server binds: the port is free again
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(("127.0.0.1", port))
            load.stop()
        assert all(item.status == 200 for item in load.sent if item.ended < killed)

    with running_server(["--config", str(config), "--workers", "2"], cwd=tmp_path, store=churn_store,
                        port=port) as again:
        assert again.url.endswith(f":{port}")
        assert again.post("/predict/churn", json={"records": [record]}).status_code == 200


WATCHED = """
import os, signal, sys, time
from shipyard.serving.server import _die_with_parent
signal.signal(signal.SIGTERM, lambda *_: print("SIGTERM", time.monotonic(), flush=True))  # a drain that hangs
print("watching", time.monotonic(), flush=True)
_die_with_parent(os.getppid() + 1_000_000)  # not its parent: as if the supervisor had died and init took over
time.sleep(60)
"""


def test_the_parent_watchdog_alone_stops_a_worker_then_ends_it_if_the_drain_hangs(tmp_path: Path) -> None:
    """The portable fallback, without PR_SET_PDEATHSIG: a worker that finds another parent than the supervisor
    that started it sends itself SIGTERM (the graceful stop), and exits ORPHAN_GRACE_S later regardless."""
    from shipyard.serving.server import ORPHAN_GRACE_S

    done = subprocess.run([sys.executable, "-c", WATCHED], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, check=False)
    ended = time.monotonic()
    lines = dict(line.split() for line in done.stdout.splitlines())
    assert done.returncode == 1, done
    assert float(lines["SIGTERM"]) - float(lines["watching"]) < 1.0, done.stdout
    assert ORPHAN_GRACE_S <= ended - float(lines["SIGTERM"]) < DIE_WITHIN_S + 1, done.stdout
    assert "the supervisor" in done.stderr and "is gone" in done.stderr
