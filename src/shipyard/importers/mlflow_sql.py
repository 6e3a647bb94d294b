"""A local MLflow store read directly: its SQL tables through SQLAlchemy, its artifacts from a folder.

``--from sqlite:///mlflow.db --artifacts ./mlartifacts`` (any SQLAlchemy URL MLflow's ``--backend-store-uri``
takes works the same). Artifact URIs map to files this way: ``mlflow-artifacts:/<path>`` (what ``mlflow server``
records) is ``<path>`` under the ``--artifacts`` folder; ``file://`` URIs and plain paths are read where they
point. The database is opened read-only in spirit: nothing here writes to it.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError, NotFoundError, NotSupportedError, StoreUnavailableError, ValidationError
from ..extras import from_module_not_found
from .mlflow_source import MlflowExperiment, MlflowModelVersion, MlflowRegisteredModel, MlflowRun

_PROXY_SCHEME = "mlflow-artifacts:"
_REQUIRED_TABLES = {"experiments", "runs", "params", "tags", "metrics"}


class SqlSource:
    """:class:`~.mlflow_source.MlflowSource` over an MLflow backend store database and its artifacts folder."""

    def __init__(self, url: str, artifacts: Path | None) -> None:
        import sqlalchemy

        self.description = url
        self._artifacts = artifacts
        if artifacts is not None and not artifacts.is_dir():
            raise NotFoundError(f"The artifacts folder {artifacts} does not exist; pass --artifacts the folder "
                                "`mlflow server --artifacts-destination` wrote to (often ./mlartifacts).")
        if url.startswith("sqlite:"):
            path = Path(urllib.parse.unquote(url.split("sqlite:///", 1)[-1]))
            if not path.is_file():
                raise NotFoundError(f"The MLflow database {path} does not exist; check --from.")
            url = f"sqlite:///file:{path}?mode=ro&uri=true"  # never creates, never writes
        elif url.startswith(("postgresql://", "postgres://")):  # MLflow's spelling; Shipyard's driver is psycopg 3
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        try:
            self._engine = sqlalchemy.create_engine(url)
            with self._engine.connect() as conn:
                tables = set(sqlalchemy.inspect(conn).get_table_names())
        except ModuleNotFoundError as exc:  # the database's driver
            raise (from_module_not_found(exc, "read an MLflow database") or ConfigError(
                f"Cannot read {self.description}: its database driver {exc.name!r} is not installed.")) from None
        except sqlalchemy.exc.ArgumentError as exc:
            raise ValidationError(f"--from {self.description!r} is not a database URL ({exc}).", field="from") from None
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise StoreUnavailableError(f"Cannot open the MLflow database {self.description}: "
                                        f"{str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]}.") from None
        missing = _REQUIRED_TABLES - tables
        if missing:
            raise ValidationError(f"{self.description} is not an MLflow store: it has no {', '.join(sorted(missing))} "
                                  "table; pass the database of `mlflow server --backend-store-uri`.", field="from")
        self._has_registry = {"registered_models", "model_versions"} <= tables
        self._has_aliases = "registered_model_aliases" in tables

    def experiments(self) -> list[MlflowExperiment]:
        rows = self._rows("SELECT experiment_id, name FROM experiments WHERE lifecycle_stage = 'active' "
                          "ORDER BY experiment_id")
        return [MlflowExperiment(str(row[0]), str(row[1])) for row in rows]

    def runs(self, experiment_id: str) -> Iterator[MlflowRun]:
        rows = self._rows("SELECT run_uuid, name, user_id, status, start_time, end_time, artifact_uri FROM runs "
                          "WHERE experiment_id = :e AND lifecycle_stage = 'active' ORDER BY start_time, run_uuid",
                          e=int(experiment_id))
        for row in rows:
            run_id = str(row[0])
            params = dict(self._rows("SELECT key, value FROM params WHERE run_uuid = :r", r=run_id))
            tags = dict(self._rows("SELECT key, value FROM tags WHERE run_uuid = :r", r=run_id))
            keys = tuple(key for (key,) in self._rows(
                "SELECT DISTINCT key FROM metrics WHERE run_uuid = :r ORDER BY key", r=run_id))
            yield MlflowRun(id=run_id, experiment_id=experiment_id, name=row[1] or tags.get("mlflow.runName"),
                            user=row[2], status=str(row[3] or "FINISHED"), start_ms=row[4], end_ms=row[5],
                            artifact_uri=row[6], params={str(k): str(v or "") for k, v in params.items()},
                            tags={str(k): str(v or "") for k, v in tags.items()}, metric_keys=keys)

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float, int]]:
        rows = self._rows("SELECT step, value, timestamp, is_nan FROM metrics WHERE run_uuid = :r AND key = :k "
                          "ORDER BY step, timestamp", r=run_id, k=key)
        return [(int(step or 0), math.nan if is_nan else float(value), int(timestamp or 0))
                for step, value, timestamp, is_nan in rows]

    def fetch_artifacts(self, artifact_uri: str, scratch: Path) -> Path | None:
        folder = self._local_folder(artifact_uri)
        return folder if folder.is_dir() and any(path.is_file() for path in folder.rglob("*")) else None

    def registered_models(self) -> list[MlflowRegisteredModel]:
        if not self._has_registry:
            return []
        models: list[MlflowRegisteredModel] = []
        for (name,) in self._rows("SELECT name FROM registered_models ORDER BY name"):
            rows = self._rows("SELECT version, run_id, source, storage_location, description FROM model_versions "
                              "WHERE name = :n AND current_stage != 'Deleted_Internal' ORDER BY version", n=name)
            versions = tuple(MlflowModelVersion(str(name), int(r[0]), r[1] or None, r[2], r[3], r[4] or None)
                             for r in rows)
            aliases = dict(self._rows("SELECT alias, version FROM registered_model_aliases WHERE name = :n", n=name)
                           ) if self._has_aliases else {}
            models.append(MlflowRegisteredModel(str(name), versions, {str(a): int(v) for a, v in aliases.items()}))
        return models

    def close(self) -> None:
        self._engine.dispose()

    def _local_folder(self, artifact_uri: str) -> Path:
        if artifact_uri.startswith(_PROXY_SCHEME):
            if self._artifacts is None:
                raise NotSupportedError(f"artifacts at {artifact_uri!r} live in the server's artifacts folder; pass "
                                        "it with --artifacts")
            relative = artifact_uri[len(_PROXY_SCHEME):].lstrip("/")
            return self._artifacts.joinpath(*relative.split("/"))
        parsed = urllib.parse.urlparse(artifact_uri)
        if parsed.scheme == "file":
            return Path(urllib.parse.unquote(parsed.path))
        if parsed.scheme == "" or len(parsed.scheme) == 1:  # a plain path (a drive letter is not a scheme)
            return Path(artifact_uri)
        raise NotSupportedError(f"artifacts at {artifact_uri!r} are in a remote store; copy them into a folder and "
                                "import from the MLflow server instead, or pass --artifacts")

    def _rows(self, query: str, **values: Any) -> list[Any]:
        import sqlalchemy

        try:
            with self._engine.connect() as conn:
                return list(conn.execute(sqlalchemy.text(query), values).all())
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise StoreUnavailableError(f"Cannot read the MLflow database {self.description}: "
                                        f"{str(getattr(exc, 'orig', exc)).splitlines()[0]}.") from None
