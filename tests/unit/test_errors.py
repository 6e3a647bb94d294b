"""The error tree drawn in ``shipyard.errors``' docstring is the tree the classes form, codes included."""

from __future__ import annotations

import builtins
import inspect
import re

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
