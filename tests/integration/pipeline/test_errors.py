"""Bad pipelines are refused before anything runs: one clear "Error:" line, exit code 2, no traceback.

Each case breaks one thing in the churn pipeline, whose other stages are valid and would append to
``calls.log`` if they ran; after the refusal there is no ``calls.log``, no ``shipyard.lock`` and no run.
Most cases drive the CLI in-process; a few run the installed script to prove the same for a real process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard
from shipyard.pipeline.repro import repro
from tests.integration.pipeline._pipelines import (
    PARAMS,
    SPEC,
    input_error,
    invoke,
    make_project,
    run_cli,
    use_venv_python,
)


@pytest.fixture(autouse=True)
def _venv_python(monkeypatch: pytest.MonkeyPatch) -> None:
    use_venv_python(monkeypatch)


def spec_with(old: str, new: str) -> str:
    assert old in SPEC
    return SPEC.replace(old, new)


EVAL_METRICS = "    metrics: [reports/eval.json]\n"


# id: (shipyard.yaml, params.yaml, the parts of the message that must appear)
SPEC_ERRORS = {
    "invalid-yaml": (
        spec_with("deps: [models, src/evaluate.py]", "deps: [models, src/evaluate.py"),
        ["shipyard.yaml line 16, column 12: invalid YAML"]),
    "duplicate-stage": (
        SPEC + "  train:\n    cmd: python src/train.py\n",
        ["shipyard.yaml line 17: the key 'train' appears twice"]),
    "unknown-stage-key": (
        spec_with("    outs: [models]\n", "    outs: [models]\n    outputs: [reports/scores.csv]\n"),
        ["shipyard.yaml line 12, stage 'train': unknown key 'outputs'", "outs"]),
    "cmd-and-notebook": (
        spec_with("    cmd: python src/evaluate.py\n", "    cmd: python src/evaluate.py\n    notebook: eval.ipynb\n"),
        ["shipyard.yaml line 13, stage 'evaluate': give exactly one of 'cmd'", "'notebook'"]),
    "neither-cmd-nor-notebook": (
        spec_with("    cmd: python src/evaluate.py\n", ""),
        ["shipyard.yaml line 13, stage 'evaluate': give exactly one of 'cmd'", "'notebook'"]),
    "cycle": (
        spec_with("deps: [data/raw.csv, src/prepare.py]", "deps: [data/raw.csv, src/prepare.py, reports/eval.json]"),
        ["The stages form a cycle: prepare -> train -> evaluate -> prepare"]),
    "same-out-twice": (
        spec_with(EVAL_METRICS, EVAL_METRICS + "    outs: [data/prepared.csv]\n"),
        ["Stages 'prepare' and 'evaluate' both declare the output 'data/prepared.csv'"]),
    "out-inside-out": (
        spec_with(EVAL_METRICS, EVAL_METRICS + "    outs: [models/card.md]\n"),
        ["The output 'models/card.md' of stage 'evaluate' is inside the output 'models' of stage 'train'"]),
    "missing-dep": (
        spec_with("deps: [data/prepared.csv, src/train.py]", "deps: [data/prepared.csv, src/train.py, data/extra.csv]"),
        ["Stage 'train' depends on 'data/extra.csv', which no stage produces and which does not exist",
         "shipyard add data/extra.csv", "shipyard.yaml line 7"]),
}

PARAM_ERRORS = {
    "unknown-param-key": (
        spec_with("params: [prepare.scale]", "params: [prepare.scale, prepare.seed]"), PARAMS,
        ["Stage 'prepare' depends on param 'prepare.seed', which is not in params.yaml", "prepare.scale"]),
    "unknown-param-section": (
        spec_with("params: [train]", "params: [training]"), PARAMS,
        ["Stage 'train' depends on param 'training', which is not in params.yaml", "train.C"]),
    "no-params-file": (SPEC, None, ["Stage 'prepare' depends on param 'prepare.scale', which is not in params.yaml"]),
    "invalid-params-yaml": (SPEC, "prepare:\n  scale: [2\ntrain: {}\n", ["params.yaml line 3", "invalid YAML"]),
}


def assert_nothing_ran(root: Path) -> None:
    assert not (root / "calls.log").exists()
    assert not (root / "shipyard.lock").exists()
    assert not (root / "data" / "prepared.csv").exists()
    assert shipyard.list_experiments() == []


@pytest.mark.parametrize("command", ["repro", "dag", "status"])
@pytest.mark.parametrize("case", list(SPEC_ERRORS))
def test_a_broken_pipeline_file_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str,
                                                   command: str) -> None:
    spec, fragments = SPEC_ERRORS[case]
    root = make_project(tmp_path / "churn", spec=spec)
    monkeypatch.chdir(root)
    result = invoke(command)
    line = input_error(result.exit_code, result.stdout, result.stderr)
    for fragment in fragments:
        assert fragment in line
    assert_nothing_ran(root)


@pytest.mark.parametrize("case", list(PARAM_ERRORS))
def test_a_bad_param_is_one_clear_error_before_any_stage_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              case: str) -> None:
    spec, params, fragments = PARAM_ERRORS[case]
    root = make_project(tmp_path / "churn", spec=spec, params=params)
    monkeypatch.chdir(root)
    result = invoke("repro")
    line = input_error(result.exit_code, result.stdout, result.stderr)
    for fragment in fragments:
        assert fragment in line
    assert_nothing_ran(root)


def test_an_unknown_target_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path / "churn")
    monkeypatch.chdir(root)
    result = invoke("repro", "train", "tune")
    line = input_error(result.exit_code, result.stdout, result.stderr)
    assert line == "Error: No stage named 'tune' in shipyard.yaml; stages: prepare, train, evaluate."
    assert_nothing_ran(root)


def test_the_api_raises_config_errors_with_the_inputs(tmp_path: Path) -> None:
    root = make_project(tmp_path / "churn", spec=SPEC_ERRORS["cycle"][0])
    with pytest.raises(shipyard.ConfigError, match="prepare -> train -> evaluate -> prepare"):
        repro(root=root)
    with pytest.raises(shipyard.ConfigError, match="No stage named 'tune'"):
        repro(root=make_project(tmp_path / "ok"), targets=["tune"])
    assert_nothing_ran(root)
    assert_nothing_ran(tmp_path / "ok")


@pytest.mark.parametrize("case", ["invalid-yaml", "cycle", "missing-dep"])
def test_the_installed_script_refuses_the_same_way(tmp_path: Path, case: str) -> None:
    spec, fragments = SPEC_ERRORS[case]
    root = make_project(tmp_path / "churn", spec=spec)
    done = run_cli("repro", cwd=root)
    line = input_error(done.returncode, done.stdout, done.stderr)
    for fragment in fragments:
        assert fragment in line
    assert_nothing_ran(root)


def test_no_pipeline_file_at_all(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (["repro"], ["dag"]):
        done = run_cli(*args, cwd=empty)
        line = input_error(done.returncode, done.stdout, done.stderr)
        assert line.startswith(f"Error: No shipyard.yaml in {empty} or above"), line

