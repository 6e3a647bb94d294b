"""Tracking benchmark: Shipyard against MLflow 3.x (sqlite store), measured in the same run.

    python -m benchmarks.bench_tracking [--quick]

Each workload runs in a fresh subprocess with a fresh temp dir, Shipyard with the project's
python and MLflow in its anchor venv (see ``anchors.py``), so neither pays for the other's
imports or caches. Absolute seconds depend on the machine; the ratios are what we track.
``--quick`` measures reduced sizes and scales the seconds linearly to the full size (marked
``~``); it is for iterating and does not touch RESULTS.md. A full run replaces the
``## Tracking`` section of ``benchmarks/RESULTS.md``. Missed targets are reported, not
failed: the exit code is non-zero only when a measurement crashed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._results import RESULTS, machine, write_section
from benchmarks.anchors import REPO, anchor_env, anchor_python, anchor_version
from benchmarks.tracking_values import SEARCH_FILTER, SEARCH_ORDER_BY

HERE = Path(__file__).resolve().parent
TIMEOUT_SECONDS = 1800  # per subprocess: a hung tool must not hang the benchmark

# A target sees (shipyard seconds, ratio mlflow/shipyard or None) and says pass or fail.
Check = Callable[[float, float | None], bool]


@dataclass(frozen=True)
class Case:
    """One table row: a workload at a size, for Shipyard and optionally MLflow."""

    workload: str
    n: int  # full size; all seconds are reported at this size
    quick_n: int  # size measured with --quick
    with_mlflow: bool
    target: str = "-"
    check: Check | None = None

    @property
    def label(self) -> str:
        return f"{self.workload} ({self.n:,} runs)" if self.workload == "search_runs" else self.workload


CASES: tuple[Case, ...] = (
    Case("log_metric_loop", 10_000, 2_000, True, "ratio >= 200", lambda s, r: r is not None and r >= 200),
    Case("log_batch", 10_000, 2_000, True),
    Case("create_runs", 1_000, 200, True, "ratio >= 20", lambda s, r: r is not None and r >= 20),
    Case("search_runs", 1_000, 200, True),
    Case("search_runs", 10_000, 2_000, False, "< 0.5 s", lambda s, r: s < 0.5),
    Case("log_metric_million", 1_000_000, 100_000, False, "< 10 s", lambda s, r: s < 10),
)


@dataclass
class Measured:
    """Seconds scaled to the case's full size, plus what the script reported."""

    seconds: float
    n: int
    rows: int | None


class BenchCrash(RuntimeError):
    """A workload subprocess failed; the benchmark reports it and exits non-zero."""


def shipyard_python() -> Path:
    """The project's venv python if present, else the interpreter running the benchmark."""
    venv = REPO / ".venv" / "bin" / "python"
    return venv if venv.exists() else Path(sys.executable)


