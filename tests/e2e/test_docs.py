"""The documentation cannot rot: its examples run, its configuration files load, its site builds.

- Every ``docs/examples/*.py`` runs in a child process in a temporary folder with its own store, exits 0
  and prints what the guides say it prints (the printed lines are also checked to be in the guides).
- The configuration examples load with Shipyard's own readers, and the error lines the page quotes are
  the ones the readers raise.
- The CLI reference generated from the Typer app lists every registered command with its options.
- ``mkdocs build --strict`` succeeds on a copy of the docs, and the pages load nothing from outside.
- The commands of docs/getting-started.md run as written on a project ``shipyard init`` makes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer
import yaml

from shipyard.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("*.py"))
CONFIG = DOCS / "examples" / "config"
BIN = Path(sys.executable).parent
SHIPYARD = BIN / "shipyard"

# What each example prints (lines that do not change between runs), as the guides show it.
EXPECTED: dict[str, list[str]] = {
    "tracking_quickstart": ["alpha-0.1          0.1        0.98", "history points: 20", "parent: True"],
    "models_quickstart": ["promoted: True | champion is now 2", "scored rows: 500", "trained on: 1500 rows"],
    "models_trees": ["xgb: xgboost (xgboost-ubj), files ['input_example.json', 'model.ubj', 'native.json'], same "
                     "probabilities: True",
                     "lgbm: lightgbm (lightgbm-text), files ['input_example.json', 'model.txt', 'native.json', "
                     "'preprocess.skops'], same probabilities: True"],
    "models_python": ["without trust: trust",
                      "rule: python (python-code), trusted ['churn_rules.model:TenureRule'], files "
                      "['artifacts/cutoffs/cutoffs.json', 'input_example.json', 'native.json'], same probabilities: "
                      "True"],
    "pipeline_quickstart": ["first repro ran: ['prepare', 'train']", "metrics: {'mean': 55.0, 'rows': 91}",
                            "stale: {'train': ['param train.scale 1.0 -> 2.0']}",
                            "second repro: {'prepare': 'skipped', 'train': 'ran'}"],
    "monitoring_compare": ["verdict: alert", "drifted: ['monthly_charges', 'contract']",
                           "new categories: ['contract']", "missing values: ['tenure']",
                           "drifted with the looser line: ['contract']"],
    "serving_quickstart": ["predict: 200 [1, 0] from models:/churn/1 variant champion", "columns/data: 200 [1]",
                           'bad input: 422 {"error": {"type": "ValidationError", "message": "Column \'tenure\' '
                           "expects integer values, got 'long' (row 0); send a number, or null if it is unknown.\", "
                           '"field": "tenure"}}',
                           "feedback: 200 {'accepted': 2, 'unknown': [], 'unknown_rows': []}",
                           "open inference protocol: 200 ['predictions', 'probabilities']", "metrics: 200 True",
                           "server exit code: 0", "logged rows: 4 | labelled: 2"],
}


def _guides() -> str:
    return "\n".join(path.read_text() for path in sorted(DOCS.glob("*.md")))


def test_every_example_has_expected_output_shown_in_the_guides() -> None:
    assert {path.stem for path in EXAMPLES} == set(EXPECTED), "add the new example's printed lines to EXPECTED"
    guides = _guides()
    for name, lines in EXPECTED.items():
        assert f'--8<-- "docs/examples/{name}.py' in guides, f"{name}.py is included in no guide"
        for line in lines:
            assert line in guides, f"{name}: the guides do not show the line {line!r}"


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_runs_and_prints_what_the_guides_say(example: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    environment = {key: value for key, value in os.environ.items() if key not in {"SHIPYARD_RUN_ID", "FORCE_COLOR"}}
    environment["SHIPYARD_STORE"] = str(work / ".shipyard")
    done = subprocess.run([sys.executable, "-W", "error", str(example)], cwd=work, env=environment,
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    printed = done.stdout.splitlines()
    for line in EXPECTED[example.stem]:
        assert line in printed, f"{example.name} did not print {line!r}:\n{done.stdout}"
    if example.stem == "serving_quickstart":
        assert (work / "report.html").stat().st_size > 1000


# --- configuration files ------------------------------------------------------------------------------


def test_configuration_examples_load_with_the_real_readers(tmp_path: Path) -> None:
    from shipyard.loop.spec import load_loops
    from shipyard.monitoring.config import load_thresholds
    from shipyard.pipeline.params import load_params, resolve
    from shipyard.pipeline.remotes import list_remotes
    from shipyard.pipeline.spec import load_pipeline
    from shipyard.serving.spec import load_config

    serving = load_config(CONFIG / "serving.yaml")
    assert [deployment.name for deployment in serving.deployments] == ["churn", "fraud"]
    assert [variant.weight for variant in serving.deployments[0].variants] == [90, 10]
    assert not serving.deployments[1].batching.enabled
    thresholds = load_thresholds(CONFIG / "monitoring.yaml")
    assert thresholds.get("drift", "psi_alert", "total_charges") == 0.4
    assert thresholds.get("drift", "psi_alert", "tenure") == 0.25

    for name in ("shipyard.yaml", "params.yaml", "serving.yaml"):
        shutil.copy(CONFIG / name, tmp_path / name)
    pipeline = load_pipeline(tmp_path)
    assert list(pipeline.stages) == ["prepare", "train", "evaluate", "explore"]
    params = load_params(tmp_path)
    for stage in pipeline.stages.values():
        resolve(params, stage.params, stage.name)  # every param key a stage names exists
    loop = load_loops(pipeline)["churn-retrain"]
    assert [step.kind for step in loop.steps] == ["repro", "register", "promote"]
    assert loop.cooldown_s == 12 * 3600 and loop.retry_delay_s == 300
    assert {remote.name: remote.default for remote in list_remotes(tmp_path)} == {
        "storage": True, "minio": False, "shared": False}


def test_the_error_lines_the_configuration_page_quotes_are_real(tmp_path: Path) -> None:
    from shipyard.monitoring.config import Thresholds
    from shipyard.pipeline.spec import load_pipeline
    from shipyard.serving.spec import parse_config

    page = (DOCS / "configuration.md").read_text()
    quoted = [line.removeprefix("Error: ") for line in page.splitlines() if line.startswith("Error: ")]
    assert len(quoted) == 3

    spec = (CONFIG / "shipyard.yaml").read_text().replace("outs: [models/model.json]", "out: [models/model.json]")
    (tmp_path / "shipyard.yaml").write_text(spec)
    with pytest.raises(ConfigError) as pipeline_error:
        load_pipeline(tmp_path)
    serving = yaml.safe_load((CONFIG / "serving.yaml").read_text())
    serving["deployments"]["churn"]["variants"][1]["weight"] = "ten"
    with pytest.raises(ConfigError) as serving_error:
        parse_config(serving, "serving.yaml")
    with pytest.raises(ConfigError) as monitoring_error:
        Thresholds({"thresholds": {"drift": {"psi_alrt": 0.3}}}, "monitoring.yaml")
    assert pipeline_error.value.message == quoted[0]
    assert serving_error.value.message == quoted[1]
    assert monitoring_error.value.message == quoted[2]


# --- the CLI reference -----------------------------------------------------------------------------


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_reference", REPO / "scripts" / "gen_cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_lists_every_command_with_its_options() -> None:
    from shipyard.cli.main import _COMMANDS, app

    page = _generator().render()
    root = typer.main.get_command(app)
    context = typer.Context(root, info_name="shipyard")
    registered = root.list_commands(context)  # type: ignore[attr-defined]
    assert set(_COMMANDS) | {"demo"} == set(registered)
    seen = 0
    for name in registered:
        command = root.get_command(context, name)  # type: ignore[attr-defined]
        commands: list[tuple[str, Any]] = [(f"shipyard {name}", command)]
        if hasattr(command, "list_commands"):
            sub_context = typer.Context(command, info_name=name, parent=context)
            commands += [(f"shipyard {name} {sub}", command.get_command(sub_context, sub))
                         for sub in command.list_commands(sub_context)]
        for title, item in commands:
            heading = f"## `{title}`" if title.count(" ") == 1 else f"### `{title}`"
            assert f"\n{heading}\n" in page, f"{title} is missing from the CLI reference"
            section = page.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
            first_line = (item.help or "").strip().splitlines()[0]
            assert first_line.split(":")[0] in section, f"{title}: its help text is missing"
            for param in item.params:
                if param.param_type_name == "option" and not getattr(param, "hidden", False):
                    assert f"`{param.opts[0]}`" in section, f"{title}: option {param.opts[0]} is missing"
            seen += 1
    assert seen >= 40  # every group's sub-commands too (runs list/show/compare, models ..., loop ...)


# --- the site --------------------------------------------------------------------------------------


_EXTERNAL_RESOURCE = re.compile(r"<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.I)


@pytest.mark.slow
def test_mkdocs_builds_strict_and_offline(tmp_path: Path) -> None:
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(DOCS, tmp_path / "docs", ignore=shutil.ignore_patterns("reference"))
    _generator().main([str(tmp_path / "docs" / "reference" / "cli.md")])
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=240, check=False)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "WARNING" not in log, log
    site = tmp_path / "site"
    pages = sorted(site.rglob("*.html"))
    for page in ("index.html", "reference/cli.html", "http-api.html", "configuration.html", "from-mlflow.html",
                 "from-dvc.html", "from-evidently.html", "ui.html", "getting-started.html"):
        assert (site / page).is_file(), page
    for page in pages:
        html = page.read_text()
        assert not _EXTERNAL_RESOURCE.search(html), f"{page.relative_to(site)} loads something from outside"
        assert "fonts.googleapis" not in html and "--8&lt;--" not in html and '--8<--' not in html, page
    # the snippets were included: the example's code is on the page, not the include line
    assert "prediction_log" in (site / "http-api.html").read_text()
    assert "shipyard runs compare" in (site / "reference" / "cli.html").read_text()


# --- getting started, as written -------------------------------------------------------------------


def _blocks(page: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", page, flags=re.S)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None or shutil.which("git") is None, reason="needs make and git")
def test_getting_started_commands_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = (DOCS / "getting-started.md").read_text()
    monkeypatch.delenv("SHIPYARD_STORE")  # the project finds its own .shipyard/, as a user's would
    environment = {key: value for key, value in os.environ.items()
                   if key not in {"SHIPYARD_RUN_ID", "FORCE_COLOR", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"}
                   and not key.startswith("GIT_")}
    environment.update({"PATH": os.pathsep.join([str(BIN), environment.get("PATH", "")]), "COLUMNS": "200",
                        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
                        "GIT_AUTHOR_NAME": "Docs", "GIT_AUTHOR_EMAIL": "docs@example.invalid",
                        "GIT_COMMITTER_NAME": "Docs", "GIT_COMMITTER_EMAIL": "docs@example.invalid"})
    project = tmp_path / "churn"

    def run(*args: str, cwd: Path = project, ok: tuple[int, ...] = (0,)) -> str:
        done = subprocess.run(args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300,
                              check=False)
        assert done.returncode in ok, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        return done.stdout + done.stderr  # what the terminal shows: progress lines go to stderr

    # 2. Make a project
    created = run("shipyard", "init", "churn", cwd=tmp_path)
    assert created.splitlines()[0] == "Creating churn in churn (template classification, package churn):"
    for line in page.split("$ shipyard init churn\n", 1)[1].split("$ cd churn", 1)[0].splitlines()[1:]:
        if line.strip() and line.strip() != "..." and not line.lstrip().startswith("git "):
            assert line.split()[0] in created, f"init no longer makes {line.split()[0]}"

    # 3. Test and run the pipeline (make test is run by tests/e2e/test_init.py; here make repro and status)
    repro = run("make", "repro")
    for line in ("prepare: running (never run)", "train: running (never run)", "evaluate: running (never run)",
                 "3 stages: 3 ran, 0 restored from the cache, 0 up to date."):
        assert line in page and line in repro, line
    # 4. Register and promote; then a param change reruns only what depends on it, and the gate decides
    first = run("make", "register")
    for line in ("register: churn version 1 (models:/churn/1)",
                 "register: promoted to champion: no version held 'champion' yet"):
        assert line in page and line in first, line
    sed = re.search(r"\$ (sed -i '[^']+' params.yaml)", page)
    assert sed is not None
    run("sh", "-c", sed.group(1))
    status = run("shipyard", "status")
    assert "param train.C 1.0 -> 0.05" in page and "param train.C 1.0 -> 0.05" in status, status
    assert "upstream stage 'train' is stale" in page and "upstream stage 'train' is stale" in status, status
    again = run("make", "repro")
    assert "prepare: up to date" in page and "train: running" in again, again
    second = run("make", "register")
    assert "register: churn version 2 (models:/churn/2)" in page and "register: churn version 2" in second, second
    shown = re.search(r"register: (held back, the champion stays version 1: roc_auc [0-9.]+ vs v1's [0-9.]+ "
                      r"\(higher is better\): gain [-+][0-9.]+, 90% interval [-+][0-9.]+ to [-+][0-9.]+; DeLong "
                      r"one-sided p = [0-9.e-]+ that it exceeds 0 \(alpha 0.05\): [^\n]+)", page)
    assert shown is not None and shown.group(1) in second, second
    run("shipyard", "models", "history", "churn")
    history = json.loads(run("shipyard", "models", "history", "churn", "--json"))
    assert [event["action"] for event in history] == ["promoted", "held_back"]
    run("shipyard", "lineage", "models:/churn@champion")
    promote = re.search(r"`(shipyard models promote churn --candidate 2 --data\s+data/prepared/test.parquet "
                        r"--target churned)`", page)
    assert promote is not None
    run(*promote.group(1).split(), ok=(3,))  # held back again: exit code 3, for CI

    # 5. Serve, and 6. Monitor: the page's curl body and its traffic script, against a real server
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(["shipyard", "serve", "models:/churn@champion", "--port", str(port)], cwd=project,
                              env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health/ready", timeout=5) as ready:
                    if ready.status == 200:
                        break
            except (OSError, urllib.error.HTTPError):
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        curl = next(block for block in _blocks(page, "bash") if block.startswith("curl"))
        body = re.search(r"-d '(.*)'", curl, flags=re.S)
        assert body is not None
        request = urllib.request.Request(f"{base}/predict/churn", body.group(1).encode(),
                                         {"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            answered = json.loads(answer.read())
        assert {"predictions", "probabilities", "request_id"} <= set(answered)
        traffic = next(block for block in _blocks(page, "bash") if block.startswith("python - <<'EOF'"))
        script = traffic.split("<<'EOF'\n", 1)[1].split("\nEOF", 1)[0].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        assert "/predict/churn" not in script  # the deployment is asked for, not assumed
        sent = run("python", "-c", script)
        assert re.search(r"sent \d+ rows to churn", sent), sent
        report_command = traffic.split("\nEOF\n", 1)[1].strip()
        assert report_command == "shipyard monitor report -d churn -o report.html"
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        if server.stderr:
            server.stderr.close()
    report = run(*report_command.split(), ok=(0, 3))
    assert "Report: report.html" in report and (project / "report.html").is_file()
    run("shipyard", "monitor", "check", "-d", "churn", ok=(0, 3))
