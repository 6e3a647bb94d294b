"""One run: ``/runs/{run_id}`` (any unique id prefix) and its artifact downloads ``/runs/{run_id}/artifacts/{path}``.

The page shows what the run recorded (params, tags, metrics), where it came from (git commit and dirty
flag, Python environment, the content hashes of the data a pipeline stage read and wrote, parent and child
runs) and what it made (artifacts, model versions). Metric histories with more than one point become
charts; artifacts are previewed when that is cheap and safe: raster images through the download URL, and
small CSV and JSON files parsed here and shown as text. SVG and everything else is offered as a download
only (``Content-Disposition: attachment``): a file a run logged is never rendered as a page of ours.

The endpoints are plain functions: Starlette runs them in its thread pool, so the database reads and file
copies here never stall the server's event loop (and with it every other page and ``/health``).
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, BinaryIO
from urllib.parse import quote

from sqlalchemy import Connection, func, select
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .. import charts
from ..errors import NotFoundError
from ..models.registry import versions_of_run
from ..store.schema import metrics, runs
from ..tracking.artifacts import check_artifact_path, list_artifacts, read_artifact
from ..tracking.metrics import thinned_histories
from ..tracking.runs import Run, environment_packages, get_run, resolve_run_id
from ._render import page

PREVIEW_MAX_BYTES = 200_000  # CSV/JSON larger than this are offered as downloads only
PREVIEW_MAX_FILES = 12  # previews per page, so a run with thousands of artifacts still opens fast
CSV_PREVIEW_ROWS = 20
CSV_PREVIEW_COLUMNS = 40
MAX_CHARTS = 40
MAX_CHART_POINTS = 5_000  # longer histories are thinned (tracking.metrics.thinned_steps: the last step kept)
MAX_CHILDREN = 200
DOWNLOAD_CHUNK_BYTES = 256 * 1024
# Raster images only: a browser renders these as pictures and nothing else. SVG can carry script.
INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
DATA_HASH_TAGS = (("shipyard.dep.", "input"), ("shipyard.out.", "output"), ("shipyard.added.", "tracked by"))


@dataclass(frozen=True)
class Artifact:
    """One artifact row: its download URL and, when previewable, how (``image``, ``csv`` or ``json``)."""

    path: str
    size: int
    hash: str
    url: str
    kind: str | None = None
    rows: list[list[str]] | None = None  # csv: header first
    text: str | None = None  # json, pretty-printed
    truncated: bool = False  # csv: more rows than shown


def run_detail(request: Request) -> Response:
    store = request.app.state.ui.store
    run = get_run(store, request.path_params["run_id"])
    parent, children, points = store.db.read(lambda conn: _relatives_and_points(conn, run))
    environment = run.lineage.get("environment")
    packages = environment_packages(store, environment["hash"]) if environment else []
    chart_specs, single = _metric_charts(store, run, points)
    tags = {key: value for key, value in run.tags.items() if not _data_hash_kind(key)}
    data_hashes = [(kind, key[len(prefix):], value) for key, value in run.tags.items()
                   for prefix, kind in DATA_HASH_TAGS if key.startswith(prefix)]
    versions = [uri.removeprefix("models:/").rsplit("/", 1) for uri in versions_of_run(store, run.id)]
    return page(
        request, "run.html", run=run, parent=parent, children=children, packages=packages, charts=chart_specs,
        single_metrics=single, tags=tags, data_hashes=data_hashes, artifacts=_artifacts(store, run),
        versions=[(name, version, f"/models/{quote(name, safe='')}/{version}") for name, version in versions],
        max_children=MAX_CHILDREN,
    )


def artifact_download(request: Request) -> Response:
    """The artifact's bytes, verified against their hash; pictures inline on ``?inline=1``, all else attached.

    Verification needs every byte, and an HTTP response cannot be taken back once its first bytes are
    sent: a check that failed at the end of a stream would leave the browser holding a complete-looking file
    of corrupted bytes. So the object is first copied to a private temporary file by the object store's
    ``get_file``, which hashes while it copies and raises ``IntegrityError`` (a 500 error page, nothing
    sent) on a mismatch; only the verified copy is then streamed, a chunk at a time. The copy is opened and
    its name removed before streaming starts, so it vanishes with the open file even if the browser goes
    away mid-download. Memory stays at one chunk whatever the artifact's size; the price is one disk copy.
    """
    store = request.app.state.ui.store
    run_id = resolve_run_id(store, request.path_params["run_id"])
    path = check_artifact_path(request.path_params["path"])  # 422 naming it, even for an older index's row
    entry = next((item for item in list_artifacts(store, run_id) if item["path"] == path), None)
    if entry is None:
        raise NotFoundError(f"Run {run_id[:8]} has no artifact {path!r}; its run page lists the artifacts.")
    stream = _verified_copy(store, entry["hash"], f"artifact {path!r} of run {run_id[:8]}")
    media_type = _media_type(path)
    name = path.rsplit("/", 1)[-1]
    inline = request.query_params.get("inline") == "1" and media_type in INLINE_IMAGE_TYPES
    fallback = "".join(ch if ch.isascii() and ch.isprintable() and ch not in '"\\' else "_" for ch in name)
    disposition = f"{'inline' if inline else 'attachment'}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    return StreamingResponse(_chunks(stream), media_type=media_type, headers={
        "content-disposition": disposition, "content-length": str(os.fstat(stream.fileno()).st_size),
        "cache-control": "private, max-age=3600"})


def _verified_copy(store: Any, digest: str, label: str) -> BinaryIO:
    """An open, already unlinked copy of the object ``digest``, its hash checked while it was copied."""
    folder = tempfile.mkdtemp(prefix="shipyard-ui-download-")
    try:
        copy = os.path.join(folder, "artifact")
        try:
            store.objects.get_file(digest, copy, label=label)
        except NotFoundError as exc:
            raise NotFoundError(f"The {label} is recorded but its object is missing from the store: {exc}") from None
        return open(copy, "rb")  # closed by _chunks once streamed
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(DOWNLOAD_CHUNK_BYTES):
            yield chunk


def _relatives_and_points(conn: Connection, run: Run) -> tuple[Any, list[Any], dict[str, tuple[int, int]]]:
    """The parent (id, name), up to MAX_CHILDREN child runs, and per metric key its (points, last step)."""
    parent = None
    if run.parent_id:
        parent = conn.execute(select(runs.c.id, runs.c.name).where(runs.c.id == run.parent_id)).first()
    children = list(conn.execute(
        select(runs.c.id, runs.c.name, runs.c.status, runs.c.start_time).where(runs.c.parent_id == run.id)
        .order_by(runs.c.start_time, runs.c.seq).limit(MAX_CHILDREN + 1)).all())
    points = {key: (count, last) for key, count, last in conn.execute(
        select(metrics.c.key, func.count(), func.max(metrics.c.step)).where(metrics.c.run_id == run.id)
        .group_by(metrics.c.key))}
    return parent, children, points


def _metric_charts(store: Any, run: Run, points: dict[str, tuple[int, int]]
                   ) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, float, int | None]]]:
    """One line chart per metric logged at more than one point (at most MAX_CHARTS, their histories read
    together and thinned to MAX_CHART_POINTS); the others as (key, value, step) rows."""
    charted: list[str] = []
    single: list[tuple[str, float, int | None]] = []
    for key, value in run.metrics.items():
        count, last_step = points.get(key, (1, None))
        if count <= 1 or len(charted) >= MAX_CHARTS:
            single.append((key, value, last_step))
        else:
            charted.append(key)
    histories = thinned_histories(store, run.id, charted, MAX_CHART_POINTS)
    specs = []
    for key in charted:
        history = histories.get(key, [])
        steps, values = [float(step) for step, _ in history], [value for _, value in history]
        specs.append((key, charts.lines(steps, {key: values}, y_label=key)))
    return specs, single


def _artifacts(store: Any, run: Run) -> list[Artifact]:
    out = []
    previews = 0
    for entry in run.artifacts:
        path, size = entry["path"], int(entry["size"])
        url = f"/runs/{run.id}/artifacts/{quote(path, safe='/')}"
        kind = _preview_kind(path, size) if previews < PREVIEW_MAX_FILES else None
        item = Artifact(path, size, entry["hash"], url)
        if kind == "image":
            item = Artifact(path, size, entry["hash"], url, kind="image")
        elif kind in ("csv", "json"):
            item = _text_preview(store, run.id, item, kind)
        previews += item.kind is not None
        out.append(item)
    return out


def _preview_kind(path: str, size: int) -> str | None:
    media_type = _media_type(path)
    if media_type in INLINE_IMAGE_TYPES:
        return "image"
    if size > PREVIEW_MAX_BYTES:
        return None
    lowered = path.lower()
    return "csv" if lowered.endswith(".csv") else "json" if lowered.endswith(".json") else None


def _text_preview(store: Any, run_id: str, item: Artifact, kind: str) -> Artifact:
    """The first rows of a CSV or a JSON document re-indented; unreadable files get no preview."""
    try:
        text = read_artifact(store, run_id, item.path).decode("utf-8")
    except (NotFoundError, UnicodeDecodeError):
        return item
    if kind == "csv":
        try:
            rows = [row[:CSV_PREVIEW_COLUMNS] for row in islice(csv.reader(io.StringIO(text)), CSV_PREVIEW_ROWS + 2)]
        except csv.Error:
            return item
        if not rows:
            return item
        return Artifact(item.path, item.size, item.hash, item.url, kind="csv", rows=rows[: CSV_PREVIEW_ROWS + 1],
                        truncated=len(rows) > CSV_PREVIEW_ROWS + 1)
    try:
        document = json.loads(text)
    except ValueError:
        return item
    return Artifact(item.path, item.size, item.hash, item.url, kind="json",
                    text=json.dumps(document, indent=2, ensure_ascii=False))


def _media_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "application/octet-stream"


def _data_hash_kind(key: str) -> str | None:
    return next((kind for prefix, kind in DATA_HASH_TAGS if key.startswith(prefix)), None)


ROUTES = [
    Route("/runs/{run_id}", run_detail, name="run"),
    Route("/runs/{run_id}/artifacts/{path:path}", artifact_download, name="run-artifact"),
]
