"""The UI's runs page over 100,000 runs in PostgreSQL (issue 17's target: under 1 s), and where the time goes.

    python -m benchmarks.bench_ui_postgres [--runs 100000] [--repeat 5]

One run is logged through the public API (5 params, 5 metrics: ``benchmarks/ui_values.py``, as ``bench_ui``), then
cloned in SQL into ``--runs`` runs (``generate_series``; each clone gets its own id, name, start time and slightly
different metric values), since logging 100,000 runs through the API takes far longer than the pages being timed.
``shipyard ui`` then serves the store from PostgreSQL and the same pages as ``bench_ui`` are timed (median after two
warm-ups), followed by the parts of the default page on their own: the experiment's param and metric keys (the
column picker), the count (the pager) and the page of runs. Writes the "Web UI on PostgreSQL" section of
RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._load import free_port, start, stop, tail, wait_ready
from benchmarks._postgres import postgres
from benchmarks._results import machine, write_section
from benchmarks.bench_ui import get, rows_in_page, timed_requests
from benchmarks.ui_values import FILTER, ORDER, run_values

SHIPYARD = Path(sys.executable).with_name("shipyard")
EXPERIMENT = "bench"
TARGET_S = 1.0
_CLONED = {"id": "md5(g::text)", "name": "'r' || g", "start_time": "start_time + g", "seq": "seq + g"}


def fill(uri: str, objects: str, runs: int) -> float:
    """``runs`` runs: one logged through the API, the rest cloned from it in SQL; returns the seconds taken."""
    import psycopg
    from sqlalchemy import create_engine, inspect

    import shipyard

    began = time.perf_counter()
    shipyard.set_store(uri, objects=objects)
    try:
        params, metrics = run_values(0)
        with shipyard.start_run(experiment=EXPERIMENT, name="r0") as run:
            shipyard.log_params(params)
            shipyard.log_metrics(metrics)
    finally:
        shipyard.set_store(None)
    engine = create_engine(uri)
    columns = {table: [column["name"] for column in inspect(engine).get_columns(table)]
               for table in ("runs", "params", "latest_metrics", "metrics", "tags")}
    engine.dispose()
    with psycopg.connect(uri.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        names = columns["runs"]
        conn.execute(f"INSERT INTO runs ({', '.join(names)}) SELECT {', '.join(_CLONED.get(c, c) for c in names)} "
                     f"FROM runs, generate_series(1, {runs - 1}) g WHERE id = %s", (run.id,))
        for table in ("params", "latest_metrics", "metrics", "tags"):
            names = columns[table]
            numeric = table in ("latest_metrics", "metrics")
            chosen = ["md5(g::text)" if c == "run_id" else "value + g %% 97 * 0.001" if c == "value" and numeric
                      else c for c in names]
            conn.execute(f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(chosen)} FROM {table}, "
                         f"generate_series(1, {runs - 1}) g WHERE run_id = %s", (run.id,))
        conn.execute("ANALYZE")
    return time.perf_counter() - began


def parts(uri: str, objects: str, repeat: int) -> dict[str, float]:
    """Median milliseconds of each query behind the default page, called directly (no HTTP, no template)."""
    from shipyard.store.location import location_for
    from shipyard.store.store import Store
    from shipyard.tracking.experiments import experiment_id
    from shipyard.tracking.search import count_runs, search_run_records
    from shipyard.ui.runs import FILTERED_COUNT_CAP, _names_and_keys  # the page's own queries, timed alone

    store = Store(location_for(uri, objects=objects))
    chosen = [experiment_id(store, EXPERIMENT, create=False)]
    calls: dict[str, Callable[[], Any]] = {
        "param and metric keys of the experiment (column picker)":
            lambda: store.db.read(lambda conn: _names_and_keys(conn, chosen)),
        "count (pager)": lambda: count_runs(store, experiment=EXPERIMENT),
        f"count, filtered (as the page counts: stops past {FILTERED_COUNT_CAP:,})":
            lambda: count_runs(store, experiment=EXPERIMENT, filter=FILTER, at_most=FILTERED_COUNT_CAP + 1),
        "count, filtered, exact (every match)": lambda: count_runs(store, experiment=EXPERIMENT, filter=FILTER),
        "50 runs, newest first": lambda: search_run_records(store, experiment=EXPERIMENT, max_results=50),
        f"50 runs sorted by {ORDER}": lambda: search_run_records(store, experiment=EXPERIMENT, order_by=[ORDER],
                                                                 max_results=50),
        "50 runs filtered + sorted": lambda: search_run_records(store, experiment=EXPERIMENT, filter=FILTER,
                                                                order_by=[ORDER], max_results=50),
    }
    found = {}
    try:
        for label, call in calls.items():
            seconds = []
            for _ in range(repeat + 1):
                began = time.perf_counter()
                call()
                seconds.append(time.perf_counter() - began)
            found[label] = statistics.median(seconds[1:]) * 1000
    finally:
        store.close()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    query = urllib.parse.quote
    pages = {
        "GET /runs (50 rows, newest first)": (f"/runs?experiment={EXPERIMENT}", 50),
        f"GET /runs sorted by {ORDER}": (f"/runs?experiment={EXPERIMENT}&order={query(ORDER)}", 50),
        "GET /runs filtered + sorted": (f"/runs?experiment={EXPERIMENT}&order={query(ORDER)}&filter={query(FILTER)}",
                                        50),
        "GET /runs deep page": (f"/runs?experiment={EXPERIMENT}&page={max(1, args.runs // 50 * 3 // 4)}", 50),
        "GET /runs 200 rows, all experiments": ("/runs?size=200", 200),
    }
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-uipg-") as folder, postgres(("shipyard",)) as (dbs, _):
        uri, objects, work = dbs["shipyard"], str(Path(folder) / "objects"), Path(folder)
        subprocess.run([str(SHIPYARD), "server", "db", "upgrade", "--backend-store-uri", uri], check=True,
                       capture_output=True)
        print(f"Filling PostgreSQL with {args.runs:,} runs ...", flush=True)
        print(f"  {fill(uri, objects, args.runs):.1f} s", flush=True)
        port = free_port()
        env = {**os.environ, "SHIPYARD_DATABASE_URI": uri, "SHIPYARD_OBJECTS_URI": objects}
        process = start([str(SHIPYARD), "ui", "--port", str(port)], env=env, cwd=work, log=work / "ui.log")
        results: dict[str, float] = {}
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(f"{base}/health", process, deadline_s=60)
            for label, (path, rows) in pages.items():
                results[label] = statistics.median(timed_requests(get(base + path), args.repeat,
                                                                  rows_in_page(rows))) * 1000
                print(f"  {label}: median {results[label]:.0f} ms", flush=True)
        except Exception:
            print(tail(work / "ui.log", 15), file=sys.stderr)
            raise
        finally:
            stop(process)
        inside = parts(uri, objects, args.repeat)
    for label, ms in inside.items():
        print(f"  {label}: median {ms:.0f} ms", flush=True)
    load = os.getloadavg()[0]
    markdown = [
        "## Web UI on PostgreSQL",
        "",
        f"The runs page over {args.runs:,} runs in PostgreSQL 15 (`python -m benchmarks.bench_ui_postgres`), median "
        f"of {args.repeat} requests after two warm-ups; the target is under {TARGET_S * 1000:.0f} ms. {machine()}; "
        f"load average {load:.1f} at the end.",
        "",
        "| page | median (ms) | under 1 s |",
        "| --- | ---: | --- |",
        *[f"| {label} | {ms:,.0f} | {'yes' if ms < TARGET_S * 1000 else 'no'} |" for label, ms in results.items()],
        "",
        "| part of the default page (called directly) | median (ms) |",
        "| --- | ---: |",
        *[f"| {label} | {ms:,.0f} |" for label, ms in inside.items()],
    ]
    write_section("Web UI on PostgreSQL", "\n".join(markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
