"""Performance estimation before labels: Shipyard's estimate against NannyML's CBPE, same data, same run.

    python -m benchmarks.bench_estimation [--quick]

Real data with covariate shift, two tables. *Telco churn* (7,043 customers): for each of ``SPLITS`` seeded splits
a logistic-regression pipeline is trained on 40% of the customers, 20% is the labelled reference (the holdout)
and ``WINDOWS`` windows of ``WINDOW_ROWS`` customers are drawn without replacement from the rest, each tilted
towards short or long tenure by a random strength (a different mix of inputs per window, P(y | x) unchanged), in
three settings (``TELCO_SETTINGS``): the tenure shift either way, a strong shift towards short tenure, and larger
windows. *Census* (US ACS employment, Massachusetts, 68,785 people of 2015 and 208,892 of 2016-2018, shipped in
NannyML's wheel; ``_census.py``): for each of ``CENSUS_SPLITS`` splits a gradient-boosted model on 25,000 people
of 2015 with a 20,000-row labelled reference, scored on 5,000-row windows of 2016-2018 in time order (the shift
the years brought) and on 5,000-row windows of the rest of 2015 tilted by age (strong covariate shift only). The
truth is known: every window's labels are kept back and compared with each tool's estimate afterwards.

Next to the tools, each setting has a *sampling floor*: what an estimator that knew every row's calibrated
P(correct) would still miss the realized accuracy by, since a window's accuracy given its inputs is a sum of
Bernoulli draws; and each tool's *reference spread*, the part of its error that one reference shares with all
its windows (the spread over splits of the mean signed error).

Measured per tool: the mean, 95th-percentile and largest absolute error of the estimated accuracy (and the share
of windows within 2 points), the mean and 95th-percentile error of F1 and ROC AUC against the realized values;
how often the 90% interval covers the realized value (NannyML reports a sampling error sigma: its 90% interval
is taken as value +- 1.645 sigma); and the time to fit and estimate. Then concept drift: in one window per split
of the Telco tenure-shifted and the census age-tilted settings, P(y | x) changes; with only the first 10% of
that window's labels arrived, Shipyard's concept_drift check (the labels' class counts against the counts their
calibrated scores expect, p < 0.01) must flag it, and on the clean windows with 10% of labels it must not. On
the census windows by time, where nothing is injected, the same check tells how often the years changed P(y | x).

Goals (issue 21 part 3): accuracy within 2 points of realized per window, intervals covering at least 88%, the
injected drift flagged within one window of the first 10% of labels. Each tool runs in its own subprocess
(NannyML in its venv, ``anchors.py``) on the same Parquet file of scores. ``--quick`` uses 3 Telco splits, 2
census splits and every 4th census window by time, and does not touch RESULTS.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from benchmarks import _census as census
from benchmarks._census import Window, census_windows, early_labels
from benchmarks._results import machine, write_section
from benchmarks.anchors import REPO, anchor_env, anchor_python, anchor_version

SPLITS = 40  # Telco; 12 left coverage figures noisy (72 windows a setting, a standard error of 3.5 points)
CENSUS_SPLITS = 30
WINDOWS = 6
WINDOW_ROWS = 700
SHIFT = 1.5
# (name, window rows, tilt strengths): a window's weights are exp(strength * z(tenure)), strength drawn uniformly
# from the range. "tenure-shifted" is the original setting (either way); "strong shift" only towards short tenure,
# where the model errs most (the setting in which an earlier session saw the estimate read low on one split);
# "large windows" shows how the error shrinks with the window (the pool left after training and reference holds
# 2,843 customers, so windows of 2,000 overlap and are tilted less).
TELCO_SETTINGS = (("Telco, tenure-shifted", WINDOW_ROWS, (-SHIFT, SHIFT)),
                  ("Telco, strong shift", WINDOW_ROWS, (-1.5, -0.75)),
                  ("Telco, large windows", 2_000, (-SHIFT, SHIFT)))
SETTINGS = (*(name for name, _, _ in TELCO_SETTINGS), *census.SETTINGS)
_WINDOW_ROWS = {name: rows for name, rows, _ in TELCO_SETTINGS} | dict.fromkeys(census.SETTINGS, census.WINDOW_ROWS)
# the settings with one injected concept drift per split, whose check is scored as flagged / false alarm
DRIFT_SETTINGS = (TELCO_SETTINGS[0][0], census.AGE_TILTED)
LABELLED_SHARE = 0.10
METRICS = ("accuracy", "f1", "roc_auc")
Z90 = 1.6448536269514722
RAW = REPO / ".bench" / "bench_estimation.json"

_NANNYML = r"""
import json, sys, time
import numpy as np, pandas as pd
import nannyml as nml
scores = pd.read_parquet(sys.argv[1])
out, seconds = [], {}
for (setting, split), frame in scores.groupby(["setting", "split"]):
    started = time.perf_counter()
    reference = frame[frame.window < 0]
    analysis = frame[(frame.window >= 0) & ~frame.drifted].sort_values(["window", "row"])
    estimator = nml.CBPE(problem_type="classification_binary", y_pred_proba="proba", y_pred="pred", y_true="y",
                         metrics=["accuracy", "f1", "roc_auc"], chunk_size=int(frame.window_rows.iloc[0]))
    estimator.fit(reference.drop(columns=["setting"]))
    result = estimator.estimate(analysis.drop(columns=["y", "setting"])).filter(period="analysis").to_df()
    seconds[setting] = seconds.get(setting, 0.0) + time.perf_counter() - started
    for index, window in enumerate(sorted(analysis.window.unique())):
        row = {"setting": setting, "split": int(split), "window": int(window)}
        for metric in ("accuracy", "f1", "roc_auc"):
            row[metric] = float(result[(metric, "value")].iloc[index])
            row[metric + "_sigma"] = float(result[(metric, "sampling_error")].iloc[index])
        out.append(row)
