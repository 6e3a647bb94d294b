"""The project templates: which files a template makes and their text, rendered from package data.

A template is the files of ``templates/common/`` plus those of ``templates/<name>/`` (which win on the
same path), each stored with a ``.tmpl`` suffix so that no tool of this repository lints, imports or
collects them as its own. Three conventions turn a stored path into a project path:

- a path part ``{{pkg}}`` becomes the package name (``src/{{pkg}}/train.py`` -> ``src/churn/train.py``);
- a leading ``dot-`` becomes ``.`` (``dot-github/workflows/ci.yml``), because wheels and ``package-data``
  globs skip hidden files;
- a ``.ipynb`` file is stored as readable percent-format Python (``# %%`` cells, see
  :func:`.notebook.notebook_from_percent`) and written as nbformat 4 JSON.

In the text, ``{{key}}`` is replaced by the context's value. Only word characters fit between the braces,
so a GitHub Actions expression such as ``${{ matrix.python }}`` is left alone, and a ``{{word}}`` the
context does not know is an error, not a silent blank (a unit test renders every template).

``template.toml`` in a template's folder holds that template's own context values; it is not copied.
"""

from __future__ import annotations

import re
import tomllib
from importlib.resources import files
from importlib.resources.abc import Traversable

from ..errors import ValidationError

TEMPLATES = ("classification", "regression")
_COMMON = "common"
_SUFFIX = ".tmpl"
_SETTINGS = "template.toml"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def check_template(template: str) -> str:
    """``template`` if it is one of :data:`TEMPLATES`.

    Raises:
        ValidationError: any other name; the message lists the choices.
    """
    if template not in TEMPLATES:
        raise ValidationError(f"Unknown template {template!r}; choose one of: {', '.join(TEMPLATES)} "
                              "(shipyard init --template regression).", field="template")
    return template


def template_settings(template: str) -> dict[str, str]:
    """The context values ``template.toml`` of ``template`` defines, as strings."""
    settings = tomllib.loads((_root() / check_template(template) / _SETTINGS).read_text(encoding="utf-8"))
    return {key: str(value) for key, value in settings.items()}


def template_sources(template: str) -> dict[str, str]:
    """Stored path (``src/{{pkg}}/train.py``, without ``.tmpl``) -> unrendered text, common files first."""
    sources: dict[str, str] = {}
    for folder in (_COMMON, check_template(template)):
        for relative, item in _walk(_root() / folder, ""):
            if relative.endswith(_SUFFIX):
                sources[relative.removesuffix(_SUFFIX)] = item.read_text(encoding="utf-8")
    return sources


def render_text(text: str, context: dict[str, str], *, source: str = "template") -> str:
    """``text`` with every ``{{key}}`` replaced by ``context[key]``.

    Raises:
        ValidationError: a placeholder that ``context`` has no value for (a bug in a template).
    """

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in context:
            raise ValidationError(f"{source} uses {{{{{key}}}}}, which the template context does not define "
                                  f"(it defines {', '.join(sorted(context))}).", field="template")
        return context[key]

    return _PLACEHOLDER.sub(value, text)


def project_path(stored: str, context: dict[str, str]) -> str:
    """Where a stored template path lands in the project (see the module docstring)."""
    parts = []
    for part in stored.split("/"):
        if part.startswith("dot-"):
            part = "." + part.removeprefix("dot-")
        parts.append(render_text(part, context, source=stored))
    return "/".join(parts)


def render_project(template: str, context: dict[str, str]) -> dict[str, str]:
    """Project path -> rendered text for every file of ``template``; notebooks come as percent-format text."""
    return {project_path(stored, context): render_text(text, context, source=stored)
            for stored, text in template_sources(template).items()}


def _root() -> Traversable:
    return files(__package__) / "templates"


def _walk(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        relative = f"{prefix}{item.name}"
        if item.is_dir():
            if item.name != "__pycache__":
                found.extend(_walk(item, relative + "/"))
        else:
            found.append((relative, item))
    return found
