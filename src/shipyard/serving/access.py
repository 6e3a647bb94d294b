"""Who may call a model server, from where, and who picks request ids: the rules of ``shipyard ui``, for serving.

A model server answers programs, yet a browser sends a POST to any address a web page names. It asks the server
first (a CORS preflight, which this server never grants) only for JSON bodies, so a page of another site can
still deliver ``text/plain``, form, multipart or untyped bodies; it cannot read the answer, but the prediction or
the label is written. A page can also point a DNS name of its own at this machine (DNS rebinding) and then talk
to the server as its own site. And whoever chooses a ``request_id`` decides which prediction a label joins. So:

- **Start-up** (:func:`check_exposure`): a server that other machines can reach needs a token for its writes,
  unless started with ``--insecure-no-auth``; on loopback only this machine reaches it and no token is needed.
- **Host** (:meth:`Access.screen`): a loopback name, an IP address, or a name the server listens on or was given
  with ``--allowed-host``; else 400. An address cannot be rebound: a page whose requests carry ``Host:
  10.0.0.5`` was loaded from that address, so addresses (kubelet probes use the pod's) are always answered.
- **Content type**: a body is JSON (``application/json``, any parameters, or ``+json``) or untyped
  (tritonclient sends none on infer); anything else is 415, before the body is read.
- **Origin**: a POST from a page of another site (an ``Origin`` other than this host, or ``Sec-Fetch-Site:
  cross-site``) is 403: the check that also stops an untyped ``Blob`` body, which has no type to refuse.
- **Token**: feedback, and a request that brings its own ``request_id`` (V2: ``id``), need ``Authorization:
  Bearer TOKEN`` when the server has one, compared in constant time. Without a token (loopback, or
  ``--insecure-no-auth``) every client that passed the checks above may write.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, MutableMapping
from typing import Any

from ..errors import ConfigError, ForbiddenError, MalformedRequestError, UnauthorizedError, UnsupportedMediaTypeError

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")  # the names a client on this machine uses
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # carry no body a handler acts on
_HOSTS_REMEMBERED = 256  # Host values judged once and remembered (clients send few; strangers may send many)


def is_loopback(host: str) -> bool:
    """``127.0.0.1`` (any of 127/8), ``::1`` or ``localhost``: an address only this machine can reach."""
    name = host.strip().lower().strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        return False
    return True


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_unspecified
    except ValueError:
        return False


def check_exposure(host: str, *, token: str | None, insecure_no_auth: bool) -> str | None:
    """The start-up rule: returns the one warning line to print, if any.

    Raises:
        ConfigError: ``host`` is beyond loopback and the server has no token and no ``--insecure-no-auth``; or
            both a token and ``--insecure-no-auth`` were given (which one was meant?).
    """
    if insecure_no_auth and token:
        raise ConfigError("--insecure-no-auth and a token (--token, SHIPYARD_TOKEN or token: in serving.yaml) "
                          "contradict each other; drop --insecure-no-auth to require the token.")
    if is_loopback(host) or token:
        return None
    if insecure_no_auth:
        return (f"Warning: --insecure-no-auth: anyone who can reach {host} may send feedback and choose request ids; "
                "give the server a --token instead.")
    raise ConfigError(f"--host {host} lets other machines reach the server, so its writes (feedback, request ids "
                      "chosen by clients) need a --token (or SHIPYARD_TOKEN, or token: in serving.yaml) that every "
                      "write must carry; add one, listen on 127.0.0.1, or pass --insecure-no-auth to let anyone write.")


def host_names(host: str, allowed: Iterable[str]) -> tuple[str, ...]:
    """The ``Host`` names to answer besides loopback names and addresses: ``host`` when it is a name, this
    machine's name when ``host`` is a wildcard address (no browser sends ``0.0.0.0``), and ``allowed``."""
    import socket

    names = [host] if not _is_address(host) and not is_loopback(host) else []
    if _is_wildcard(host):
        names.append(socket.gethostname())
    names.extend(allowed)
    unique: dict[str, None] = {}
    for name in names:
        cleaned = name.strip().lower().rstrip(".")
        if cleaned and cleaned not in LOOPBACK_NAMES:
            unique[cleaned] = None
    return tuple(unique)


