"""The public facade: an honest, sorted __all__, names loaded on first use, and an import that stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import ShipyardError

# Importing a submodule sets it as an attribute of the package; those are not API.
SUBMODULES = {path.stem for path in Path(shipyard.__file__).parent.iterdir()
              if path.suffix == ".py" or (path / "__init__.py").is_file()}


def test_all_is_sorted_and_complete() -> None:
    assert shipyard.__all__ == sorted(shipyard.__all__)
    for name in shipyard.__all__:
        getattr(shipyard, name)  # loads it: afterwards vars() holds every exported name
    public = {name for name in vars(shipyard) if not name.startswith("_")}
    assert public - SUBMODULES == set(shipyard.__all__)
    assert {name for name in dir(shipyard) if not name.startswith("_")} - SUBMODULES == set(shipyard.__all__)


def test_lazy_table_and_type_checking_imports_name_the_same_objects() -> None:
    """Each export is written three times (table, TYPE_CHECKING import, __all__): adding it to only one fails."""
    tree = ast.parse(Path(shipyard.__file__).read_text())
    block = next(node for node in tree.body
                 if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    imported: dict[str, str] = {}
    for statement in block.body:
        assert isinstance(statement, ast.ImportFrom) and statement.level == 1 and statement.module
        for alias in statement.names:
            assert alias.asname == alias.name, f"re-export {alias.name} as itself, for type checkers"
            imported[alias.name] = statement.module
    table = shipyard._LAZY
    assert imported == table
    assert set(table) == set(shipyard.__all__)
    for name, module in table.items():
        assert getattr(shipyard, name) is getattr(import_module(f"shipyard.{module}"), name)


def test_unknown_names_raise_attribute_error() -> None:
    assert not hasattr(shipyard, "no_such_function")
    with pytest.raises(AttributeError, match="no attribute 'strat_run'"):
        shipyard.strat_run  # type: ignore[attr-defined]  # noqa: B018


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
