"""What the UI was started with, and the check every write goes through.

The app factory (:mod:`.app`) puts a :class:`UISettings` on ``app.state.ui``; pages read it from there and
import this module for its type and for :func:`require_write`. It imports no page and not the app, so the
pages never import the module that imports them.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ForbiddenError, UnauthorizedError

if TYPE_CHECKING:
    from starlette.requests import Request

    from ..store import Store

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")  # names a browser on this machine uses for the UI


@dataclass(frozen=True)
class UISettings:
    """What every page may need: the store, where the project and the prediction log are, and write rights.

    Attributes:
        store: the store every page reads.
        project_dir: the folder holding ``shipyard.yaml`` (pipelines page), or None outside a project.
        log_dir: the prediction log's folder when ``serving.yaml`` sets one; None for the store's default.
        allow_write: the UI was started with ``--allow-write``; without it every write is refused (403).
        token: when set, a write must also carry it (form field ``token`` or ``Authorization: Bearer``).
        allowed_hosts: ``Host`` names accepted besides :data:`LOOPBACK_HOSTS`: the address the UI listens on
            and the names a proxy in front of it forwards (``shipyard ui --allowed-host``).
    """

    store: Store
    project_dir: Path | None = None
    log_dir: str | None = None
    allow_write: bool = False
    token: str | None = field(default=None, repr=False)
    allowed_hosts: tuple[str, ...] = ()

    def trusted_hosts(self) -> list[str]:
        """Every ``Host`` name (without port) this UI answers: loopback, then ``allowed_hosts``.

        An IPv6 address is written in brackets, as it appears in a ``Host`` header (``[::1]``). A wildcard
        address (``0.0.0.0``, ``::``) is not a name any browser sends, so it adds nothing: behind it, list the
        machine's names with ``--allowed-host``.
        """
        names = list(LOOPBACK_HOSTS)
        for host in self.allowed_hosts:
            name = host.strip().lower()
            if ":" in name and not name.startswith("["):
                name = f"[{name}]"
            if name and name not in ("0.0.0.0", "[::]") and name not in names:
                names.append(name)
        return names


def require_write(request: Request, token: str | None) -> None:
    """Refuse a write unless the UI allows writes and, when it has a token, ``token`` (or the header) matches it."""
    settings: UISettings = request.app.state.ui
    if not settings.allow_write:
        raise ForbiddenError("This UI is read-only; restart it with `shipyard ui --allow-write` to change aliases.")
    if settings.token:
        header = request.headers.get("authorization", "")
        given = token or (header[7:] if header.lower().startswith("bearer ") else "")
        if not given or not hmac.compare_digest(given.encode(), settings.token.encode()):
            raise UnauthorizedError("This UI needs its token for changes: enter the token given to "
                                    "`shipyard ui --token` (or SHIPYARD_TOKEN).")
