"""``shipyard ui``: the web UI over the store (runs, models, pipelines, deployments and monitoring)."""

from __future__ import annotations

import typer

from . import _output
from ._store import existing_store, project_root


def ui_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 exposes the UI)."),
    port: int = typer.Option(5000, "--port", min=0, max=65535, help="Port to listen on (0 picks a free one)."),
    allow_write: bool = typer.Option(False, "--allow-write", help="Allow changes from the UI (moving aliases); "
                                     "read-only without it."),
    token: str | None = typer.Option(None, "--token", envvar="SHIPYARD_TOKEN", help="Token a change must carry "
                                     "(with --allow-write)."),
    log_dir: str | None = typer.Option(None, "--log-dir", help="Prediction log folder, when serving.yaml sets "
                                       "log_dir."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
) -> None:
    """Browse runs, compare them, follow lineage, see deployments and monitoring in the browser.

    Example: shipyard ui --port 5000
    """
    from ..errors import ConfigError
    from ..ui.app import UISettings
    from ..ui.server import serve_ui

    if token and not allow_write:
        raise ConfigError("--token protects changes, which need --allow-write: add --allow-write or drop --token.")
    store = existing_store()
    settings = UISettings(store=store, project_dir=project_root(), log_dir=log_dir, allow_write=allow_write,
                          token=token)

    def ready(url: str) -> None:
        mode = "changes allowed" + (" with the token" if token else "") if allow_write else "read-only"
        _output.console.print(f"Shipyard UI at [bold]{url}[/] ({mode}). Ctrl-C stops it.")

    serve_ui(settings, host=host, port=port, on_ready=ready, log_level=log_level)
