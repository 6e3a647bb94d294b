"""The one rule for artifact paths, shared by every writer and reader of them.

Run artifacts (``log_artifact``, ``log_text``, ``log_dict``, ``log_model``; ``read_artifact``,
``download_artifacts``, the web UI's downloads) and the files of a tracked directory (``add``, ``checkout``)
are named by relative paths that end up joined to a folder on someone's disk, maybe on Windows. One
function decides which paths exist, so a path that can be written can be read back, and none can reach
outside the folder it is written under. Kept free of heavy imports: ``shipyard status`` checks every name
of a tracked directory with it.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ValidationError

MAX_ARTIFACT_PATH_LENGTH = 1000  # the width of the artifacts.path column
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Everything artifact_path_problem refuses, in one search: most paths are fine and pay only this.
_SUSPECT_RE = re.compile(r"[\x00-\x1f\x7f\\]|^$|^/|^[A-Za-z]:|//|/$|(?:^|/)\.\.?(?:/|$)")


def check_artifact_path(path: Any, *, field: str = "artifact_path") -> str:
    """Return ``path`` unchanged if it may name an artifact, else raise one message naming it and the rule.

    Every writer and every reader of artifact paths calls this, so a path that can be written can be read
    back and none can reach outside the folder a run is downloaded to, on any operating system: relative,
    names joined by ``/``, no ``.`` or ``..`` or empty names, no backslash (a separator on Windows, so
    ``ok/..\\..\\x`` would climb there), no drive letter, no NUL or other control character.
    """
    if not isinstance(path, str):
        raise ValidationError(f"An artifact path must be a string, got {type(path).__name__} {path!r}.", field=field)
    problem = artifact_path_problem(path)
    if problem is not None:
        raise ValidationError(
            f"The artifact path {path!r} is refused: {problem}. An artifact path is a relative path of names "
            "joined by '/', such as 'plots/roc.png'.",
            field=field,
        )
    return path


def artifact_path_problem(path: str) -> str | None:
    """Why ``path`` cannot name an artifact (a clause for a message), or ``None`` when it can."""
    if len(path) <= MAX_ARTIFACT_PATH_LENGTH and not _SUSPECT_RE.search(path):
        return None
    return _explained_problem(path)


def _explained_problem(path: str) -> str | None:
    """The rule ``path`` breaks, checked one rule at a time (``_SUSPECT_RE`` is the fast gate in front)."""
    if not path:
        return "it is empty"
    if len(path) > MAX_ARTIFACT_PATH_LENGTH:
        return f"it is {len(path)} characters long and the limit is {MAX_ARTIFACT_PATH_LENGTH} characters"
    if "\x00" in path:
        return "it contains a NUL character"
    if _CONTROL_RE.search(path):
        return "it contains a control character (a newline, tab or similar)"
    if "\\" in path:
        return "it contains a backslash, which separates folders on Windows; use '/'"
    if path.startswith("/"):
        return "it is absolute (it starts with '/')"
    if _DRIVE_RE.match(path):
        return "it starts with a drive letter"
    for name in path.split("/"):
        if not name:
            return "it has an empty segment ('//', or a '/' at the end)"
        if name in (".", ".."):
            return f"it has a {name!r} segment"
    return None
