"""Artifact transfer to and from S3: Shipyard's object store against boto3 on the same server, in the same run.

    python -m benchmarks.bench_objects_s3 [--mb 128] [--rounds 3]

A standalone ``moto_server`` (its own process, so it does not share the client's interpreter) on 127.0.0.1
stands for S3. One file of ``--mb`` MB, generated once, goes up and comes back ``--rounds`` times each way:

- Shipyard: ``FsspecObjectStore.put_file`` (hash, existence check, 16 MB multipart upload hashed again on the
  way) and ``get_file`` (8 MB ranged reads, hashed, written to a temporary file and renamed); a new key each
  round (the first bytes of the file change), so no upload is skipped;
- boto3 directly: ``put_object``/``get_object`` (one request each way, the body in memory) and
  ``upload_file``/``download_file`` (boto3's managed transfer: multipart, several threads).

Medians of the rounds, MB/s; the ratios are Shipyard's time over boto3's (under 1.0: Shipyard is faster).
moto keeps objects in memory and computes its own checksums, so absolute figures are the server's as much as
the client's: read the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._results import machine, write_section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=128, help="size of the artifact in MB")
    parser.add_argument("--rounds", type=int, default=3, help="transfers each way, per client")
    args = parser.parse_args(argv)
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-s3-") as folder, MotoServer() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        work = Path(folder)
        source = work / "artifact.bin"
        with source.open("wb") as sink:
            for index in range(args.mb):
                sink.write(index.to_bytes(4, "little") * (1 << 18))
        times = _measure(work, source, args.rounds)
    _report(times, args.mb, args.rounds)
    return 0


def _measure(work: Path, source: Path, rounds: int) -> dict[str, list[float]]:
    import boto3

    from shipyard.store.fsspec_objects import FsspecObjectStore

    client = boto3.client("s3")
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    store = FsspecObjectStore(f"s3://{bucket}/shipyard")
    times: dict[str, list[float]] = {}

    def timed(name: str, work_: Callable[[], object]) -> None:
        started = time.perf_counter()
        work_()
        times.setdefault(name, []).append(time.perf_counter() - started)

    for round_ in range(rounds):
        with source.open("r+b") as stream:  # a new object each round: nothing is skipped as already there
            stream.write(round_.to_bytes(4, "little") * 4)
        _one_round(store, client, bucket, source, work, f"boto3/{round_}", timed)
        print(f"round {round_ + 1}: " + ", ".join(f"{name} {values[-1]:.2f} s" for name, values in times.items()),
              flush=True)
    return times


def _one_round(store: Any, client: Any, bucket: str, source: Path, work: Path, key: str,
               timed: Callable[[str, Callable[[], object]], None]) -> None:
    data = source.read_bytes()
    info = store.put_file(source)
    store.delete(info.hash)
    timed("shipyard up", lambda: store.put_file(source))
    timed("shipyard down", lambda: store.get_file(info.hash, work / "back.bin"))
    timed("put_object", lambda: client.put_object(Bucket=bucket, Key=key, Body=data))
    timed("get_object", lambda: client.get_object(Bucket=bucket, Key=key)["Body"].read())
    timed("upload_file", lambda: client.upload_file(str(source), bucket, key + "-managed"))
    timed("download_file", lambda: client.download_file(bucket, key + "-managed", str(work / "managed.bin")))
    (work / "back.bin").unlink()


def _report(times: dict[str, list[float]], mb: int, rounds: int) -> None:
    median = {name: statistics.median(values) for name, values in times.items()}
    rows = [("upload", "shipyard up", ("put_object", "upload_file")),
            ("download", "shipyard down", ("get_object", "download_file"))]
    lines = [
        "## Objects on S3",
        "",
        f"{time.strftime('%Y-%m-%d')}, {machine()}; "
        f"`python -m benchmarks.bench_objects_s3 --mb {mb} --rounds {rounds}`: one {mb} MB artifact to and from a "
        f"standalone moto server on 127.0.0.1, median of {rounds} rounds.",
        "",
        "| direction | Shipyard MB/s | boto3 one request MB/s | boto3 managed transfer MB/s "
        "| Shipyard time / one request | Shipyard time / managed |",
        "|---|---|---|---|---|---|",
    ]
    for direction, ours, (single, managed) in rows:
        lines.append(f"| {direction} | {mb / median[ours]:,.0f} | {mb / median[single]:,.0f} | "
                     f"{mb / median[managed]:,.0f} | {median[ours] / median[single]:.2f} | "
                     f"{median[ours] / median[managed]:.2f} |")
    lines += ["", "Shipyard's figures include hashing every byte (twice on the way up: once to name the object, "
              "once while sending it) and writing the download to disk; boto3's one-request transfers hold the "
              "whole body in memory, which Shipyard never does."]
    section = "\n".join(lines)
    print(section)
    write_section("Objects on S3", section)


class MotoServer:
    """A standalone moto_server on a free port of 127.0.0.1, stopped by its PID."""

    def __enter__(self) -> str:
        program = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        self.process = subprocess.Popen([program, "-H", "127.0.0.1", "-p", str(port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
