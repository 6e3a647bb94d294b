"""The table of optional modules agrees with pyproject.toml's extras, and the install line fits this install."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from shipyard import extras
from shipyard.errors import MissingExtraError

ROOT = Path(__file__).resolve().parents[2]
USER_EXTRAS = tuple(extra for extra in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
                    ["optional-dependencies"] if extra not in ("dev", "docs"))  # what a user installs to run things


def _extras() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _self_references(requirements: list[str]) -> set[str]:
    from packaging.requirements import Requirement

    found: set[str] = set()
    for requirement in requirements:
        parsed = Requirement(requirement)
        if parsed.name == extras.DISTRIBUTION:
            found |= set(parsed.extras)
    return found


def test_every_distribution_of_a_user_extra_is_named_by_its_import_name() -> None:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    modules_of: dict[str, set[str]] = {}
    for module, distributions in metadata.packages_distributions().items():
        for distribution in distributions:
            modules_of.setdefault(canonicalize_name(distribution), set()).add(module)
    for extra in USER_EXTRAS:
        for requirement in _extras()[extra]:
            parsed = Requirement(requirement)
            if parsed.name == extras.DISTRIBUTION:
                continue
            modules = modules_of[canonicalize_name(parsed.name)] & set(extras.EXTRA_OF_MODULE)
            assert modules, f"{parsed.name} (extra {extra}) has no entry in extras.EXTRA_OF_MODULE"
            for module in modules:
                owner = extras.EXTRA_OF_MODULE[module]
                assert owner == extra or owner in extras.INCLUDED_EXTRAS.get(extra, ()), (module, owner, extra)


def test_included_extras_are_pyprojects_self_references_followed_through() -> None:
    declared = _extras()

    def closure(extra: str) -> set[str]:
        direct = _self_references(declared[extra])
        return direct.union(*(closure(inner) for inner in direct)) if direct else set()

    computed = {extra: closure(extra) for extra in USER_EXTRAS if closure(extra)}
    assert computed == {extra: set(included) for extra, included in extras.INCLUDED_EXTRAS.items()}


def test_the_install_line_names_this_clone_for_an_editable_install() -> None:
    line = extras.install_command("serve")
    assert line == f"pip install -e '{ROOT}[serve]'"


def test_a_missing_module_of_an_extra_becomes_one_error_naming_the_extra_and_the_line() -> None:
    error = extras.from_module_not_found(ModuleNotFoundError("No module named 'uvicorn'", name="uvicorn"),
                                         "`shipyard serve`")
    assert isinstance(error, MissingExtraError) and isinstance(error, ImportError)
    assert (error.extra, error.module, error.exit_code) == ("serve", "uvicorn", 2)
    assert error.message == ("`shipyard serve` needs the 'serve' extra (uvicorn is not installed): "
                             f"{extras.install_command('serve')}")


@pytest.mark.parametrize(("module", "wanted", "named"), [
    ("starlette", "ui", "ui"),  # [ui] brings [serve]: ask for what the command needs as a whole
    ("jinja2", "ui", "ui"),
    ("psycopg", "ui", "postgres"),  # not part of [ui]: name the module's own extra
    ("sklearn.base", None, "sklearn"),
])
def test_the_named_extra_is_the_callers_when_it_includes_the_module(module: str, wanted: str | None,
                                                                    named: str) -> None:
    assert extras.missing_extra(module, "This", wanted=wanted).extra == named


def test_require_imports_what_is_there_and_leaves_unknown_modules_alone() -> None:
    assert extras.require("json", "Reading JSON").dumps([]) == "[]"
    with pytest.raises(ModuleNotFoundError) as raised:
        extras.require("shipyard_no_such_module", "Nothing")
    assert not isinstance(raised.value, MissingExtraError)
