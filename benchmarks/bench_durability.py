"""What ``durability: strict`` costs: the prediction log on disk before each answer, against the default.

    python -m benchmarks.bench_durability [--seconds 10] [--connections 16] [--rounds 2]

The same server twice, ``durability: buffered`` (group commit every ``flush_interval_s``, 1 s) and
``durability: strict`` (group commit before each answer: requests that arrive during a write share the
next one, so the disk sees one write and fsync per batch of answers): 2 workers, the demo's
logistic-regression pipeline on the Telco churn data, on the Python runtime and on its verified ONNX
export. wrk sends single-row requests at a fixed number of connections for a bounded time; the modes
alternate for ``--rounds`` rounds so that drift of a shared machine falls on both, and the report quotes
the ratios of the medians of the rounds, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks._load import LoadResult, free_port, start, stop, tail, wait_ready, wrk
from benchmarks._results import machine, write_section

SHIPYARD = [sys.executable, "-m", "shipyard"]
MODES = ("buffered", "strict")
RUNTIMES = ("python", "onnx")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each load run")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections of each run")
    parser.add_argument("--rounds", type=int, default=2, help="times each mode is measured, alternating")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-durability-") as folder:
        work = Path(folder)
        row = _prepare(work)
        runs: dict[str, list[LoadResult]] = {}
        for _ in range(args.rounds):
            for runtime in RUNTIMES:
                for mode in MODES:
                    result = _run(work, row, runtime, mode, args.seconds, args.connections)
                    runs.setdefault(f"{runtime}/{mode}", []).append(result)
                    print(f"{runtime:6} {mode:8} {result.requests_per_s:8,.0f} req/s  p99 {result.p99_ms:6.1f} ms  "
                          f"failed {result.errors}", flush=True)
    print(json.dumps({key: [item.__dict__ for item in value] for key, value in runs.items()}, indent=1))
    _report(runs, args.seconds, args.connections, args.rounds)
    return 0


def _prepare(work: Path) -> dict[str, object]:
    """Train, log and register the demo pipeline once, with its verified ONNX export attached."""
    from sklearn.linear_model import LogisticRegression

    import shipyard
    from shipyard.demo.churn import TARGET, build_pipeline, load_churn

    shipyard.set_store(work / ".shipyard")
    frame = load_churn()
    features = frame.drop(columns=[TARGET])
    with shipyard.start_run(experiment="bench-durability"):
        pipeline = build_pipeline(frame, LogisticRegression(max_iter=2000)).fit(features, frame[TARGET])
        info = shipyard.log_model(pipeline, input_example=features, y_example=frame[TARGET])
    shipyard.register_model(info.uri, "churn")
    shipyard.export_onnx("models:/churn/1", work / "churn.onnx")
    shipyard.set_store(None)
    return dict(json.loads(features.head(1).to_json(orient="records"))[0])


def _run(work: Path, row: dict[str, object], runtime: str, mode: str, seconds: int, connections: int) -> LoadResult:
    config = work / f"{runtime}-{mode}.yaml"
    config.write_text(f"durability: {mode}\nflush_interval_s: 1.0\nlog_dir: {work / 'logs' / runtime / mode}\n"
                      f"deployments:\n  churn:\n    model: models:/churn/1\n    runtime: {runtime}\n")
    port = free_port()
    log = work / f"{runtime}-{mode}.log"
    process = start([*SHIPYARD, "serve", "--config", str(config), "--port", str(port), "--workers", "2"],
                    env={**os.environ, "SHIPYARD_STORE": str(work / ".shipyard")}, cwd=work, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/health/ready", process)
        body: dict[str, object] = {"records": [row]}
        wrk(f"{url}/predict/churn", body, connections=connections, seconds=2)  # warm-up, not counted
        return wrk(f"{url}/predict/churn", body, connections=connections, seconds=seconds)
    except Exception as exc:
        raise RuntimeError(f"{runtime}/{mode}: {exc}\n{tail(log)}") from exc
    finally:
        stop(process)


def _report(runs: dict[str, list[LoadResult]], seconds: int, connections: int, rounds: int) -> None:
    def median(key: str, field: str) -> float:
        return statistics.median(getattr(item, field) for item in runs[key])

    lines = [
        "## Prediction log durability (strict vs buffered)",
        "",
        f"Machine: {machine()}. Model: logistic-regression pipeline on the Telco churn data, 2 workers; "
        f"single-row JSON requests from wrk at {connections} connections, {seconds} s per run, {rounds} rounds "
        "alternating the modes (medians); `python -m benchmarks.bench_durability`.",
        "",
        "| runtime | durability | req/s (range) | p50 / p99 (ms) | failed | req/s vs buffered | p99 vs buffered |",
        "|---|---|---|---|---|---|---|",
    ]
    for runtime in RUNTIMES:
        base_rate, base_p99 = median(f"{runtime}/buffered", "requests_per_s"), median(f"{runtime}/buffered", "p99_ms")
        for mode in MODES:
            key = f"{runtime}/{mode}"
            rate, p50, p99 = median(key, "requests_per_s"), median(key, "p50_ms"), median(key, "p99_ms")
            failed = sum(item.errors for item in runs[key])
            low, high = (f(item.requests_per_s for item in runs[key]) for f in (min, max))
            lines.append(f"| {runtime} | {mode} | {rate:,.0f} ({low:,.0f}-{high:,.0f}) | {p50:.1f} / {p99:.1f} | "
                         f"{failed} | {rate / base_rate:.2f}x | {p99 / base_p99:.2f}x |")
    lines += ["", "Strict mode waits for a group commit (Parquet file, fsync, rename, fsync of the folder: about 8 ms "
              "here) before each answer; what each mode guarantees is in docs/serving.md. The range is the lowest and "
              "highest req/s of the rounds: a wide one means the shared machine was busy with other work."]
    write_section("Prediction log durability (strict vs buffered)", "\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
