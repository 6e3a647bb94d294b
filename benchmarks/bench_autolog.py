"""Autologging benchmark: small scikit-learn fits with no logging, ``shipyard.autolog()`` and ``mlflow.autolog()``
(sqlite store), measured in the same run.

    python -m benchmarks.bench_autolog [--quick]

Each tool runs in a fresh subprocess (``autolog_workload.py``) where blocks of plain fits and of autologged
fits take turns, so a tool's overhead is measured against plain fits on the same machine minutes apart at
most. Two Shipyard figures: ``loop`` is what the training loop waits for (records are written after
``fit`` returns), ``total`` adds ``shipyard.flush()``, which writes everything deferred: the honest cost
of the same records. MLflow writes during the fit, so its loop is its total. MLflow takes seconds per fit
here, so it runs fewer fits (sized by time, as ``bench_tracking`` does) and the comparison is per fit.
Targets (issue 18): Shipyard's loop at most 10% over no logging, and at least 10x less than MLflow. A full
run replaces the ``## Autolog`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._results import RESULTS, machine, write_section
from benchmarks.anchors import REPO, anchor_env, anchor_python, anchor_version
from benchmarks.bench_tracking import shipyard_env, shipyard_python

HERE = Path(__file__).resolve().parent
TIMEOUT_SECONDS = 1800
# (tool, fits, blocks) for a full run and for --quick.
PLAN = (("shipyard", 200, 20), ("shipyard-nomodels", 200, 20), ("mlflow", 10, 2))
QUICK_PLAN = (("shipyard", 40, 2), ("shipyard-nomodels", 40, 2), ("mlflow", 4, 2))
# One BLAS thread everywhere: otherwise each tool's fits race the other processes on a shared box with a
# thread pool sized for an idle machine, and that noise swamps a 10% difference.
QUIET_THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_once(tool: str, fits: int, blocks: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-autolog-{tool}-") as tmp:
        store = Path(tmp) / "store"
        store.mkdir()
        if tool == "mlflow":
            python, env = anchor_python("mlflow"), {**os.environ, **anchor_env("mlflow")}
        else:
            python, env = shipyard_python(), shipyard_env()
        env.update(QUIET_THREADS)
        cmd = [str(python), str(HERE / "autolog_workload.py"), "--tool", tool, "--fits", str(fits),
               "--blocks", str(blocks), "--store", str(store)]
        done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    if done.returncode != 0:
        raise RuntimeError(f"{tool}: exit {done.returncode}\n" + "\n".join(done.stderr.splitlines()[-15:]))
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer fits; RESULTS.md untouched")
    args = parser.parse_args(argv)
    print("Preparing the MLflow anchor venv (first time: a few minutes)...", flush=True)
    versions = f"MLflow {anchor_version('mlflow')} (sqlite store)"
    results: dict[str, dict[str, Any]] = {}
    for tool, fits, blocks in QUICK_PLAN if args.quick else PLAN:
        line = results[tool] = run_once(tool, fits, blocks)
        print(f"  {tool:18} {line['fits']} fits: plain {line['plain_s']:.3f} s, autologged {line['loop_s']:.3f} s, "
              f"deferred writes {line['drain_s']:.3f} s, runs {line['runs']}", flush=True)

    def per_fit_ms(tool: str, key: str) -> float:
        line = results[tool]
        return 1000 * sum(line[part] for part in key.split("+")) / line["fits"]

    rows = []
    for tool in results:
        plain, loop, total = per_fit_ms(tool, "plain_s"), per_fit_ms(tool, "loop_s"), per_fit_ms(tool, "loop_s+drain_s")
        rows.append([tool, str(results[tool]["fits"]), f"{plain:.1f}", f"{loop:.1f}", f"{total:.1f}",
                     f"{(loop / plain - 1) * 100:+.1f}%", f"{(total / plain - 1) * 100:+.1f}%"])
    mlflow_cost = per_fit_ms("mlflow", "loop_s") - per_fit_ms("mlflow", "plain_s")
    verdicts = []
    for tool in ("shipyard", "shipyard-nomodels"):
        plain = per_fit_ms(tool, "plain_s")
        loop_cost = per_fit_ms(tool, "loop_s") - plain
        total_cost = per_fit_ms(tool, "loop_s+drain_s") - plain
        capture = results[tool]["capture_ms"]
        verdicts.append(
            f"- `{tool}`: loop {loop_cost / plain * 100:+.1f}% over plain fits (target <= +10%: "
            f"{'pass' if loop_cost / plain <= 0.10 else 'FAIL'}); the patched fit's own work, timed alone, is "
            f"{capture:.2f} ms per fit ({capture / plain * 100:.1f}% of a plain fit); per fit, MLflow's logging costs "
            f"{_ratio(mlflow_cost, total_cost)} Shipyard's total (deferred writes included) and "
            f"{_ratio(mlflow_cost, loop_cost)} what Shipyard's loop waits for (target >= 10x on the total).")
    head = ["tool", "fits", "plain ms/fit", "autologged ms/fit", "with deferred writes ms/fit", "loop vs plain",
            "total vs plain"]
    table = "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                      + ["| " + " | ".join(row) + " |" for row in rows])
    header = (f"Measured {time.strftime('%Y-%m-%d')} with `python -m benchmarks.bench_autolog` on {machine()}; "
              f"{versions}. Fits of StandardScaler + LogisticRegression on breast-cancer (569 x 30) over a grid of "
              "C, each autologged fit its own run; plain and autologged blocks alternate in one process per tool.")
    body = header + "\n\n" + table + "\n\n" + "\n".join(verdicts) + "\n"
    print("\n" + body)
    if not args.quick:
        write_section("Autolog", "## Autolog\n\n" + body + (
            "\n`autologged`: the fits as the training loop waits for them; `with deferred writes`: plus "
            "`shipyard.flush()`, which writes every record the fits queued (run, params, training metrics, dataset "
            "hash, model package). `shipyard-nomodels` is `autolog(log_models=False)`. MLflow's own time goes mostly "
            "to inferring pip requirements in a subprocess and drawing plots, per fit.\n"))
        print(f"Wrote the Autolog section of {RESULTS.relative_to(REPO)}.")
    return 0


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:,.0f}x" if denominator > 0 else "unboundedly more than (within the noise)"


if __name__ == "__main__":
    sys.exit(main())