def shipyard_env() -> dict[str, str]:
    """src/ first on the path, so the working tree is what gets measured."""
    path = os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def run_workload(tool: str, workload: str, n: int) -> dict[str, Any]:
    """Run one workload script in a fresh temp dir and return its JSON line."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{tool}-") as tmp:
        if tool == "mlflow":
            script, env = HERE / "mlflow_tracking_workload.py", {**os.environ, **anchor_env("mlflow")}
            cmd = [str(anchor_python("mlflow")), str(script), "--tracking-uri", f"sqlite:///{tmp}/mlflow.db"]
        else:
            store = Path(tmp) / "store"
            store.mkdir()
            script, env = HERE / "shipyard_tracking_workload.py", shipyard_env()
            cmd = [str(shipyard_python()), str(script), "--store", str(store)]
        cmd += ["--workload", workload, "--n", str(n)]
        # cwd=tmp: anything a tool drops relative to cwd (e.g. ./mlruns) is cleaned up too.
        try:
            proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            raise BenchCrash(f"{tool} {workload} n={n}: timed out after {TIMEOUT_SECONDS} s") from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise BenchCrash(f"{tool} {workload} n={n}: exit {proc.returncode}\n{tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(tool: str, case: Case, quick: bool) -> Measured:
    n = case.quick_n if quick else case.n
    started = time.perf_counter()
    line = run_workload(tool, case.workload, n)
    seconds = float(line["seconds"]) * case.n / n  # linear scaling; a no-op on full runs
    print(
        f"  {tool:8} {case.workload} n={n:,}: {float(line['seconds']):.3f} s timed "
        f"({time.perf_counter() - started:.0f} s wall)",
        flush=True,
    )
    rows = line.get("rows")
    return Measured(seconds, n, rows if isinstance(rows, int) else None)


def table_row(case: Case, results: dict[str, Measured | None]) -> list[str]:
    """Markdown cells for one case; results hold the tools measured, None for a crash."""

    def cell(tool: str) -> str:
        if tool not in results:
            return "-"
        m = results[tool]
        return "error" if m is None else f"{'~' if m.n != case.n else ''}{m.seconds:.3f}"

    ship, mlf = results.get("shipyard"), results.get("mlflow")
    ratio = mlf.seconds / ship.seconds if ship and mlf and ship.seconds > 0 else None
    if None in results.values():
        verdict = "error"
    elif case.check is None or ship is None:
        verdict = "-"
    else:
        verdict = "pass" if case.check(ship.seconds, ratio) else "FAIL"
    ratio_cell = "-" if ratio is None else f"{ratio:,.1f}x"
    return [case.label, f"{case.n:,}", cell("shipyard"), cell("mlflow"), ratio_cell, case.target, verdict]


def markdown_table(rows: list[list[str]]) -> str:
    head = ["workload", "n", "Shipyard s", "MLflow s", "ratio (MLflow/Shipyard)", "target", "result"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def shipyard_version() -> str:
    probe = subprocess.run(
        [str(shipyard_python()), "-c", "import importlib.metadata as m; print(m.version('shipyard-ml'))"],
        env=shipyard_env(),
        capture_output=True,
        text=True,
    )
    return probe.stdout.strip() if probe.returncode == 0 else "working tree (not installed)"


def write_results(section: str) -> None:
    """Replace the ``## Tracking`` section of RESULTS.md, keeping every other section."""
    write_section("Tracking", section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="reduced sizes, seconds scaled to full size; RESULTS.md untouched",
    )
    args = parser.parse_args(argv)

    print("Preparing the MLflow anchor venv (first time: a few minutes)...", flush=True)
    versions = f"Shipyard {shipyard_version()}, MLflow {anchor_version('mlflow')} (sqlite store)"
    rows: list[list[str]] = []
    notes: list[str] = []
    crashed = False
    for case in CASES:
        print(f"{case.label} n={case.n:,}", flush=True)
        results: dict[str, Measured | None] = {}
        for tool in ("shipyard", "mlflow") if case.with_mlflow else ("shipyard",):
            try:
                results[tool] = measure(tool, case, args.quick)
            except BenchCrash as exc:
                crashed = True
                results[tool] = None
                print(f"  CRASH {exc}", file=sys.stderr, flush=True)
        ship, mlf = results.get("shipyard"), results.get("mlflow")
        if ship and mlf and ship.rows != mlf.rows:
            notes.append(f"{case.label}: row counts differ (Shipyard {ship.rows}, MLflow {mlf.rows})")
        rows.append(table_row(case, results))

    table = markdown_table(rows)
    header = (
        f"Measured {time.strftime('%Y-%m-%d')} with `python -m benchmarks.bench_tracking` on {machine()}; {versions}."
    )
    quick_note = (
        "--quick: measured at reduced sizes, seconds scaled linearly to n (marked ~); "
        "search does not scale linearly, so read those rows loosely."
    )
    print("\n" + header + "\n\n" + table + "\n")
    for note in ([quick_note] if args.quick else []) + notes:
        print(f"Note: {note}")

    if args.quick or crashed:
        print("RESULTS.md left unchanged (" + ("--quick" if args.quick else "crash") + ").")
    else:
        section = (
            "## Tracking\n\n" + header + "\n\n" + table + "\n\n"
            "Each cell is one measurement in a fresh subprocess and temp dir; setup (imports, "
            "schema creation, seeding runs for search) is not timed. Shipyard's log_batch is n "
            "log_metric calls in one run including its end (it has no multi-step batch call); "
            f"MLflow's is one `MlflowClient.log_batch` call. Search filter: `{SEARCH_FILTER}`, "
            f"ordered by `{', '.join(SEARCH_ORDER_BY)}` (matches about 45% of runs).\n"
            + "".join(f"\nNote: {note}\n" for note in notes)
        )
        write_results(section)
        print(f"Wrote the Tracking section of {RESULTS.relative_to(REPO)}.")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
