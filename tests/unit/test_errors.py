"""The error tree drawn in ``shipyard.errors``' docstring is the tree the classes form, codes included."""

from __future__ import annotations

import ast
import builtins
import inspect
import re
from pathlib import Path

from shipyard import errors

_LINE = re.compile(r"(?P<indent>[│ ]*)(?:[├└]── )?(?P<name>\w+Error)(?: \((?P<builtin>\w+)\))?\s+"
                   r"exit (?P<exit>\d), HTTP (?P<http>\d{3})")


def _drawn() -> dict[str, tuple[str | None, str | None, int, int]]:
    """Class name -> (drawn parent, drawn built-in, exit code, HTTP status), read from the docstring's tree."""
    drawn: dict[str, tuple[str | None, str | None, int, int]] = {}
    parents: list[tuple[int, str]] = []  # (depth, name) of the open branches
    for line in (errors.__doc__ or "").splitlines():
        match = _LINE.search(line)
        if match is None:
            continue
        depth = line.index(match.group("name"))
        while parents and parents[-1][0] >= depth:
            parents.pop()
        drawn[match.group("name")] = (parents[-1][1] if parents else None, match.group("builtin"),
                                      int(match.group("exit")), int(match.group("http")))
        parents.append((depth, match.group("name")))
    return drawn


def test_every_error_class_is_drawn_with_its_parent_builtin_and_codes() -> None:
    classes = {name: cls for name, cls in inspect.getmembers(errors, inspect.isclass)
               if issubclass(cls, errors.ShipyardError) and cls.__module__ == errors.__name__}
    drawn = _drawn()
    assert set(drawn) == set(classes)
    for name, cls in classes.items():
        parent, builtin, exit_code, http_status = drawn[name]
        shipyard_bases = [base.__name__ for base in cls.__bases__ if issubclass(base, errors.ShipyardError)]
        assert shipyard_bases == ([parent] if parent else []), name
        if builtin is not None:
            assert issubclass(cls, getattr(builtins, builtin)), name
        assert (cls.exit_code, cls.http_status) == (exit_code, http_status), name


def test_forbidden_is_a_permission_error_answered_with_403() -> None:
    refused = errors.ForbiddenError("read-only")
    assert isinstance(refused, PermissionError) and isinstance(refused, errors.ShipyardError)
    assert (refused.http_status, refused.exit_code) == (403, 2)


def test_every_shipyard_error_is_defined_in_errors_py() -> None:
    """A subclass defined elsewhere would be missing from the drawn tree and from the one place codes are read."""
    names = {name for name, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.ShipyardError)}
    source = Path(errors.__file__).parent
    elsewhere = []
    for path in sorted(source.rglob("*.py")):
        if path == Path(errors.__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {base.id if isinstance(base, ast.Name) else base.attr
                         for base in node.bases if isinstance(base, ast.Name | ast.Attribute)}
                if bases & names:
                    elsewhere.append(f"{path.relative_to(source)}: {node.name}")
    assert elsewhere == []


def test_a_check_that_says_no_exits_3() -> None:
    held_back = errors.CheckFailedError("v2 of churn was held back: roc_auc 0.81 < 0.82", check="promotion")
    assert (held_back.exit_code, held_back.check) == (3, "promotion")
    assert isinstance(held_back, errors.ShipyardError)


def test_refusals_that_leave_their_module_are_validation_errors_with_unchanged_messages() -> None:
    """Callers catch a class; these were bare ValueErrors (still ValueErrors, so older callers keep working)."""
    import numpy as np

    from shipyard import charts
    from shipyard.models.profile import merge_numeric, numeric_profile
    from shipyard.store.hashing import canonical_json

    refusals = []
    for refuse in (lambda: canonical_json({"x": [float("inf")]}),
                   lambda: merge_numeric(numeric_profile(np.arange(10.0)), numeric_profile(np.arange(20.0))),
                   lambda: charts.parallel(["size"], {"x": [1, 2]}),
                   lambda: charts.parallel(["size"], {"x": [1]}, color_axis="nope")):
        try:
            refuse()
        except errors.ValidationError as exc:
            refusals.append(exc.message)
    assert refusals == ["canonical JSON cannot hold inf",
                        "numeric profiles can only be merged when they share bin edges",
                        "Line 'x' has 2 values for 1 axes.",
                        "color_axis 'nope' is not one of the axes ['size']."]
