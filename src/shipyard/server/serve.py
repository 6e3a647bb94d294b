"""Running the team server: uvicorn with one or more worker processes, each building its app from the environment.

This process binds the listening socket first, so that a taken port or an address that is not this machine's is
one clear error (exit 2) rather than uvicorn's exit code, and the bound address is known before any worker
starts. One worker then runs in this process; several run as uvicorn's supervised worker processes sharing it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from ..errors import ConfigError
from .app import ENV_AUTH, ENV_DATABASE, ENV_HOSTS, ENV_OBJECTS

APP_FACTORY = "shipyard.server.app:create_app_from_env"


def serve(*, backend_store_uri: str, artifacts_destination: str, host: str, port: int, workers: int = 1,
          auth: bool = True, allowed_hosts: tuple[str, ...] = (), log_level: str = "warning",
          on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM).

    Raises:
        ConfigError: the address cannot be listened on (taken, or not an address of this machine), or a heartbeat
            setting is not a duration (said here once, not by every worker).
    """
    import uvicorn

    from ..store.reaper import heartbeat_interval_s, heartbeat_timeout_s

    heartbeat_interval_s(), heartbeat_timeout_s()
    sock = listen(host, port)
    os.environ.update({ENV_DATABASE: backend_store_uri, ENV_OBJECTS: artifacts_destination,
                       ENV_AUTH: "1" if auth else "0", ENV_HOSTS: ",".join(allowed_hosts)})
    config = uvicorn.Config(APP_FACTORY, factory=True, host=host, port=port, workers=workers, log_level=log_level,
                            lifespan="off", access_log=False)
    bound = sock.getsockname()
    url = f"http://{host if ':' not in host else f'[{host}]'}:{bound[1]}"
    if workers <= 1:
        class _Announcing(uvicorn.Server):
            async def startup(self, sockets=None):  # type: ignore[no-untyped-def]
                await super().startup(sockets)
                if on_ready is not None and self.started:
                    on_ready(url)

        _Announcing(config).run(sockets=[sock])
        return
    from uvicorn.supervisors import Multiprocess

    if on_ready is not None:
        on_ready(url)
    Multiprocess(config, sockets=[sock]).run()


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (as uvicorn binds: address reuse, inheritable by workers)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        shown = f"[{host}]" if ":" in host else host
        raise ConfigError(f"Cannot listen on {shown}:{port}: {exc.strerror}; choose another --port, or a --host "
                          "that is an address of this machine.") from exc
    sock.set_inheritable(True)
    return sock
