"""The public facade: an honest, sorted __all__, and an import that stays light."""

from __future__ import annotations

import subprocess
import sys

import shipyard
from shipyard.errors import ShipyardError


def test_all_is_sorted_and_complete() -> None:
    assert shipyard.__all__ == sorted(shipyard.__all__)
    public = {name for name in vars(shipyard) if not name.startswith("_")}
    submodules = {"cli", "config", "demo", "errors", "models", "pipeline", "store", "tracking"}
    assert public - submodules == set(shipyard.__all__)


def test_every_exported_function_has_a_docstring() -> None:
    missing = [name for name in shipyard.__all__ if not (getattr(shipyard, name).__doc__ or "").strip()]
    assert missing == []


def test_errors_carry_exit_codes_and_http_statuses() -> None:
    for name in shipyard.__all__:
        value = getattr(shipyard, name)
        if isinstance(value, type) and issubclass(value, ShipyardError) and value is not ShipyardError:
            assert value.exit_code in (1, 2), name
            assert 400 <= value.http_status < 600, name
    assert issubclass(shipyard.NotFoundError, LookupError)
    assert issubclass(shipyard.ValidationError, ValueError)


def test_import_shipyard_does_not_load_heavy_libraries() -> None:
    code = (
        "import sys, shipyard\n"
        "heavy = ['pandas', 'numpy', 'sklearn', 'alembic', 'typer', 'rich', 'blake3']\n"
        "print(','.join(name for name in heavy if name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
