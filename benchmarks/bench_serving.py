"""Online serving benchmark: ``shipyard serve`` against ``mlflow models serve`` and BentoML on the same churn pipeline.

    python -m benchmarks.bench_serving [--seconds 10] [--soak-seconds 60]

Every server gets 2 worker processes and the demo's logistic-regression pipeline on the real Telco data
(trained by each tool in its own environment with the same data and parameters). wrk sends single-row
JSON requests: 64 connections for throughput and p99, 1 connection for the latency of a lone request.
Shipyard runs with micro-batching, without it, and with the verified ONNX runtime. The per-request
overhead is the server's time minus the model's own time, read from the server's Prometheus histograms at
1 connection. Resident memory is read from /proc for each worker serving 1 and 5 models.

BentoML (its own venv, see ``anchors.py``) serves the pipeline saved with ``bentoml.sklearn.save_model``
from a minimal ``@bentoml.service(workers=2)`` class whose sync API takes ``records`` (the same JSON body
as Shipyard's) and returns ``predict_proba``; no adaptive batching, its default logging. If BentoML cannot
be installed, trained or served here, its row is skipped with the reason printed and written to the results.

After the comparison runs, a reliability soak: ``--soak-seconds`` of load at 64 connections against
``shipyard serve`` (2 workers, python runtime, batching); failed requests (non-2xx and socket errors,
including wrk's 2 s timeouts) must be 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks._load import LoadResult, children, free_port, rss_mb, start, stop, tail, wait_ready, wrk
from benchmarks._results import machine, write_section
from benchmarks.anchors import anchor_env, anchor_python, anchor_version

SHIPYARD = [sys.executable, "-m", "shipyard"]
TARGET_RATIO = 5.0

MLFLOW_TRAIN = textwrap.dedent("""
    import sys, pandas as pd, mlflow.sklearn
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    frame = pd.read_parquet(sys.argv[1]); y = frame.pop("churn")
    numeric = [c for c in frame if frame[c].dtype.kind in "if"]; categorical = [c for c in frame if c not in numeric]
    prepare = ColumnTransformer([("numeric", Pipeline([("impute", SimpleImputer(strategy="median")),
                                 ("scale", StandardScaler())]), numeric),
                                 ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical)])
    pipe = Pipeline([("prepare", prepare), ("model", LogisticRegression(max_iter=2000))]).fit(frame, y)
    mlflow.sklearn.save_model(pipe, sys.argv[2], input_example=frame.head(5), skops_trusted_types=["numpy.dtype"])
""")

# The same pipeline and parameters as MLFLOW_TRAIN, saved to BentoML's model store (BENTOML_HOME) as "churn".
BENTO_TRAIN = textwrap.dedent("""
    import sys, pandas as pd, bentoml
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    frame = pd.read_parquet(sys.argv[1]); y = frame.pop("churn")
    numeric = [c for c in frame if frame[c].dtype.kind in "if"]; categorical = [c for c in frame if c not in numeric]
    prepare = ColumnTransformer([("numeric", Pipeline([("impute", SimpleImputer(strategy="median")),
                                 ("scale", StandardScaler())]), numeric),
                                 ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical)])
    pipe = Pipeline([("prepare", prepare), ("model", LogisticRegression(max_iter=2000))]).fit(frame, y)
    print(bentoml.sklearn.save_model(sys.argv[2], pipe).tag)
""")

# BentoML 1.2+ service API: one class, 2 worker processes, a JSON body {"records": [{...}, ...]}.
BENTO_SERVICE = textwrap.dedent("""
    from typing import Any

    import bentoml
    import pandas as pd


    @bentoml.service(workers=2)
    class Churn:
        model_ref = bentoml.models.BentoModel("churn:latest")

        def __init__(self) -> None:
            self.model = bentoml.sklearn.load_model(self.model_ref)

        @bentoml.api
        def predict(self, records: list[dict[str, Any]]) -> list[list[float]]:
            return self.model.predict_proba(pd.DataFrame(records)).tolist()
