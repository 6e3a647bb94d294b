"""Start-up stays light: what ``import shipyard``, the CLI and ``shipyard --help`` load (the idea of click's
tests/test_imports.py).

The CLI's speed is mostly import time, and one top-level import of SQLAlchemy or pandas in the wrong
module undoes it silently. Each check runs in a fresh interpreter, because this test process has long
imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Each costs tens of milliseconds or more to import; none is needed to start the CLI or show its help.
HEAVY = {"sqlalchemy", "alembic", "pandas", "numpy", "pyarrow", "sklearn", "yaml", "blake3", "pydantic"}


def modules_after(code: str, cwd: Path) -> set[str]:
    """The names in ``sys.modules`` after running ``code`` in a new interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_shipyard_imports_nothing_else_of_shipyard(tmp_path: Path) -> None:
    """The facade is lazy: a name's module loads when the name is first used."""
    loaded = modules_after("import shipyard", tmp_path)
    assert {name for name in loaded if name.startswith("shipyard")} == {"shipyard"}
    assert loaded & HEAVY == set()
    assert "shipyard.tracking.fluent" in modules_after("import shipyard\nshipyard.start_run", tmp_path)


def test_importing_the_cli_loads_no_heavy_library(tmp_path: Path) -> None:
    loaded = modules_after("import shipyard.cli.main", tmp_path)
    assert loaded & HEAVY == set()
    # the standard library only: where the store is (read at every start), and values as JSON (every --json)
    light = {"shipyard.store.location", "shipyard.store.plain_json"}
    assert not any(name.startswith(("shipyard.store.", "shipyard.tracking.", "shipyard.models.",
                                    "shipyard.pipeline.")) for name in loaded - light)


def test_help_loads_no_heavy_library(tmp_path: Path) -> None:
    code = ("import sys\nsys.argv = ['shipyard', '--help']\nfrom shipyard.cli.main import main\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n")
    assert modules_after(code, tmp_path) & HEAVY == set()
