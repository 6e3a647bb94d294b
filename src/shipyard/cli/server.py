"""``shipyard server``: the team server, its database migrations and its tokens."""

from __future__ import annotations

import typer

from . import _output

app = typer.Typer(
    help="Run one Shipyard for a team: the MLflow-compatible API and the web UI on a shared database.\n\n"
    "Example: shipyard server --backend-store-uri postgresql+psycopg://ml@db/shipyard "
    "--artifacts-destination /srv/shipyard/objects --host 0.0.0.0 --workers 4",
    invoke_without_command=True,
)
db_app = typer.Typer(help="The shared database's schema.\n\nExample: shipyard server db upgrade "
                     "--backend-store-uri sqlite:////srv/shipyard.db", no_args_is_help=True)
token_app = typer.Typer(help="Who may call the server: tokens with a role (reader, writer, admin).\n\n"
                        "Example: shipyard server token create --name alice --role writer --expires 90d "
                        "--backend-store-uri sqlite:////srv/shipyard.db", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")

_URI_HELP = "The metadata database: sqlite:////path/shipyard.db or postgresql+psycopg://user@host/db."


@app.callback()
def server_command(
    ctx: typer.Context,
    backend_store_uri: str | None = typer.Option(None, "--backend-store-uri", envvar="SHIPYARD_DATABASE_URI",
                                                 help=_URI_HELP),
    artifacts_destination: str | None = typer.Option(None, "--artifacts-destination", help="Where artifacts and "
                                                     "model files go: a folder (or an object store URI)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 exposes the server)."),
    port: int = typer.Option(5000, "--port", min=0, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes."),
    insecure_no_auth: bool = typer.Option(False, "--insecure-no-auth", help="Accept requests without a token, "
                                          "every caller an admin (not recommended beyond 127.0.0.1)."),
    allowed_host: list[str] = typer.Option([], "--allowed-host", metavar="NAME", help="A Host name the web UI "
                                           "answers besides loopback names and --host (repeatable)."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve the MLflow-compatible API and the web UI; every request needs `Authorization: Bearer <token>`.

    The database must already be at this version's schema: run `shipyard server db upgrade` first (the server
    never migrates a shared database by itself). Only --insecure-no-auth turns the token check off; beyond
    loopback it says so in a warning, as `shipyard serve` does.

    Example: shipyard server --backend-store-uri sqlite:////srv/shipyard.db --artifacts-destination /srv/objects
    """
    if ctx.invoked_subcommand is not None:
        return
    from ..errors import ConfigError
    from ..server.database import open_current
    from ..server.serve import serve
    from ..serving.access import host_names, is_loopback

    if not backend_store_uri or not artifacts_destination:
        raise ConfigError("shipyard server needs --backend-store-uri (the database) and --artifacts-destination "
                          "(where artifacts go).")
    # The rule of `shipyard ui` and `serve`: beyond loopback, no auth only when asked for by name, and said aloud.
    if insecure_no_auth and not is_loopback(host):
        _output.err_console.print(f"[yellow]Warning: --insecure-no-auth: anyone who can reach {_output.escape(host)} "
                                  "may read, log and delete as an admin; create tokens instead.[/]")
    db = open_current(backend_store_uri)
    try:
        from ..server.tokens import list_tokens

        active = [token for token in list_tokens(db) if token.state() == "active"]
    finally:
        db.dispose()

    def ready(url: str) -> None:
        mode = "without auth" if insecure_no_auth else "tokens required"
        _output.console.print(f"Shipyard server at [bold]{url}[/] ({mode}; MLflow clients: "
                              f"MLFLOW_TRACKING_URI={url}). Ctrl-C stops it.")
        if not insecure_no_auth and not active:
            _output.console.print("No active tokens yet: create one with `shipyard server token create --name NAME "
                                  "--role admin --backend-store-uri ...`.")

    serve(backend_store_uri=backend_store_uri, artifacts_destination=artifacts_destination, host=host, port=port,
          workers=workers, auth=not insecure_no_auth, allowed_hosts=(host, *host_names(host, allowed_host)),
          log_level=log_level, on_ready=ready)


@db_app.command("upgrade")
def db_upgrade_command(
    backend_store_uri: str = typer.Option(..., "--backend-store-uri", envvar="SHIPYARD_DATABASE_URI", help=_URI_HELP),
) -> None:
    """Bring the database to this version's schema (Alembic migrations, under a lock); creates a SQLite file.

    Example: shipyard server db upgrade --backend-store-uri postgresql+psycopg://ml@db/shipyard
    """
    from ..server.database import upgrade

    before, after = upgrade(backend_store_uri)
    if before == after:
        _output.console.print(f"The database is at schema {after} already.")
    else:
        _output.console.print(f"Upgraded the database from schema {before or '(none)'} to {after}.")


@token_app.command("create")
def token_create_command(
    name: str = typer.Option(..., "--name", help="Who holds the token; recorded as the user of what they log."),
    role: str = typer.Option(..., "--role", help="reader | writer | admin."),
    expires: str | None = typer.Option(None, "--expires", help="Lifetime such as 90d, 12h, 2w (default: none)."),
    backend_store_uri: str = typer.Option(..., "--backend-store-uri", envvar="SHIPYARD_DATABASE_URI", help=_URI_HELP),
) -> None:
    """Create a token and print it once, alone on the last line; the database keeps only a salted hash.

    Example: TOKEN=$(shipyard server token create --name ci --role writer --backend-store-uri ... | tail -1)
    """
    from ..server.database import open_current
    from ..server.tokens import create_token, describe_time, parse_duration

    seconds = parse_duration(expires) if expires else None
    db = open_current(backend_store_uri)
    try:
        token, info = create_token(db, name=name, role=role, expires_in_s=seconds)
    finally:
        db.dispose()
    _output.console.print(f"Created the {info.role} token {info.id} for {info.name!r} "
                          f"(expires {describe_time(info.expires_at) if info.expires_at else 'never'}). "
                          "It is shown only now:", highlight=False)
    print(token)


@token_app.command("list")
def token_list_command(
    backend_store_uri: str = typer.Option(..., "--backend-store-uri", envvar="SHIPYARD_DATABASE_URI", help=_URI_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List tokens (never the tokens themselves): id, name, role, state, created, expires.

    Example: shipyard server token list --backend-store-uri sqlite:////srv/shipyard.db
    """
    from ..server.database import open_current
    from ..server.tokens import describe_time, list_tokens

    db = open_current(backend_store_uri)
    try:
        found = list_tokens(db)
    finally:
        db.dispose()
    if json_output:
        _output.print_json([{"id": t.id, "name": t.name, "role": t.role, "state": t.state(),
                             "created_at": t.created_at, "expires_at": t.expires_at, "revoked_at": t.revoked_at}
                            for t in found])
        return
    if not found:
        _output.console.print("No tokens yet; create one with `shipyard server token create`.")
        return
    for t in found:
        _output.console.print(f"{t.id}  {t.name:<20} {t.role:<7} {t.state():<8} created {describe_time(t.created_at)}"
                              f"  expires {describe_time(t.expires_at)}", highlight=False)


@token_app.command("revoke")
def token_revoke_command(
    name_or_id: str = typer.Argument(..., help="A token's id, or a name (revokes every active token of it)."),
    backend_store_uri: str = typer.Option(..., "--backend-store-uri", envvar="SHIPYARD_DATABASE_URI", help=_URI_HELP),
) -> None:
    """Revoke tokens: requests carrying them get 401 from then on.

    Example: shipyard server token revoke alice --backend-store-uri sqlite:////srv/shipyard.db
    """
    from ..server.database import open_current
    from ..server.tokens import revoke_tokens

    db = open_current(backend_store_uri)
    try:
        revoked = revoke_tokens(db, name_or_id)
    finally:
        db.dispose()
    _output.console.print("Revoked " + ", ".join(f"{t.id} ({t.name}, {t.role})" for t in revoked) + ".",
                          highlight=False)
