"""Serving throughput of the PyTorch flavor: a network behind a StandardScaler, Python runtime and verified ONNX.

    python -m benchmarks.bench_serving_torch [--seconds 10]

A 30-16-2 network is trained on scikit-learn's breast cancer table (CPU, full batch) behind a StandardScaler and
logged as a Pipeline; next to it, a LogisticRegression behind the same scaler (the scikit-learn anchor). Each is
served alone by ``shipyard serve --workers 2`` with micro-batching (the default), the network twice: ``runtime:
python`` (the torch.export program, concurrent rows stacked into one tensor) and ``runtime: onnx`` (its verified
export). wrk sends single-row JSON requests on 64 connections, so requests/s is rows/s. wrk shares the 2 cores
with the server: compare the rows in one run, not across machines. Needs torch (CPython 3.11 in dev).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._load import load_table, serve_single_rows
from benchmarks._results import machine, write_section

SHIPYARD = [sys.executable, "-m", "shipyard"]
EPOCHS = 200


def _models() -> tuple[dict[str, Any], Any, Any]:
    """(name -> fitted Pipeline, the input example, the labels)."""
    import torch
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    features = features.rename(columns=lambda name: name.replace(" ", "_"))
    scaler = StandardScaler().fit(features)
    inputs = torch.tensor(scaler.transform(features), dtype=torch.float32)
    labels = torch.tensor(target.to_numpy())
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(EPOCHS):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(inputs), labels).backward()
        optimizer.step()
    anchor = Pipeline([("scale", scaler), ("model", LogisticRegression(max_iter=2000))]).fit(features, target)
    models = {"sklearn LogisticRegression behind StandardScaler": anchor,
              "torch 30-16-2 network behind StandardScaler": Pipeline([("scale", scaler), ("net", net)])}
    return models, features, target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each load run")
    args = parser.parse_args(argv)
    import shipyard

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-torch-") as folder:
        work = Path(folder)
        shipyard.set_store(work / ".shipyard")
        models, features, target = _models()
        runs = []  # (label, registered name, runtime)
        for index, (name, model) in enumerate(models.items(), start=1):
            with shipyard.start_run(experiment="bench-torch"):
                info = shipyard.log_model(model, input_example=features, y_example=target)
            shipyard.register_model(info, f"m{index}")
            runs.append((f"{name}, runtime python", f"m{index}", "python"))
        shipyard.set_store(None)
        env = {**os.environ, "SHIPYARD_STORE": str(work / ".shipyard")}
        subprocess.run([*SHIPYARD, "models", "export-onnx", "models:/m2/1", "-o", "net.onnx"], env=env, cwd=work,
                       check=True, capture_output=True)
        runs.append((f"{list(models)[1]}, runtime onnx (verified export)", "m2", "onnx"))
        row = json.loads(features.head(1).to_json(orient="records"))[0]
        for label, registered, runtime in runs:
            results[label] = serve_single_rows(registered, runtime, row, env=env, cwd=work, seconds=args.seconds)
    print(json.dumps(results, indent=1))
    lines = [f"## Serving the torch flavor\n\n{machine()}; `shipyard serve --workers 2`, micro-batching, "
             f"single-row requests, 64 connections, {args.seconds} s each. wrk and other work share the cores: "
             "compare the rows of one run. Served networks run one torch intra-op thread per calling thread "
             "(`serve_single_threaded`); with torch's default threads the network gave 304 and 315 rows/s in two "
             "runs under the same conditions.\n",
             *load_table(results)]
    write_section("Serving the torch flavor", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
