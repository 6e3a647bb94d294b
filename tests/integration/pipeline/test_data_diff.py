"""``shipyard params diff`` and ``shipyard metrics diff``: the workspace against HEAD and HEAD~1 of a real repo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shipyard.pipeline.diff import Change, metrics_diff, params_diff
from tests.integration.pipeline._data import (
    Project,
    assert_ok,
    clean,
    cli,
    error_line,
    init_repo,
    make_project,
    run_script,
    write,
)

SPEC = """\
stages:
  train:
    cmd: python train.py
    params: [train]
    metrics: [reports/metrics.json]
  evaluate:
    cmd: python evaluate.py
    metrics: [reports/eval.yaml]
"""

PARAMS_1 = "prepare:\n  seed: 42\n  test_size: 0.2\ntrain:\n  C: 1.0\n  penalty: l2\n"
PARAMS_2 = "prepare:\n  seed: 42\n  test_size: 0.2\ntrain:\n  C: 0.5\n  penalty: l2\n  max_iter: 100\n"
PARAMS_NOW = "prepare:\n  seed: 42\n  test_size: 0.2\ntrain:\n  C: 0.25\n  penalty: l1\n  max_iter: 100\n"


@pytest.fixture
def project(tmp_path: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    root = make_project(tmp_path, isolated_store, monkeypatch)
    write(root.root, {"shipyard.yaml": SPEC, "params.yaml": PARAMS_1,
                      "reports/metrics.json": json.dumps({"auc": 0.8, "f1": 0.5, "loss": {"train": 0.4}}),
                      "reports/eval.yaml": "rows: 100\n"})
    root.commit("first")
    write(root.root, {"params.yaml": PARAMS_2,
                      "reports/metrics.json": json.dumps({"auc": 0.84, "f1": 0.5, "loss": {"train": 0.35}}),
                      "reports/eval.yaml": "rows: 120\n"})
    root.commit("second")
    write(root.root, {"params.yaml": PARAMS_NOW,
                      "reports/metrics.json": json.dumps({"auc": 0.9, "f1": 0.5, "loss": {"train": 0.35}})})
    return root


def _rows(changes: list[Change]) -> list[tuple[str, str, Any, Any]]:
    return [(change.source, change.key, change.old, change.new) for change in changes]


def test_params_diff_against_head_and_the_commit_before(project: Project) -> None:
    head = params_diff(project.root)
    before = params_diff(project.root, "HEAD~1")

    assert _rows(head) == [("params.yaml", "train.C", 0.5, 0.25), ("params.yaml", "train.penalty", "l2", "l1")]
    assert [change.delta for change in head] == [-0.25, None]
    assert _rows(before) == [("params.yaml", "train.C", 1.0, 0.25), ("params.yaml", "train.max_iter", None, 100),
                             ("params.yaml", "train.penalty", "l2", "l1")]
    assert [change.delta for change in before] == [-0.75, None, None]

    every = params_diff(project.root, "HEAD~1", all_keys=True)
    assert [change.key for change in every] == ["prepare.seed", "prepare.test_size", "train.C", "train.max_iter",
                                                "train.penalty"]


def test_params_diff_command_prints_rows_and_json(project: Project) -> None:
    table = assert_ok(cli("params", "diff", "HEAD~1"))
    rows = [line.replace("│", " ").split() for line in table.splitlines() if "params.yaml" in line]

    assert rows == [["params.yaml", "train.C", "1", "0.25", "-0.75"],  # numbers as the tables show them
                    ["params.yaml", "train.max_iter", "-", "100"],
                    ["params.yaml", "train.penalty", "l2", "l1"]]
    assert json.loads(assert_ok(cli("params", "diff", "--json"))) == [
        {"file": "params.yaml", "key": "train.C", "old": 0.5, "new": 0.25, "delta": -0.25},
        {"file": "params.yaml", "key": "train.penalty", "old": "l2", "new": "l1", "delta": None}]

    write(project.root, {"params.yaml": PARAMS_2})
    assert assert_ok(cli("params", "diff")).strip() == "No differences."


def test_metrics_diff_reads_every_metrics_file_of_the_pipeline(project: Project) -> None:
    head = metrics_diff(project.root, "HEAD")
    before = metrics_diff(project.root, "HEAD~1")

    assert _rows(head) == [("reports/metrics.json", "auc", 0.84, 0.9)]
    assert head[0].delta == pytest.approx(0.06)
    assert _rows(before) == [("reports/eval.yaml", "rows", 100, 120), ("reports/metrics.json", "auc", 0.8, 0.9),
                             ("reports/metrics.json", "loss.train", 0.4, 0.35)]
    assert [change.delta for change in before] == pytest.approx([20.0, 0.1, -0.05])

    table = assert_ok(cli("metrics", "diff", "HEAD~1"))
    rows = [line.replace("│", " ").split() for line in table.splitlines() if "reports/" in line]
    assert rows == [["reports/eval.yaml", "rows", "100", "120", "+20"],
                    ["reports/metrics.json", "auc", "0.8", "0.9", "+0.1"],
                    ["reports/metrics.json", "loss.train", "0.4", "0.35", "-0.05"]]
    every = json.loads(assert_ok(cli("metrics", "diff", "--all", "--json")))
    assert [(row["key"], row["delta"]) for row in every] == [
        ("rows", 0.0), ("auc", pytest.approx(0.06)), ("f1", 0.0), ("loss.train", 0.0)]


@pytest.mark.parametrize("revision", ["no-such-branch", "HEAD~7", "deadbeef"])
def test_a_bad_revision_is_a_clear_input_error(project: Project, revision: str) -> None:
    for command in ("params", "metrics"):
        line = error_line(cli(command, "diff", revision), 2)
        assert line == f"Error: '{revision}' is not a git revision of {project.root} (is it a git repository with " \
                       "commits?)."


def test_a_bad_revision_in_a_real_process(project: Project) -> None:
    done = run_script("params", "diff", "v9", cwd=project.root)

    assert done.returncode == 2
    assert done.stdout == ""
    assert clean(done.stderr).splitlines() == [
        f"Error: 'v9' is not a git revision of {project.root} (is it a git repository with commits?)."]


def test_a_repository_without_commits_has_no_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    init_repo(tmp_path / "fresh")
    write(tmp_path / "fresh", {"params.yaml": PARAMS_1})
    monkeypatch.chdir(tmp_path / "fresh")

    assert "'HEAD' is not a git revision of" in error_line(cli("params", "diff"), 2)


def test_params_diff_in_a_project_below_the_git_top(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top = tmp_path / "monorepo"
    init_repo(top)
    project = Project(top / "ml", tmp_path / ".shipyard")
    write(project.root, {"shipyard.yaml": SPEC, "params.yaml": PARAMS_1})
    project.commit("first")
    write(project.root, {"params.yaml": PARAMS_2})
    monkeypatch.chdir(project.root)

    assert json.loads(assert_ok(cli("params", "diff", "--json"))) == [
        {"file": "params.yaml", "key": "train.C", "old": 1.0, "new": 0.5, "delta": -0.5},
        {"file": "params.yaml", "key": "train.max_iter", "old": None, "new": 100, "delta": None}]