class Access:
    """The per-request rules of one server (see the module docstring), built once from its token and names."""

    def __init__(self, token: str | None, allowed_hosts: Iterable[str] = ()) -> None:
        self._token = token.encode() if token else None
        self._names = frozenset(LOOPBACK_NAMES) | {name.strip().lower().rstrip(".") for name in allowed_hosts}
        self._judged: dict[bytes, bool] = {}

    @property
    def has_token(self) -> bool:
        return self._token is not None

    def screen(self, scope: MutableMapping[str, Any]) -> bool:
        """Check one HTTP request's headers; True when it may write (token given, or the server has none).

        Raises:
            MalformedRequestError: a ``Host`` this server does not answer (400).
            ForbiddenError: a POST sent by a page of another site (403).
            UnsupportedMediaTypeError: a POST body declared as something other than JSON (415).
        """
        host = origin = content_type = authorization = site = None
        binary = False
        for key, value in scope["headers"]:
            if key == b"host":
                host = value
            elif key == b"content-type":
                content_type = value
            elif key == b"authorization":
                authorization = value
            elif key == b"origin":
                origin = value
            elif key == b"sec-fetch-site":
                site = value
            elif key == b"inference-header-content-length":
                binary = True  # Triton's binary extension: read_body answers it with its own 400
        if host is not None and not self._known_host(host):
            shown = host.decode("latin-1")[:100]
            raise MalformedRequestError(f"This server does not answer the Host name {shown!r}; call it by a loopback "
                                        "name, an IP address or a name given to `shipyard serve --allowed-host`.",
                                        field="host")
        if scope["method"] not in _SAFE_METHODS:
            if content_type is not None and not binary and not _is_json(content_type):
                shown = content_type.decode("latin-1").split(";")[0].strip()[:100]
                raise UnsupportedMediaTypeError(f"The body is declared as {shown!r}; send JSON with 'Content-Type: "
                                                "application/json' (text, form and multipart bodies are refused).",
                                                field="content-type")
            if site == b"cross-site" or (origin is not None and not _same_origin(origin, host)):
                raise ForbiddenError("This request came from a web page of another site, so it was refused; call "
                                     "the server from a program, not from a page of another origin.")
        return self.authorized(authorization)

    def authorized(self, authorization: bytes | str | None) -> bool:
        """True when the server has no token, or ``authorization`` is ``Bearer <token>`` (constant-time compare)."""
        if self._token is None:
            return True
        if authorization is None:
            return False
        value = authorization.encode("latin-1") if isinstance(authorization, str) else authorization
        if value[:7].lower() != b"bearer ":
            return False
        return hmac.compare_digest(value[7:], self._token)

    def _known_host(self, raw: bytes) -> bool:
        verdict = self._judged.get(raw)
        if verdict is None:
            verdict = self._judge(raw)
            if len(self._judged) < _HOSTS_REMEMBERED:
                self._judged[raw] = verdict
        return verdict

    def _judge(self, raw: bytes) -> bool:
        try:
            text = raw.decode("ascii").strip().lower()
        except UnicodeDecodeError:
            return False
        if not text:
            return True  # HTTP/1.0 without a Host: no browser sends that
        if text.startswith("["):
            end = text.find("]")
            name, port = (text[:end + 1], text[end + 1:]) if end > 0 else ("", "")
            if end < 0 or (port and not (port[0] == ":" and port[1:].isdigit())):
                return False
        else:
            name, colon, port = text.partition(":")
            if colon and not port.isdigit():
                return False
        name = name.rstrip(".")
        return name in self._names or _is_address(name)


def require_write(access: Access, authorization: str | None) -> None:
    """Refuse a write (feedback) without the server's token, when it has one."""
    if not access.authorized(authorization):
        raise UnauthorizedError("This endpoint needs the server's token: send 'Authorization: Bearer <token>'.")


def _same_origin(origin: bytes, host: bytes | None) -> bool:
    """``Origin: http://localhost:8000`` against ``Host: localhost:8000`` (``null`` matches nothing)."""
    _scheme, separator, rest = origin.partition(b"://")
    return bool(separator) and host is not None and rest.split(b"/", 1)[0].lower() == host.lower()


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))
