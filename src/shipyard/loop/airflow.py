"""``shipyard loop export-airflow``: the loop as an Airflow DAG for teams that already run Airflow.

One BashOperator task per step, in order, each calling the Shipyard CLI (``shipyard loop run NAME --step N``)
in the project folder, so the same code and the same records (cycles, runs, registry decisions) come from
Airflow as from ``shipyard scheduler``:

- one DAG run is one cycle: every task passes the DAG run's id as ``--cycle-key``, so the steps join one
  cycle (and a retried task joins it again) instead of making a one-step cycle each;
- retries happen once, in Airflow: ``on_failure.retries`` and ``retry_delay`` go into the DAG's
  ``default_args``, and each task passes Airflow's try number as ``--attempt``, which makes the CLI run the
  step once, without retrying it itself, and send the failure webhook only from the last try;
- nothing machine-specific is baked in unless asked for: the project folder is written relative to the DAG
  file's own folder (``--project-dir`` for where Airflow's workers find it), and the CLI is ``shipyard`` from
  ``PATH`` (``--shipyard`` for another command or path).

The run id and try number come from the ``AIRFLOW_CTX_*`` variables Airflow sets for every BashOperator,
double-quoted, so no run id can inject shell syntax. A cron schedule is written as its five fields (an alias
such as ``@daily`` expanded), which Airflow reads with croniter exactly as the scheduler does. Monitoring
triggers do not carry over (Airflow would need a sensor), which the file says in its docstring.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from ..pipeline.spec import Pipeline
from .cron import parse_cron
from .spec import Loop

AIRFLOW_ARGS = '--cycle-key "$AIRFLOW_CTX_DAG_RUN_ID" --attempt "$AIRFLOW_CTX_TRY_NUMBER"'


def dag_source(pipeline: Pipeline, loop: Loop, *, output: Path, project_dir: str | None = None,
               shipyard: str = "shipyard") -> str:
    """The Python source of an Airflow DAG for ``loop``, to be written at ``output``.

    Args:
        output: where the file goes; without ``project_dir`` the project is found relative to its folder.
        project_dir: the project folder as Airflow's workers see it, absolute or relative to the DAG file's folder.
        shipyard: the command (or path) that runs the Shipyard CLI on the workers.
    """
    dag_id = re.sub(r"[^A-Za-z0-9_.-]", "_", f"shipyard_{pipeline.name}_{loop.name}")
    seconds = loop.interval_seconds()
    if seconds is not None:
        schedule = f"timedelta(seconds={seconds:g})"
    elif loop.schedule:
        schedule = repr(parse_cron(loop.schedule, f"loop '{loop.name}', schedule").fields)
    else:
        schedule = "None"
    folder = project_dir if project_dir is not None else os.path.relpath(
        pipeline.root.resolve(), output.parent.resolve())
    if os.path.isabs(folder):
        project = repr(folder)
    else:
        project = f"os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), {folder!r}))"
    tasks = []
    for index, step in enumerate(loop.steps):
        task_id = re.sub(r"[^A-Za-z0-9_]", "_", f"step_{index + 1}_{step.kind}")
        command = f"{shlex.quote(shipyard)} loop run {shlex.quote(loop.name)} --step {index + 1} {AIRFLOW_ARGS}"
        tasks.append((task_id, step.describe(), command))
    lines = [
        f'"""Airflow DAG for the Shipyard loop {loop.name!r} of pipeline {pipeline.name!r}.',
        "",
        "Written by `shipyard loop export-airflow`; each task runs one step with the Shipyard CLI in the project",
        "folder. The tasks of one DAG run make one Shipyard cycle, keyed by the run id, so runs, cycles and",
        "registry decisions are recorded as with `shipyard scheduler`. Airflow retries a failed task",
        "(on_failure.retries); the CLI runs each try once and sends the failure webhook from the last one.",
    ]
    if loop.triggers:
        lines.append("Monitoring triggers (" + "; ".join(trigger.describe() for trigger in loop.triggers)
                     + ") are not exported: add a sensor or run `shipyard scheduler` for them.")
    lines += [
        '"""',
        "",
        "import os",
        "from datetime import datetime, timedelta",
        "",
        "from airflow import DAG",
        "",
        "try:",
        "    from airflow.providers.standard.operators.bash import BashOperator",
        "except ImportError:  # Airflow 2 without the standard provider",
        "    from airflow.operators.bash import BashOperator",
        "",
        "# The project folder as Airflow's workers see it (`export-airflow --project-dir`).",
        f"PROJECT_DIR = {project}",
        "",
        "default_args = {",
        '    "owner": "shipyard",',
        f'    "retries": {loop.retries},',
        f'    "retry_delay": timedelta(seconds={loop.retry_delay_s:g}),',
        "}",
        "",
        "with DAG(",
        f"    dag_id={dag_id!r},",
        f"    schedule={schedule},",
        "    start_date=datetime(2026, 1, 1),",
        "    catchup=False,",
        "    max_active_runs=1,",
        "    default_args=default_args,",
        f"    tags=['shipyard', {pipeline.name!r}],",
        ") as dag:",
    ]
    for task_id, description, command in tasks:
        lines += [f"    {task_id} = BashOperator(", f"        task_id={task_id!r},",
                  f"        bash_command={command!r},", "        cwd=PROJECT_DIR,",
                  f"        doc_md={description!r},", "    )"]
    if len(tasks) > 1:
        lines.append("    " + " >> ".join(task_id for task_id, _, _ in tasks))
    return "\n".join(lines) + "\n"


def write_dag(pipeline: Pipeline, loop: Loop, output: Path, *, project_dir: str | None = None,
              shipyard: str = "shipyard") -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    temp = output.with_name(f".{output.name}.tmp")
    temp.write_text(dag_source(pipeline, loop, output=output, project_dir=project_dir, shipyard=shipyard))
    os.replace(temp, output)
    return output
