"""Notebooks in and out: a user's notebook as a draft module, and the project's notebook from its template.

Both directions are pure functions of text and dicts; reading the file is :func:`read_notebook`, the one
place that turns a broken file into an error naming it.

The draft keeps every code cell in order, as ``# %%`` cells (VS Code, PyCharm and Jupytext open it as a
notebook again), with markdown cells as comments. What is not Python is commented out with the reason on
the line, so the module parses and nothing in it runs by surprise outside Jupyter:

- line magics (``%matplotlib inline``, ``x = %time f()``) and help (``df?``);
- shell escapes (``!pip install xgboost``, ``files = !ls``);
- cell magics: ``%%time``, ``%%timeit``, ``%%capture`` and ``%%prun`` wrap Python, so only their first line
  goes; any other (``%%bash``, ``%%sql``, ``%%writefile``) makes the whole cell another language.

An indented magic (inside a loop, say) becomes ``pass`` with the comment, so the block stays valid.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, ValidationError

# Cell magics whose body is Python: drop the magic line, keep the body.
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}
_ASSIGNED_SHELL = re.compile(r"^[\w.,\s\[\]()]+=\s*!")  # files = !ls
_ASSIGNED_MAGIC = re.compile(r"^[\w.,\s\[\]()]+=\s*%")  # t = %timeit -o f()
_HELP = re.compile(r"^(\?{1,2}[\w.]+|[\w.]+\?{1,2})$")  # ?print, df.merge??
_PERCENT_CELL = re.compile(r"^# %%(?P<rest>.*)$")


@dataclass(frozen=True)
class Draft:
    """A notebook's code as a module: its text and what was done to get it."""

    text: str
    code_cells: int
    commented_lines: int
    syntax_error: str | None  # where the draft still fails to parse (some IPython syntax is not caught)


def read_notebook(path: Path) -> dict[str, Any]:
    """Read a Jupyter notebook (nbformat 4) written in Python.

    Raises:
        NotFoundError: no such file.
        ValidationError: the file is not JSON, not nbformat 4, or the notebook's language is not Python;
            the message names the file.
    """
    if not path.is_file():
        raise NotFoundError(f"--from-notebook {path}: no such file (give the path of an .ipynb file).")
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValidationError(f"{path} is not a Jupyter notebook: it is not UTF-8 text.",
                              field="from_notebook") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path} is not a Jupyter notebook: not valid JSON (line {exc.lineno}, column "
                              f"{exc.colno}: {exc.msg}).", field="from_notebook") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        version = notebook.get("nbformat") if isinstance(notebook, dict) else None
        hint = (f" It is nbformat {version}; convert it with `jupyter nbconvert --to notebook --nbformat 4`."
                if isinstance(version, int) and version < 4 else "")
        raise ValidationError(f"{path} is not a Jupyter notebook (nbformat 4): it has no list of 'cells'.{hint}",
                              field="from_notebook")
    if notebook.get("nbformat") != 4:
        raise ValidationError(f"{path} is not a Jupyter notebook in nbformat 4 (its 'nbformat' is "
                              f"{notebook.get('nbformat')!r}).", field="from_notebook")
    for number, cell in enumerate(notebook["cells"], 1):
        if not isinstance(cell, dict) or "cell_type" not in cell or not isinstance(cell.get("source"), (str, list)):
            raise ValidationError(f"{path} is not a valid notebook: cell {number} has no 'cell_type' or 'source'.",
                                  field="from_notebook")
    language = _language(notebook)
    if language is not None and language.lower() != "python":
        raise ValidationError(f"{path} is a notebook in {language!r}, not Python; --from-notebook copies Python "
                              "code cells only.", field="from_notebook")
    return notebook


def draft_from_notebook(notebook: dict[str, Any], *, source_name: str, package: str) -> Draft:
    """The notebook's code cells as the text of ``src/<package>/from_notebook.py`` (see the module docstring).

    Args:
        notebook: what :func:`read_notebook` returned.
        source_name: the notebook's file name, for the header.
        package: the project's package name, for the header's advice.
    """
    body: list[str] = []
    code_cells = commented = 0
    for number, cell in enumerate(notebook["cells"], 1):
        source = _source(cell)
        if not source.strip():
            continue
        if cell["cell_type"] == "markdown":
            body += ["", "", f"# %% [markdown] cell {number}", *[f"# {line}".rstrip() for line in source.splitlines()]]
        elif cell["cell_type"] == "code":
            code_cells += 1
            ran = cell.get("execution_count")
            body += ["", "", f"# %% cell {number}" + (f" (In [{ran}])" if isinstance(ran, int) else "")]
            lines, count = _python_lines(source.splitlines())
            body += lines
            commented += count
    header = _header(source_name, package, code_cells, commented)
    text = "\n".join([*header, *body]).rstrip() + "\n"
    try:
        compile(text, f"from_notebook.py ({source_name})", "exec")
        syntax_error = None
    except SyntaxError as exc:
        syntax_error = f"line {exc.lineno}: {exc.msg}"
    return Draft(text, code_cells, commented, syntax_error)


