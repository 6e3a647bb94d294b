"""A throwaway PostgreSQL 15 for benchmarks (Debian's binaries, the recipe of shared/TESTING.md).

The tests have their own (``tests/_servers/postgres.py``); benchmarks cannot import ``tests`` (a package of that
name installed by a dependency shadows it), so the few lines live here too.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks._load import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*args: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, check=True, timeout=60)


@contextmanager
def postgres(databases: tuple[str, ...]) -> Iterator[tuple[dict[str, str], int]]:
    """A running server with these databases; yields ``{name: "postgresql+psycopg://postgres@127.0.0.1:PORT/name"}``
    and the postmaster's pid (its children are the backends, whose CPU a benchmark may count)."""
    import psycopg

    folder = Path(tempfile.mkdtemp(prefix="shipyard-bench-pg-"))
    shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()
    _as_postgres(str(BIN / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c max_connections=200"
    _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([str(BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True,
                             check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not accept connections within 30 s")
            time.sleep(0.1)
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            for name in databases:
                conn.execute(f'CREATE DATABASE "{name}"')
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        yield {name: f"postgresql+psycopg://postgres@127.0.0.1:{port}/{name}" for name in databases}, postmaster
    finally:
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
