"""The exception that ends a tracked program, remembered so its open runs end FAILED (or KILLED) at exit.

``sys.excepthook`` runs before ``atexit``: chaining it records the exception, and the exit hook of
:mod:`.fluent` reads :func:`last` to choose each run's status and error text.
"""

from __future__ import annotations

import sys
from types import TracebackType

MAX_ERROR_LENGTH = 4000

_seen: list[BaseException] = []
_installed = False


def install() -> None:
    """Chain ``sys.excepthook`` once per process, keeping whatever hook was there."""
    global _installed
    if _installed:
        return
    _installed = True
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        _seen.append(exc)
        previous(exc_type, exc, tb)

    sys.excepthook = hook


def last() -> BaseException | None:
    """The last uncaught exception of this process, if any."""
    return _seen[-1] if _seen else None


def describe(exc: BaseException) -> str:
    """``Type: message``, cut to what a run's error field keeps."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 3] + "..."