def notebook_from_percent(text: str, *, kernel: str = "python3") -> dict[str, Any]:
    """An nbformat 4 notebook from percent-format text: ``# %%`` starts a code cell, ``# %% [markdown]`` a
    markdown cell whose lines drop their leading ``# ``. Text before the first marker is ignored."""
    cells: list[dict[str, Any]] = []
    kind: str | None = None
    lines: list[str] = []

    def close() -> None:
        if kind is None:
            return
        while lines and not lines[-1].strip():
            lines.pop()
        if kind == "markdown":
            content = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines]
            cells.append({"cell_type": "markdown", "metadata": {}, "source": _as_source(content)})
        else:
            cells.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                          "source": _as_source(lines)})

    for line in text.splitlines():
        marker = _PERCENT_CELL.match(line)
        if marker:
            close()
            kind, lines = ("markdown" if "[markdown]" in marker.group("rest") else "code"), []
        elif kind is not None:
            lines.append(line)
    close()
    return {
        "cells": [{"id": f"cell-{number}", **cell} for number, cell in enumerate(cells, 1)],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": kernel},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _python_lines(lines: list[str]) -> tuple[list[str], int]:
    """The lines of one code cell with what is not Python commented out; also how many lines that was."""
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        magic = first[2:].split(maxsplit=1)[0] if first[2:].strip() else ""
        if magic in _PYTHON_CELL_MAGICS:
            rest, count = _python_lines(lines[1:])
            return [_comment(lines[0], f"cell magic %%{magic}: Jupyter only; the Python below it is kept"),
                    *rest], count + 1
        other = f"cell magic %%{magic}: this cell is not Python, so all of it is commented out"
        return [_comment(lines[0], other), *[f"# {line}".rstrip() for line in lines[1:]]], len(lines)
    kept: list[str] = []
    count = 0
    for line in lines:
        reason = _not_python(line.strip())
        if reason is None:
            kept.append(line)
        else:
            kept.append(_comment(line, reason))
            count += 1
    return kept, count


def _not_python(stripped: str) -> str | None:
    """Why a line is not Python (a magic, a shell escape, a help request), or ``None`` when it is."""
    installs = re.search(r"\b(pip|conda)\s+install\b", stripped) is not None
    if stripped.startswith("!") or _ASSIGNED_SHELL.match(stripped):
        if installs:
            return "shell escape: Jupyter only; list the package in pyproject.toml's dependencies instead"
        return "shell escape: Jupyter only; use subprocess, or a Makefile target"
    if stripped.startswith("%") or _ASSIGNED_MAGIC.match(stripped):
        if installs:
            return "IPython magic: Jupyter only; list the package in pyproject.toml's dependencies instead"
        if stripped.startswith("%run"):
            return "IPython magic: Jupyter only; import the module instead"
        return "IPython magic: Jupyter only"
    if _HELP.match(stripped):
        return "IPython help: Jupyter only"
    return None


def _comment(line: str, reason: str) -> str:
    indent = line[: len(line) - len(line.lstrip())]
    if indent:  # inside a block: a statement keeps the block valid
        return f"{indent}pass  # {line.strip()}  <- {reason}"
    return f"# {line.strip()}  <- {reason}"


def _header(source_name: str, package: str, code_cells: int, commented: int) -> list[str]:
    lines = [
        f"# DRAFT: the {code_cells} code cell(s) of {source_name}, copied by `shipyard init --from-notebook`.",
        "#",
        "# Nothing imports or runs this module, and no test covers it. It is a starting point to refactor, not",
        f"# part of the pipeline: move the loading and cleaning into {package}/prepare.py, the model into the",
        f"# Pipeline of {package}/train.py, the scoring into {package}/evaluate.py, each with a test in tests/,",
        "# then run `make test repro` and delete this file.",
    ]
    if commented:
        lines += [
            "#",
            f"# {commented} line(s) are commented out, each with the reason: IPython magics (%...), cell magics",
            "# (%%...) and shell escapes (!...) only work inside Jupyter, and are not Python.",
        ]
    return [*lines, "# ruff: noqa"]


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _as_source(lines: list[str]) -> list[str]:
    """nbformat's list form of a cell's text: every line but the last keeps its newline."""
    return [line + "\n" for line in lines[:-1]] + lines[-1:]


def _language(notebook: dict[str, Any]) -> str | None:
    metadata = notebook.get("metadata")
    if not isinstance(metadata, dict):
        return None
    for key in ("kernelspec", "language_info"):
        section = metadata.get(key)
        if isinstance(section, dict):
            name = section.get("language") if key == "kernelspec" else section.get("name")
            if isinstance(name, str) and name:
                return name
    return None
