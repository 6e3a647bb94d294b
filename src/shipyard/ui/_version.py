"""The model version page: signature, training profile, flavors, files, and the lineage drawn as a graph.

The lineage comes from :func:`shipyard.models.lineage.lineage` (version -> run -> stage runs -> raw data, as
``repro`` recorded them) and is extended forward with the deployments that served the version
(:mod:`shipyard.ui._served`). The graph is laid out by :mod:`shipyard.ui._graph` and drawn as SVG on the
server, so following lineage is a plain link per node.

The page reads the manifest and the newest hours of the prediction log (file IO, Parquet): its endpoint is a
plain ``def``, which Starlette runs in its thread pool, so a slow disk never stalls the event loop.
"""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from .. import charts
from ..models import registry
from ..models.lineage import lineage
from ..models.manifest import read_manifest
from ..models.registry import ModelVersion
from ._graph import GraphEdge, GraphNode, Layout, layout
from ._render import page
from ._served import Served, served_by

MAX_PROFILE_CHARTS = 60  # features beyond this are listed in the signature table, not charted
MAX_LEVELS_CHARTED = 20


def version_page(request: Request) -> Response:
    settings = request.app.state.ui
    name, number = request.path_params["name"], request.path_params["version"]
    version = registry.get_version(settings.store, name, number)  # NotFoundError -> 404 page
    manifest = read_manifest(settings.store, version.run_id, version.path)
    chain = lineage(settings.store, version.uri)
    served = served_by(settings, version)
    graph = lineage_graph(chain, version, served)
    profile = manifest.get("profile") or {}
    return page(request, "version.html", version=version, manifest=manifest, chain=chain, served=served,
                graph=graph, sources=chain.get("sources", []), stages=pipeline_stages(chain),
                profile_rows=profile.get("rows"), profile_charts=profile_charts(profile, manifest),
                onnx=_onnx(version))


def lineage_graph(chain: dict[str, Any], version: ModelVersion, served: list[Served]) -> Layout:
    """Nodes and edges of data -> stage runs -> run -> version -> deployments, laid out left to right."""
    run = chain["run"]
    run_node = f"run:{run['run_id']}"
    nodes = [GraphNode(run_node, run["name"] or run["run_id"][:8], "run",
                       f"run {run['run_id'][:8]} · {run['experiment']}", href=f"/runs/{run['run_id']}",
                       title=f"run {run['name']} ({run['run_id']})\nexperiment {run['experiment']}\n{run['status']}")]
    edges: list[GraphEdge] = []
    for record in pipeline_stages(chain):
        stage_node = f"run:{record['run_id']}"
        if stage_node != run_node:
            nodes.append(GraphNode(stage_node, f"stage {record['stage']}", "stage", f"run {record['run_id'][:8]}",
                                   href=f"/runs/{record['run_id']}",
                                   title=f"stage {record['stage']} of pipeline {record['pipeline']}\n"
                                         f"run {record['run_id']}"))
        for dep in record["deps"]:
            if dep.get("produced_by"):
                edges.append(GraphEdge(f"run:{dep['produced_by']['run_id']}", stage_node, dep["path"]))
    stage = chain.get("stage")
    if stage is not None and stage["run_id"] != run["run_id"]:
        edges.append(GraphEdge(f"run:{stage['run_id']}", run_node, "the model's run is inside this stage run"))
    for source in chain.get("sources", []):
        node_id = f"data:{source['path']}:{source['hash']}"
        commit = (source.get("git") or {}).get("commit")
        nodes.append(GraphNode(node_id, source["path"], "data", source["hash"][:16],
                               title=f"{source['path']}\nhash {source['hash']}"
                                     + (f"\ncommit {commit}" if commit else "")))
        edges.append(GraphEdge(node_id, f"run:{source['run_id']}", f"read by stage {source['read_by']}"))
    frame = chain.get("training_data")
    if frame:
        nodes.append(GraphNode("data:training-frame", "training frame", "data",
                               f"{frame.get('rows')} rows · {str(frame.get('hash'))[:10]}",
                               title=f"the frame log_model profiled\nhash {frame.get('hash')}\n"
                                     f"{frame.get('rows')} rows, {frame.get('columns')} columns"))
        edges.append(GraphEdge("data:training-frame", run_node, "input_example of log_model"))
    version_node = f"version:{version.name}/{version.version}"
    nodes.append(GraphNode(version_node, f"{version.name} v{version.version}", "version",
                           " ".join(f"@{alias}" for alias in version.aliases) or "no alias",
                           href=f"/models/{quote(version.name, safe='')}/{version.version}", state="current"))
    edges.append(GraphEdge(run_node, version_node, "registered from this run"))
    for deployment in served:
        node_id = f"deployment:{deployment.name}"
        nodes.append(GraphNode(node_id, deployment.name, "deployment", deployment.summary,
                               href=f"/deployments/{quote(deployment.name, safe='')}"))
        edges.append(GraphEdge(version_node, node_id, deployment.summary))
    return layout(nodes, _merged(edges))


