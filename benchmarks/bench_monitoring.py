"""Monitoring benchmark: ``shipyard monitor compare`` against Evidently's data drift preset, same run, same data.

    python -m benchmarks.bench_monitoring [--quick]

A seeded dataset of 10 numeric and 10 categorical columns (reference 100,000 rows, current 1,000,000
rows) with a few columns changed on purpose is written as Parquet. Shipyard compares the two files
(``compare_files``: reading included) and the two pandas DataFrames (``compare_frames``); Evidently 0.7
runs ``Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)`` on the same DataFrames in
its own venv (see ``anchors.py``; reading the files is not timed for it). Targets (issue 6): Shipyard at
least 10x faster and under 3 s, and the same columns flagged for drift. Then Shipyard compares a 10,000,000
row current file (Parquet, 1,000,000-row row groups) to show that it streams: its peak memory (ru_maxrss of
the worker process) stays near the 1,000,000-row run's instead of growing with the file.

Each step runs in a fresh subprocess (this module's ``--worker`` modes), so neither tool pays for the
other's imports, and the parent never loads the data (on Linux a child inherits its parent's peak RSS).
Shipyard's times are the median of 5 runs after a warm-up; Evidently's is one run after a warm-up on a
small slice. ``--quick`` uses a tenth of every size and does not touch RESULTS.md. Missed targets are
reported, not failed: the exit code is non-zero only when a measurement crashed.
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
from pathlib import Path
from typing import Any

from benchmarks._results import machine, write_section
from benchmarks.anchors import REPO, anchor_env, anchor_python, anchor_version

TIMEOUT_SECONDS = 1800
REPEATS = 5
TARGET_RATIO = 10.0
TARGET_SECONDS = 3.0
SHIFTED = {  # column -> what was done to it in the current data
    "n_income": "mean +0.5 sd",
    "n_usage": "spread x1.6",
    "c_plan": "level shares reversed",
    "c_segment": "new level at 15%",
}
MISSING_ONLY = {"n_balance": "30% missing, values unchanged"}  # not a drift: missing-value check only


# ----------------------------------------------------------------------------------------------- dataset


def make_table(rows: int, seed: int, *, shifted: bool) -> Any:
    """A seeded Arrow table: 10 numeric + 10 categorical columns; ``shifted`` applies SHIFTED/MISSING_ONLY."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    income = rng.normal(50_000, 12_000, rows) + (6_000 if shifted else 0)
    usage = rng.normal(300, 40, rows)
    if shifted:
        usage = 300 + (usage - 300) * 1.6
    balance = rng.gamma(2.0, 500.0, rows)
    if shifted:
        balance[rng.random(rows) < 0.3] = np.nan
    numeric = {
        "n_income": income,
        "n_usage": usage,
        "n_balance": balance,
        "n_age": rng.normal(42, 13, rows).clip(18, 95).round(),
        "n_tenure": rng.poisson(30, rows).astype("int64"),
        "n_latency": rng.lognormal(3.0, 0.6, rows),
        "n_score": rng.beta(2.0, 5.0, rows),
        "n_sessions": rng.exponential(4.0, rows),
        "n_discount": rng.uniform(0.0, 0.3, rows),
        "n_temperature": np.where(rng.random(rows) < 0.4, rng.normal(5, 3, rows), rng.normal(22, 4, rows)),
    }

    def levels(name: str, count: int, *, zipf: float = 0.0, reverse: bool = False, new: float = 0.0) -> Any:
        names = [f"{name}_{index}" for index in range(count)]
        weights = 1.0 / np.arange(1, count + 1) ** zipf if zipf else np.ones(count)
        shares = weights / weights.sum()
        if reverse:
            shares = shares[::-1]
        if new:
            names.append(f"{name}_new")
            shares = np.append(shares * (1 - new), new)
        index = rng.choice(len(names), rows, p=shares).astype("int32")
        return pa.DictionaryArray.from_arrays(pa.array(index), pa.array(names)).cast(pa.string())

    categorical = {
        "c_plan": levels("plan", 3, zipf=1.2, reverse=shifted),
        "c_segment": levels("segment", 5, zipf=0.8, new=0.15 if shifted else 0.0),
        "c_region": levels("region", 8, zipf=0.5),
        "c_contract": levels("contract", 3, zipf=1.0),
        "c_channel": levels("channel", 5, zipf=1.0),
        "c_device": levels("device", 4, zipf=0.7),
        "c_product": levels("product", 20, zipf=1.1),
        "c_city": levels("city", 50, zipf=1.0),
        "c_payment": levels("payment", 4, zipf=0.3),
        "c_paperless": levels("paperless", 2, zipf=0.5),
    }
    return pa.table({**numeric, **categorical})


