"""The table ``make bench`` ends with: which rows of RESULTS.md it takes, and which figure and verdict of each."""

from __future__ import annotations

from benchmarks.summary import Row, rows_with_targets

RESULTS = """\
# Benchmark results

## Pipelines and data

| workload | Shipyard s | DVC s | ratio (DVC/Shipyard) | target | result |
|---|---|---|---|---|---|
| no-op status, 10,000 files | 0.04 | 0.53 | 13.1x | >=10x | pass |
| status after changing one file | 0.37 | 0.52 | 1.4x | - | - |
| pull from moto S3 | 9.9 | 49.4 | 5.0x | >=5x | FAIL |

## Online serving

- Throughput vs MLflow: 26.9x (target >= 5x: pass).
- p99 latency at 64 connections, adaptive batching: 26.0 ms (target < 25 ms: FAIL).
- ONNX runtime over the Python runtime under load: 2.6x.
- Resident memory per worker: [249.0] MiB with 1 model.

## Web UI

| case | n | median ms | p95 ms | target | result |
|---|---|---|---|---|---|
| GET /runs (50 rows, newest first) | 20 | 34.7 | 37.2 | < 1000 ms | pass |
| MLflow search (100 runs, newest first) | 20 | 190.0 | 959.8 |  |  |
"""


def test_rows_with_a_target_keep_their_figure_and_verdict() -> None:
    assert rows_with_targets(RESULTS) == [
        Row("Pipelines and data", "no-op status, 10,000 files", "13.1x", ">=10x", "pass"),
        Row("Pipelines and data", "pull from moto S3", "5.0x", ">=5x", "FAIL"),
        Row("Online serving", "Throughput vs MLflow", "26.9x", ">= 5x", "pass"),
        Row("Online serving", "p99 latency at 64 connections, adaptive batching", "26.0 ms", "< 25 ms", "FAIL"),
        Row("Web UI", "GET /runs (50 rows, newest first)", "34.7", "< 1000 ms", "pass"),
    ]
