"""The layered layout of the UI's SVG graphs: columns by longest path, rows by barycenter, edges left to right."""

from __future__ import annotations

import re

import pytest

from shipyard.ui._graph import (
    COLUMN_GAP,
    MARGIN,
    NODE_HEIGHT,
    NODE_WIDTH,
    ROW_GAP,
    GraphEdge,
    GraphNode,
    clip,
    columns,
    layout,
)


def node(node_id: str, kind: str = "stage") -> GraphNode:
    return GraphNode(node_id, node_id, kind)


def test_a_node_sits_one_column_right_of_its_furthest_predecessor() -> None:
    nodes = [node(name) for name in ("raw", "code", "prepare", "train", "version")]
    edges = [GraphEdge("raw", "prepare"), GraphEdge("prepare", "train"), GraphEdge("code", "train"),
             GraphEdge("train", "version")]
    assert columns(nodes, edges) == {"raw": 0, "code": 0, "prepare": 1, "train": 2, "version": 3}


def test_positions_follow_columns_and_sizes() -> None:
    placed = layout([node("a"), node("b"), node("c")], [GraphEdge("a", "b"), GraphEdge("a", "c")])
    a, b, c = (placed.node(name) for name in "abc")
    assert (a.x, b.x, c.x) == (MARGIN, MARGIN + NODE_WIDTH + COLUMN_GAP, MARGIN + NODE_WIDTH + COLUMN_GAP)
    assert (b.y, c.y) == (MARGIN, MARGIN + NODE_HEIGHT + ROW_GAP)
    assert placed.width == 2 * MARGIN + 2 * NODE_WIDTH + COLUMN_GAP
    assert placed.height == 2 * MARGIN + 2 * NODE_HEIGHT + ROW_GAP
    assert a.y == (placed.height - NODE_HEIGHT) / 2  # a lone node is centred on the tallest column


def test_rows_follow_the_predecessors_so_edges_do_not_cross() -> None:
    # x -> q and y -> p: p is listed first but its predecessor is lower, so it moves below q.
    nodes = [node("x"), node("y"), node("p"), node("q")]
    placed = layout(nodes, [GraphEdge("y", "p"), GraphEdge("x", "q")])
    assert placed.node("q").y < placed.node("p").y
    assert placed.node("x").y < placed.node("y").y  # the first column keeps the given order


def test_edges_run_from_the_right_side_of_the_source_to_the_left_side_of_the_target() -> None:
    placed = layout([node("a"), node("b")], [GraphEdge("a", "b", "data/train.csv")])
    edge = placed.edges[0]
    numbers = [float(value) for value in re.findall(r"-?\d+(?:\.\d+)?", edge.path)]
    a, b = placed.node("a"), placed.node("b")
    assert edge.path.startswith("M") and " C" in edge.path
    assert numbers[:2] == [a.x + a.width, a.y + a.height / 2]
    assert numbers[-2:] == [b.x, b.y + b.height / 2]
    assert edge.edge.title == "data/train.csv"


def test_duplicates_are_drawn_once_and_an_empty_graph_is_empty() -> None:
    placed = layout([node("a"), node("b"), node("a")], [GraphEdge("a", "b"), GraphEdge("a", "b")])
    assert [item.node.id for item in placed.nodes] == ["a", "b"]
    assert len(placed.edges) == 1
    empty = layout([], [])
    assert (empty.nodes, empty.edges, empty.width, empty.height) == ((), (), 2 * MARGIN, 2 * MARGIN)


def test_cycles_and_dangling_edges_are_refused() -> None:
    with pytest.raises(ValueError, match="cycle"):
        columns([node("a"), node("b")], [GraphEdge("a", "b"), GraphEdge("b", "a")])
    with pytest.raises(ValueError, match="'ghost'"):
        layout([node("a")], [GraphEdge("a", "ghost")])


def test_labels_are_clipped_to_their_box_and_kept_whole_in_the_tooltip() -> None:
    long = GraphNode("n", "data/raw/customers-2024-with-a-long-name.csv", "data", "0123456789abcdef0123456789")
    placed = layout([long], []).node("n")
    assert placed.label == clip(long.label) and placed.label.endswith("…") and len(placed.label) == 24
    assert placed.title == f"{long.label}\n{long.detail}"
    assert clip("short") == "short"
