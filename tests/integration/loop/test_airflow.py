"""``shipyard loop export-airflow``: the DAG file's structure, its commands run for real, then a real Airflow.

Without Airflow, the file is parsed with ``ast`` (one BashOperator per step, in order, chained; schedule and
retry policy carried over; no absolute path of the project unless one is given) and a task's command is run
with bash in the folder the DAG names, as the operator would. The slow tests use a real Airflow from its own
cached venv (``_airflow.py``): ``DagBag`` imports the file, and ``airflow dags test`` runs whole DAG runs whose
tasks call this venv's ``shipyard`` (``--shipyard``) on a real project. They check what the review found broken:
one DAG run is ONE Shipyard cycle keyed by the Airflow run id, and a failing step with ``retries: 1`` runs
exactly twice (Airflow retries it; Shipyard no longer retries inside each try).
"""

from __future__ import annotations

import ast
import json
import os
import sqlite3
import subprocess
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.loop._airflow import airflow_python
from tests.integration.loop._project import RETRAIN, calls, cli_json, cycles, make_project
from tests.integration.pipeline._pipelines import SHIPYARD_SCRIPT, plain, run_cli

TASKS = ["step_1_repro", "step_2_register", "step_3_promote"]
EXPORTED = {**RETRAIN, "schedule": "0 3 * * *",
            "triggers": [{"monitor": {"deployment": "churn", "check": "drift", "level": "alert"}}],
            "on_failure": {"retries": 2, "retry_delay": "5m"}}
FLAKY = {"schedule": "@daily", "steps": [{"repro": ["prepare"]}, {"repro": ["broken"]}],
         "on_failure": {"retries": 1, "retry_delay": "1s"}}
AIRFLOW_ARGS = '--cycle-key "$AIRFLOW_CTX_DAG_RUN_ID" --attempt "$AIRFLOW_CTX_TRY_NUMBER"'


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("datetime", "timedelta"):
        build = {"datetime": datetime, "timedelta": timedelta}[node.func.id]
        return build(*map(ast.literal_eval, node.args),
                     **{keyword.arg: ast.literal_eval(keyword.value) for keyword in node.keywords if keyword.arg})
    if isinstance(node, ast.Dict):
        return {ast.literal_eval(key): _literal(value) for key, value in zip(node.keys, node.values, strict=True)
                if key is not None}
    if isinstance(node, ast.Name):
        return node.id
    return ast.literal_eval(node)


def _calls(tree: ast.AST, name: str) -> list[dict[str, Any]]:
    return [{keyword.arg: _literal(keyword.value) for keyword in node.keywords if keyword.arg}
            for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == name]


def _project_dir(source: str, dag_file: Path) -> str:
    """``PROJECT_DIR`` as the DAG computes it when Airflow imports the file from ``dag_file``."""
    (assignment,) = [node for node in ast.parse(source).body if isinstance(node, ast.Assign)
                     and getattr(node.targets[0], "id", None) == "PROJECT_DIR"]
    namespace: dict[str, Any] = {"__file__": str(dag_file), "os": os}
    exec(compile(ast.Module([assignment], []), str(dag_file), "exec"), namespace)
    return str(namespace["PROJECT_DIR"])