def write_dataset(folder: Path, reference_rows: int, current_rows: int, big_rows: int) -> dict[str, Any]:
    """Write the three Parquet files; returns their paths and the big file's size once loaded as Arrow."""
    import pyarrow.parquet as pq

    paths = {"reference": folder / "reference.parquet", "current": folder / "current.parquet",
             "big": folder / "current_big.parquet"}
    pq.write_table(make_table(reference_rows, 1, shifted=False), paths["reference"], row_group_size=250_000)
    pq.write_table(make_table(current_rows, 2, shifted=True), paths["current"], row_group_size=250_000)
    chunk, arrow_bytes = max(1, big_rows // 10), 0
    with pq.ParquetWriter(paths["big"], make_table(1, 0, shifted=True).schema) as writer:
        for index in range(10):  # one row group per chunk: never the whole file in memory here either
            table = make_table(chunk, 100 + index, shifted=True)
            arrow_bytes += table.nbytes
            writer.write_table(table, row_group_size=chunk)
    return {**{name: str(path) for name, path in paths.items()}, "big_arrow_bytes": arrow_bytes}


# ----------------------------------------------------------------------------------------------- workers
# Each runs in its own process started by a parent that never imports numpy or pyarrow: on Linux a child
# inherits its parent's peak RSS through fork and exec, so a big parent would hide the child's own peak.


def _peak_kb() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads): steadier than wall time on a shared machine."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def shipyard_worker(reference: str, current: str, repeats: int, frames: bool) -> dict[str, Any]:
    """Time compare_files (and compare_frames on pandas frames); report the flags and peak memory.

    With ``repeats`` 1 the single run is cold (no warm-up), which is what the memory rows measure.
    """
    from shipyard.monitoring.compare import compare_files, compare_frames

    if repeats > 1:
        compare_files(reference, current)  # warm-up: lazy imports, page cache
    file_times, file_cpu = [], []
    for _ in range(repeats):
        cpu, started = _cpu_seconds(), time.perf_counter()
        result = compare_files(reference, current)
        file_times.append(time.perf_counter() - started)
        file_cpu.append(_cpu_seconds() - cpu)
    out: dict[str, Any] = {"files_seconds": statistics.median(file_times), "rows": result.current_source.rows,
                           "files_cpu": statistics.median(file_cpu),
                           "drift": result.flagged("drift"), "missing": result.flagged("missing"),
                           "new_categories": result.flagged("new_categories"),
                           "out_of_range": result.flagged("out_of_range"),
                           "values": {item.feature: [item.statistic, item.value, item.status]
                                      for item in result.results if item.check == "drift"},
                           "maxrss_kb": _peak_kb()}
    if frames:
        import pandas as pd

        ref_frame, cur_frame = pd.read_parquet(reference), pd.read_parquet(current)
        frame_times, frame_cpu = [], []
        for _ in range(repeats):
            cpu, started = _cpu_seconds(), time.perf_counter()
            compare_frames(ref_frame, cur_frame)
            frame_times.append(time.perf_counter() - started)
            frame_cpu.append(_cpu_seconds() - cpu)
        out["frames_seconds"], out["frames_cpu"] = statistics.median(frame_times), statistics.median(frame_cpu)
    return out


def baseline_worker(path: str) -> dict[str, Any]:
    """Peak memory of importing what a comparison imports, and of loading the whole file as Arrow instead."""
    import pyarrow.compute
    import pyarrow.csv
    import pyarrow.parquet as pq

    import shipyard.monitoring.compare  # noqa: F401

    imports_kb = _peak_kb()
    started = time.perf_counter()
    pq.read_table(path)
    return {"imports_kb": imports_kb, "load_kb": _peak_kb(), "load_seconds": time.perf_counter() - started,
            "modules": [pyarrow.compute.__name__, pyarrow.csv.__name__]}


