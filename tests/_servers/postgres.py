"""A throwaway PostgreSQL 15 server (Debian's binaries), as the recipe in shared/TESTING.md describes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")


def unavailable_reason() -> str | None:
    if not (BIN / "initdb").exists():
        return "PostgreSQL 15 binaries are not installed (scripts/install-system-deps.sh installs them)"
    if os.geteuid() != 0:
        return "starting PostgreSQL as the postgres user needs root"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (the postgres extra)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True,
                          check=True, timeout=60)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL prefix ``postgresql+psycopg://postgres@127.0.0.1:PORT``."""
    folder = Path(tempfile.mkdtemp(prefix="shipyard-pg-"))
    shutil.chown(folder, "postgres")
    data = folder / "data"
    _as_postgres(str(BIN / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres")
    try:
        port = _start(data, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        deadline = time.monotonic() + 30
        while True:
            probe = subprocess.run([str(BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                                   capture_output=True, check=False)
            if probe.returncode == 0 or time.monotonic() > deadline:
                break
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def _start(data: Path, folder: Path, attempts: int = 3) -> int:
    """Start the server on a free port and return the port.

    The port is free when chosen, but other test processes (the xdist workers of the same run) bind ports too;
    when one takes it before PostgreSQL does, the start fails with "Address already in use" in the log, and
    the next attempt takes another port.
    """
    log = folder / "log"
    for attempt in range(attempts):
        port = _free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
        started = subprocess.run(["runuser", "-u", "postgres", "--", str(BIN / "pg_ctl"), "-D", str(data), "-o",
                                  options, "-l", str(log), "-w", "start"], capture_output=True, text=True,
                                 check=False, timeout=60)
        if started.returncode == 0:
            return port
        in_use = log.exists() and "already in use" in log.read_text()
        if not in_use or attempt == attempts - 1:
            raise RuntimeError(f"PostgreSQL did not start on port {port}:\n{started.stdout}{started.stderr}"
                               f"{log.read_text() if log.exists() else ''}")
        log.unlink()
    raise AssertionError("unreachable")


def create_database(server_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server_url.replace("postgresql+psycopg", "postgresql") + "/postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"
