"""Why a stage is stale: every cause in words ("dep data/raw/churn.csv changed", "param train.C 1.0 -> 0.5").

A stage is stale when it never ran, its command changed, a param value changed, a dependency's hash
changed or it is missing, or an output is missing or was modified. An output that is only missing while
everything else is current is *restorable*: its bytes are in the cache and ``repro`` brings them back
instead of recomputing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ShipyardError
from ..store import Store
from .hashing import Hasher, read_manifest
from .params import resolve
from .spec import Stage

UP_TO_DATE, STALE, RESTORABLE = "up to date", "stale", "restorable"


@dataclass
class StageStatus:
    name: str
    state: str
    reasons: list[str] = field(default_factory=list)
    missing_outs: list[dict[str, Any]] = field(default_factory=list)  # lock records restorable from the cache

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.name, "state": self.state, "reasons": list(self.reasons)}


def stage_status(stage: Stage, entry: dict[str, Any] | None, params: dict[str, Any], hasher: Hasher,
                 store: Store, *, upstream_stale: tuple[str, ...] = ()) -> StageStatus:
    """Compare the workspace with the stage's lock entry."""
    current_params = resolve(params, stage.params, stage.name)  # an unknown key is an error even before a run
    if entry is None:
        return StageStatus(stage.name, STALE, ["never run"])
    reasons: list[str] = []
    if entry.get("cmd") != stage.command:
        reasons.append("command changed")
    reasons += _param_changes(entry.get("params") or {}, current_params)
    recorded_deps = {item["path"]: item for item in entry.get("deps") or []}
    if set(recorded_deps) != set(stage.deps):
        for path in sorted(set(stage.deps) - set(recorded_deps)):
            reasons.append(f"dep {path} added")
        for path in sorted(set(recorded_deps) - set(stage.deps)):
            reasons.append(f"dep {path} removed")
    for path in stage.deps:
        if path in recorded_deps:
            current = hasher.hash(path)
            if current is None:
                reasons.append(f"dep {path} missing")
            elif current.hash != recorded_deps[path]["hash"]:
                reasons.append(f"dep {path} changed")
    reasons += [f"upstream stage '{name}' is stale" for name in upstream_stale]
    missing: list[dict[str, Any]] = []
    recorded_outs = {item["path"]: item for item in entry.get("outs") or []}
    for path in stage.outs:
        record = recorded_outs.get(path)
        if record is None:
            reasons.append(f"out {path} added")
            continue
        current = hasher.hash(path)
        if current is None:
            if _cached(store, record):
                missing.append(record)
            else:
                reasons.append(f"out {path} missing and not in the cache")
        elif current.hash != record["hash"]:
            reasons.append(f"out {path} changed")
    for path in (*stage.metrics, *stage.plots):
        if not (hasher.root / path).exists():
            reasons.append(f"metrics/plots file {path} missing")
    if reasons:
        return StageStatus(stage.name, STALE, reasons + [f"out {record['path']} missing" for record in missing])
    if missing:
        reasons = [f"out {record['path']} missing (in the cache)" for record in missing]
        return StageStatus(stage.name, RESTORABLE, reasons, missing_outs=missing)
    return StageStatus(stage.name, UP_TO_DATE)


def _param_changes(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    changes = []
    for key in sorted(set(recorded) | set(current)):
        if key not in recorded:
            changes.append(f"param {key} added ({current[key]!r})")
        elif key not in current:
            changes.append(f"param {key} removed")
        elif recorded[key] != current[key]:
            changes.append(f"param {key} {recorded[key]!r} -> {current[key]!r}")
    return changes


def _cached(store: Store, record: dict[str, Any]) -> bool:
    if not store.objects.exists(record["hash"]):
        return False
    if "files" not in record:
        return True
    try:
        manifest = read_manifest(store, record["hash"], f"directory {record['path']}")
    except (ShipyardError, ValueError):
        return False
    return all(store.objects.exists(digest) for _, digest, _ in manifest)


def pipeline_status(root: Any = None, *, store: Any = None, save_cache: bool = True) -> list[StageStatus]:
    """The status of every stage, in dependency order; a stage below a stale one says so.

    Args:
        root: the project folder (default: found from the working directory).
        store: the store to read (default: the current one).
        save_cache: remember the hashes computed here in the stat cache. Readers that must write nothing
            (the web UI) pass False and pay for re-hashing changed files on every call.
    """
    from ..store import current_store
    from .dag import build_graph
    from .lock import read_lock
    from .params import load_params
    from .spec import load_pipeline

    pipeline = load_pipeline(root)
    graph = build_graph(pipeline)
    params = load_params(pipeline.root)
    lock = read_lock(pipeline.root)
    store = store if store is not None else current_store()
    hasher = Hasher(store, pipeline.root)
    statuses: dict[str, StageStatus] = {}
    for name in graph.order():
        stale_parents = tuple(parent for parent in graph.upstream[name] if statuses[parent].state == STALE)
        statuses[name] = stage_status(pipeline.stages[name], lock.get(name), params, hasher, store,
                                      upstream_stale=stale_parents)
    if save_cache:
        hasher.save_cache()
    return list(statuses.values())


def data_status(root: Any = None) -> list[StageStatus]:
    """Data tracked with ``shipyard add``: up to date, changed since it was added, or missing."""
    from ..store import current_store
    from .data import POINTER_SUFFIX, tracked

    folder = Path(root) if root is not None else Path.cwd()
    store = current_store()
    hasher = Hasher(store, folder)
    statuses = []
    for item in tracked(folder):
        if not item.source.endswith(POINTER_SUFFIX):
            continue  # stage outputs are reported with their stage
        current = hasher.hash(item.path)
        if current is None:
            restorable = _cached(store, {**item.record, "path": item.path})
            statuses.append(StageStatus(item.path, RESTORABLE if restorable else STALE,
                                        ["missing" + (" (in the cache: shipyard checkout)" if restorable else "")]))
        elif current.hash != item.record["hash"]:
            statuses.append(StageStatus(item.path, STALE, [f"changed since it was added (shipyard add {item.path})"]))
        else:
            statuses.append(StageStatus(item.path, UP_TO_DATE))
    hasher.save_cache()
    return statuses


def watched_paths(root: Path) -> list[str]:
    """Every path whose state decides the status at ``root``: stage deps, notebooks, outs, metrics and plots,
    and the data tracked by pointer files (what the status memo fingerprints)."""
    from .data import tracked
    from .spec import PIPELINE_FILE, load_pipeline

    paths: dict[str, None] = {}
    if (root / PIPELINE_FILE).is_file():
        for stage in load_pipeline(root).stages.values():
            notebook = (stage.notebook,) if stage.notebook else ()
            paths.update(dict.fromkeys((*stage.deps, *notebook, *stage.produced)))
    paths.update(dict.fromkeys(item.path for item in tracked(root) if item.is_raw_data))
    return sorted(paths)
