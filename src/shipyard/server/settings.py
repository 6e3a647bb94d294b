"""What a team server was started with; the app factory puts it on ``app.state.server`` for every handler.

It is a module of its own (as the UI's settings are) so that handlers import it and never the app that
imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .cache import KnownRuns, TokenCache

if TYPE_CHECKING:
    from ..store import Store

PROTECTED_ALIASES = ("champion",)


@dataclass(frozen=True)
class ServerSettings:
    """The store every request reads and writes, and how callers are checked.

    Attributes:
        store: the shared store (metadata database and objects), opened after its schema was checked.
        auth: every request must carry a token (``Authorization: Bearer``); False only with ``--insecure-no-auth``.
        allowed_hosts: ``Host`` names the web UI answers besides loopback names (the ``--host`` name).
        protected_aliases: aliases only an admin may move.
        tokens, runs: what this process remembers between requests (:mod:`.cache`).
    """

    store: Store
    auth: bool = True
    allowed_hosts: tuple[str, ...] = ()
    protected_aliases: tuple[str, ...] = PROTECTED_ALIASES
    tokens: TokenCache = field(default_factory=TokenCache, compare=False, repr=False)
    runs: KnownRuns = field(default_factory=KnownRuns, compare=False, repr=False)