def evidently_worker(reference: str, current: str) -> dict[str, Any]:
    """Evidently's data drift preset on the two files read into pandas (the read is timed apart)."""
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    started = time.perf_counter()
    ref, cur = pd.read_parquet(reference), pd.read_parquet(current)
    read_seconds = time.perf_counter() - started
    Report([DataDriftPreset()]).run(current_data=cur.head(5_000), reference_data=ref.head(2_000)).dict()  # warm-up
    cpu, started = _cpu_seconds(), time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref).dict()
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    drifted, values = [], {}
    for metric in snapshot["metrics"]:
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        method, threshold, value = str(config["method"]), float(config["threshold"]), float(metric["value"])
        flagged = value < threshold if "p_value" in method else value >= threshold  # as Evidently decides
        values[config["column"]] = [method, value, flagged]
        if flagged:
            drifted.append(config["column"])
    return {"seconds": seconds, "cpu": cpu, "read_seconds": read_seconds, "drift": drifted, "values": values,
            "maxrss_kb": _peak_kb()}


def _run_worker(python: Path, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    cmd = [str(python), "-m", "benchmarks.bench_monitoring", *args]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {' '.join(args[:2])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _shipyard_python() -> Path:
    venv = REPO / ".venv" / "bin" / "python"
    return venv if venv.exists() else Path(sys.executable)


# ----------------------------------------------------------------------------------------------- report


def _mib(kilobytes: int) -> str:
    return f"{kilobytes / 1024:,.0f} MiB"


def _names(columns: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in columns) or "none"


def render(sizes: dict[str, int], ours: dict[str, Any], small: dict[str, Any], big: dict[str, Any],
           base: dict[str, Any], theirs: dict[str, Any], version: str, dataset: dict[str, Any],
           load: tuple[float, float]) -> str:
    files_s, frames_s, ev_s, ev_cpu = ours["files_seconds"], ours["frames_seconds"], theirs["seconds"], theirs["cpu"]
    slowest = max(files_s, frames_s)  # the slower of our two paths, against Evidently without its read
    speed = "pass" if ev_s / slowest >= TARGET_RATIO and slowest < TARGET_SECONDS else "FAIL"
    same = set(ours["drift"]) == set(theirs["drift"])
    agreement = "pass" if same and set(ours["drift"]) == set(SHIFTED) else "FAIL"
    shifted = ", ".join(f"`{name}` ({what})" for name, what in SHIFTED.items())
    lines = [
        f"{sizes['reference']:,} reference rows, {sizes['current']:,} current rows, 10 numeric + 10 categorical "
        f"columns, seeded; shifted on purpose: {shifted}; also "
        f"{', '.join(f'`{k}` ({v})' for k, v in MISSING_ONLY.items())}. Each tool in a fresh process; Shipyard "
        f"median of {REPEATS} after a warm-up, Evidently one run after a warm-up on a slice. Load average "
        f"{load[0]:.1f} at the start, {load[1]:.1f} at the end (the 2 cores were shared with other work).",
        "",
        "| tool | what is timed | seconds (CPU s) | Evidently / this (CPU) | target | result |",
        "|---|---|---|---|---|---|",
        f"| Shipyard `compare_files` | read both Parquet files, profile, stream, check | {files_s:.2f} "
        f"({ours['files_cpu']:.2f}) | {ev_s / files_s:.1f}x ({ev_cpu / ours['files_cpu']:.1f}x) | >= "
        f"{TARGET_RATIO:.0f}x and < {TARGET_SECONDS:.0f} s | {speed} |",
        f"| Shipyard `compare_frames` | the two pandas DataFrames, in memory | {frames_s:.2f} "
        f"({ours['frames_cpu']:.2f}) | {ev_s / frames_s:.1f}x ({ev_cpu / ours['frames_cpu']:.1f}x) | (both rows) | |",
        f"| Evidently {version} `DataDriftPreset` | `Report.run(...).dict()` on the same DataFrames (reading them: "
        f"{theirs['read_seconds']:.1f} s, not counted) | {ev_s:.2f} ({ev_cpu:.2f}) | 1.0x | | |",
        "",
        "| columns flagged for drift | Shipyard | Evidently | target | result |",
        "|---|---|---|---|---|",
        f"| drifted | {_names(ours['drift'])} | {_names(theirs['drift'])} | the same, = the shifted ones | "
        f"{agreement} |",
        f"| disagreements | {'none' if same else _disagreement(ours, theirs)} | | | |",
        f"| other Shipyard findings | missing: {_names(ours['missing'])}; new levels: "
        f"{_names(ours['new_categories'])}; out of range: {_names(ours['out_of_range'])} | not in the preset | | |",
        "",
        "Streaming: peak RSS (`ru_maxrss`) of a fresh process running one cold `compare_files`:",
        "",
        "| current file | rows | seconds | peak RSS |",
        "|---|---|---|---|",
        f"| (imports only: shipyard.monitoring.compare, pyarrow, numpy) | | | {_mib(base['imports_kb'])} |",
        f"| current.parquet | {small['rows']:,} | {small['files_seconds']:.2f} | {_mib(small['maxrss_kb'])} |",
        f"| current_big.parquet ({sizes['big'] // 10:,}-row row groups) | {big['rows']:,} | "
        f"{big['files_seconds']:.2f} | {_mib(big['maxrss_kb'])} |",
        f"| for scale: `pq.read_table` of current_big.parquet whole | {big['rows']:,} | {base['load_seconds']:.2f} | "
        f"{_mib(base['load_kb'])} |",
        "",
        f"The {sizes['big']:,} rows take {dataset['big_arrow_bytes'] / 2**20:,.0f} MiB as Arrow; Evidently's process "
        f"peaked at {_mib(theirs['maxrss_kb'])} on the {sizes['current']:,}-row run. Tests: Shipyard uses PSI on "
        "the reference deciles for numeric columns (warn 0.1) and the Jensen-Shannon distance in bits for "
        "categorical ones (warn 0.1); Evidently the Wasserstein distance normed by the reference std (0.1) and "
        "the Jensen-Shannon distance in nats (0.1).",
    ]
    return "\n".join(lines) + "\n"


def _disagreement(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    parts = []
    for name in sorted(set(ours["drift"]) ^ set(theirs["drift"])):
        who = "only Shipyard" if name in ours["drift"] else "only Evidently"
        mine, other = ours["values"].get(name), theirs["values"].get(name)
        parts.append(f"`{name}` {who} (Shipyard {mine[0]} {mine[1]:.3f}; Evidently {other[0]} {other[1]:.3f})"
                     if mine and other else f"`{name}` {who}")
    return "; ".join(parts)


# ----------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of every size; RESULTS.md untouched")
    parser.add_argument("--worker", choices=("generate", "shipyard", "baseline", "evidently"), help=argparse.SUPPRESS)
    parser.add_argument("--frames", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=REPEATS, help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker = {
            "generate": lambda: write_dataset(Path(args.args[0]), *map(int, args.args[1:])),
            "shipyard": lambda: shipyard_worker(args.args[0], args.args[1], args.repeats, args.frames),
            "baseline": lambda: baseline_worker(args.args[0]),
            "evidently": lambda: evidently_worker(args.args[0], args.args[1]),
        }[args.worker]
        print(json.dumps(worker()))
        return 0

    scale = 10 if args.quick else 1
    sizes = {"reference": 100_000 // scale, "current": 1_000_000 // scale, "big": 10_000_000 // scale}
    python, env = _shipyard_python(), dict(os.environ)
    ev_python, ev_env = anchor_python("evidently"), {**os.environ, **anchor_env("evidently")}
    version = anchor_version("evidently")
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-monitoring-") as folder:
        started = time.perf_counter()
        dataset = _run_worker(python, ["--worker", "generate", folder, *map(str, sizes.values())], env)
        print(f"dataset written in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        ref, cur, big_path = dataset["reference"], dataset["current"], dataset["big"]
        small = _run_worker(python, ["--worker", "shipyard", "--repeats", "1", ref, cur], env)
        big = _run_worker(python, ["--worker", "shipyard", "--repeats", "1", ref, big_path], env)
        base = _run_worker(python, ["--worker", "baseline", big_path], env)
        ours = _run_worker(python, ["--worker", "shipyard", "--frames", ref, cur], env)
        theirs = _run_worker(ev_python, ["--worker", "evidently", ref, cur], ev_env)
    body = render(sizes, ours, small, big, base, theirs, version, dataset, (load_start, os.getloadavg()[0]))
    title = "Monitoring: compare vs Evidently"
    when = f"{time.strftime('%Y-%m-%d')}, {machine()}; `python -m benchmarks.bench_monitoring`."
    section = f"## {title}\n\n{when}\n\n{body}"
    print(section)
    if args.quick:
        print("(quick run: a tenth of the sizes, RESULTS.md untouched)", file=sys.stderr)
    else:
        write_section(title, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
