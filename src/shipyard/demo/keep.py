"""``shipyard demo --keep``: after the story, leave the server and the web UI running on what it made.

Both run as a user would start them, in their own processes from the demo project folder: ``shipyard serve
--config serving.yaml`` (now serving the champion the loop may have just promoted) and ``shipyard ui`` (so its
pipelines page shows the demo's pipeline). They listen on 127.0.0.1, on the usual ports when those are free;
Ctrl-C (or SIGTERM) stops both.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import ShipyardError
from .traffic import wait_ready

UI_PORT = 5000
SERVE_PORT = 8000
_UI_ADDRESS = re.compile(r"Shipyard UI at (http://\S+)")


def keep_running(store_root: Path, project: Path, config: Path, say: Callable[[str], None]) -> None:
    """Start the server and the UI, print their addresses with ``say``, and wait until interrupted."""
    env = {**os.environ, "SHIPYARD_STORE": str(store_root), "PYTHONUNBUFFERED": "1"}
    serve_port = _port(SERVE_PORT)
    server = subprocess.Popen([sys.executable, "-m", "shipyard", "serve", "--config", str(config), "--port",
                               str(serve_port)], cwd=project, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    ui = subprocess.Popen([sys.executable, "-m", "shipyard", "ui", "--port", str(_port(UI_PORT))], cwd=project,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          preexec_fn=_die_with_parent)
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        ui_url = _ui_address(ui)
        serve_url = f"http://127.0.0.1:{serve_port}"
        wait_ready(serve_url, server)
        say(f"Kept running: web UI at {ui_url} , model server at {serve_url} (POST {serve_url}/predict/churn, docs "
            f"{serve_url}/docs). Ctrl-C stops both.")
        while not stop and server.poll() is None and ui.poll() is None:
            time.sleep(0.5)  # waiting for the user, not synchronising with anything
        if not stop and (server.poll() is not None or ui.poll() is not None):
            raise ShipyardError("The demo's server or UI stopped on its own; run them again with "
                                f"`shipyard serve --config {config}` and `shipyard ui` in {project}.")
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for process in (server, ui):
            if process.poll() is None:
                process.terminate()
        for process in (server, ui):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if ui.stdout is not None:
            ui.stdout.close()


def _ui_address(ui: subprocess.Popen[str], deadline_s: float = 60) -> str:
    assert ui.stdout is not None
    deadline = time.monotonic() + deadline_s
    seen = []
    while time.monotonic() < deadline:
        line = ui.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = _UI_ADDRESS.search(line)
        if found:
            return found.group(1)
    raise ShipyardError("The web UI did not start: " + "".join(seen)[-500:])


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the demo process dies, even by SIGKILL, so nothing is left listening."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _port(preferred: int) -> int:
    """``preferred`` when nothing listens there, else any free port."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])
