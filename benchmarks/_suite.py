"""The test suite's helper modules (servers, foreign venvs), loaded by the benchmarks.

A dependency installs a top-level ``tests`` package into site-packages, and a regular package wins over this
repository's ``tests`` folder (which has no ``__init__.py``) whatever the order of ``sys.path``. The helpers
import each other as ``tests.<module>``, so ``tests`` is first made to name this repository's folder.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent / "tests"


def from_tests(relative: str) -> Any:
    """The module at ``tests/<relative>`` (loaded once per process)."""
    package = sys.modules.get("tests")
    if package is None or str(TESTS) not in list(getattr(package, "__path__", [])):
        package = types.ModuleType("tests")
        package.__path__ = [str(TESTS)]
        sys.modules["tests"] = package
    name = "tests." + relative.removesuffix(".py").replace("/", ".")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, TESTS / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module
