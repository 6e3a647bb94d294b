"""Running the UI: one uvicorn process on 127.0.0.1 unless told otherwise, stopped cleanly by Ctrl-C or SIGTERM."""

from __future__ import annotations

from collections.abc import Callable

from .app import create_app
from .settings import UISettings


def serve_ui(settings: UISettings, *, host: str = "127.0.0.1", port: int = 5000,
             on_ready: Callable[[str], None] | None = None, log_level: str = "warning") -> None:
    """Serve the UI until interrupted; ``on_ready`` gets the base URL once the socket listens (port 0 works)."""
    import uvicorn

    config = uvicorn.Config(create_app(settings), host=host, port=port, log_level=log_level, lifespan="off",
                            access_log=False)

    class _Announcing(uvicorn.Server):
        async def startup(self, sockets=None):  # type: ignore[no-untyped-def]
            await super().startup(sockets)
            if on_ready is not None and self.started:
                bound = self.servers[0].sockets[0].getsockname()
                on_ready(f"http://{bound[0]}:{bound[1]}")

    server = _Announcing(config)
    server.run()