def export(root: Path, loop: str, output: Path, *options: str) -> str:
    done = run_cli("loop", "export-airflow", loop, "-o", str(output), *options, cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert plain(done.stdout).strip() == f"Wrote {output}."
    return output.read_text()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project in a folder whose path has a space: the commands must quote it."""
    ticking = {"schedule": "every 90s", "steps": [{"repro": ["prepare"]}]}
    return make_project(tmp_path / "loop project", {"retrain": EXPORTED, "ticking": ticking, "flaky": FLAKY})


def test_the_dag_has_one_task_per_step_in_order_with_schedule_and_retries_and_no_absolute_path(
        project: Path, tmp_path: Path) -> None:
    source = export(project, "retrain", tmp_path / "dags" / "retrain.py")
    tree = ast.parse(source)
    compile(tree, "retrain.py", "exec")
    assert "churn: drift alert" in ast.get_docstring(tree)  # the trigger that does not carry over is named

    (dag,) = _calls(tree, "DAG")
    assert (dag["dag_id"], dag["schedule"], dag["catchup"], dag["max_active_runs"]) == (
        "shipyard_loopy_retrain", "0 3 * * *", False, 1)
    (assignment,) = [node for node in tree.body if isinstance(node, ast.Assign)
                     and getattr(node.targets[0], "id", None) == "default_args"]
    defaults = _literal(assignment.value)
    assert (defaults["retries"], defaults["retry_delay"]) == (2, timedelta(minutes=5))
    tasks = _calls(tree, "BashOperator")
    assert [task["task_id"] for task in tasks] == TASKS
    assert [task["doc_md"] for task in tasks] == ["repro prepare train", "register train/model as churn@challenger",
                                                 "promote churn@challenger to champion"]
    assert [task["bash_command"] for task in tasks] == [
        f"shipyard loop run retrain --step {number} {AIRFLOW_ARGS}" for number in (1, 2, 3)]
    assert {task["cwd"] for task in tasks} == {"PROJECT_DIR"}
    (chain,) = [node.value for node in ast.walk(tree) if isinstance(node, ast.Expr)
                and isinstance(node.value, ast.BinOp)]
    assert ast.unparse(chain) == " >> ".join(TASKS)

    # No absolute path: the project is found from the DAG file's own folder, wherever both are moved together.
    assert str(tmp_path) not in source and str(tmp_path.resolve()) not in source
    moved = tmp_path / "elsewhere" / "dags" / "retrain.py"
    assert _project_dir(source, moved) == str(tmp_path / "elsewhere" / "loop project")


def test_the_project_dir_and_the_shipyard_command_can_be_given(project: Path, tmp_path: Path) -> None:
    source = export(project, "retrain", tmp_path / "dags" / "retrain.py", "--project-dir", "/srv/churn project",
                    "--shipyard", "/opt/ship yard/bin/shipyard")
    assert _project_dir(source, tmp_path / "dags" / "retrain.py") == "/srv/churn project"
    tasks = _calls(ast.parse(source), "BashOperator")
    assert tasks[0]["bash_command"] == f"'/opt/ship yard/bin/shipyard' loop run retrain --step 1 {AIRFLOW_ARGS}"
    assert str(project) not in source

    relative = export(project, "retrain", tmp_path / "dags" / "retrain.py", "--project-dir", "../checkout")
    moved = tmp_path / "airflow" / "dags" / "retrain.py"
    assert _project_dir(relative, moved) == str(tmp_path / "airflow" / "checkout")


def test_a_task_command_runs_in_the_project_as_the_operator_runs_it(project: Path, tmp_path: Path,
                                                                    meta_db: Path) -> None:
    dag_file = tmp_path / "dags" / "ticking.py"
    source = export(project, "ticking", dag_file)
    (dag,) = _calls(ast.parse(source), "DAG")
    assert dag["schedule"] == timedelta(seconds=90)
    (task,) = _calls(ast.parse(source), "BashOperator")
    run_id = "manual__2026-12-06T12:00:00+00:00"
    env = {**os.environ, "AIRFLOW_CTX_DAG_RUN_ID": run_id, "AIRFLOW_CTX_TRY_NUMBER": "1"}
    env.pop("FORCE_COLOR", None)
    done = subprocess.run(["bash", "-c", task["bash_command"]], capture_output=True, text=True, timeout=120,
                          cwd=_project_dir(source, dag_file), env=env, check=False)
    assert done.returncode == 0, f"{task['bash_command']}\n{done.stdout}\n{done.stderr}"
    assert "step 1 (repro prepare): prepare ran" in plain(done.stdout)
    assert cycles(meta_db, "ticking") == [(1, f"key {run_id}", "succeeded")]


def test_an_alias_schedule_is_exported_as_its_five_fields(project: Path, tmp_path: Path) -> None:
    (dag,) = _calls(ast.parse(export(project, "flaky", tmp_path / "dags" / "flaky.py")), "DAG")
    assert dag["schedule"] == "0 0 * * *"


def _airflow_env(home: Path, dags: Path) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key != "FORCE_COLOR"}
    return {**environment, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "NO_COLOR": "1", "PYTHONWARNINGS": "always"}


DAGBAG = """\
import json
import sys
import warnings

from airflow.models import DagBag

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags.get("shipyard_loopy_retrain")
print(json.dumps({
    "errors": {str(path): str(error) for path, error in bag.import_errors.items()},
    "dags": sorted(bag.dags),
    "tasks": [task.task_id for task in dag.tasks] if dag else None,
    "operators": sorted({type(task).__module__ + "." + type(task).__name__ for task in dag.tasks}) if dag else None,
    "upstream": {task.task_id: sorted(task.upstream_task_ids) for task in dag.tasks} if dag else None,
    "retries": [task.retries for task in dag.tasks] if dag else None,
    "retry_delay_s": [task.retry_delay.total_seconds() for task in dag.tasks] if dag else None,
    "cwd": sorted({task.cwd for task in dag.tasks}) if dag else None,
    "schedule": getattr(dag.timetable, "expression", None) if dag else None,
    "warnings": [f"{item.category.__name__}: {item.message}" for item in caught
                 if "deprecat" in str(item.message).lower() or issubclass(item.category, DeprecationWarning)],
}))
"""


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the first run on a machine builds Airflow's venv
def test_a_real_airflow_imports_the_dag_without_errors(project: Path, tmp_path: Path) -> None:
    python = airflow_python()
    dags = tmp_path / "dags"
    export(project, "retrain", dags / "retrain.py")

    done = subprocess.run([str(python), "-c", DAGBAG, str(dags)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env=_airflow_env(tmp_path / "airflow-home", dags), check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert report["dags"] == ["shipyard_loopy_retrain"]
    assert report["tasks"] == TASKS
    assert report["operators"] == ["airflow.providers.standard.operators.bash.BashOperator"]
    assert report["upstream"] == {"step_1_repro": [], "step_2_register": ["step_1_repro"],
                                  "step_3_promote": ["step_2_register"]}
    assert (report["retries"], report["retry_delay_s"]) == ([2] * 3, [300.0] * 3)
    assert report["cwd"] == [str(project)]
    assert report["schedule"] == "0 3 * * *"
    assert report["warnings"] == []  # no deprecated import paths


def _dags_test(python: Path, home: Path, dags: Path, dag_id: str) -> subprocess.CompletedProcess[str]:
    env = _airflow_env(home, dags)
    airflow = [str(python), "-m", "airflow"]
    if not (home / "airflow.db").exists():
        migrated = subprocess.run([*airflow, "db", "migrate"], capture_output=True, text=True, timeout=300,
                                  cwd=home.parent, env=env, check=False)
        assert migrated.returncode == 0, migrated.stderr[-3000:]
    return subprocess.run([*airflow, "dags", "test", dag_id], capture_output=True, text=True, timeout=600,
                          cwd=home.parent, env=env, check=False)


def _airflow_rows(home: Path, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Airflow's own record of what ran, read from its SQLite database with the plain driver."""
    with closing(sqlite3.connect(f"file:{home / 'airflow.db'}?mode=ro", uri=True)) as conn:
        return conn.execute(sql, parameters).fetchall()


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_one_airflow_dag_run_is_one_shipyard_cycle_keyed_by_its_run_id(project: Path, tmp_path: Path) -> None:
    python = airflow_python()
    dags, home = tmp_path / "dags", tmp_path / "airflow-home"
    source = export(project, "retrain", dags / "retrain.py", "--shipyard", str(SHIPYARD_SCRIPT))
    assert str(project) not in source

    ran = _dags_test(python, home, dags, "shipyard_loopy_retrain")
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-5000:]
    ((run_id, state),) = _airflow_rows(home, "select run_id, state from dag_run where dag_id = ?",
                                       ("shipyard_loopy_retrain",))
    assert state == "success"

    (cycle,) = cli_json(run_cli("loop", "history", "retrain", "--json", cwd=project))
    assert (cycle["number"], cycle["key"], cycle["status"]) == (1, run_id, "succeeded")
    assert [(step["step"], step["kind"], step["status"]) for step in cycle["steps"]] == [
        (1, "repro", "succeeded"), (2, "register", "succeeded"), (3, "promote", "succeeded")]
    promotion = cycle["steps"][2]
    assert (promotion["promoted"], promotion["candidate_version"]) == (True, 1)
    assert calls(project) == ["prepare", "train"]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_failing_step_with_one_retry_runs_exactly_twice(project: Path, tmp_path: Path) -> None:
    python = airflow_python()
    dags, home = tmp_path / "dags", tmp_path / "airflow-home"
    export(project, "flaky", dags / "flaky.py", "--shipyard", str(SHIPYARD_SCRIPT))

    _dags_test(python, home, dags, "shipyard_loopy_flaky")
    assert calls(project) == ["prepare", "broken", "broken"]  # 1 try + 1 retry, by Airflow alone
    ((run_id, state),) = _airflow_rows(home, "select run_id, state from dag_run where dag_id = ?",
                                       ("shipyard_loopy_flaky",))
    assert state == "failed"
    tries = dict(_airflow_rows(home, "select task_id, try_number from task_instance where run_id = ?", (run_id,)))
    assert tries == {"step_1_repro": 1, "step_2_repro": 2}

    (cycle,) = cli_json(run_cli("loop", "history", "flaky", "--json", cwd=project))
    assert (cycle["key"], cycle["status"]) == (run_id, "failed")
    assert [(step["step"], step["status"], step["attempt"]) for step in cycle["steps"]] == [
        (1, "succeeded", 1), (2, "failed", 1), (2, "failed", 2)]
