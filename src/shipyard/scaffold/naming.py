"""The project's names: the name given (or the folder's), the Python package made from it.

``my-churn`` names the distribution, the pipeline, the registered model and the deployment; its package
is ``my_churn`` (dashes become underscores). A package must be importable, and must not hide a module
the project needs: ``json``, ``pandas`` or ``shipyard`` as a project name would break the project's own
imports, so they are refused here rather than failing later in a stage.
"""

from __future__ import annotations

import keyword
import re
import sys
from pathlib import Path

from ..errors import ValidationError

# What the generated project imports (or its tools do), besides the standard library.
_TAKEN = {"shipyard", "sklearn", "pandas", "numpy", "yaml", "pyarrow", "pytest", "scipy", "joblib", "test", "tests",
          "src", "setuptools", "pip"}


def package_name(name: str, *, from_folder: bool = False) -> str:
    """The Python package for the project ``name``: dashes become underscores.

    Args:
        name: the project name.
        from_folder: the name is the folder's, not ``--name``'s (for the message).

    Raises:
        ValidationError: the result is not an ASCII identifier starting with a letter, is a keyword, or
            would hide a module the project imports; the message suggests a name that works.
    """
    package = name.replace("-", "_")
    shown = f"The folder name {name!r}" if from_folder else f"--name {name!r}"
    if (not package.isascii() or not package.isidentifier() or not package[0].isalpha()
            or keyword.iskeyword(package)):
        raise ValidationError(
            f"{shown} cannot name the project's package: with dashes as underscores ({package!r}) it must be a "
            "Python identifier (ASCII letters, digits and _, starting with a letter, not a keyword). "
            f"Try --name {_suggest(name)}.", field="name")
    if package in _TAKEN or package in sys.stdlib_module_names:
        raise ValidationError(
            f"{shown}: a package named {package!r} would hide the module {package!r} that Python or the project "
            f"imports. Try --name {package}_model.", field="name")
    return package


def default_name(directory: Path) -> str:
    """The project name when ``--name`` is not given: the folder's name."""
    return directory.resolve().name


def _suggest(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", name.replace("-", "_")).strip("_").lower()
    if not cleaned or not cleaned[0].isalpha() or keyword.iskeyword(cleaned):
        cleaned = f"project_{cleaned}".rstrip("_")
    return cleaned
