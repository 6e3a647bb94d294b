"""``shipyard loop export-airflow``: the DAG file's structure, its commands run for real, then a real Airflow.

Without Airflow, the file is parsed with ``ast`` (one BashOperator per step, in order, chained; schedule and
retry policy carried over) and a task's ``bash_command`` is run with bash, as the operator would. The slow
tests install Airflow in its own venv under ``.bench/venvs/airflow`` (ignored by git; created when missing),
import the file with ``DagBag`` and run the DAG offline with ``airflow dags test``.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration._pipelines import plain, run_cli
from tests.integration.loop._project import RETRAIN, cycles, make_project

REPO = Path(__file__).resolve().parents[3]
AIRFLOW_VENV = REPO / ".bench" / "venvs" / "airflow"
TASKS = ["step_1_repro", "step_2_register", "step_3_promote"]
EXPORTED = {**RETRAIN, "schedule": "0 3 * * *",
            "triggers": [{"monitor": {"deployment": "churn", "check": "drift", "level": "alert"}}],
            "on_failure": {"retries": 2, "retry_delay": "5m"}}


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


def export(root: Path, loop: str, output: Path) -> str:
    done = run_cli("loop", "export-airflow", loop, "-o", str(output), cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert plain(done.stdout).strip() == f"Wrote {output}."
    return output.read_text()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project in a folder whose path has a space: the commands must quote it."""
    ticking = {"schedule": "every 90s", "steps": [{"repro": ["prepare"]}]}
    return make_project(tmp_path / "loop project", {"retrain": EXPORTED, "ticking": ticking})


def test_the_dag_has_one_task_per_step_in_order_with_schedule_and_retries_and_its_command_runs(
        project: Path, tmp_path: Path, meta_db: Path) -> None:
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
    (chain,) = [node.value for node in ast.walk(tree) if isinstance(node, ast.Expr)
                and isinstance(node.value, ast.BinOp)]
    assert ast.unparse(chain) == " >> ".join(TASKS)

    ticking = export(project, "ticking", tmp_path / "dags" / "ticking.py")
    (dag,) = _calls(ast.parse(ticking), "DAG")
    assert dag["schedule"] == timedelta(seconds=90)
    (task,) = _calls(ast.parse(ticking), "BashOperator")
    # What the operator runs, from elsewhere: it must cd into the quoted project folder and run the step there.
    done = subprocess.run(["bash", "-c", task["bash_command"]], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, check=False)
    assert done.returncode == 0, f"{task['bash_command']}\n{done.stdout}\n{done.stderr}"
    assert "step 1 (repro prepare): prepare ran" in plain(done.stdout)
    assert cycles(meta_db, "ticking") == [(1, "step 1", "succeeded")]


def _airflow_python() -> Path:
    """Airflow's own interpreter, installing it the first time; skips with the reason when that fails."""
    python = AIRFLOW_VENV / "bin" / "python"
    probe = [str(python), "-c", "import airflow.models, airflow.providers.standard"]
    if python.exists() and subprocess.run(probe, capture_output=True, timeout=120, check=False).returncode == 0:
        return python
    AIRFLOW_VENV.parent.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [[base, "-m", "venv", "--clear", str(AIRFLOW_VENV)],
             [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "apache-airflow"]]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=1500, check=False)
        except subprocess.TimeoutExpired:
            pytest.skip(f"installing Airflow timed out: {' '.join(step)}")
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            pytest.skip(f"Airflow could not be installed here ({' '.join(step[-2:])} exited {done.returncode}): "
                        f"{tail}")
    return python


def _airflow_env(home: Path, dags: Path) -> dict[str, str]:
    return {**{key: value for key, value in os.environ.items() if key != "FORCE_COLOR"},
            "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
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
    "schedule": getattr(dag.timetable, "expression", None) if dag else None,
    "warnings": [f"{item.category.__name__}: {item.message}" for item in caught
                 if "deprecat" in str(item.message).lower() or issubclass(item.category, DeprecationWarning)],
}))
"""


@pytest.mark.slow
def test_a_real_airflow_imports_the_dag_without_errors(project: Path, tmp_path: Path) -> None:
    python = _airflow_python()
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
    assert report["schedule"] == "0 3 * * *"
    assert report["warnings"] == []  # no deprecated import paths


@pytest.mark.slow
def test_airflow_dags_test_runs_the_loop_offline(project: Path, tmp_path: Path) -> None:
    python = _airflow_python()
    dags = tmp_path / "dags"
    export(project, "retrain", dags / "retrain.py")
    airflow = [str(python), "-m", "airflow"]
    env = _airflow_env(tmp_path / "airflow-home", dags)

    migrated = subprocess.run([*airflow, "db", "migrate"], capture_output=True, text=True, timeout=300,
                              cwd=tmp_path, env=env, check=False)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    ran = subprocess.run([*airflow, "dags", "test", "shipyard_loopy_retrain"], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path, env=env, check=False)
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-5000:]
    assert "state=success" in ran.stdout + ran.stderr

    history = json.loads(run_cli("loop", "history", "retrain", "--json", cwd=project).stdout)
    assert [(cycle["trigger"], cycle["status"]) for cycle in history] == [
        ("step 3", "succeeded"), ("step 2", "succeeded"), ("step 1", "succeeded")]
    (promotion,) = history[0]["steps"]
    assert (promotion["kind"], promotion["promoted"], promotion["candidate_version"]) == ("promote", True, 1)