print(json.dumps({"seconds": seconds, "rows": out}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", choices=["shipyard"], help=argparse.SUPPRESS)
    parser.add_argument("--scores", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_shipyard_worker(Path(args.scores))))
        return
    splits, census_splits = (3, 2) if args.quick else (SPLITS, CENSUS_SPLITS)
    with tempfile.TemporaryDirectory() as folder:
        scores = Path(folder) / "scores.parquet"
        truth = _write_scores(scores, itertools.chain(
            _telco_windows(splits),
            census_windows(census_splits, LABELLED_SHARE, time_stride=4 if args.quick else 1)))
        shipyard = json.loads(subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_estimation", "--worker", "shipyard", "--scores", str(scores)],
            cwd=REPO, capture_output=True, text=True, check=True, timeout=3600).stdout)
        nannyml = _run_nannyml(scores)
    # every window's estimates and truth, for reading the errors another way afterwards (.bench/ is not tracked)
    RAW.parent.mkdir(exist_ok=True)
    RAW.write_text(json.dumps({"truth": truth, "shipyard": shipyard, "nannyml": nannyml}))
    report = _report(truth, shipyard, nannyml, splits, census_splits)
    print(report)
    if not args.quick:
        write_section("Performance estimation", report)


def _write_scores(path: Path, windows: Iterable[Window]) -> dict[str, Any]:
    """Write every setting's and split's reference and windows to one Parquet file of scores; return the
    realized metrics the tools must not see (keyed ``setting/split/window``)."""
    import numpy as np
    import pandas as pd

    from shipyard.monitoring.stats.estimation import realized_metrics

    parts, realized = [], {}
    for found in windows:
        proba = np.asarray(found.proba, float)
        parts.append(pd.DataFrame({"setting": found.setting, "split": found.split,
                                   "window_rows": _WINDOW_ROWS[found.setting], "window": found.window,
                                   "row": np.arange(len(proba)), "proba": proba, "pred": (proba >= 0.5).astype(int),
                                   "y": found.y, "drifted": found.drifted, "labelled": found.labelled}))
        if found.window >= 0:
            scores = np.column_stack([1 - proba, proba])
            realized[f"{found.setting}/{found.split}/{found.window}"] = {
                **realized_metrics(found.y, scores), "changed": found.changed, "tilt": found.tilt}
    pd.concat(parts, ignore_index=True).to_parquet(path)
    return realized


