"""Running the app: one uvicorn process, or a small supervisor over N worker processes on one socket.

Our own supervisor (rather than uvicorn's) because signals mean something here: SIGHUP asks every worker
to re-resolve its aliases now (uvicorn would restart them, reloading every model), and SIGTERM is passed on
so each worker stops accepting, answers what it accepted, flushes its prediction log and exits. Workers
are spawned (not forked) so none inherits a SQLite connection; each loads its models once. Worker
metrics are summed through ``PROMETHEUS_MULTIPROC_DIR``.

A supervisor killed outright (SIGKILL, the OOM killer) cannot stop its workers, and orphans would keep
serving and holding the port, so the restart that follows fails with "Address already in use". Each
worker therefore watches its parent: on Linux the kernel sends it SIGTERM when the supervisor dies
(``PR_SET_PDEATHSIG``), and everywhere a watchdog thread notices that its parent changed. Either way it
drains as on SIGTERM, and exits within ``ORPHAN_GRACE_S`` whatever is left.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..errors import ConfigError, ShipyardError
from ..store import current_store
from ..store.location import StoreLocation
from ..store.store import use_location
from .access import check_exposure, host_names
from .fleet import check_resolvable
from .remote_source import ServerSource
from .source import ModelSource, ServerAddress, StoreSource
from .spec import ServingConfig, from_dict

log = logging.getLogger("shipyard.serving")
GRACEFUL_SECONDS = 30
ORPHAN_GRACE_S = 1.5  # how long a worker whose supervisor died may drain before it exits anyway
WATCH_PARENT_EVERY_S = 0.25  # with ORPHAN_GRACE_S: gone within 1.75 s of the supervisor
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def serve(config: ServingConfig, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          log_level: str = "warning", on_ready: Callable[[str], None] | None = None,
          source: ModelSource | None = None) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit status (0 after a clean stop). The models come from ``source``
    (a team server), else from the current store; every worker opens the same source again."""
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}.")
    check_exposure(host, token=config.token, insecure_no_auth=config.insecure_no_auth)
    config = replace(config, allowed_hosts=host_names(host, config.allowed_hosts))
    source = source if source is not None else StoreSource(current_store())
    check_resolvable(source, config)
    source.log_root(config.log_dir)  # a server through a team server needs a log_dir: said before listening
    store_spec = source.reopen
    listener = _bind(host, port)
    url = f"http://{host}:{listener.getsockname()[1]}"
    if workers == 1:
        return _run_worker(config.to_dict(), store_spec, listener, log_level, on_ready=on_ready, url=url)
    return _supervise(config, store_spec, listener, workers, log_level, on_ready, url)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise ConfigError(f"Cannot listen on {host}:{port}: {exc.strerror}; choose another --port.") from None
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


def _run_worker(config_data: dict[str, Any], store_spec: StoreLocation | ServerAddress, listener: socket.socket,
                log_level: str, *, on_ready: Callable[[str], None] | None = None, url: str = "",
                plugins: bool = True) -> int:
    import uvicorn

    from .app import create_app

    config = from_dict(config_data)
    app = create_app(config, source=_open_source(store_spec), preload=True, plugins=plugins)
    uvicorn_config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on",
                                    timeout_graceful_shutdown=GRACEFUL_SECONDS, server_header=False)
    server = uvicorn.Server(uvicorn_config)
    if on_ready is not None:
        _announce_when_started(server, on_ready, url)
    # uvicorn re-raises the stop signal once it has drained; with these handlers in place (uvicorn restores
    # them first) that ends run() normally, so a clean stop exits 0 instead of dying by SIGTERM.
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[listener])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if server.started else 3


def _open_source(spec: StoreLocation | ServerAddress) -> ModelSource:
    """The source a (spawned) worker serves from: the same store, or the same team server with the same token."""
    if isinstance(spec, ServerAddress):
        return ServerSource(spec.url, spec.token)
    return StoreSource(use_location(spec) or current_store())


def _stopped(signum: int, frame: Any) -> None:
    """The stop signal after uvicorn's graceful shutdown: nothing left to do."""


def _announce_when_started(server: Any, on_ready: Callable[[str], None], url: str) -> None:
    original = server.startup

    async def startup(sockets: Any = None) -> None:
        await original(sockets=sockets)
        if server.started:
            on_ready(url)

    server.startup = startup


def _worker_main(config_data: dict[str, Any], store_spec: StoreLocation | ServerAddress, listener: socket.socket,
                 log_level: str, index: int, parent: int) -> None:
    _die_with_parent(parent)
    try:
        status = _run_worker(config_data, store_spec, listener, log_level, plugins=index == 0)
    except ShipyardError as exc:  # one line, as the CLI prints it, not a traceback per worker
        sys.stderr.write(f"Error: {exc.message}\n")
        status = exc.exit_code
    raise SystemExit(status)


def _die_with_parent(parent: int) -> None:
    """Stop this worker when the supervisor ``parent`` dies, however it dies (see the module docstring)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):  # no prctl: the watchdog below still works
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_PARENT_EVERY_S)
        os.kill(os.getpid(), signal.SIGTERM)  # the graceful stop; a no-op if PR_SET_PDEATHSIG got here first
        time.sleep(ORPHAN_GRACE_S)
        sys.stderr.write(f"Worker {os.getpid()}: the supervisor (pid {parent}) is gone; exiting.\n")
        os._exit(1)

    # Started after prctl: a parent that died in between is seen by the first look at getppid().
    threading.Thread(target=watch, name="shipyard-parent-watch", daemon=True).start()


def _supervise(config: ServingConfig, store_spec: StoreLocation | ServerAddress, listener: socket.socket, workers: int,
               log_level: str, on_ready: Callable[[str], None] | None, url: str) -> int:
    metrics_dir = tempfile.mkdtemp(prefix="shipyard-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    context = multiprocessing.get_context("spawn")
    data = config.to_dict()

    def start(index: int) -> Any:
        process = context.Process(target=_worker_main,
                                  args=(data, store_spec, listener, log_level, index, os.getpid()), daemon=False)
        process.start()
        return process

    processes = [start(index) for index in range(workers)]
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.kill(process.pid, signal.SIGTERM)

    def hangup(signum: int, frame: Any) -> None:
        for process in processes:
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.kill(process.pid, signal.SIGHUP)

    previous = {sig: signal.signal(sig, handler) for sig, handler in
                ((signal.SIGTERM, stop), (signal.SIGINT, stop), (signal.SIGHUP, hangup))}
    announced = False
    status = 0
    try:
        while not stopping:
            for index, process in enumerate(processes):
                process.join(timeout=0.2)
                if process.exitcode is None or stopping:
                    continue
                if not announced:
                    log.error("A worker failed to start (exit %s); stopping.", process.exitcode)
                    status = 1
                    stop(signal.SIGTERM, None)
                    break
                log.error("Worker %s exited with %s; starting a new one.", process.pid, process.exitcode)
                processes[index] = start(index)
            if not announced and _ready(url):  # one probe: a second one could succeed without announcing
                announced = True
                if on_ready is not None:
                    on_ready(url)
        for process in processes:
            process.join(GRACEFUL_SECONDS + 5)
            if process.exitcode is None:
                process.kill()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        listener.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return status


def _ready(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=0.5) as response:
            return bool(response.status == 200)
    except OSError:
        return False
