"""Helpers of the UI tests: the real ``shipyard ui`` command on 127.0.0.1, and a browser tab that records errors.

``start_ui`` launches the CLI as a user would (``shipyard ui --port 0``), reads the address it prints; the
caller stops it by PID (``UIProcess.stop``). ``Tab`` wraps a Playwright page and records console errors,
uncaught errors, failed requests and any dialog (an ``alert`` that ran would be an XSS), so a test can assert
that a page drew cleanly. ``filled_store`` fills a store of its own through the public API, as a user would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "screenshots" / "ui"
_ADDRESS = re.compile(r"Shipyard UI at (http://127\.0\.0\.1:\d+)")


class UIProcess:
    """A running ``shipyard ui``: its base ``url``, its ``output`` lines so far, stopped with :meth:`stop`.

    A thread keeps reading the process's output, so a chatty server never blocks on a full pipe.
    """

    def __init__(self, process: subprocess.Popen[str], url: str, seen: list[str]) -> None:
        self.process, self.url, self.output = process, url, seen
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def start_ui(store: Path, *args: str, cwd: Path | None = None, timeout: float = 30) -> UIProcess:
    """Run ``shipyard ui --port 0 ARGS`` on ``store`` and wait (with a deadline) for the address it prints."""
    env = {**os.environ, "SHIPYARD_STORE": str(store), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "shipyard", "ui", "--port", "0", *args], cwd=cwd or store.parent,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = _ADDRESS.search(line)
        if found:
            return UIProcess(process, found.group(1), seen)
    process.kill()
    process.wait(timeout=10)
    process.stdout.close()
    raise AssertionError("shipyard ui did not print its address:\n" + "".join(seen))


class Tab:
    """A browser tab plus what went wrong in it: console errors, uncaught page errors, failed requests."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda message: self.errors.append(f"console: {message.text}")
                if message.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("requestfailed", self._failed)
        page.on("dialog", lambda dialog: self.errors.append(f"dialog: {dialog.message}") or dialog.dismiss())

    def _failed(self, request: Any) -> None:
        # A load still pending when the test navigates on (the favicon, say) is aborted by the browser: that is
        # a cancellation, not a failure of the page.
        if "ERR_ABORTED" not in (request.failure or ""):
            self.errors.append(f"request failed: {request.url} ({request.failure})")


@contextmanager
def filled_store(root: Path) -> Iterator[Path]:
    """Make ``root`` the store for the block (filled by the caller with real API calls), then forget it again."""
    import shipyard

    shipyard.set_store(root)
    try:
        yield root
    finally:
        shipyard.set_store(None)
