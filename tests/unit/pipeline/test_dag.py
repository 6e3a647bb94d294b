"""The pipeline's structure from shipyard.yaml alone: order, parallel levels and the refusals of a bad graph.

Pure logic over a real shipyard.yaml in ``tmp_path``: no git, no stage runs (those are in
tests/integration/pipeline). Each refusal is one ConfigError naming the stages or paths at fault.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shipyard.errors import ConfigError
from shipyard.pipeline.dag import build_graph
from shipyard.pipeline.spec import load_pipeline


def _pipeline(root: Path, yaml_text: str, *, files: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    (root / "shipyard.yaml").write_text(textwrap.dedent(yaml_text))
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    return load_pipeline(root)


DIAMOND = """
    stages:
      report: {cmd: python report.py, deps: [model.bin, features.csv], outs: [report.html]}
      train: {cmd: python train.py, deps: [features.csv], outs: [model.bin]}
      features: {cmd: python features.py, deps: [raw.csv], outs: [features.csv]}
      lint: {cmd: ruff check, deps: [raw.csv]}
"""


def test_stages_run_after_everything_they_read_whatever_order_the_file_lists_them(tmp_path: Path) -> None:
    graph = build_graph(_pipeline(tmp_path, DIAMOND, files=("raw.csv",)))
    order = graph.order()
    assert sorted(order) == ["features", "lint", "report", "train"]
    assert order.index("features") < order.index("train") < order.index("report")
    assert graph.upstream["report"] == ("train", "features")
    assert graph.producer["model.bin"] == "train"


def test_a_target_brings_only_its_upstream(tmp_path: Path) -> None:
    graph = build_graph(_pipeline(tmp_path, DIAMOND, files=("raw.csv",)))
    assert graph.order(["train"]) == ["features", "train"]
    with pytest.raises(ConfigError, match=r"No stage named 'trian' in shipyard.yaml; stages: report, train"):
        graph.order(["trian"])


def test_levels_group_the_stages_that_may_run_at_once(tmp_path: Path) -> None:
    graph = build_graph(_pipeline(tmp_path, DIAMOND, files=("raw.csv",)))
    levels = graph.levels(graph.order())
    assert [sorted(level) for level in levels] == [["features", "lint"], ["train"], ["report"]]


def test_a_dependency_inside_a_produced_folder_belongs_to_that_folders_stage(tmp_path: Path) -> None:
    graph = build_graph(_pipeline(tmp_path, """
        stages:
          split: {cmd: python split.py, outs: [data/splits]}
          fit: {cmd: python fit.py, deps: [data/splits/train.csv]}
    """))
    assert graph.upstream["fit"] == ("split",)


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("""
        stages:
          a: {cmd: x, deps: [b.out], outs: [a.out]}
          b: {cmd: y, deps: [a.out], outs: [b.out]}
     """, r"The stages form a cycle: (a -> b -> a|b -> a -> b); a stage cannot depend on its own results"),
    ("""
        stages:
          a: {cmd: x, outs: [same.csv]}
          b: {cmd: y, outs: [same.csv]}
     """, r"Stages 'a' and 'b' both declare the output 'same.csv'; each path has exactly one producer"),
    ("""
        stages:
          a: {cmd: x, deps: [a.out], outs: [a.out]}
     """, r"Stage 'a' depends on 'a.out', which it produces itself"),
    ("""
        stages:
          a: {cmd: x, outs: [data]}
          b: {cmd: y, outs: [data/inner.csv]}
     """, r"The output 'data/inner.csv' of stage 'b' is inside the output 'data' of stage 'a'"),
    ("""
        stages:
          a: {cmd: x, deps: [missing.csv]}
     """, r"Stage 'a' depends on 'missing.csv', which no stage produces and which does not exist; .* line 3\."),
])
def test_a_graph_that_cannot_run_is_refused_with_one_line_naming_the_fault(
        tmp_path: Path, yaml_text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_graph(_pipeline(tmp_path, yaml_text))
