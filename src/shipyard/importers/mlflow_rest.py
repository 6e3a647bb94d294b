"""An MLflow server read through its REST API (``/api/2.0/mlflow/...`` and the ``mlflow-artifacts`` proxy).

Plain ``urllib``: no ``mlflow`` package and no HTTP library beyond the standard one. A protected server takes a
token (``MLFLOW_TRACKING_TOKEN`` or ``--token``, sent as ``Authorization: Bearer``) or basic auth
(``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``), the variables MLflow's own client reads. Artifacts are
read through the server's artifact proxy (``mlflow-artifacts:/`` URIs, what ``mlflow server`` gives by default);
a run whose artifacts live elsewhere (``s3://`` without the proxy) is reported, not guessed at.
"""

from __future__ import annotations

import base64
import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import NotSupportedError, ShipyardError, StoreUnavailableError, UnauthorizedError, ValidationError
from .mlflow_source import MlflowExperiment, MlflowModelVersion, MlflowRegisteredModel, MlflowRun

TIMEOUT_S = 60
_PAGE = 1000
_HISTORY_PAGE = 25000
_PROXY_SCHEME = "mlflow-artifacts:"


class RestSource:
    """:class:`~.mlflow_source.MlflowSource` over ``http(s)://host:port`` of an MLflow tracking server."""

    def __init__(self, url: str, *, token: str | None = None, username: str | None = None,
                 password: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.description = self.url
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        elif username is not None and password is not None:
            pair = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {pair}"

    def experiments(self) -> list[MlflowExperiment]:
        found: list[MlflowExperiment] = []
        for page in self._pages("POST", "experiments/search", {"max_results": _PAGE, "view_type": "ACTIVE_ONLY"}):
            found += [MlflowExperiment(str(item["experiment_id"]), str(item["name"]))
                      for item in page.get("experiments", [])]
        return found

    def runs(self, experiment_id: str) -> Iterator[MlflowRun]:
        body = {"experiment_ids": [experiment_id], "max_results": _PAGE, "run_view_type": "ACTIVE_ONLY",
                "order_by": ["attributes.start_time ASC"]}
        for page in self._pages("POST", "runs/search", body):
            for item in page.get("runs", []):
                yield _run(item)

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float, int]]:
        points: list[tuple[int, float, int]] = []
        query = {"run_id": run_id, "metric_key": key, "max_results": _HISTORY_PAGE}
        for page in self._pages("GET", "metrics/get-history", query):
            points += [(int(item.get("step", 0)), _number(item.get("value")), int(item.get("timestamp", 0)))
                       for item in page.get("metrics", [])]
        return points

    def fetch_artifacts(self, artifact_uri: str, scratch: Path) -> Path | None:
        if not artifact_uri.startswith(_PROXY_SCHEME):
            raise NotSupportedError(f"artifacts at {artifact_uri!r} are not served by the MLflow server's artifact "
                                    "proxy; copy them and import from the database with --artifacts")
        root = artifact_uri[len(_PROXY_SCHEME):].lstrip("/")
        files = list(self._artifact_files(root, ""))
        if not files:
            return None
        for relative in files:
            target = scratch.joinpath(*PurePosixPath(relative).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            quoted = urllib.parse.quote(f"{root}/{relative}")
            with self._open("GET", f"{self.url}/api/2.0/mlflow-artifacts/artifacts/{quoted}") as response, \
                    open(target, "wb") as handle:
                shutil.copyfileobj(response, handle, 1 << 20)  # streamed: a large artifact never sits in memory
        return scratch

    def registered_models(self) -> list[MlflowRegisteredModel]:
        models: list[MlflowRegisteredModel] = []
        names: list[str] = []
        for page in self._pages("GET", "registered-models/search", {"max_results": _PAGE}):
            names += [str(item["name"]) for item in page.get("registered_models", [])]
        for name in names:
            detail = self._call("GET", "registered-models/get", {"name": name}).get("registered_model", {})
            aliases = {str(item["alias"]): int(item["version"]) for item in detail.get("aliases", [])}
            versions: list[MlflowModelVersion] = []
            quoted = name.replace("'", "\\'")
            for page in self._pages("GET", "model-versions/search", {"filter": f"name='{quoted}'",
                                                                     "max_results": _PAGE}):
                for item in page.get("model_versions", []):
                    version = int(item["version"])
                    location = item.get("storage_location") or self._call(
                        "GET", "model-versions/get-download-uri", {"name": name, "version": str(version)}
                    ).get("artifact_uri")
                    versions.append(MlflowModelVersion(name, version, item.get("run_id") or None,
                                                       item.get("source"), location, item.get("description") or None))
            models.append(MlflowRegisteredModel(name, tuple(sorted(versions, key=lambda v: v.version)), aliases))
        return models

    def close(self) -> None:
        return None

    def _artifact_files(self, root: str, prefix: str) -> Iterator[str]:
        path = f"{root}/{prefix}".rstrip("/")
        listing = self._get_json(f"{self.url}/api/2.0/mlflow-artifacts/artifacts?"
                                 f"{urllib.parse.urlencode({'path': path})}")
        for item in listing.get("files", []):
            name = f"{prefix}/{item['path']}".lstrip("/") if prefix else str(item["path"])
            if item.get("is_dir"):
                yield from self._artifact_files(root, name)
            else:
                yield name

    def _pages(self, method: str, endpoint: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self._call(method, endpoint, {**body, **({"page_token": token} if token else {})})
            yield page
            token = page.get("next_page_token")
            if not token:
                return

    def _call(self, method: str, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.url}/api/2.0/mlflow/{endpoint}"
        if method == "GET":
            return self._get_json(f"{url}?{urllib.parse.urlencode(body)}")
        with self._open("POST", url, json.dumps(body).encode()) as response:
            return _json(response.read(), url)

    def _get_json(self, url: str) -> dict[str, Any]:
        with self._open("GET", url) as response:
            return _json(response.read(), url)

    def _open(self, method: str, url: str, data: bytes | None = None) -> Any:
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            return urllib.request.urlopen(request, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as exc:
            raise _http_error(exc, url, self.url) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StoreUnavailableError(f"Cannot reach the MLflow server at {self.url} ({reason}); check --from "
                                        "and that the server is running.") from None


def _http_error(exc: urllib.error.HTTPError, url: str, server: str) -> ShipyardError:
    try:
        detail = json.loads(exc.read() or b"{}").get("message", "")
    except (ValueError, AttributeError, OSError):
        detail = ""
    said = f": {str(detail)[:200]}" if detail else ""
    if exc.code in (401, 403):
        return UnauthorizedError(f"The MLflow server at {server} refused the request ({exc.code}{said}); pass a "
                                 "token with --token or MLFLOW_TRACKING_TOKEN (or MLFLOW_TRACKING_USERNAME and "
                                 "MLFLOW_TRACKING_PASSWORD).")
    if not detail and exc.code in (404, 405, 501):  # MLflow answers its own errors with a JSON message
        return ValidationError(f"{server} does not answer like an MLflow server ({url} is 404); check --from.",
                               field="from")
    return ShipyardError(f"The MLflow server at {server} answered {exc.code} to {url}{said}.")


def _json(data: bytes, url: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data or b"{}")
    except ValueError:
        raise ValidationError(f"{url} did not answer JSON; is this an MLflow server? Check --from.",
                              field="from") from None
    if not isinstance(parsed, dict):
        raise ValidationError(f"{url} did not answer a JSON object; is this an MLflow server?", field="from")
    return parsed


def _number(value: Any) -> float:
    return float(value) if value is not None else float("nan")  # MLflow sends NaN as a missing value or "NaN"


def _run(item: dict[str, Any]) -> MlflowRun:
    info, data = item.get("info", {}), item.get("data", {})
    tags = {str(tag["key"]): str(tag.get("value", "")) for tag in data.get("tags", [])}
    return MlflowRun(
        id=str(info.get("run_id") or info["run_uuid"]), experiment_id=str(info.get("experiment_id")),
        name=info.get("run_name") or tags.get("mlflow.runName"), user=info.get("user_id") or tags.get("mlflow.user"),
        status=str(info.get("status") or "FINISHED"), start_ms=_int(info.get("start_time")),
        end_ms=_int(info.get("end_time")), artifact_uri=info.get("artifact_uri"),
        params={str(p["key"]): str(p.get("value", "")) for p in data.get("params", [])}, tags=tags,
        metric_keys=tuple(sorted({str(m["key"]) for m in data.get("metrics", [])})),
    )


def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)
