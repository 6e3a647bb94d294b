"""A real S3-compatible server on 127.0.0.1: moto's threaded server, as the recipe in shared/TESTING.md says.

:func:`moto_server` starts it on a free port and stops it afterwards; :func:`create_bucket` makes a bucket
with the credentials already in the environment (any values do for moto).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "shipyard-test",
    "AWS_SECRET_ACCESS_KEY": "shipyard-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def unavailable_reason() -> str | None:
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError as exc:
        return f"the S3 tests need moto[server] and s3fs (the dev extra): {exc}"
    return None


@contextmanager
def moto_server() -> Iterator[str]:
    """Yield the endpoint URL ``http://127.0.0.1:PORT`` of a moto S3 server running in this process."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def client(endpoint_url: str) -> Any:
    """A boto3 S3 client for the server (credentials from the environment)."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url)


def new_bucket(monkeypatch: pytest.MonkeyPatch, endpoint_url: str, tmp_path: Path, prefix: str) -> str:
    """A new bucket ``PREFIX-<random>`` on the server, which this process (and the children it starts) reaches
    only through the standard AWS variables: the test credentials, ``AWS_ENDPOINT_URL``, and no AWS config or
    credentials file of the machine's user."""
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint_url)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    create_bucket(endpoint_url, name)
    return name


def create_bucket(endpoint_url: str, name: str) -> None:
    client(endpoint_url).create_bucket(Bucket=name)


def list_keys(endpoint_url: str, bucket: str, prefix: str) -> list[str]:
    """Every key under ``prefix`` (all pages)."""
    pages = client(endpoint_url).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@contextmanager
def moto_server_checking_credentials() -> Iterator[str]:
    """Yield the endpoint of a standalone ``moto_server`` (a child process, stopped by its PID) that checks
    credentials as AWS does: with ``INITIAL_NO_AUTH_ACTION_COUNT=0`` every request needs a key moto issued, so
    any key a test makes up is refused (``InvalidAccessKeyId``, 403)."""
    import os
    import shutil
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    program = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if program is None:
        raise RuntimeError("moto_server is not installed (moto[server], the dev extra)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    process = subprocess.Popen([program, "-H", "127.0.0.1", "-p", str(port)],
                               env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on port {port}") from None
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
