"""Serving throughput of the network and Python flavors: torch and Keras networks (Python runtime and verified ONNX)
and a shipyard.PythonModel, next to scikit-learn.

    python -m benchmarks.bench_serving_torch [--seconds 10]

A 30-16-2 network is trained on scikit-learn's breast cancer table (CPU, full batch) behind a StandardScaler and
logged as a Pipeline; next to it, a LogisticRegression behind the same scaler (the scikit-learn anchor). A Keras
30-16-2 softmax network (torch backend) takes the scaled columns themselves (a Keras package holds no
preprocessing), and a PythonModel answers the anchor's logistic regression with numpy from its coefficients (in
``config``; its module is written to the work folder, on the server's ``PYTHONPATH``, and trusted by name). Each
is served alone by ``shipyard serve --workers 2`` with micro-batching (the default), the networks twice:
``runtime: python`` (concurrent rows stacked into one tensor) and ``runtime: onnx`` (the verified export). wrk
sends single-row JSON requests on 64 connections, so requests/s is rows/s. wrk shares the 2 cores with the
server: compare the rows in one run, not across machines. Needs torch and keras (CPython 3.11 in dev).
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
TITLE = "Serving the torch, Keras and Python flavors"
PYTHON_MODEL = "bench_logistic"  # the PythonModel's module, written to the work folder
PYTHON_SOURCE = '''
import numpy as np

import shipyard


class Logistic(shipyard.PythonModel):
    """A fitted scaler and logistic regression, answered with numpy from their numbers."""

    def __init__(self, pipeline):
        scale, model = pipeline.named_steps["scale"], pipeline.named_steps["model"]
        self.config = {"mean": scale.mean_.tolist(), "scale": scale.scale_.tolist(), "coef": model.coef_[0].tolist(),
                       "intercept": float(model.intercept_[0]), "classes": model.classes_.tolist()}
        self.load_context(shipyard.ModelContext({}, self.config))

    def load_context(self, context):
        self.mean, self.scale = np.array(context.config["mean"]), np.array(context.config["scale"])
        self.coef, self.intercept = np.array(context.config["coef"]), context.config["intercept"]
        self.classes_ = np.array(context.config["classes"])

    def predict_proba(self, frame):
        values = (np.asarray(frame, dtype="float64") - self.mean) / self.scale
        positive = 1.0 / (1.0 + np.exp(-(values @ self.coef + self.intercept)))
        return np.column_stack((1.0 - positive, positive))

    def predict(self, frame):
        return self.classes_[self.predict_proba(frame).argmax(axis=1)]
'''


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


def _keras_network(scaled: Any, target: Any) -> Any:
    """A Keras 30-16-2 softmax network on the scaled columns (torch backend, chosen by Shipyard before import)."""
    from shipyard.models.keras_flavor import import_keras

    keras = import_keras("The serving benchmark")
    keras.utils.set_random_seed(0)
    network = keras.Sequential([keras.Input((scaled.shape[1],)), keras.layers.Dense(16, activation="relu"),
                                keras.layers.Dense(2, activation="softmax")])
    network.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    network.fit(scaled.to_numpy(), target.to_numpy(), epochs=EPOCHS // 4, batch_size=len(scaled), verbose=0)
    return network


def _python_model(work: Path, anchor: Any) -> Any:
    import importlib

    (work / f"{PYTHON_MODEL}.py").write_text(PYTHON_SOURCE)
    sys.path.insert(0, str(work))
    return importlib.import_module(PYTHON_MODEL).Logistic(anchor)


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
        anchor_name = next(iter(models))
        scaler = models[anchor_name].named_steps["scale"]
        scaled = features.copy()
        scaled[:] = scaler.transform(features)
        scaled = scaled.astype("float32")
        logged = {name: (model, features) for name, model in models.items()}
        logged["keras 30-16-2 network on scaled columns"] = (_keras_network(scaled, target), scaled)
        logged["python: a PythonModel (numpy logistic regression)"] = (_python_model(work, models[anchor_name]),
                                                                        features)
        runs = []  # (label, registered name, runtime, the row it is sent)
        for index, (name, (model, example)) in enumerate(logged.items(), start=1):
            with shipyard.start_run(experiment="bench-torch"):
                info = shipyard.log_model(model, input_example=example, y_example=target)
            shipyard.register_model(info, f"m{index}")
            row = json.loads(example.head(1).to_json(orient="records"))[0]
            runs.append((f"{name}, runtime python", f"m{index}", "python", row))
            if index in (2, 3):  # the networks: their verified ONNX export too
                runs.append((f"{name}, runtime onnx (verified export)", f"m{index}", "onnx", row))
        shipyard.set_store(None)
        env = {**os.environ, "SHIPYARD_STORE": str(work / ".shipyard"), "PYTHONPATH": str(work)}
        for registered in ("m2", "m3"):
            subprocess.run([*SHIPYARD, "models", "export-onnx", f"models:/{registered}/1", "-o", f"{registered}.onnx"],
                           env=env, cwd=work, check=True, capture_output=True)
        for label, registered, runtime, row in runs:
            trust = (f"{PYTHON_MODEL}:Logistic",) if registered == "m4" else ()
            results[label] = serve_single_rows(registered, runtime, row, env=env, cwd=work, seconds=args.seconds,
                                               trust=trust)
    print(json.dumps(results, indent=1))
    lines = [f"## {TITLE}\n\n{machine()}; `shipyard serve --workers 2`, micro-batching, "
             f"single-row requests, 64 connections, {args.seconds} s each; `python -m benchmarks.bench_serving_torch`. "
             "wrk and other work share the cores: compare the rows of one run. Served networks (torch and Keras on "
             "the torch backend) run one torch intra-op thread per calling thread (`serve_single_threaded`). "
             f"Load average when the run ended: {os.getloadavg()[0]:.1f}.\n",
             *load_table(results)]
    write_section(TITLE, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
