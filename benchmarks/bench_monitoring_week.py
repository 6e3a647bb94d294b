"""A week's monitoring report with and without the hourly profile cache, on a local log and on S3 (moto).

    python -m benchmarks.bench_monitoring_week [--rate 5] [--hours 168]

The log is built as ``bench_monitoring_day`` builds it (the churn pipeline registered, one scored hour copied
to every hour of the week), then uploaded to a bucket of a standalone ``moto_server`` on 127.0.0.1 as a log
shared by replicas would be (``log_dir: s3://bucket/log``). ``shipyard monitor report --since 170h`` runs in a
child process four times: on the local folder, first with no cache (every hour scanned, and its profile
stored next to the log) and then with the cache; then the same on S3 with ``--log-dir s3://...``. The cached
run still reads the few columns the volume, latency, error and A/B checks need, so the ratio is the cache's
effect on the whole command, not on the profile step alone. moto serves from memory in another process on
the same two cores: read the S3 figures as "no raw rows are read again", not as S3's speed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from pathlib import Path

from benchmarks._results import machine, write_section
from benchmarks.bench_monitoring_day import run_report, write_log
from benchmarks.bench_objects_s3 import MotoServer

TITLE = "Monitoring a week: the hourly profile cache, local and on S3"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=5, help="predictions per second")
    parser.add_argument("--hours", type=int, default=168, help="hours of log")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-week-") as folder, MotoServer() as endpoint:
        work = Path(folder)
        rows = write_log(work, args.rate, args.hours)
        local = [run_report(work, args.hours, attempt) for attempt in (1, 2)]
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench",
               "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}
        log_url = _upload(work / ".shipyard" / "serving" / "predictions", env)
        remote = [run_report(work, args.hours, attempt, "--log-dir", log_url, env=env) for attempt in (3, 4)]
    lines = [
        f"## {TITLE}",
        "",
        f"Machine: {machine()}. {rows:,} logged predictions ({args.rate}/s for {args.hours} h, 19 input columns, "
        "churn pipeline); `shipyard monitor report --since 170h` in a child process, on the store's log folder "
        "and on the same log uploaded to a standalone moto S3 server on 127.0.0.1 (`--log-dir s3://...`); "
        "`python -m benchmarks.bench_monitoring_week`.",
        "",
        "| log | no cache (s) | hourly profiles cached (s) | ratio | peak memory, cached (MiB) |",
        "|---|---|---|---|---|",
    ]
    for label, (first, second) in (("local folder", local), ("S3 (moto)", remote)):
        lines.append(f"| {label} | {first[0]:.1f} | {second[0]:.1f} | {first[0] / second[0]:.1f}x | "
                     f"{second[1]:,.0f} |")
    write_section(TITLE, "\n".join(lines))
    print("\n".join(lines))
    return 0


def _upload(predictions: Path, env: dict[str, str]) -> str:
    """Copy the local log (predictions only: the cache is built by the first S3 run) to a new bucket."""
    import boto3

    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    for path in sorted(predictions.rglob("*.parquet")):
        client.upload_file(str(path), bucket, f"log/predictions/{path.relative_to(predictions).as_posix()}")
    return f"s3://{bucket}/log"


if __name__ == "__main__":
    raise SystemExit(main())
