"""UI benchmark: the runs page over 10,000 runs, as the server answers it and as Chromium draws it.

    python -m benchmarks.bench_ui [--runs 10000] [--repeat 20] [--mlflow]

Fills a fresh store with N runs (5 params and 5 metrics each, through the public API), starts the real
``shipyard ui`` and times GET requests of the runs table (default page, sorted by a metric, filtered and
sorted, a deep page, 200 rows) and of one run page: median and p95 over ``--repeat`` requests after two
warm-ups, measured by a client on the same machine over loopback (so server time plus a fraction of a
millisecond of HTTP). Then Chromium (Debian's, via Playwright) loads the default page and the time to a
drawn table is read. The issue's target: a page over 10,000 runs in well under 1 s.

With ``--mlflow`` the same runs go into MLflow (anchor venv, see ``anchors.py``; built on first use) and
its UI's search call ``/ajax-api/2.0/mlflow/runs/search`` (max_results=100) and its page in Chromium are
timed the same way. MLflow's fill clones one run logged through its client by SQL, because logging
10,000 runs through its API takes several minutes; the search then reads ordinary rows.
Prints a table and writes the "Web UI" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._load import free_port, start, stop, tail, wait_ready
from benchmarks._results import machine, write_section
from benchmarks.anchors import REPO, VENVS, anchor_env, anchor_python, anchor_version
from benchmarks.ui_values import FILTER, ORDER, run_values

HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
EXPERIMENT = "bench"
TARGET_S = 1.0


def fill_shipyard(root: Path, runs: int) -> float:
    """``runs`` runs through the public API, as a training loop would log them; returns the seconds taken."""
    import shipyard

    shipyard.set_store(root)
    started = time.perf_counter()
    try:
        for index in range(runs):
            params, metrics = run_values(index)
            with shipyard.start_run(experiment=EXPERIMENT, name=f"r{index}"):
                shipyard.log_params(params)
                shipyard.log_metrics(metrics)
    finally:
        shipyard.set_store(None)
    return time.perf_counter() - started


def timed_requests(call: Callable[[], bytes], repeat: int, check: Callable[[bytes], None]) -> list[float]:
    """Seconds of ``repeat`` calls after two warm-ups; ``check`` validates one answer (right rows, no error)."""
    for _ in range(2):
        check(call())
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - began)
    return seconds


def get(url: str) -> Callable[[], bytes]:
    def call() -> bytes:
        with urllib.request.urlopen(url, timeout=60) as response:
            return bytes(response.read())
    return call


def post_json(url: str, body: dict[str, Any]) -> Callable[[], bytes]:
    data = json.dumps(body).encode()

    def call() -> bytes:
        request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return bytes(response.read())
    return call


def rows_in_page(expected: int) -> Callable[[bytes], None]:
    def check(body: bytes) -> None:
        found = body.count(b"<tr data-run-id=")
        if found != expected:
            raise AssertionError(f"the runs page held {found} rows, expected {expected}")
    return check


def compared(runs: int) -> Callable[[bytes], None]:
    def check(body: bytes) -> None:
        found = body.count(b'<th scope="col"><a href="/runs/')
        if b'id="compare-runs"' not in body or found != runs:
            raise AssertionError(f"the compare page named {found} runs, expected {runs}")
    return check


def browser_times(url: str, ready_selector: str, loads: int = 5) -> list[float]:
    """Seconds from navigation start until ``ready_selector`` is on the page, over ``loads`` fresh tabs."""
    from playwright.sync_api import sync_playwright

    seconds = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            for attempt in range(loads + 1):  # the first load warms the browser's own caches
                context = browser.new_context(viewport={"width": 1366, "height": 800})
                page = context.new_page()
                began = time.perf_counter()
                page.goto(url, wait_until="commit", timeout=120_000)
                page.wait_for_selector(ready_selector, timeout=120_000)
                if attempt:
                    seconds.append(time.perf_counter() - began)
                context.close()
        finally:
            browser.close()
    return seconds


def summary(seconds: list[float]) -> tuple[float, float]:
    """Median and p95 in milliseconds (p95 by the nearest-rank rule)."""
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return statistics.median(ordered) * 1000, p95 * 1000


def measure_shipyard(work: Path, runs: int, repeat: int) -> dict[str, list[float]]:
    root = work / ".shipyard"
    print(f"Filling a Shipyard store with {runs:,} runs ...", flush=True)
    print(f"  {fill_shipyard(root, runs):.1f} s", flush=True)
    env = {**os.environ, "SHIPYARD_STORE": str(root),
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p)}
    port = free_port()
    log = work / "ui.log"
    process = start([sys.executable, "-m", "shipyard", "ui", "--port", str(port)], env=env, cwd=work, log=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/health", process, deadline_s=60)
        first = get(f"{base}/runs?experiment={EXPERIMENT}&size=25")().split(b'data-run-id="')[1][:32].decode()
        query = urllib.parse.quote
        deep = max(1, runs // 50 * 3 // 4)
        cases: dict[str, tuple[str, int]] = {
            "GET /runs (50 rows, newest first)": (f"/runs?experiment={EXPERIMENT}", 50),
            f"GET /runs sorted by {ORDER}": (f"/runs?experiment={EXPERIMENT}&order={query(ORDER)}", 50),
            "GET /runs filtered + sorted": (f"/runs?experiment={EXPERIMENT}&order={query(ORDER)}"
                                            f"&filter={query(FILTER)}", 50),
            f"GET /runs page {deep} of {runs // 50}": (f"/runs?experiment={EXPERIMENT}&page={deep}", 50),
            "GET /runs 200 rows, all experiments": ("/runs?size=200", 200),
        }
        results: dict[str, list[float]] = {}
        for label, (path, rows) in cases.items():
            results[label] = timed_requests(get(base + path), repeat, rows_in_page(rows))
            print(f"  {label}: median {summary(results[label])[0]:.1f} ms", flush=True)
        results["GET /runs/{id} (run page)"] = timed_requests(get(f"{base}/runs/{first}"), repeat,
                                                              lambda body: None)
        page = get(f"{base}/runs?experiment={EXPERIMENT}&size=100")()
        hundred = list(dict.fromkeys(part[:32].decode() for part in page.split(b'data-run-id="')[1:]))[:100]
        compare = f"{base}/compare?" + "&".join(f"run={run}" for run in hundred)
        results[f"GET /compare ({len(hundred)} runs)"] = timed_requests(get(compare), repeat,
                                                                        compared(len(hundred)))
        if CHROMIUM.exists():
            results["Chromium: /runs to a drawn table"] = browser_times(
                f"{base}/runs?experiment={EXPERIMENT}", ".runs-table tbody tr:nth-child(50)")
            results[f"Chromium: /compare ({len(hundred)} runs) to a drawn chart"] = browser_times(
                compare, ".sy-figure.parallel .sy-chart canvas")
    except Exception:
        print(tail(log, 15), file=sys.stderr)
        raise
    finally:
        stop(process)
    return results


_MLFLOW_FILL = HERE / "mlflow_ui_workload.py"


def measure_mlflow(work: Path, runs: int, repeat: int) -> dict[str, list[float]]:
    python = anchor_python("mlflow")
    env = {**os.environ, **anchor_env("mlflow")}
    database = work / "mlflow.db"
    print(f"Filling an MLflow store with {runs:,} runs ...", flush=True)
    done = subprocess.run([str(python), str(_MLFLOW_FILL), "--db", str(database), "--runs", str(runs)],
                          env=env, cwd=work, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError("MLflow fill failed:\n" + done.stderr[-2000:])
    filled = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {filled['seconds']:.1f} s", flush=True)
    port = free_port()
    log = work / "mlflow.log"
    mlflow_cli = str(python.parent / "mlflow")
    process = start([mlflow_cli, "server", "--backend-store-uri", f"sqlite:///{database}", "--host", "127.0.0.1",
                     "--port", str(port), "--workers", "1", "--default-artifact-root", str(work / "mlartifacts")],
                    env=env, cwd=work, log=log)
    base = f"http://127.0.0.1:{port}"
    experiment = filled["experiment_id"]
    search = f"{base}/ajax-api/2.0/mlflow/runs/search"

    def hundred_runs(body: bytes) -> None:
        found = len(json.loads(body).get("runs", []))
        if found != 100:
            raise AssertionError(f"MLflow's search returned {found} runs, expected 100")

    try:
        wait_ready(f"{base}/health", process, deadline_s=180)
        results: dict[str, list[float]] = {}
        cases: dict[str, dict[str, Any]] = {
            "MLflow search (100 runs, newest first)": {},
            f"MLflow search sorted by {ORDER}": {"order_by": [ORDER]},
            "MLflow search filtered + sorted": {"order_by": [ORDER], "filter": FILTER},
        }
        for label, extra in cases.items():
            body = {"experiment_ids": [experiment], "max_results": 100, **extra}
            results[label] = timed_requests(post_json(search, body), repeat, hundred_runs)
            print(f"  {label}: median {summary(results[label])[0]:.1f} ms", flush=True)
        if CHROMIUM.exists():
            # The runs list draws each run name in a link; the newest run, r{runs-1}, is in its first row.
            results["Chromium: MLflow runs page to a drawn table"] = browser_times(
                f"{base}/#/experiments/{experiment}/runs", f'text="r{runs - 1}"', loads=3)
    except Exception:
        print(tail(log, 15), file=sys.stderr)
        raise
    finally:
        stop(process)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per case (after 2 warm-ups)")
    parser.add_argument("--mlflow", action="store_true",
                        help="also time MLflow's UI on the same runs (builds its anchor venv on first use)")
    args = parser.parse_args(argv)
    use_mlflow = args.mlflow or (VENVS / "mlflow" / "bin" / "python").exists()

    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        work = Path(tmp)
        results.update(measure_shipyard(work, args.runs, args.repeat))
        mlflow_note = "MLflow not measured (no anchor venv; pass --mlflow to build it)."
        if use_mlflow:
            try:
                results.update(measure_mlflow(work, args.runs, args.repeat))
                mlflow_note = f"MLflow {anchor_version('mlflow')} (sqlite store, `mlflow server --workers 1`)."
            except Exception as exc:  # the comparison is optional; our own numbers still stand
                mlflow_note = f"MLflow not measured: {type(exc).__name__}: {str(exc)[:300]}"

    heading = f"Runs page over {args.runs:,} runs, {time.strftime('%Y-%m-%d')}, {machine()}"
    print(f"\n{heading}")
    print(f"{'case':<48} {'n':>3} {'median ms':>10} {'p95 ms':>10}  target")
    markdown = [f"## Web UI\n\n{heading}; `python -m benchmarks.bench_ui`; {mlflow_note}\n",
                "| case | n | median ms | p95 ms | target | result |", "|---|---|---|---|---|---|"]
    for label, seconds in results.items():
        median, p95 = summary(seconds)
        target = result = ""
        if not label.startswith(("MLflow", "Chromium: MLflow")):
            target, result = f"< {TARGET_S * 1000:.0f} ms", "pass" if p95 < TARGET_S * 1000 else "FAIL"
        print(f"{label:<48} {len(seconds):>3} {median:>10.1f} {p95:>10.1f}  {target}{': ' if target else ''}{result}")
        markdown.append(f"| {label} | {len(seconds)} | {median:.1f} | {p95:.1f} | {target} | {result} |")
    print(mlflow_note)
    note = ("Server cases are timed by a client on the same machine (loopback HTTP included); Chromium from "
            "navigation start to the table's last row in the DOM.")
    print(note)
    write_section("Web UI", "\n".join([*markdown, "", note]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
