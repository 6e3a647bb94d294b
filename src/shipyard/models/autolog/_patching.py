"""Reversible, thread-safe method patches, and the rule that only the outermost fit is logged.

Every patch remembers the attribute it replaced, on the very class that defined it, so disabling restores
the original object (``cls.__dict__["fit"] is original`` again) and a class patched twice is patched once.
A fit inside another autologged fit (a Pipeline's steps, a search's candidates, ``XGBClassifier.fit``
calling ``xgboost.train``) runs unlogged: the depth of autologged calls is counted per thread.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_originals: dict[tuple[Any, str], tuple[str, Any]] = {}  # (owner, attribute) -> (library, original)
_depth = threading.local()


def patch(library: str, owner: Any, attribute: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``owner.attribute`` (a class or module) with ``make(original)``, unless already patched."""
    with _lock:
        if (owner, attribute) in _originals:
            return
        original = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
        replacement = functools.wraps(original)(make(original))
        replacement.__shipyard_autolog__ = True  # type: ignore[attr-defined]
        _originals[(owner, attribute)] = (library, original)
        setattr(owner, attribute, replacement)


def unpatch(library: str | None = None) -> None:
    """Restore every patch of ``library`` (all libraries when ``None``)."""
    with _lock:
        for (owner, attribute), (owned_by, original) in list(_originals.items()):
            if library is None or owned_by == library:
                setattr(owner, attribute, original)
                del _originals[(owner, attribute)]


def patched_libraries() -> set[str]:
    with _lock:
        return {library for library, _ in _originals.values()}


def defining_class(cls: type, attribute: str) -> type | None:
    """The class in ``cls``'s MRO whose own namespace holds ``attribute`` (what a patch must replace)."""
    for klass in cls.__mro__:
        if attribute in klass.__dict__:
            return klass
    return None


class Outermost:
    """``with Outermost() as outer:`` -- ``outer`` is True only for the first autologged call on this thread."""

    def __enter__(self) -> bool:
        depth = getattr(_depth, "value", 0)
        _depth.value = depth + 1
        return depth == 0

    def __exit__(self, *exc: object) -> None:
        _depth.value -= 1


def inside_autologged_call() -> bool:
    return getattr(_depth, "value", 0) > 0
