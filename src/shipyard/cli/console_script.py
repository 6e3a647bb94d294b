"""The ``shipyard`` console script.

A no-op ``shipyard status`` is answered from the status memo (:mod:`shipyard.pipeline.status_memo`)
before Typer, Rich, YAML or the store are imported: on 10,000 tracked files that is tens of milliseconds
instead of a fifth of a second, most of which would be imports. Everything else, and a status whose memo
no longer matches, goes to :mod:`.main`.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    arguments = sys.argv[1:]
    if arguments[:1] == ["status"] and set(arguments[1:]) <= {"--json"}:
        answer = _remembered_status(json_output="--json" in arguments)
        if answer is not None:
            sys.stdout.write(answer)
            return
    from .main import main as run_command

    run_command()


def _remembered_status(*, json_output: bool) -> str | None:
    try:
        from ..pipeline.status_memo import recall

        return recall(os.getcwd(), json_output=json_output)
    except Exception:  # the memo only saves time: whatever goes wrong here, the full command runs and reports it
        return None
