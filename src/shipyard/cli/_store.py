"""Which store a command uses: ``--store`` if given, else the usual discovery.

Read commands never create a store as a side effect; ``--store`` is kept here rather than in
``os.environ`` so an embedding program (or a test) is left as it was.

Every command module imports this one, so the store package (and whatever the database layer needs) is
imported inside the functions: ``shipyard --help`` and commands that never open a store do not pay for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NotFoundError, NotSupportedError
from ..store.location import resolve_location

if TYPE_CHECKING:
    from ..store import Store
    from ..tracking.remote import RemoteTracker

TRACKING_URI_ENV = "SHIPYARD_TRACKING_URI"  # as tracking/remote.py names it (not imported: the CLI starts light)

_chosen: str | None = None


def choose(location: str | None) -> None:
    """Record the ``--store`` option for the commands of this invocation."""
    global _chosen
    _chosen = location


def existing_store() -> Store:
    """The store to read, refusing to create an empty one just to report that it is empty."""
    refuse_beside_a_tracking_server()
    location = resolve_location(store=_chosen)
    database = location.local_database  # a database elsewhere (PostgreSQL...) is named by the store when it opens
    if database is not None and not os.path.lexists(database):  # one that is there but damaged: the same
        where = ("" if _chosen else f" (searched from {Path.cwd()} upwards for .shipyard/)")
        raise NotFoundError(
            f"No Shipyard store at {location.root}{where}. Log a run with shipyard.start_run(), "
            "or point --store / SHIPYARD_STORE at an existing store."
        )
    return writable_store()


def writable_store() -> Store:
    """The store to write to, created on first use."""
    from ..store.store import current_store, open_location, use_location

    refuse_beside_a_tracking_server()

    if _chosen:  # --store stands for SHIPYARD_STORE: the other SHIPYARD_* variables still name their parts
        location = resolve_location(store=_chosen)
        if open_location() != location:
            opened = use_location(location)
            assert opened is not None
            return opened
    return current_store()


def workspace_store() -> Store:
    """The store a pipeline keeps its data cache in: the workspace's own, also beside a tracking server (which gets
    the stage runs: ``pipeline/stage_runs.py``), since the cache belongs to the workspace, not to the team."""
    if os.environ.get(TRACKING_URI_ENV) and not _chosen:  # not tracking_server_of_command(): status stays light
        from ..store.store import current_store

        return current_store()
    return writable_store()


def tracking_server_of_command() -> RemoteTracker | None:
    """The team server a command talks to: the one ``SHIPYARD_TRACKING_URI`` names, unless ``--store`` chose a store."""
    if _chosen:
        return None
    from ..tracking.remote import tracking_server

    return tracking_server()


def refuse_beside_a_tracking_server(instead: str | None = None) -> None:
    """A command that reads or writes a store directly, run with a tracking server set and no store named, would
    find some local ``.shipyard/`` the team never sees: refuse in one line instead, saying ``instead`` (with
    ``{uri}`` for the server's address) when the team server offers the same elsewhere."""
    from ..store.location import DATABASE_ENV

    uri = os.environ.get(TRACKING_URI_ENV)
    if not uri or store_was_chosen() or os.environ.get(DATABASE_ENV):
        return
    import click

    context = click.get_current_context(silent=True)
    command = context.command_path if context is not None else "this command"
    where = instead.format(uri=uri) if instead else f"`{command}` does not go through the tracking server {uri} yet"
    raise NotSupportedError(f"{where}: give --store (or SHIPYARD_STORE) to use a local store, or unset "
                            f"{TRACKING_URI_ENV}.")


def project_root() -> Path:
    """The project folder: the nearest one above the working directory holding shipyard.yaml or .git."""
    from ..pipeline.status_memo import project_root as find_root  # the console script's fast path uses it too

    return Path(find_root(os.getcwd()))


def chosen_store_option() -> str | None:
    """The ``--store`` value of this invocation, if one was given."""
    return _chosen


def store_was_chosen() -> bool:
    """Whether the user named a store (``--store`` or ``SHIPYARD_STORE``) rather than leaving it to discovery."""
    from ..store.location import STORE_ENV

    return bool(_chosen) or bool(os.environ.get(STORE_ENV))


LOG_DIR_HELP = ("The prediction log: a folder or s3://bucket/prefix (default: $SHIPYARD_LOG_DIR, else log_dir "
                "of the project's serving.yaml, else the store's serving/ folder).")


def log_dir(option: str | None) -> str | None:
    """The prediction log a reading command uses, found as the web UI finds it: ``--log-dir``, else
    ``$SHIPYARD_LOG_DIR``, else ``log_dir`` of the project's ``serving.yaml`` (relative to the project),
    else None (the store's own ``serving/`` folder). A serving.yaml that does not load is left out here:
    ``shipyard serve`` is where its errors are reported."""
    from ..predlog.layout import LOG_DIR_ENV
    from ..predlog.location import is_url

    if option or os.environ.get(LOG_DIR_ENV):
        return option or os.environ.get(LOG_DIR_ENV)
    config_path = project_root() / "serving.yaml"
    if not config_path.is_file():
        return None
    from ..errors import ConfigError
    from ..serving.spec import load_config

    try:
        configured = load_config(config_path).log_dir
    except ConfigError:
        return None
    if not configured or is_url(configured):
        return configured
    folder = Path(configured).expanduser()
    return str(folder if folder.is_absolute() else project_root() / folder)
