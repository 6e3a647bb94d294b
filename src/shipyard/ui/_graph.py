"""A small layered layout for the graphs the UI draws as SVG: lineage (data -> stages -> run -> version ->
deployments) and the pipeline DAG.

Both graphs are small (tens of nodes) and flow one way, so a simple Sugiyama-style layout is enough: each
node goes in the column of its longest path from a source (so every edge points right), nodes in a
column are ordered by the average row of their predecessors (one sweep, fewer crossings), and edges are
cubic curves from the right side of one box to the left side of the next. Pure computation: nodes and
edges in, positions and SVG path data out; the template draws them (and Jinja escapes every label).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ValidationError

NODE_WIDTH = 190
NODE_HEIGHT = 46
COLUMN_GAP = 70
ROW_GAP = 18
MARGIN = 10
LABEL_CHARS = 24  # what fits on one line of a box at the page's font size; the full text is in the tooltip


@dataclass(frozen=True)
class GraphNode:
    """A box: ``label`` (first line), ``detail`` (second line), ``kind`` and ``state`` (CSS classes),
    ``href`` (where a click goes), ``title`` (the tooltip; defaults to label and detail)."""

    id: str
    label: str
    kind: str
    detail: str = ""
    href: str | None = None
    title: str = ""
    state: str = ""


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    title: str = ""


@dataclass(frozen=True)
class PlacedNode:
    node: GraphNode
    column: int
    x: float
    y: float
    width: float
    height: float

    @property
    def label(self) -> str:
        return clip(self.node.label)

    @property
    def detail(self) -> str:
        return clip(self.node.detail)

    @property
    def title(self) -> str:
        return self.node.title or "\n".join(part for part in (self.node.label, self.node.detail) if part)


@dataclass(frozen=True)
class PlacedEdge:
    edge: GraphEdge
    path: str  # SVG path data


@dataclass(frozen=True)
class Layout:
    nodes: tuple[PlacedNode, ...]
    edges: tuple[PlacedEdge, ...]
    width: float
    height: float

    def node(self, node_id: str) -> PlacedNode:
        return next(placed for placed in self.nodes if placed.node.id == node_id)


def clip(text: str, limit: int = LABEL_CHARS) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, so it stays inside its box."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def columns(nodes: Sequence[GraphNode], edges: Sequence[GraphEdge]) -> dict[str, int]:
    """Each node's column: the length of the longest path reaching it from a node without predecessors.

    Raises:
        ValidationError: an edge names an unknown node, or the edges form a cycle.
    """
    ids = [node.id for node in nodes]
    known = set(ids)
    parents: dict[str, list[str]] = {node_id: [] for node_id in ids}
    for edge in edges:
        if edge.source not in known or edge.target not in known:
            raise ValidationError(f"edge {edge.source!r} -> {edge.target!r} names a node the graph does not have",
                                  field="edges")
        parents[edge.target].append(edge.source)
    column: dict[str, int] = {}
    visiting: set[str] = set()

    def depth(node_id: str) -> int:
        if node_id in column:
            return column[node_id]
        if node_id in visiting:
            raise ValidationError(f"the graph has a cycle through {node_id!r}", field="edges")
        visiting.add(node_id)
        column[node_id] = 1 + max((depth(parent) for parent in parents[node_id]), default=-1)
        visiting.discard(node_id)
        return column[node_id]

    for node_id in ids:
        depth(node_id)
    return column


def layout(nodes: Sequence[GraphNode], edges: Sequence[GraphEdge]) -> Layout:
    """Place ``nodes`` in columns (see :func:`columns`) and route ``edges`` between them.

    Within a column, nodes keep their given order unless they have predecessors, in which case they are
    sorted by the mean row of those (the barycenter heuristic, one left-to-right sweep). Each column is
    centred vertically on the tallest one. Duplicate node ids keep the first; duplicate edges are drawn once.
    """
    first: dict[str, GraphNode] = {}
    for item in nodes:
        first.setdefault(item.id, item)
    unique = list(first.values())
    edges = list(dict.fromkeys(edges))
    column = columns(unique, edges)
    count = max(column.values(), default=-1) + 1
    grouped: list[list[GraphNode]] = [[] for _ in range(count)]
    for node in unique:
        grouped[column[node.id]].append(node)
    parents: dict[str, list[str]] = {node.id: [] for node in unique}
    for edge in edges:
        parents[edge.target].append(edge.source)
    row: dict[str, float] = {}
    for group in grouped:
        keyed = []
        for position, node in enumerate(group):
            above = [row[parent] for parent in parents[node.id]]
            keyed.append((sum(above) / len(above) if above else float(position), position, node))
        group[:] = [node for _, _, node in sorted(keyed, key=lambda item: (item[0], item[1]))]
        for position, node in enumerate(group):
            row[node.id] = position
    tallest = max((len(group) for group in grouped), default=0)
    height = 2 * MARGIN + tallest * NODE_HEIGHT + max(tallest - 1, 0) * ROW_GAP
    width = 2 * MARGIN + count * NODE_WIDTH + max(count - 1, 0) * COLUMN_GAP
    placed: dict[str, PlacedNode] = {}
    for index, group in enumerate(grouped):
        used = len(group) * NODE_HEIGHT + max(len(group) - 1, 0) * ROW_GAP
        top = (height - used) / 2
        for position, node in enumerate(group):
            placed[node.id] = PlacedNode(node, index, MARGIN + index * (NODE_WIDTH + COLUMN_GAP),
                                         top + position * (NODE_HEIGHT + ROW_GAP), NODE_WIDTH, NODE_HEIGHT)
    routed = tuple(PlacedEdge(edge, _curve(placed[edge.source], placed[edge.target])) for edge in edges)
    return Layout(tuple(placed[node.id] for node in unique), routed, float(width), float(height))


def _curve(source: PlacedNode, target: PlacedNode) -> str:
    """A cubic curve from the middle of ``source``'s right side to the middle of ``target``'s left side."""
    x1, y1 = source.x + source.width, source.y + source.height / 2
    x2, y2 = target.x, target.y + target.height / 2
    bend = max((x2 - x1) / 2, 20.0)
    return f"M{x1:g},{y1:g} C{x1 + bend:g},{y1:g} {x2 - bend:g},{y2:g} {x2:g},{y2:g}"
