"""Who is calling, and whether their role allows what they ask: one check for every request.

A request carries its token as ``Authorization: Bearer <token>`` (MLflow clients send ``MLFLOW_TRACKING_TOKEN``
so), or, from a browser, in the ``shipyard_token`` cookie the login page sets (HttpOnly, SameSite=Strict, so a
page of another site can neither read it nor make the browser send it). The cookie only reads (GET and HEAD): a
page of the same site on another port (a notebook on 127.0.0.1:8888) would have the browser send it along with a
``text/plain`` POST, so every write needs the header, which no page can add without asking. No token is 401; a
token whose role is too low is 403 naming the role needed. A server started with ``--insecure-no-auth`` treats
every caller as an admin named by what the client says (MLflow's ``user_id``), else ``anonymous``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import RoleError, UnauthorizedError
from .roles import ADMIN, allows
from .settings import ServerSettings
from .tokens import authenticate

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

COOKIE = "shipyard_token"
_SAFE_METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class Identity:
    """The caller: the token's name (recorded as the user of what they log) and role; ``None`` name without auth."""

    name: str | None
    role: str


def identify(connection: HTTPConnection, settings: ServerSettings) -> Identity:
    """The caller of this request (may read the token's row: call it off the event loop).

    Raises:
        UnauthorizedError: auth is on and the request has no valid token.
    """
    if not settings.auth:
        return Identity(None, ADMIN)
    token = _token(connection)
    if not token:
        raise UnauthorizedError("This server needs a token: send `Authorization: Bearer <token>` (MLflow clients: set "
                                "MLFLOW_TRACKING_TOKEN); an admin makes one with `shipyard server token create`.")
    info = settings.tokens.get(token)
    if info is None:
        info = authenticate(settings.store.db, token)
        settings.tokens.put(token, info)
    return Identity(info.name, info.role)


def identify_remembered(connection: HTTPConnection, settings: ServerSettings) -> Identity | None:
    """The caller when that needs no database read (auth off, or a token verified moments ago: :mod:`.cache`), so
    the event loop can answer it without a thread; ``None`` means "call :func:`identify`"."""
    if not settings.auth:
        return Identity(None, ADMIN)
    token = _token(connection)
    info = settings.tokens.get(token) if token else None
    return None if info is None else Identity(info.name, info.role)


def _token(connection: HTTPConnection) -> str:
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else ""
    if not token and connection.scope.get("method", "GET") in _SAFE_METHODS:
        token = connection.cookies.get(COOKIE, "")
    return token


def require(identity: Identity, needed: str, action: str) -> None:
    """Refuse ``action`` (words such as "Logging a metric") unless the caller's role allows ``needed``."""
    if not allows(identity.role, needed):
        raise RoleError(f"{action} needs the {needed} role; the token of {identity.name!r} has the {identity.role} "
                        f"role. Ask an admin for {'an' if needed == 'admin' else 'a'} {needed} token.", needed=needed)
