"""serving.yaml and monitoring.yaml mistakes through the commands that read them, in real processes: exit 2 and one
``Error:`` line naming the file and the line, as shipyard.yaml's mistakes do.

``shipyard serve --config``, ``shipyard monitor check --config`` and ``shipyard loop list`` (which reads
serving.yaml to check the deployments its triggers name) all read these files with the one YAML reader of
``store.yaml_file``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard
from tests.e2e.conftest import ErrorCheck, ScriptRunner

pytestmark = pytest.mark.slow  # each test runs the console script in a child process

SERVING = """\
deployments:
  churn:
    variants:
      - name: champion
        model: "models:/churn@champion"
        weight: 90
      - name: challenger
        model: "models:/churn@challenger"
        weight: ten
"""

MONITORING = """\
thresholds:
  drift: {psi_warn: 0.1}
features:
  total_charges:
    drift:
      psi_alert: high
"""

PIPELINE = """\
stages:
  prepare:
    cmd: python -c "print(1)"
    outs: [out.txt]
loops:
  watch:
    triggers:
      - monitor: {deployment: churn, check: drift}
    steps:
      - repro: [prepare]
"""


@pytest.fixture
def store() -> None:
    """A store with one run: the commands refuse to start without an existing store."""
    with shipyard.start_run():
        pass
    shipyard.set_store(None)  # the children open it themselves


def test_serve_names_the_line_of_a_weight_deep_in_the_variants(store: None, tmp_path: Path, run_script: ScriptRunner,
                                                               input_error: ErrorCheck) -> None:
    (tmp_path / "bad.yaml").write_text(SERVING)
    done = run_script("serve", "--config", "bad.yaml", "--port", "0")
    assert input_error(done.returncode, done.stdout, done.stderr) == (
        "Error: bad.yaml line 9: deployments.churn.variants[1].weight must be a number, got 'ten'.")


def test_serve_names_the_line_of_a_key_written_twice(store: None, tmp_path: Path, run_script: ScriptRunner,
                                                     input_error: ErrorCheck) -> None:
    (tmp_path / "bad.yaml").write_text(SERVING.replace("weight: ten", "weight: 10") + "  churn:\n    model: x\n")
    done = run_script("serve", "--config", "bad.yaml", "--port", "0")
    assert input_error(done.returncode, done.stdout, done.stderr) == (
        "Error: bad.yaml line 10: the key 'churn' appears twice.")


def test_monitor_check_names_the_line_of_a_bad_threshold(store: None, tmp_path: Path, run_script: ScriptRunner,
                                                         input_error: ErrorCheck) -> None:
    (tmp_path / "bad.yaml").write_text(MONITORING)
    done = run_script("monitor", "check", "-d", "churn", "--config", "bad.yaml")
    assert input_error(done.returncode, done.stdout, done.stderr) == (
        "Error: bad.yaml line 6: features.total_charges.drift.psi_alert must be a number, got 'high'.")


def test_monitor_check_names_the_line_of_an_unknown_top_level_key(store: None, tmp_path: Path,
                                                                  run_script: ScriptRunner,
                                                                  input_error: ErrorCheck) -> None:
    (tmp_path / "bad.yaml").write_text("thresholds: {}\nwindow: 3\n")
    done = run_script("monitor", "check", "-d", "churn", "--config", "bad.yaml")
    assert input_error(done.returncode, done.stdout, done.stderr) == (
        "Error: bad.yaml line 2: unknown key 'window'; allowed: features, thresholds.")


def test_loop_list_reads_serving_yaml_with_the_same_reader(tmp_path: Path, run_script: ScriptRunner,
                                                           input_error: ErrorCheck) -> None:
    """Before, yaml.safe_load kept the last of two 'churn' keys and the loop was listed (exit 0)."""
    (tmp_path / "shipyard.yaml").write_text(PIPELINE)
    (tmp_path / "serving.yaml").write_text('deployments:\n  churn:\n    model: "models:/churn/1"\n'
                                           '  churn:\n    model: "models:/churn/2"\n')
    done = run_script("loop", "list")
    assert input_error(done.returncode, done.stdout, done.stderr) == (
        "Error: serving.yaml cannot be read to check loop triggers: serving.yaml line 4: the key 'churn' appears "
        "twice.")
    (tmp_path / "serving.yaml").write_text('deployments:\n  churn:\n    model: "models:/churn/1"\n')
    listed = run_script("loop", "list")
    assert listed.returncode == 0 and "watch" in listed.stdout, listed.stderr
