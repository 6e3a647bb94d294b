"""Batch scoring benchmark: ``shipyard predict`` against calling the pipeline's ``predict_proba`` directly.

    python -m benchmarks.bench_batch [--rows N]

Both read the same Parquet file in the same chunks; the anchor only converts each chunk to pandas and
calls ``predict_proba``, while Shipyard also validates every chunk against the signature, derives labels,
copies an id column and writes the output Parquet file. The target is at least 90% of the anchor's
rows/s. The model is the demo's churn pipeline on the real Telco data, repeated to the requested size.
Runs are interleaved and repeated, and the median is reported, because the 2 cores are shared.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks._results import machine, write_section

REPEATS = 5
BATCH_SIZE = 50_000
TARGET_RATIO = 0.90


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000, help="rows in the scored file")
    args = parser.parse_args(argv)

    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq
    from sklearn.linear_model import LogisticRegression

    import shipyard
    from shipyard.demo.churn import TARGET, build_pipeline, load_churn
    from shipyard.models.batch import predict_file

    with tempfile.TemporaryDirectory(prefix="shipyard-bench-batch-") as folder:
        work = Path(folder)
        shipyard.set_store(work / ".shipyard")
        frame = load_churn()
        features = frame.drop(columns=[TARGET])
        with shipyard.start_run(experiment="bench-batch"):
            pipeline = build_pipeline(frame, LogisticRegression(max_iter=2000)).fit(features, frame[TARGET])
            info = shipyard.log_model(pipeline, input_example=features)
        shipyard.register_model(info, "churn")
        model = shipyard.load_model("models:/churn/1")
        repeats = -(-args.rows // len(features))
        big = pd.concat([features] * repeats, ignore_index=True).head(args.rows)
        big.insert(0, "customer_id", np.arange(len(big)))
        source = work / "customers.parquet"
        big.to_parquet(source, row_group_size=BATCH_SIZE)

        def anchor() -> float:
            started = time.perf_counter()
            for batch in pq.ParquetFile(source).iter_batches(batch_size=BATCH_SIZE):
                pipeline.predict_proba(batch.to_pandas().drop(columns=["customer_id"]))
            return time.perf_counter() - started

        def ours() -> float:
            started = time.perf_counter()
            predict_file(model, source, work / "scores.parquet", batch_size=BATCH_SIZE, id_columns=["customer_id"])
            return time.perf_counter() - started

        anchor(), ours()  # warm caches and imports
        anchor_times, our_times = [], []
        for _ in range(REPEATS):
            anchor_times.append(anchor())
            our_times.append(ours())
        shipyard.set_store(None)

    anchor_rate = args.rows / statistics.median(anchor_times)
    our_rate = args.rows / statistics.median(our_times)
    ratio = our_rate / anchor_rate
    verdict = "pass" if ratio >= TARGET_RATIO else "FAIL"
    table = (
        "| workload | rows | predict_proba rows/s | shipyard predict rows/s | ratio | target | result |\n"
        "|---|---|---|---|---|---|---|\n"
        f"| churn pipeline, Parquet in {BATCH_SIZE:,}-row chunks | {args.rows:,} | {anchor_rate:,.0f} | "
        f"{our_rate:,.0f} | {ratio:.2f} | >= {TARGET_RATIO:.2f} | {verdict} |\n"
    )
    print(table)
    write_section("Batch scoring", f"## Batch scoring\n\n{time.strftime('%Y-%m-%d')}, {machine()}; median of "
                  f"{REPEATS} interleaved runs.\n\n{table}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
