"""A mistake in ``monitoring.yaml`` names its line ("monitoring.yaml line 8: features.total_charges.drift...").

Like serving.yaml (tests/unit/serving/test_config_lines.py): the line of the key the error is about, or of the
deepest part of its path the file has; the same data as a plain dict gives the message of before, without a line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shipyard.errors import ConfigError
from shipyard.monitoring.config import Thresholds, load_thresholds

VALID = """\
thresholds:
  drift: {psi_warn: 0.1}
  missing:
    warn_points: 5
features:
  total_charges:
    drift:
      psi_alert: 0.4
  tenure:
    missing: {alert_points: 30}
"""


def _with(old: str, new: str) -> str:
    assert VALID.count(old) == 1, old
    return VALID.replace(old, new)


# id: (monitoring.yaml, the line the error must name, the message after "PATH line N: ")
CASES = {
    "a bad threshold in features.x.drift": (_with("psi_alert: 0.4", "psi_alert: high"), 8,
                                            "features.total_charges.drift.psi_alert must be a number, got 'high'."),
    "an unknown setting": (_with("psi_alert: 0.4", "psi_alrt: 0.4"), 8,
                           "features.total_charges.drift.psi_alrt is not a setting; known: "),
    "an unknown check": (_with("    drift:\n", "    drfit:\n"), 7,
                         "features.total_charges.drfit is not a check; known: "),
    "a flow-style setting": (_with("{psi_warn: 0.1}", "{psi_warn: true}"), 2,
                             "thresholds.drift.psi_warn must be a number, got True."),
    "settings that are not a mapping": (_with("  missing:\n    warn_points: 5\n", "  missing: [5]\n"), 3,
                                        "thresholds.missing must be a mapping of setting: value."),
    "a feature that is not a mapping": (_with("    missing: {alert_points: 30}\n", "    5\n"), 9,
                                        "features.tenure must be a mapping of check -> settings."),
    "an unknown top-level key": (VALID + "windows: 3\n", 11, "unknown key 'windows'; allowed: features, thresholds."),
}


@pytest.mark.parametrize(("text", "line", "message"), list(CASES.values()), ids=list(CASES))
def test_a_mistake_in_monitoring_yaml_names_its_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_thresholds(path)
    said = str(refused.value)
    assert said.startswith(f"{path} line {line}: {message}"), said
    assert "\n" not in said and refused.value.exit_code == 2
    with pytest.raises(ConfigError) as plain:  # the same data without lines: the message of before
        Thresholds(yaml.safe_load(text), str(path))
    assert str(plain.value) == said.replace(f" line {line}", "", 1)


def test_a_key_written_twice_names_the_second(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text(_with("  missing:\n", "  drift: {psi_alert: 0.3}\n  missing:\n"))
    with pytest.raises(ConfigError) as refused:
        load_thresholds(path)
    assert str(refused.value) == f"{path} line 3: the key 'drift' appears twice."


def test_features_that_are_not_a_mapping_are_refused_naming_their_line(tmp_path: Path) -> None:
    """Before: AttributeError: 'list' object has no attribute 'items' (a traceback)."""
    path = tmp_path / "monitoring.yaml"
    path.write_text("thresholds: {}\nfeatures: [tenure]\n")
    with pytest.raises(ConfigError) as refused:
        load_thresholds(path)
    assert str(refused.value) == f"{path} line 2: features must be a mapping of feature -> checks."


def test_keys_of_mixed_types_are_refused_by_name(tmp_path: Path) -> None:
    """Before: TypeError: '<' not supported between instances of 'str' and 'int' (a traceback)."""
    path = tmp_path / "monitoring.yaml"
    path.write_text("2024: {}\nwindows: 3\n")
    with pytest.raises(ConfigError) as refused:
        load_thresholds(path)
    assert str(refused.value) == f"{path} line 1: unknown key '2024'; allowed: features, thresholds."


def test_a_syntax_error_is_one_line_with_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text(_with("{psi_warn: 0.1}", "{psi_warn: 0.1"))
    with pytest.raises(ConfigError) as refused:
        load_thresholds(path)
    said = str(refused.value)
    assert said.startswith(f"{path} line 3, column 10: not valid YAML (") and "\n" not in said, said


def test_a_valid_file_still_gives_its_thresholds(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text(VALID)
    thresholds = load_thresholds(path)
    assert thresholds.get("drift", "psi_warn") == 0.1 and thresholds.get("missing", "warn_points") == 5
    assert thresholds.get("drift", "psi_alert", "total_charges") == 0.4
    assert thresholds.get("missing", "alert_points", "tenure") == 30
