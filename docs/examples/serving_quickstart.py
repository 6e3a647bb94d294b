"""Serving quickstart: serve a registered model, call every kind of endpoint, read the log, monitor it.

Executed by the tests (tests/e2e/test_docs.py), so each call below is known to answer as shown.
It starts a real `shipyard serve` on a free port of 127.0.0.1 and stops it with SIGTERM at the end.
"""

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import shipyard

# A model to serve: a scikit-learn pipeline, logged with its input example, registered as churn@champion.
rng = np.random.default_rng(0)
customers = pd.DataFrame({"tenure": rng.integers(1, 72, 1000),
                          "contract": rng.choice(["Month-to-month", "One year", "Two year"], 1000)})
churned = ((customers["contract"] == "Month-to-month") & (customers["tenure"] < 24)).astype(int)
pipeline = Pipeline([("prepare", ColumnTransformer([("contract", OneHotEncoder(handle_unknown="ignore"),
                                                     ["contract"])], remainder="passthrough")),
                     ("model", LogisticRegression(max_iter=1000))])
with shipyard.start_run(experiment="serving-quickstart"):
    info = shipyard.log_model(pipeline.fit(customers, churned), input_example=customers, y_example=churned)
version = shipyard.register_model(info, "churn")
shipyard.set_alias("churn", "champion", version.version)


def call(method: str, path: str, body: object = None) -> tuple[int, object]:
    """One HTTP request to the server; returns the status and the decoded JSON (or text) answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, method=method,
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, raw = answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        status, raw = refused.code, refused.read().decode()
        refused.close()
    try:
        return status, json.loads(raw)
    except json.JSONDecodeError:
        return status, raw


with socket.socket() as probe:  # a free port for this example
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
base = f"http://127.0.0.1:{port}"

# --8<-- [start:serve]
server = subprocess.Popen([sys.executable, "-m", "shipyard", "serve", "models:/churn@champion", "--port", str(port)],
                          stdout=subprocess.DEVNULL)
deadline = time.monotonic() + 60
while True:  # ready once every variant is loaded
    try:
        if call("GET", "/health/ready")[0] == 200:
            break
    except OSError:
        pass
    if time.monotonic() > deadline or server.poll() is not None:
        raise SystemExit("the server did not become ready")
    time.sleep(0.2)
# --8<-- [end:serve]

try:
    # --8<-- [start:predict]
    status, answer = call("POST", "/predict/churn", {"records": [
        {"tenure": 3, "contract": "Month-to-month"}, {"tenure": 60, "contract": "Two year"}]})
    print("predict:", status, answer["predictions"], "from", answer["model"]["uri"], "variant", answer["variant"])
    request_id = answer["request_id"]

    # The same rows in the columns/data form (MLflow's dataframe_split works too)
    status, answer = call("POST", "/predict/churn", {"columns": ["tenure", "contract"],
                                                     "data": [[3, "Month-to-month"]]})
    print("columns/data:", status, answer["predictions"])

    # Bad input: a 422 naming the column, never a 500
    status, answer = call("POST", "/predict/churn", {"records": [{"tenure": "long", "contract": "One year"}]})
    print("bad input:", status, json.dumps(answer))

    # Ground truth, later: by request id (and row, for a multi-row request)
    status, answer = call("POST", "/feedback/churn", [{"request_id": request_id, "row": 0, "label": 1},
                                                      {"request_id": request_id, "row": 1, "label": 0}])
    print("feedback:", status, answer)
    # --8<-- [end:predict]

    # --8<-- [start:v2]
    status, answer = call("POST", "/v2/models/churn/infer", {"inputs": [
        {"name": "tenure", "shape": [1], "datatype": "INT64", "data": [3]},
        {"name": "contract", "shape": [1], "datatype": "BYTES", "data": ["Month-to-month"]}]})
    print("open inference protocol:", status, [output["name"] for output in answer["outputs"]])
    # --8<-- [end:v2]

    status, metrics = call("GET", "/metrics")
    print("metrics:", status, "shipyard_requests_total" in str(metrics))
finally:
    server.send_signal(signal.SIGTERM)  # drains, flushes the prediction log, exits 0
    print("server exit code:", server.wait(timeout=60))

# --8<-- [start:log]
log = shipyard.prediction_log("churn", since="1h", with_feedback=True)
print("logged rows:", len(log), "| labelled:", int(log["label"].notna().sum()))
# --8<-- [end:log]

# --8<-- [start:monitor]
from shipyard.monitoring.monitor import monitor  # noqa: E402  (kept next to its use for the guide)
from shipyard.monitoring.report import write_report  # noqa: E402

result = monitor("churn", since="1h")
print("monitoring:", result.summary())
write_report(result, "report.html")  # one self-contained HTML file
# --8<-- [end:monitor]