def _telco_windows(splits: int) -> Iterator[Window]:
    """Per split: a logistic-regression pipeline trained on 40% of the customers, the 1,400-row holdout as the
    labelled reference, and every Telco setting's tenure-tilted windows from the rest (the last one drifted)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from shipyard.demo.telco import TARGET, build_pipeline, load_churn

    frame = load_churn()
    features, labels = frame.drop(columns=[TARGET]), frame[TARGET].to_numpy()
    z = ((frame["tenure"] - frame["tenure"].mean()) / frame["tenure"].std()).to_numpy()
    for split in range(splits):
        rng = np.random.default_rng(1_000 + split)
        order = rng.permutation(len(frame))
        train, reference, pool = order[:2_800], order[2_800:4_200], order[4_200:]
        model = build_pipeline(frame, LogisticRegression(max_iter=2_000)).fit(features.iloc[train], labels[train])
        proba = model.predict_proba(features)[:, 1]
        for setting, window_rows, (low, high) in TELCO_SETTINGS:
            yield Window(setting, split, -1, proba[reference], labels[reference], False,
                         np.ones(len(reference), bool))
            for window in range(WINDOWS + 1):  # the last one gets concept drift
                tilt = rng.uniform(low, high)
                weights = np.exp(tilt * z[pool])
                rows = rng.choice(pool, window_rows, replace=False, p=weights / weights.sum())
                y = labels[rows].copy()
                drifted = window == WINDOWS
                changed = np.zeros(len(rows), bool)
                if drifted:  # month-to-month customers who stayed now churn half the time: P(y | x) changed
                    month = (frame["contract"].to_numpy()[rows] == "Month-to-month") & (y == 0)
                    changed = month & (rng.random(len(rows)) < 0.5)
                    y[changed] = 1
                yield Window(setting, split, window, proba[rows], y, drifted,
                             early_labels(len(rows), LABELLED_SHARE, rng), float(changed.mean()), float(tilt))


def _shipyard_worker(path: Path) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from shipyard.monitoring.config import Thresholds
    from shipyard.monitoring.stats.estimation import EstimationReference

    drift_p = Thresholds().get("concept_drift", "p_value")  # monitoring.yaml's default line (0.01)
    scores = pd.read_parquet(path)
    rows, alarms = [], []
    seconds: dict[str, float] = {}
    for (setting, split), frame in scores.groupby(["setting", "split"]):
        started = time.perf_counter()  # preparing the reference counts, as NannyML's fit does
        reference = frame[frame.window < 0]
        prepared = EstimationReference(reference.proba.to_numpy(), reference.y.to_numpy(), seed=int(split))
        seconds[setting] = seconds.get(setting, 0.0) + time.perf_counter() - started
        for window, part in frame[frame.window >= 0].groupby("window"):
            started = time.perf_counter()
            estimate = prepared.estimate(part.proba.to_numpy(), seed=int(window))
            seconds[setting] += time.perf_counter() - started
            labelled = part[part.labelled]
            flagged = prepared.outcome_shift(labelled.proba.to_numpy(), labelled.y.to_numpy()).p_value < drift_p
            alarms.append({"setting": setting, "split": int(split), "window": int(window),
                           "drifted": bool(part.drifted.iloc[0]), "flagged": flagged})
            if part.drifted.iloc[0]:
                continue
            # the window's own sampling floor: its realized accuracy given its inputs is a sum of Bernoulli
            # draws of each row's calibrated P(correct) q, so it differs from its expectation by sd
            # sqrt(sum q (1 - q)) / n even for an estimator that knew every q exactly
            calibrated = estimate.calibration.apply(np.column_stack([1 - part.proba, part.proba]))
            correct = np.where(part.pred.to_numpy() == 1, calibrated[:, 1], calibrated[:, 0])
            row: dict[str, Any] = {"setting": setting, "split": int(split), "window": int(window),
                                   "calibration": estimate.calibration.method,
                                   "floor_sd": float(np.sqrt(np.sum(correct * (1 - correct))) / len(part))}
            for metric in METRICS:
                found = estimate.metrics[metric]
                row[metric], row[metric + "_low"], row[metric + "_high"] = found.value, found.low, found.high
            rows.append(row)
    return {"seconds": seconds, "rows": rows, "alarms": alarms}


def _run_nannyml(scores: Path) -> dict[str, Any] | str:
    try:
        python = anchor_python("nannyml")
        done = subprocess.run([str(python), "-c", _NANNYML, str(scores)], capture_output=True,
                              text=True, timeout=3600, env={**os.environ, **anchor_env("nannyml")})
    except (subprocess.SubprocessError, OSError) as exc:
        return f"NannyML could not run: {exc}"
    if done.returncode != 0:
        return "NannyML failed: " + (done.stderr.strip().splitlines() or ["no output"])[-1]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["version"] = anchor_version("nannyml")
    return result


def _report(truth: dict[str, Any], shipyard: dict[str, Any], nannyml: dict[str, Any] | str, splits: int,
            census_splits: int) -> str:
    import numpy as np

    def key(row: dict[str, Any]) -> str:
        return f"{row['setting']}/{row['split']}/{row['window']}"

    def errors_of(rows: list[dict[str, Any]], metric: str) -> list[float]:
        return [abs(row[metric] - truth[key(row)][metric]) for row in rows
                if truth[key(row)][metric] is not None and row[metric] is not None]

    def cells(rows: list[dict[str, Any]], interval: Any) -> list[str]:
        found = []
        for metric in METRICS:
            errors = errors_of(rows, metric)
            covered = [interval(row, metric)[0] <= truth[key(row)][metric] <= interval(row, metric)[1]
                       for row in rows if truth[key(row)][metric] is not None and row[metric] is not None]
            found.append(f"{np.mean(errors) * 100:.2f} / {np.percentile(errors, 95) * 100:.2f} pts, "
                         f"covers {np.mean(covered):.0%}")
            if metric == "accuracy":  # the goal is per window: the worst one and the share that meet it
                found.append(f"{np.max(errors) * 100:.2f} pts, {np.mean(np.array(errors) <= 0.02):.1%}")
        return found

    def split_bias(rows: list[dict[str, Any]]) -> float:
        """The spread over splits of each split's mean signed accuracy error: the part of the error that one
        reference shares with all its windows, which no per-window method can remove."""
        by_split: dict[int, list[float]] = {}
        for row in rows:
            by_split.setdefault(row["split"], []).append(row["accuracy"] - truth[key(row)]["accuracy"])
        return float(np.std([np.mean(errors) for errors in by_split.values()], ddof=1) * 100)

    def floor(rows: list[dict[str, Any]]) -> str:
        """|realized - E[realized | inputs]| of an estimator that knew every row's calibrated P(correct): the
        mean is sd * sqrt(2 / pi) per window; the 95th percentile, the largest of a setting's windows (median
        over draws) and the share within 2 points are read off draws of N(0, sd) per window."""
        sd = np.array([row["floor_sd"] for row in rows])
        draws = np.abs(np.random.default_rng(0).standard_normal((2_000, len(sd))) * sd)
        return (f"{np.mean(sd) * np.sqrt(2 / np.pi) * 100:.2f} / {np.percentile(draws, 95) * 100:.2f} pts, "
                f"covers 90% by construction | {np.median(draws.max(axis=1)) * 100:.2f} pts, "
                f"{np.mean(draws <= 0.02):.1%}")

    def shipyard_interval(row: dict[str, Any], metric: str) -> tuple[float, float]:
        return row[metric + "_low"], row[metric + "_high"]

    def nannyml_interval(row: dict[str, Any], metric: str) -> tuple[float, float]:
        return row[metric] - Z90 * row[metric + "_sigma"], row[metric] + Z90 * row[metric + "_sigma"]

    def per_window(seconds: dict[str, float], rows: list[dict[str, Any]], settings: Iterable[str]) -> float:
        chosen = set(settings)
        return sum(seconds.get(name, 0.0) for name in chosen) / max(sum(r["setting"] in chosen for r in rows), 1)

    version = f" (NannyML {nannyml['version']})" if isinstance(nannyml, dict) else ""
    telco_names = [name for name, _, _ in TELCO_SETTINGS]
    by_time = sum(row["setting"] == census.BY_TIME for row in shipyard["rows"]) // max(census_splits, 1)
    lines = [
        "## Performance estimation",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} with `python -m benchmarks.bench_estimation` on {machine()}, load "
        f"average {os.getloadavg()[0]:.1f} at the end (times are noisy; errors are not). *Telco churn*: {splits} "
        f"seeded splits x {WINDOWS} windows per setting, a logistic-regression pipeline, the 1,400-row holdout as "
        f"reference; *tenure-shifted*, windows of {WINDOW_ROWS} customers tilted by exp(s z(tenure)), s uniform in "
        f"+-{SHIFT:g}; *strong shift*, s uniform in -1.5..-0.75 (towards short tenure, where the model errs most); "
        "*large windows*, 2,000 customers (of the 2,843 left after training and reference, so tilted less). "
        f"*Census* (US ACS employment, Massachusetts, shipped in NannyML's wheel): {census_splits} seeded splits, "
        "each a HistGradientBoostingClassifier (15 coded columns as native categoricals, age numeric, defaults) "
        f"trained on {census.TRAIN_ROWS:,} random people of 2015, a disjoint {census.REFERENCE_ROWS:,} of 2015 as "
        f"reference; *2016-2018 by time*, {by_time} windows of {census.WINDOW_ROWS:,} consecutive people of "
        "2016-2018 in the file's order (the shift the years brought, whatever it is); *age-tilted*, "
        f"{census.TILTED_WINDOWS} windows of {census.WINDOW_ROWS:,} from the rest of 2015 tilted by exp(s z(age)), "
        f"s uniform in +-{census.AGE_SHIFT:g} (strong covariate shift, P(y | x) unchanged). Cells: mean / "
        "95th-percentile absolute error of the estimate against the realized value, and how often the 90% interval "
        "covers it; for accuracy also the largest error of any window and the share of windows within 2 points "
        "(the goal). *Sampling floor*: what an estimator that knew every row's calibrated P(correct) would still "
        "miss by, since a window's realized accuracy is a sum of Bernoulli draws (sd sqrt(sum q (1 - q)) / n; its "
        "largest error is the median over draws). It takes the calibrated scores for each row's true probability: "
        "where the true P(y | x) is sharper than a model's scores (any model short of the best possible) the real "
        "floor is lower, and an estimate can beat this one. *Reference spread*: the standard deviation over splits "
        "of each split's mean signed accuracy error, the part one reference shares with all its windows.",
        "",
        f"| setting | tool{version} | accuracy | accuracy: largest error, windows within 2 pts | F1 | ROC AUC "
        "| reference spread (accuracy) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for setting in SETTINGS:
        ours = [row for row in shipyard["rows"] if row["setting"] == setting]
        lines.append(f"| {setting} | Shipyard | " + " | ".join(cells(ours, shipyard_interval))
                     + f" | {split_bias(ours):.2f} pts |")
        if isinstance(nannyml, str):
            lines.append(f"| {setting} | NannyML CBPE | {nannyml} | | | | |")
        else:
            theirs = [row for row in nannyml["rows"] if row["setting"] == setting]
            lines.append(f"| {setting} | NannyML CBPE | " + " | ".join(cells(theirs, nannyml_interval))
                         + f" | {split_bias(theirs):.2f} pts |")
        lines.append(f"| {setting} | sampling floor | {floor(ours)} | | | |")
    timing = []
    for label, names in (("Telco (1,400-row reference, 700-2,000-row windows)", telco_names),
                         (f"census ({census.REFERENCE_ROWS:,}-row reference, {census.WINDOW_ROWS:,}-row windows)",
                          census.SETTINGS)):
        text = f"{label}: Shipyard {per_window(shipyard['seconds'], shipyard['rows'], names) * 1000:,.0f} ms"
        if isinstance(nannyml, dict):
            text += f", NannyML CBPE {per_window(nannyml['seconds'], nannyml['rows'], names) * 1000:,.0f} ms"
        timing.append(text)
    by_window: dict[int, list[float]] = {}
    for row in shipyard["rows"]:
        if row["setting"] == census.BY_TIME:
            by_window.setdefault(row["window"], []).append(row["accuracy"] - truth[key(row)]["accuracy"])
    if census_splits > 1 and by_window:
        # the same people in every split: averaging a window's signed error over splits leaves its labels' own
        # draw (the floor) and whatever changed in P(y | x) for those people, but little of any one reference's
        window_errors = np.array([np.mean(errors) for errors in by_window.values()]) * 100
        floor_sd = np.mean([row["floor_sd"] for row in shipyard["rows"] if row["setting"] == census.BY_TIME]) * 100
        lines += ["", f"Census by time, Shipyard's signed accuracy error of each window averaged over the "
                  f"{census_splits} splits (the same people in each): spread {np.std(window_errors, ddof=1):.2f} "
                  f"pts, from {window_errors.min():+.2f} to {window_errors.max():+.2f}, against {floor_sd:.2f} pts "
                  "of the labels' own draw (the floor's sd): the rest is P(y | x) moving with the year and the place "
                  "of the people in a window, which no score shows (the file's order groups similar people: its "
                  "windows differ far more than random ones would)."]
    lines += ["", "Time per window, including each tool's preparation of the reference once per split (NannyML's "
              "fit, Shipyard's EstimationReference): " + "; ".join(timing) + ".", ""]
    drift_text = []
    for setting in DRIFT_SETTINGS:
        alarms = [alarm for alarm in shipyard["alarms"] if alarm["setting"] == setting]
        clean = [alarm for alarm in alarms if not alarm["drifted"]]
        flagged = []
        for window in sorted({alarm["window"] for alarm in alarms if alarm["drifted"]}):  # one per drift size
            drifted = [alarm for alarm in alarms if alarm["window"] == window]
            changed = np.mean([truth[key(alarm)]["changed"] for alarm in drifted])
            flagged.append(f"flagged in {sum(a['flagged'] for a in drifted)} of {len(drifted)} drifted windows "
                           f"where the drift changed {changed:.1%} of the labels (mean)")
        drift_text.append(f"{setting} ({int(LABELLED_SHARE * _WINDOW_ROWS[setting]):,} labels): "
                          + ", ".join(flagged) + f"; false alarms in {sum(a['flagged'] for a in clean)} of "
                          f"{len(clean)} clean windows")
    real = [alarm for alarm in shipyard["alarms"] if alarm["setting"] == census.BY_TIME]
    lines.append(
        f"Concept drift with the first {LABELLED_SHARE:.0%} of a window's labels. Injected: in Telco, month-to-month "
        "customers who stayed churn half the time; in the census, a quarter (or, in a second window, a half) of "
        "the non-employed aged 16-64 are employed. " + "; ".join(drift_text) + ". On the census windows by time, "
        f"where nothing is injected, the check fires in {sum(a['flagged'] for a in real)} of {len(real)} (the "
        "2015 reference's calibration against each window's early labels; about 1% would fire by chance). NannyML "
        "does not compare its estimate with the labels that arrive.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
