"""``shipyard loop export-airflow``: the loop as an Airflow DAG for teams that already run Airflow.

One BashOperator task per step, in order, each calling the ``shipyard`` CLI (``shipyard loop run NAME --step
N``) in the project directory, so the same code and the same records (cycles, runs, registry decisions) come
from Airflow as from ``shipyard scheduler``. The cron schedule and the retry policy carry over; monitoring
triggers do not (Airflow would need a sensor), which the file says in a comment.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from ..pipeline.spec import Pipeline
from .spec import Loop


def dag_source(pipeline: Pipeline, loop: Loop, *, project_dir: Path | None = None) -> str:
    """The Python source of an Airflow DAG for ``loop``."""
    folder = str((project_dir or pipeline.root).resolve())
    dag_id = re.sub(r"[^A-Za-z0-9_.-]", "_", f"shipyard_{pipeline.name}_{loop.name}")
    seconds = loop.interval_seconds()
    schedule = repr(loop.schedule) if loop.schedule and seconds is None else (
        f"timedelta(seconds={seconds:g})" if seconds is not None else "None")
    tasks = []
    for index, step in enumerate(loop.steps):
        task_id = re.sub(r"[^A-Za-z0-9_]", "_", f"step_{index + 1}_{step.kind}")
        command = f"cd {shlex.quote(folder)} && shipyard loop run {shlex.quote(loop.name)} --step {index + 1}"
        tasks.append((task_id, step.describe(), command))
    lines = [
        f'"""Airflow DAG for the Shipyard loop {loop.name!r} of pipeline {pipeline.name!r}.',
        "",
        "Written by `shipyard loop export-airflow`; each task runs one step with the shipyard CLI, so runs,",
        "cycles and registry decisions are recorded exactly as with `shipyard scheduler`.",
    ]
    if loop.triggers:
        lines.append("Monitoring triggers (" + "; ".join(trigger.describe() for trigger in loop.triggers)
                     + ") are not exported: add a sensor or run `shipyard scheduler` for them.")
    lines += [
        '"""',
        "",
        "from datetime import datetime, timedelta",
        "",
        "from airflow import DAG",
        "",
        "try:",
        "    from airflow.providers.standard.operators.bash import BashOperator",
        "except ImportError:  # Airflow 2 without the standard provider",
        "    from airflow.operators.bash import BashOperator",
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
                  f"        bash_command={command!r},", f"        doc_md={description!r},", "    )"]
    if len(tasks) > 1:
        lines.append("    " + " >> ".join(task_id for task_id, _, _ in tasks))
    return "\n".join(lines) + "\n"


def write_dag(pipeline: Pipeline, loop: Loop, output: Path) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    temp = output.with_name(f".{output.name}.tmp")
    temp.write_text(dag_source(pipeline, loop))
    os.replace(temp, output)
    return output
