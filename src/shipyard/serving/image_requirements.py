"""The requirements of a serving image, pinned to what is installed here.

The image installs the Shipyard wheel with its ``serve`` extra, the libraries each served model was
packaged with (the manifest's ``requirements``) and, for a verified ONNX export the config uses,
``onnxruntime``. Every distribution those pull in is pinned to the version installed in this environment
(for a clone, the one ``uv.lock`` pins), so the image runs the set that was tested here, not whatever an
index offers on the day of the build.

Which dependencies count is read from the installed metadata: a requirement counts when its ``extra``
marker (if any) names an extra that is asked for and its distribution is installed here. Other markers
(Python version, platform) are not evaluated: the image runs this Python's minor version on Linux, and what
an installer put here for this interpreter is what applies there. A requirement not installed here is left
out; pip resolves it from the wheel's metadata in the image, unpinned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import metadata

_REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?")
_EXTRA_MARKER = re.compile(r"""\bextra\s*==\s*["']([^"']+)["']""")


def pinned_closure(roots: Iterable[tuple[str, Iterable[str]]], *, exclude: Iterable[str] = ()) -> dict[str, str]:
    """``name -> installed version`` for the distributions ``roots`` need, with their own dependencies.

    Args:
        roots: ``(distribution, extras)`` pairs to start from, such as ``("shipyard-ml", ["serve"])``.
        exclude: distributions to leave out of the result (still walked through), such as Shipyard itself.
    """
    skipped = {normalized(name) for name in exclude}
    pins: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [(name, frozenset(normalized(extra) for extra in extras)) for name, extras in roots]
    while pending:
        name, extras = pending.pop()
        if (normalized(name), extras) in seen:
            continue
        seen.add((normalized(name), extras))
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if normalized(name) not in skipped:
            pins[distribution.metadata["Name"]] = distribution.version
        for requirement in distribution.requires or []:
            wanted = _wanted(requirement, extras)
            if wanted is not None:
                pending.append(wanted)
    return pins


def normalized(name: str) -> str:
    """The comparable form of a distribution name (PEP 503): ``Scikit_Learn`` -> ``scikit-learn``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _wanted(requirement: str, extras: frozenset[str]) -> tuple[str, frozenset[str]] | None:
    """``(name, its extras)`` if ``requirement`` applies with ``extras`` asked for, else ``None``."""
    text, _, marker = requirement.partition(";")
    match = _REQUIREMENT.match(text)
    if match is None:
        return None
    needs = {normalized(extra) for extra in _EXTRA_MARKER.findall(marker)}
    if needs and not needs & extras:
        return None
    own = frozenset(normalized(extra) for extra in (match.group("extras") or "").split(",") if extra.strip())
    return match.group("name"), own