""")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each load run")
    parser.add_argument("--soak-seconds", type=int, default=60, help="duration of the reliability soak")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-serving-") as folder:
        work = Path(folder)
        row = _prepare(work)
        results = _measure(work, row, args.seconds)
        results["soak"] = _soak(work, {"records": [row]}, args.soak_seconds)
    print(json.dumps(results, indent=1))
    _report(results)
    return 0


def _prepare(work: Path) -> dict[str, object]:
    """Train, log, register (5 versions for the memory run) and export ONNX; save the data for MLflow."""
    from sklearn.linear_model import LogisticRegression

    import shipyard
    from shipyard.demo.churn import TARGET, build_pipeline, load_churn

    store = work / ".shipyard"
    shipyard.set_store(store)
    frame = load_churn()
    features = frame.drop(columns=[TARGET])
    frame.to_parquet(work / "churn.parquet")
    for c in (1.0, 0.5, 0.25, 0.1, 2.0):
        with shipyard.start_run(experiment="bench-serving"):
            pipeline = build_pipeline(frame, LogisticRegression(C=c, max_iter=2000)).fit(features, frame[TARGET])
            info = shipyard.log_model(pipeline, input_example=features, y_example=frame[TARGET])
        shipyard.register_model(info.uri, "churn")
    shipyard.set_alias("churn", "champion", 1)
    shipyard.export_onnx("models:/churn/1", work / "churn.onnx")
    row = json.loads(features.head(1).to_json(orient="records"))[0]
    return dict(row)


def _shipyard_server(work: Path, *arguments: str) -> tuple[object, str]:
    port = free_port()
    env = {**os.environ, "SHIPYARD_STORE": str(work / ".shipyard")}
    process = start([*SHIPYARD, "serve", *arguments, "--port", str(port), "--workers", "2"], env=env, cwd=work)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/health/ready", process)
    return process, url


def load_pair(url: str, body: dict[str, object], seconds: int,
               between: object = None) -> tuple[LoadResult, LoadResult]:
    """64 connections, then 1; ``between`` (a callable) runs after the busy run, e.g. to snapshot metrics."""
    wrk(url, body, connections=8, seconds=2)  # warm-up
    busy = wrk(url, body, connections=64, seconds=seconds)
    if callable(between):
        between()
    lone = wrk(url, body, connections=1, seconds=max(3, seconds // 2), threads=1)
    return busy, lone


def _measure(work: Path, row: dict[str, object], seconds: int) -> dict[str, object]:
    results: dict[str, object] = {}
    body: dict[str, object] = {"records": [row]}
    for name, extra in (("shipyard_batching", ["--runtime", "python"]),
                        ("shipyard_no_batching", ["--runtime", "python", "--max-batch-size", "1"]),
                        ("shipyard_onnx", ["--runtime", "onnx"])):
        process, url = _shipyard_server(work, "models:/churn@champion", *extra)
        try:
            if name == "shipyard_batching":  # right after start, like the 5-model figure below
                results["rss_1_model_mb"] = _worker_rss(process.pid)  # type: ignore[attr-defined]
            before: dict[str, float] = {}
            busy, lone = load_pair(f"{url}/predict/churn", body, seconds,
                                    between=lambda: before.update(_sums(url)))  # noqa: B023 (called at once)
            results[name] = {"busy": busy.__dict__, "lone": lone.__dict__,
                             "overhead_ms": _overhead_ms(before, _sums(url))}
        finally:
            stop(process)  # type: ignore[arg-type]
    config = work / "five.yaml"
    config.write_text("deployments:\n" + "".join(
        f"  churn{version}:\n    model: models:/churn/{version}\n    runtime: python\n" for version in range(1, 6)))
    process, url = _shipyard_server(work, "--config", str(config))
    try:
        results["rss_5_models_mb"] = _worker_rss(process.pid)  # type: ignore[attr-defined]
    finally:
        stop(process)  # type: ignore[arg-type]
    results["mlflow"] = mlflow_figures(work, row, seconds)
    results["mlflow_version"] = anchor_version("mlflow")
    results["bentoml"] = _bentoml(work, row, seconds)
    return results


def _soak(work: Path, body: dict[str, object], seconds: int) -> dict[str, object]:
    """Reliability: a long run at 64 connections against the batching python-runtime server (2 workers)."""
    process, url = _shipyard_server(work, "models:/churn@champion", "--runtime", "python")
    try:
        wrk(f"{url}/predict/churn", body, connections=8, seconds=2)  # warm-up, not counted
        load = wrk(f"{url}/predict/churn", body, connections=64, seconds=seconds)
        alive = process.poll() is None  # type: ignore[attr-defined]
        with urllib.request.urlopen(f"{url}/health/ready", timeout=5) as response:
            ready = response.status == 200
    finally:
        stop(process)  # type: ignore[arg-type]
    return {"seconds": seconds, "load": load.__dict__, "alive_after": alive, "ready_after": ready}


def _sums(url: str) -> dict[str, float]:
    """The _sum and _count samples of /metrics (summed over labels and workers)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url}/metrics") as response:
        text = response.read().decode()
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith(("_sum", "_count")):
                sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
    return sums


