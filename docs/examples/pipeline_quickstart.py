"""Pipeline quickstart: a two-stage pipeline in a fresh git repository, run, changed, run again.

Executed by the tests (tests/e2e/test_docs.py). Everything happens in a temporary folder; the commands are
the ones you would type in a shell (`shipyard add`, `shipyard repro`, `shipyard status`).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

project = Path(tempfile.mkdtemp(prefix="pipeline-quickstart-"))
env = {**os.environ, "GIT_AUTHOR_NAME": "Docs", "GIT_AUTHOR_EMAIL": "docs@example.invalid",
       "GIT_COMMITTER_NAME": "Docs", "GIT_COMMITTER_EMAIL": "docs@example.invalid"}


def sh(*args: str) -> str:
    """Run a command in the project, as you would in a terminal; stop with its output if it fails."""
    done = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def shipyard(*args: str) -> str:
    return sh(sys.executable, "-m", "shipyard", *args)


# --8<-- [start:files]
files = {
    "shipyard.yaml": """\
stages:
  prepare:
    cmd: python prepare.py
    deps: [data/raw.csv, prepare.py]
    params: [prepare.min_amount]
    outs: [data/clean.csv]
  train:
    cmd: python train.py
    deps: [data/clean.csv, train.py]
    params: [train]
    metrics: [reports/metrics.json]
""",
    "params.yaml": "prepare:\n  min_amount: 10\ntrain:\n  scale: 1.0\n",
    "prepare.py": """\
import csv, os, yaml
limit = yaml.safe_load(open("params.yaml"))["prepare"]["min_amount"]
rows = [row for row in csv.DictReader(open("data/raw.csv")) if float(row["amount"]) >= limit]
with open("data/clean.csv", "w", newline="") as out:
    writer = csv.DictWriter(out, fieldnames=["amount"]); writer.writeheader(); writer.writerows(rows)
""",
    "train.py": """\
import csv, json, os, yaml
scale = yaml.safe_load(open("params.yaml"))["train"]["scale"]
amounts = [float(row["amount"]) for row in csv.DictReader(open("data/clean.csv"))]
os.makedirs("reports", exist_ok=True)
json.dump({"mean": scale * sum(amounts) / len(amounts), "rows": len(amounts)}, open("reports/metrics.json", "w"))
""",
    "data/raw.csv": "amount\n" + "".join(f"{value}\n" for value in range(1, 101)),
}
# --8<-- [end:files]
for name, text in files.items():
    (project / name).parent.mkdir(parents=True, exist_ok=True)
    (project / name).write_text(text)
sh("git", "init", "-q")

# --8<-- [start:run]
shipyard("add", "data/raw.csv")               # cache the raw data; commit data/raw.csv.ship instead
sh("git", "add", "-A")
sh("git", "commit", "-q", "-m", "pipeline and data v1")
first = json.loads(shipyard("repro", "--json"))
print("first repro ran:", [stage["stage"] for stage in first if stage["action"] == "ran"])
print("metrics:", json.loads((project / "reports/metrics.json").read_text()))

(project / "params.yaml").write_text("prepare:\n  min_amount: 10\ntrain:\n  scale: 2.0\n")
status = json.loads(shipyard("status", "--json"))
print("stale:", {stage["stage"]: stage["reasons"] for stage in status["stages"] if stage["reasons"]})
second = json.loads(shipyard("repro", "--json"))
print("second repro:", {stage["stage"]: stage["action"] for stage in second})
# --8<-- [end:run]

shutil.rmtree(project)  # comment this out to look around: shipyard.lock, data/raw.csv.ship, reports/
