"""What to try after the demo: commands that run exactly as printed, from where the user typed `make demo`.

The demo's store lives in its project folder, so the commands start with a ``cd`` there; every later line
then finds the store (and the web UI the pipeline) on its own. When the ``shipyard`` on PATH is not the one
that ran the demo (``make demo`` runs ``.venv/bin/shipyard`` without activating the venv), the first line
says once how to make it so. A store named with ``--store`` is repeated on each line, made absolute so the
``cd`` does not break it.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path


def next_steps(project: Path, evaluate_runs: list[str], store_option: str | None) -> list[str]:
    """The lines to print: a heading, then one command per line (with a short comment where it helps).

    Args:
        project: the demo's project folder.
        evaluate_runs: run ids of the evaluate stage, oldest first (the first and the last are compared).
        store_option: the ``--store`` the demo ran with, if any.
    """
    here = Path.cwd()
    shipyard = "shipyard"
    if store_option:
        shipyard += f" --store {shlex.quote(_absolute(store_option, here))}"
    lines = [f"Try it yourself{_venv_hint(here)}:", f"  cd {shlex.quote(_relative(project, here))}",
             f"  {shipyard} runs list --sort -metrics.roc_auc"]
    if len(evaluate_runs) >= 2:
        lines.append(f"  {shipyard} runs compare {evaluate_runs[0][:8]} {evaluate_runs[-1][:8]}   "
                     "# holdout scores before and after the retrain")
    lines += [f"  {shipyard} models history churn   # every promotion and hold-back, with its reason",
              f"  {shipyard} lineage models:/churn@champion",
              f"  {shipyard} status   # the pipeline is up to date",
              f"  {shipyard} ui   # then open http://127.0.0.1:5000: runs, the pipeline, the churn deployment"]
    return lines


def _venv_hint(here: Path) -> str:
    """`` (after `source .venv/bin/activate`)`` when the ``shipyard`` on PATH is not this interpreter's."""
    mine = Path(sys.executable).parent / "shipyard"
    found = shutil.which("shipyard")
    if found and Path(found).resolve() == mine.resolve():
        return ""
    activate = Path(sys.executable).parent / "activate"
    if not activate.exists():
        return f" (with {mine.parent} on PATH)"
    return f" (after `source {shlex.quote(_relative(activate, here))}`, once)"


def _relative(path: Path, here: Path) -> str:
    try:
        return str(path.resolve().relative_to(here.resolve()))
    except ValueError:
        return str(path.resolve())


def _absolute(store: str, here: Path) -> str:
    if "://" in store or store.startswith("sqlite:"):
        return store
    return str((here / store).resolve())
