"""A day of logged traffic at 500 predictions/s (43.2 M rows): the monitoring report's time and peak memory.

    python -m benchmarks.bench_monitoring_day [--rate 500] [--hours 24]

The churn pipeline is trained and registered (its training profile is the reference); one hour of log
rows is built from the Telco data with noise, scored by the model, and written as that hour's Parquet file,
then copied to the other hours with their own timestamps and request ids. ``shipyard monitor report``
then runs in a child process over the whole day, twice: the first run scans the log (in Arrow batches,
never all of it in pandas), the second merges the hourly profiles the first one cached. Peak memory is
the child's own high-water mark (VmHWM; ru_maxrss would include the parent's, which built the log).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._results import machine, write_section

TARGET_MIB = 2048


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=500, help="predictions per second")
    parser.add_argument("--hours", type=int, default=24, help="hours of log")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-day-") as folder:
        work = Path(folder)
        rows = write_log(work, args.rate, args.hours)
        runs = [run_report(work, args.hours, attempt) for attempt in (1, 2)]
    lines = [
        "## Monitoring a day of traffic (report over the prediction log)",
        "",
        f"Machine: {machine()}. {rows:,} logged predictions ({args.rate}/s for {args.hours} h, 19 input columns, "
        "churn pipeline); `shipyard monitor report` in a child process; `python -m benchmarks.bench_monitoring_day`.",
        "",
        "| run | seconds | peak memory (MiB) | report size (kB) | target |",
        "|---|---|---|---|---|",
    ]
    for label, (seconds, peak, size) in zip(("first (scans the log)", "second (hourly profiles cached)"), runs,
                                            strict=True):
        verdict = "pass" if peak < TARGET_MIB else "FAIL"
        lines.append(f"| {label} | {seconds:.1f} | {peak:,.0f} | {size / 1024:,.0f} | < {TARGET_MIB} MiB: {verdict} |")
    write_section("Monitoring a day of traffic (report over the prediction log)", "\n".join(lines))
    print("\n".join(lines))
    return 0


def write_log(work: Path, rate: int, hours: int) -> int:
    """Train and register the model, then write ``hours`` hourly Parquet files of scored traffic into the
    store's own log (``work/.shipyard/serving``); returns the number of rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.linear_model import LogisticRegression

    import shipyard
    from shipyard.demo.churn import TARGET, build_pipeline, load_churn
    from shipyard.predlog.schema import INPUT_PREFIX

    shipyard.set_store(work / ".shipyard")
    frame = load_churn()
    features = frame.drop(columns=[TARGET])
    with shipyard.start_run(experiment="bench-day"):
        pipeline = build_pipeline(frame, LogisticRegression(max_iter=2000)).fit(features, frame[TARGET])
        info = shipyard.log_model(pipeline, input_example=features, y_example=frame[TARGET])
    shipyard.register_model(info.uri, "churn")
    per_hour = rate * 3600
    generator = np.random.default_rng(7)
    sample = features.sample(per_hour, replace=True, random_state=7).reset_index(drop=True)
    for column in ("monthly_charges", "total_charges", "tenure"):
        sample[column] = sample[column] * generator.normal(1.0, 0.05, per_hour)
    probabilities = pipeline.predict_proba(sample)
    labels = probabilities.argmax(axis=1)
    base = {
        "row": pa.array(np.zeros(per_hour, dtype="int32")),
        "deployment": pa.array(["churn"] * per_hour), "variant": pa.array(["champion"] * per_hour),
        "shadow": pa.array(np.zeros(per_hour, dtype=bool)), "model_name": pa.array(["churn"] * per_hour),
        "model_version": pa.array(np.ones(per_hour, dtype="int64")),
        "model_uri": pa.array(["models:/churn/1"] * per_hour), "runtime": pa.array(["python"] * per_hour),
        "latency_ms": pa.array(generator.gamma(2.0, 2.0, per_hour)),
        "sticky_key": pa.nulls(per_hour, pa.string()),
        "prediction": pa.array(labels.astype(str)), "prediction_value": pa.array(labels.astype("float64")),
        "probabilities": pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * per_hour + 1, 2, dtype="int32")),
                                                  pa.array(probabilities.reshape(-1))),
    }
    for name in features.columns:
        column = sample[name]
        base[INPUT_PREFIX + name] = pa.array(column.astype("float64") if column.dtype.kind in "if" else
                                             column.astype(object).where(column.notna(), None))
    start = (int(time.time() * 1000) // 3_600_000 - hours - 1) * 3_600_000
    root = work / ".shipyard" / "serving" / "predictions" / "deployment=churn"
    offsets = np.linspace(0, 3_600_000, per_hour, endpoint=False).astype("int64")
    for hour in range(hours):
        hour_start = start + hour * 3_600_000
        moment = time.gmtime(hour_start / 1000)
        folder = root / f"date={time.strftime('%Y-%m-%d', moment)}" / f"hour={time.strftime('%H', moment)}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.table({"request_id": pa.array([f"h{hour}-{index}" for index in range(per_hour)]),
                          "timestamp": pa.array(hour_start + offsets, pa.timestamp("ms", tz="UTC")), **base})
        pq.write_table(table, folder / f"part-{hour_start}-{os.getpid()}-m{hour}.parquet", compression="zstd",
                       row_group_size=262_144)
    shipyard.set_store(None)
    return per_hour * hours


_PEAK_WRAPPER = """
import atexit, runpy, sys
target = sys.argv[1]
def peak():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            open(target, 'w').write(line.split()[1])
atexit.register(peak)
sys.argv = ['shipyard', *sys.argv[2:]]
runpy.run_module('shipyard', run_name='__main__')
"""


def run_report(work: Path, hours: int, attempt: int, *options: str,
               env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Run the report in a child (``options`` added to its command line); its peak is the child's own VmHWM
    (ru_maxrss would count the parent's). Returns seconds, peak MiB and the report's size in bytes."""
    output = work / f"report-{attempt}.html"
    peak_file = work / f"peak-{attempt}.txt"
    env = {**(env or os.environ), "SHIPYARD_STORE": str(work / ".shipyard")}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, str(peak_file), "monitor", "report", "-d", "churn",
                           "--since", f"{hours + 2}h", "-o", str(output), *options], env=env, cwd=work,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"monitor report failed: {done.stderr[-2000:]}")
    return seconds, int(peak_file.read_text()) / 1024, output.stat().st_size


if __name__ == "__main__":
    raise SystemExit(main())
