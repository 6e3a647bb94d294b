"""``shipyard server db upgrade`` and ``shipyard server token ...`` as an admin types them, against real databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from shipyard.store.db import SCHEMA_HEAD
from tests.integration.server._server import TeamServer, create_token, free_port, shipyard


def test_a_server_on_a_database_without_the_schema_refuses_in_one_line_naming_db_upgrade(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    done = shipyard("server", "--backend-store-uri", uri, "--artifacts-destination", str(tmp_path / "objects"),
                    "--port", str(free_port()), check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "shipyard server db upgrade" in lines[0], done.stderr
    assert not (tmp_path / "new.db").exists()  # refusing created nothing


def test_a_server_on_an_older_schema_refuses_and_db_upgrade_migrates_it(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'team.db'}"
    first = shipyard("server", "db", "upgrade", "--backend-store-uri", uri)
    assert f"from schema (none) to {SCHEMA_HEAD}" in first.stdout
    with sqlite3.connect(tmp_path / "team.db") as conn:  # as a database left by the previous version looks
        conn.execute("DROP TABLE api_tokens")
        conn.execute("DROP TABLE run_inputs")
        conn.execute("DROP TABLE idempotency_keys")
        conn.execute("DROP TABLE rollouts")
        conn.execute("DROP TABLE bandit_arms")
        conn.execute("DROP TABLE bandit_rewards")
        conn.execute("DROP TABLE experiment_keys")
        conn.execute("UPDATE alembic_version SET version_num = '0006'")
    refused = shipyard("server", "token", "list", "--backend-store-uri", uri, check=False)
    assert refused.returncode == 2
    assert f"schema 0006, older than this Shipyard ({SCHEMA_HEAD})" in refused.stderr
    assert "shipyard server db upgrade" in refused.stderr
    upgraded = shipyard("server", "db", "upgrade", "--backend-store-uri", uri)
    assert f"from schema 0006 to {SCHEMA_HEAD}" in upgraded.stdout
    again = shipyard("server", "db", "upgrade", "--backend-store-uri", uri)
    assert f"at schema {SCHEMA_HEAD} already" in again.stdout


def test_token_create_prints_the_token_alone_last_and_the_database_keeps_only_a_salted_hash(
        tmp_path: Path, database: str) -> None:
    token = create_token(database, "alice", "writer", "--expires", "90d")
    assert token.startswith("shy_") and " " not in token
    secret = token.split("_", 2)[2]  # the id is hex; the secret is urlsafe base64 and may itself hold "_"
    path = database.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT id, name, role, salt, hash, expires_at FROM api_tokens").fetchall()
    assert len(rows) == 1
    token_id, name, role, salt, digest, expires = rows[0]
    assert (name, role) == ("alice", "writer") and token.startswith(f"shy_{token_id}_") and expires is not None
    assert secret not in Path(path).read_bytes().decode("latin-1")  # not the secret, in any column
    assert len(salt) == 32 and len(digest) == 64 and secret not in (salt, digest)
    listing = shipyard("server", "token", "list", "--backend-store-uri", database)
    assert "alice" in listing.stdout and "writer" in listing.stdout and "active" in listing.stdout
    assert secret not in listing.stdout


def test_token_commands_refuse_bad_roles_durations_and_unknown_names_with_exit_2(database: str) -> None:
    bad_role = shipyard("server", "token", "create", "--name", "x", "--role", "owner", "--backend-store-uri",
                        database, check=False)
    assert bad_role.returncode == 2 and "reader, writer, admin" in bad_role.stderr
    bad_expiry = shipyard("server", "token", "create", "--name", "x", "--role", "reader", "--expires", "soon",
                          "--backend-store-uri", database, check=False)
    assert bad_expiry.returncode == 2 and "--expires 'soon'" in bad_expiry.stderr
    unknown = shipyard("server", "token", "revoke", "nobody", "--backend-store-uri", database, check=False)
    assert unknown.returncode == 2 and "nobody" in unknown.stderr


def test_insecure_no_auth_on_loopback_takes_requests_without_a_token_and_records_the_client_user(
        tmp_path: Path, database: str) -> None:
    server = TeamServer(database, tmp_path / "objects", tmp_path / "server", extra=("--insecure-no-auth",)).start()
    try:
        experiment = server.call("POST", "/api/2.0/mlflow/experiments/create", json={"name": "open"})
        assert experiment.status_code == 200, experiment.text
        created = server.call("POST", "/api/2.0/mlflow/runs/create",
                              json={"experiment_id": experiment.json()["experiment_id"], "user_id": "carol"})
        assert created.status_code == 200, created.text
        assert created.json()["run"]["info"]["user_id"] == "carol"
    finally:
        server.stop()
    assert "without auth" in server.output


def test_a_port_in_use_is_refused_in_one_line_with_exit_2(tmp_path: Path, database: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for workers in ("1", "2"):
            done = shipyard("server", "--backend-store-uri", database, "--artifacts-destination",
                            str(tmp_path / "objects"), "--port", port, "--workers", workers, check=False)
            assert done.returncode == 2, (workers, done.returncode, done.stderr)
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "--port" in lines[0], done.stderr
