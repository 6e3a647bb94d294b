"""Pipelines and data versioning: Shipyard against DVC, measured in the same run on the same data.

    python -m benchmarks.bench_pipeline [--files N] [--quick]

Every measurement is a real CLI invocation (interpreter start-up included, as a user pays it) in its own
git repository with its own copy of the data. S3 transfers go to a moto server on 127.0.0.1 started
here. DVC runs from its anchor venv with analytics and the updater off, and its site cache kept in the
benchmark's temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._results import machine, write_section
from benchmarks.anchors import anchor_env, anchor_python, anchor_version

SHIPYARD = Path(sys.executable).with_name("shipyard")
STAGES = """stages:
  prepare:
    cmd: cp raw.txt prepared.txt
    deps: [raw.txt]
    outs: [prepared.txt]
  train:
    cmd: cp prepared.txt model.txt
    deps: [prepared.txt]
    outs: [model.txt]
  evaluate:
    cmd: >-
      echo '{"auc": 0.9}' > metrics.json
    deps: [model.txt]
    metrics: [metrics.json]
"""
DVC_METRICS = "metrics: [{metrics.json: {cache: false}}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000, help="files in the tracked directory")
    parser.add_argument("--quick", action="store_true", help="smaller sizes; RESULTS.md untouched")
    args = parser.parse_args(argv)
    files = 1_000 if args.quick else args.files
    rows: list[list[str]] = []
    dvc = str(anchor_python("dvc").with_name("dvc"))
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-pipeline-") as folder:
        work = Path(folder)
        env = {**os.environ, **anchor_env("dvc"), "DVC_SITE_CACHE_DIR": str(work / "dvc-site-cache"),
               "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
               "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}
        rows.append(hashing_row(work, quick=args.quick))
        source = work / "source"
        make_files(source / "data", files)
        ours, theirs = project(work / "shipyard", source, env), project(work / "dvc", source, env)
        run([dvc, "init", "-q"], theirs, env)
        rows.append(compare(f"add of a {files:,}-file directory",
                            lambda: run([str(SHIPYARD), "add", "data"], ours, env),
                            lambda: run([dvc, "add", "-q", "data"], theirs, env), target=">1x"))
        rows.append(compare(f"no-op status, {files:,} files",
                            lambda: run([str(SHIPYARD), "status"], ours, env),
                            lambda: run([dvc, "status", "-q"], theirs, env), repeats=3, target=">=10x"))
        (ours / "data" / "f00000.txt").write_text("changed")
        (theirs / "data" / "f00000.txt").write_text("changed")
        rows.append(compare("status after changing one file",
                            lambda: run([str(SHIPYARD), "status"], ours, env),
                            lambda: run([dvc, "status", "-q"], theirs, env, check=False)))
        rows += pipeline_rows(work, dvc, env)
        rows += transfer_rows(work, ours, theirs, dvc, env, files, "local directory", local_remotes(work))
        rows += transfer_rows(work, ours, theirs, dvc, env, files, "moto S3", s3_remotes(env))
    table = ("| workload | Shipyard s | DVC s | ratio (DVC/Shipyard) | target | result |\n|---|---|---|---|---|---|\n"
             + "\n".join("| " + " | ".join(row) + " |" for row in rows) + "\n")
    print(table)
    if not args.quick:
        write_section("Pipelines and data", f"## Pipelines and data\n\n{time.strftime('%Y-%m-%d')}, {machine()}; "
                      f"DVC {anchor_version('dvc')}; CLI invocations, start-up included; status rows are medians "
                      f"of 3.\n\n{table}")
    return 0


def hashing_row(work: Path, *, quick: bool) -> list[str]:
    from shipyard.store.hashing import hash_file

    size = (256 if quick else 1024) << 20
    path = work / "big.bin"
    with open(path, "wb") as handle:
        for _ in range(size >> 24):
            handle.write(os.urandom(1 << 24))
    hash_file(path)  # into the page cache
    seconds = statistics.median(timed(lambda: hash_file(path)) for _ in range(3))
    path.unlink()
    rate = size / seconds / 1e9
    return [f"BLAKE3 of a {size >> 20} MiB file in page cache", f"{seconds:.3f} ({rate:.2f} GB/s)", "-", "-",
            ">= 1 GB/s", "pass" if rate >= 1.0 else "FAIL"]


def pipeline_rows(work: Path, dvc: str, env: dict[str, str]) -> list[list[str]]:
    ours, theirs = work / "pipe-shipyard", work / "pipe-dvc"
    for folder in (ours, theirs):
        folder.mkdir()
        run(["git", "init", "-q"], folder, env)
        (folder / "raw.txt").write_text("raw data\n")
    (ours / "shipyard.yaml").write_text(STAGES)
    (theirs / "dvc.yaml").write_text(STAGES.replace("metrics: [metrics.json]", DVC_METRICS))
    run([dvc, "init", "-q"], theirs, env)
    run([str(SHIPYARD), "repro"], ours, env)
    run([dvc, "repro", "-q"], theirs, env)
    return [compare("no-op repro, 3 stages", lambda: run([str(SHIPYARD), "repro"], ours, env),
                    lambda: run([dvc, "repro", "-q"], theirs, env), repeats=3, target=">1x")]


def transfer_rows(work: Path, ours: Path, theirs: Path, dvc: str, env: dict[str, str], files: int, kind: str,
                  remotes: tuple[list[str], list[list[str]], dict[str, str]]) -> list[list[str]]:
    ours_remote, dvc_remote_commands, extra_env = remotes
    environment = {**env, **extra_env}
    run([str(SHIPYARD), "remote", "add", "bench", *ours_remote, "--default"], ours, environment)
    for command in dvc_remote_commands:
        run([dvc, *command], theirs, environment)
    rows = [compare(f"push {files:,} files to {kind}", lambda: run([str(SHIPYARD), "push"], ours, environment),
                    lambda: run([dvc, "push", "-q"], theirs, environment), target=">=5x")]
    shutil.rmtree(ours / ".shipyard" / "objects")
    shutil.rmtree(theirs / ".dvc" / "cache")
    shutil.rmtree(ours / "data")
    shutil.rmtree(theirs / "data")
    rows.append(compare(f"pull {files:,} files from {kind}", lambda: run([str(SHIPYARD), "pull"], ours, environment),
                        lambda: run([dvc, "pull", "-q"], theirs, environment), target=">=5x"))
    assert (ours / "data" / "f00001.txt").exists() and (theirs / "data" / "f00001.txt").exists()
    return rows


def local_remotes(work: Path) -> tuple[list[str], list[list[str]], dict[str, str]]:
    return [str(work / "remote-shipyard")], [["remote", "add", "-d", "-f", "bench", str(work / "remote-dvc")]], {}


def s3_remotes(env: dict[str, str]) -> tuple[list[str], list[list[str]], dict[str, str]]:
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    credentials = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    client = boto3.client("s3", endpoint_url=endpoint, **{
        "aws_access_key_id": "bench", "aws_secret_access_key": "bench", "region_name": "us-east-1"})
    for bucket in ("bench-shipyard", "bench-dvc"):
        client.create_bucket(Bucket=bucket)
    ours = ["s3://bench-shipyard/cache", "--endpoint-url", endpoint]
    theirs = [["remote", "add", "-d", "-f", "bench", "s3://bench-dvc/cache"],
              ["remote", "modify", "bench", "endpointurl", endpoint]]
    return ours, theirs, credentials


def compare(label: str, ours: Callable[[], object], theirs: Callable[[], object], *, repeats: int = 1,
            target: str = "-") -> list[str]:
    our_seconds = statistics.median(timed(ours) for _ in range(repeats))
    their_seconds = statistics.median(timed(theirs) for _ in range(repeats))
    ratio = their_seconds / our_seconds
    floor = {">=10x": 10.0, ">=5x": 5.0, ">1x": 1.0}.get(target)
    verdict = "-" if floor is None else ("pass" if ratio >= floor else "FAIL")
    print(f"{label}: shipyard {our_seconds:.2f}s, dvc {their_seconds:.2f}s, {ratio:.1f}x", flush=True)
    return [label, f"{our_seconds:.2f}", f"{their_seconds:.2f}", f"{ratio:.1f}x", target, verdict]


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def run(command: list[str], cwd: Path, env: dict[str, str], *, check: bool = True) -> None:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=3600, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed in {cwd}:\n{done.stdout}\n{done.stderr}")


def make_files(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for index in range(count):
        (folder / f"f{index:05d}.txt").write_bytes(os.urandom(512) + f"{index}\n".encode())


def project(folder: Path, source: Path, env: dict[str, str]) -> Path:
    shutil.copytree(source, folder)
    run(["git", "init", "-q"], folder, env)
    return folder


if __name__ == "__main__":
    raise SystemExit(main())