def _merged(edges: list[GraphEdge]) -> list[GraphEdge]:
    """One edge per pair of nodes, its tooltip naming every path that links them."""
    titles: dict[tuple[str, str], list[str]] = {}
    for edge in edges:
        found = titles.setdefault((edge.source, edge.target), [])
        if edge.title and edge.title not in found:
            found.append(edge.title)
    return [GraphEdge(source, target, ", ".join(names)) for (source, target), names in titles.items()]


def profile_charts(profile: dict[str, Any], manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One histogram spec per profiled feature (shares of the training rows), plus the model's own output."""
    found = []
    for feature, column in list((profile.get("columns") or {}).items())[:MAX_PROFILE_CHARTS]:
        spec = _feature_histogram(column)
        if spec is not None:
            found.append({"title": feature, "spec": spec, "column": column})
    output = manifest.get("prediction_profile") or {}
    counts = output.get("class_counts")
    if counts:
        total = sum(counts.values()) or 1
        found.append({"title": "prediction (on the training rows)", "column": {"type": "output"},
                      "spec": charts.histogram(list(counts), {"training": [value / total for value in counts.values()]},
                                               x_label="class")})
    return found


def _feature_histogram(column: dict[str, Any]) -> dict[str, Any] | None:
    total = (column.get("count") or 0) + (column.get("missing") or 0)
    if not total:
        return None
    if column.get("type") == "numeric" and column.get("hist_counts"):
        edges, counts = column["hist_edges"], column["hist_counts"]
        labels = [f"{low:.4g} to {high:.4g}" for low, high in itertools.pairwise(edges)]
        return charts.histogram(labels, {"training": [count / total for count in counts]}, x_label="bin")
    if column.get("type") == "categorical" and column.get("levels"):
        levels = sorted(column["levels"].items(), key=lambda item: -item[1])
        shown, rest = levels[:MAX_LEVELS_CHARTED], sum(count for _, count in levels[MAX_LEVELS_CHARTED:])
        labels = [level for level, _ in shown] + (["(other)"] if rest + column.get("other", 0) else [])
        values = [count / total for _, count in shown] + (
            [(rest + column.get("other", 0)) / total] if rest + column.get("other", 0) else [])
        return charts.histogram(labels, {"training": values}, x_label="level")
    return None


def pipeline_stages(chain: dict[str, Any]) -> list[dict[str, Any]]:
    """The stage runs behind a model version's lineage (:func:`shipyard.models.lineage.lineage`): the stage
    whose run logged the model, then the stages upstream of it; none for a run outside a pipeline."""
    return [chain["stage"], *chain.get("upstream", [])] if chain.get("stage") else []


def _onnx(version: ModelVersion) -> dict[str, str] | None:
    """The verified ONNX export attached to the version (``shipyard models export-onnx``), from its tags."""
    if "onnx.path" not in version.tags:
        return None
    return {key[len("onnx."):]: value for key, value in version.tags.items() if key.startswith("onnx.")}