def _overhead_ms(before: dict[str, float], after: dict[str, float]) -> float:
    """Mean server time minus mean model time per request over the 1-connection run alone."""
    def mean(name: str) -> float:
        total = after[f"{name}_sum"] - before.get(f"{name}_sum", 0.0)
        count = after[f"{name}_count"] - before.get(f"{name}_count", 0.0)
        return total / count if count else float("nan")

    requests = after["shipyard_request_duration_seconds_count"] - before.get(
        "shipyard_request_duration_seconds_count", 0.0)
    batches = after["shipyard_model_duration_seconds_count"] - before.get("shipyard_model_duration_seconds_count", 0.0)
    model_per_request = mean("shipyard_model_duration_seconds") * batches / requests if requests else float("nan")
    return (mean("shipyard_request_duration_seconds") - model_per_request) * 1000


def _worker_rss(pid: int) -> list[float]:
    workers = [child for child in children(pid) if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]
    return sorted(round(rss_mb(worker), 1) for worker in workers)


def mlflow_figures(work: Path, row: dict[str, object], seconds: int, train: str = MLFLOW_TRAIN) -> dict[str, object]:
    """`mlflow models serve` of the model the ``train`` script logs, loaded like Shipyard's server."""
    python = anchor_python("mlflow")
    env = {**os.environ, **anchor_env("mlflow"), "PATH": f"{python.parent}:{os.environ['PATH']}"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    script = work / "train_mlflow.py"
    script.write_text(train)
    subprocess.run([str(python), str(script), str(work / "churn.parquet"), str(work / "mlflow-model")], env=env,
                   check=True, capture_output=True)
    port = free_port()
    process = start([str(python.parent / "mlflow"), "models", "serve", "-m", str(work / "mlflow-model"),
                     "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "2"], env=env, cwd=work)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/ping", process)
        busy, lone = load_pair(f"{url}/invocations", {"dataframe_records": [row]}, seconds)
    finally:
        stop(process)
    return {"busy": busy.__dict__, "lone": lone.__dict__}


def _bentoml(work: Path, row: dict[str, object], seconds: int) -> dict[str, object]:
    """BentoML's numbers, or ``{"skipped": reason}`` when it cannot be installed, trained or served here."""
    step = "installing BentoML in its venv"
    log = work / "bentoml-serve.log"
    try:
        python = anchor_python("bentoml")
        version = anchor_version("bentoml")
        folder = work / "bentoml"
        folder.mkdir()
        env = {**os.environ, **anchor_env("bentoml"), "PATH": f"{python.parent}:{os.environ['PATH']}",
               "BENTOML_HOME": str(work / "bentoml-home")}  # its model store stays in the temp folder
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        step = "training and saving the pipeline with bentoml.sklearn.save_model"
        (folder / "train_bentoml.py").write_text(BENTO_TRAIN)
        (folder / "service.py").write_text(BENTO_SERVICE)
        subprocess.run([str(python), "train_bentoml.py", str(work / "churn.parquet"), "churn"], env=env, cwd=folder,
                       check=True, capture_output=True, text=True, timeout=600)
        step = "starting bentoml serve"
        port = free_port()
        process = start([str(python.parent / "bentoml"), "serve", "service:Churn", "--working-dir", str(folder),
                         "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=folder, log=log)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(f"{url}/readyz", process)
            step = "loading bentoml serve"
            workers = len([child for child in children(process.pid)
                           if b"_bentoml_impl.worker" in Path(f"/proc/{child}/cmdline").read_bytes()])
            busy, lone = load_pair(f"{url}/predict", {"records": [row]}, seconds)
        finally:
            stop(process)
    except Exception as error:  # any failure skips the row, never the benchmark
        detail = getattr(error, "stderr", None) or tail(log) or ""
        detail = " | ".join(str(detail).strip().splitlines()[-3:])
        what = (f"exit status {error.returncode}" if isinstance(error, subprocess.CalledProcessError)
                else f"{type(error).__name__}: {error}")
        reason = f"{step} failed: {what}" + (f" ({detail})" if detail else "")
        print(f"BentoML row skipped: {reason}", file=sys.stderr)
        return {"skipped": reason}
    return {"busy": busy.__dict__, "lone": lone.__dict__, "version": version, "workers": workers}


def _report(results: dict[str, object]) -> None:
    def get(name: str, which: str, key: str) -> float:
        return float(results[name][which][key])  # type: ignore[index]

    mlflow_rate = get("mlflow", "busy", "requests_per_s")
    bento = results["bentoml"]
    bento_skipped = "skipped" in bento  # type: ignore[operator]
    bento_rate = float("nan") if bento_skipped else get("bentoml", "busy", "requests_per_s")
    bento_note = (f"BentoML: skipped ({bento['skipped']})" if bento_skipped  # type: ignore[index]
                  else f"BentoML {bento['version']} (`bentoml serve`, `@bentoml.service(workers=2)` with "  # type: ignore[index]
                  f"{bento['workers']} worker processes seen, sync API, no batching)")  # type: ignore[index]
    lines = [
        "## Online serving (shipyard serve vs mlflow models serve)",
        "",
        f"Machine: {machine()}. MLflow {results['mlflow_version']}; {bento_note}. Model: logistic-regression "
        "pipeline on the Telco churn data; single-row JSON requests from wrk; 2 worker processes each; "
        "`python -m benchmarks.bench_serving`.",
        "",
        "| server | req/s at 64 conns | p50 / p99 at 64 (ms) | p50 at 1 conn (ms) | failed | vs MLflow | vs BentoML |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [("mlflow", "mlflow models serve")] + ([] if bento_skipped else [("bentoml", "bentoml serve")]) + [
        ("shipyard_no_batching", "shipyard, batching off"), ("shipyard_batching", "shipyard, adaptive batching"),
        ("shipyard_onnx", "shipyard, ONNX")]
    for name, label in rows:
        rate = get(name, "busy", "requests_per_s")
        failed = int(get(name, "busy", "errors") + get(name, "lone", "errors"))
        vs_bento = "n/a" if bento_skipped else f"{rate / bento_rate:.1f}x"
        lines.append(f"| {label} | {rate:,.0f} | {get(name, 'busy', 'p50_ms'):.1f} / {get(name, 'busy', 'p99_ms'):.1f}"
                     f" | {get(name, 'lone', 'p50_ms'):.2f} | {failed} | {rate / mlflow_rate:.1f}x | {vs_bento} |")
    batching_gain = get("shipyard_batching", "busy", "requests_per_s") / get("shipyard_no_batching", "busy",
                                                                             "requests_per_s")
    lone_ratio = get("shipyard_batching", "lone", "p50_ms") / get("shipyard_no_batching", "lone", "p50_ms")
    onnx_gain = get("shipyard_onnx", "busy", "requests_per_s") / get("shipyard_batching", "busy", "requests_per_s")
    overhead = results["shipyard_batching"]["overhead_ms"]  # type: ignore[index]
    shipyard_rate = get("shipyard_batching", "busy", "requests_per_s")
    soak: dict[str, Any] = results["soak"]  # type: ignore[assignment]
    soak_load = soak["load"]
    p99 = get("shipyard_batching", "busy", "p99_ms")
    lines += [
        "",
        f"- Throughput vs MLflow: {shipyard_rate / mlflow_rate:.1f}x "
        f"(target >= {TARGET_RATIO:g}x: {_verdict(shipyard_rate / mlflow_rate >= TARGET_RATIO)}).",
        f"- p99 latency at 64 connections, adaptive batching: {p99:.1f} ms (target < 25 ms: {_verdict(p99 < 25)}).",
        ("- Throughput vs BentoML: skipped." if bento_skipped else
         f"- Throughput vs BentoML: {shipyard_rate / bento_rate:.1f}x with adaptive batching, "
         f"{get('shipyard_no_batching', 'busy', 'requests_per_s') / bento_rate:.1f}x with batching off "
         f"(target > 1x: {_verdict(shipyard_rate > bento_rate)}); at 1 connection p50 "
         f"{get('shipyard_batching', 'lone', 'p50_ms'):.2f} ms vs {get('bentoml', 'lone', 'p50_ms'):.2f} ms."),
        f"- Micro-batching gain under load: {batching_gain:.1f}x; at 1 connection p50 with batching is "
        f"{lone_ratio:.2f}x the p50 without "
        f"(target within 1.10x: {_verdict(batching_gain > 1 and lone_ratio <= 1.1)}).",
        f"- ONNX runtime over the Python runtime under load: {onnx_gain:.1f}x.",
        f"- Per-request overhead in the server at 1 connection (request time minus model time): {overhead:.2f} ms "
        f"(target < 1 ms: {_verdict(float(overhead) < 1)}).",
        f"- Resident memory per worker: {results['rss_1_model_mb']} MiB with 1 model, "
        f"{results['rss_5_models_mb']} MiB with 5 models.",
        f"- Reliability soak ({soak['seconds']} s at 64 connections, adaptive batching, python runtime): "
        f"{soak_load['requests']:,} requests served, {soak_load['errors']} failed "
        f"(target 0: {_verdict(soak_load['errors'] == 0)}), "
        f"{soak_load['requests_per_s']:,.0f} req/s, p50 / p99 {soak_load['p50_ms']:.1f} / "
        f"{soak_load['p99_ms']:.1f} ms; server "
        f"{'alive and ready' if soak['alive_after'] and soak['ready_after'] else 'NOT alive and ready'} after.",
    ]
    write_section("Online serving (shipyard serve vs mlflow models serve)", "\n".join(lines))
    print("\n".join(lines))


def _verdict(met: bool) -> str:
    return "pass" if met else "FAIL"


if __name__ == "__main__":
    raise SystemExit(main())
