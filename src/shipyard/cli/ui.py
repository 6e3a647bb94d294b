"""``shipyard ui``: the web UI over the store (runs, models, pipelines, deployments and monitoring)."""

from __future__ import annotations

import typer

from . import _output
from ._store import existing_store, project_root, refuse_beside_a_tracking_server


def ui_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 exposes the UI)."),
    port: int = typer.Option(5000, "--port", min=0, max=65535, help="Port to listen on (0 picks a free one)."),
    allow_write: bool = typer.Option(False, "--allow-write", help="Allow changes from the UI (moving aliases); "
                                     "read-only without it."),
    token: str | None = typer.Option(None, "--token", envvar="SHIPYARD_TOKEN", help="Token a change must carry "
                                     "(with --allow-write)."),
    log_dir: str | None = typer.Option(None, "--log-dir", help="Prediction log: a folder or s3://bucket/prefix "
                                       "(default: $SHIPYARD_LOG_DIR, else serving.yaml's log_dir)."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
    allowed_host: list[str] = typer.Option([], "--allowed-host", metavar="NAME", help="A Host name the UI "
                                           "answers besides loopback and --host, e.g. the name a proxy forwards "
                                           "(repeatable)."),
) -> None:
    """Browse runs, compare them, follow lineage, see deployments and monitoring in the browser.

    Requests whose Host header is not 127.0.0.1, localhost, [::1], the --host address or an --allowed-host
    name are refused (400), which stops DNS-rebinding pages. A UI listening beyond loopback with
    --allow-write must have a --token.

    Example: shipyard ui --port 5000
    """
    import click

    from ..errors import ConfigError
    from ..ui.server import serve_ui
    from ..ui.settings import UISettings

    refuse_beside_a_tracking_server("`shipyard ui` reads a store, and the team server {uri} serves the web UI "
                                    "itself (open {uri}/ and sign in with a token)")
    if token and not allow_write:
        source = click.get_current_context().get_parameter_source("token")
        if source is click.core.ParameterSource.COMMANDLINE:
            raise ConfigError("--token protects changes, which need --allow-write: add --allow-write or drop "
                              "--token.")
        token = None  # SHIPYARD_TOKEN exported for other commands (serve, a team server) means nothing read-only
    if allow_write and not token and not _is_loopback(host):
        raise ConfigError(f"--host {host} lets other machines reach the UI, so --allow-write needs a --token "
                          "(or SHIPYARD_TOKEN) that every change must carry; add one, or listen on 127.0.0.1.")
    hosts = [host, *allowed_host]
    if _is_wildcard(host):  # 0.0.0.0 is no name a browser sends: accept this machine's own name too
        import socket

        hosts.append(socket.gethostname())
    store = existing_store()
    settings = UISettings(store=store, project_dir=project_root(), log_dir=log_dir, allow_write=allow_write,
                          token=token, allowed_hosts=tuple(hosts))

    def ready(url: str) -> None:
        mode = "changes allowed" + (" with the token" if token else "") if allow_write else "read-only"
        _output.console.print(f"Shipyard UI at [bold]{url}[/] ({mode}). Ctrl-C stops it.")
        if not _is_loopback(host):
            _output.console.print(f"It answers the Host names {', '.join(settings.trusted_hosts())}; add others "
                                  "with --allowed-host NAME.")

    serve_ui(settings, host=host, port=port, on_ready=ready, log_level=log_level)


def _is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``: an address only this machine can reach."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_unspecified
    except ValueError:
        return False
