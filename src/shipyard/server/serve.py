"""Running the team server: uvicorn with one or more worker processes, each building its app from the environment.

One worker runs in this process (``on_ready`` is told the bound address); several run as uvicorn's supervised
worker processes sharing one listening socket, which this process binds first so that the address is known
(and a taken port is reported) before any worker starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .app import ENV_AUTH, ENV_DATABASE, ENV_HOSTS, ENV_OBJECTS

APP_FACTORY = "shipyard.server.app:create_app_from_env"


def serve(*, backend_store_uri: str, artifacts_destination: str, host: str, port: int, workers: int = 1,
          auth: bool = True, allowed_hosts: tuple[str, ...] = (), log_level: str = "warning",
          on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    import uvicorn

    os.environ.update({ENV_DATABASE: backend_store_uri, ENV_OBJECTS: artifacts_destination,
                       ENV_AUTH: "1" if auth else "0", ENV_HOSTS: ",".join(allowed_hosts)})
    config = uvicorn.Config(APP_FACTORY, factory=True, host=host, port=port, workers=workers, log_level=log_level,
                            lifespan="off", access_log=False)
    if workers <= 1:
        class _Announcing(uvicorn.Server):
            async def startup(self, sockets=None):  # type: ignore[no-untyped-def]
                await super().startup(sockets)
                if on_ready is not None and self.started:
                    bound = self.servers[0].sockets[0].getsockname()
                    on_ready(f"http://{bound[0]}:{bound[1]}")

        _Announcing(config).run()
        return
    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()
    if on_ready is not None:
        bound = sock.getsockname()
        on_ready(f"http://{bound[0]}:{bound[1]}")
    Multiprocess(config, sockets=[sock]).run()
