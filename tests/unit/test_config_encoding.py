"""serving.yaml and monitoring.yaml that are not UTF-8 are refused by name, like shipyard.yaml and params.yaml.

Before, each was read with ``Path.read_text()``, so one latin-1 byte in a comment ended in a UnicodeDecodeError
traceback (or text decoded by the locale's codec on machines whose default is not UTF-8).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import TextEncodingError
from shipyard.monitoring.config import load_thresholds
from shipyard.serving.spec import load_config


def test_a_latin1_serving_yaml_is_refused_naming_the_file_and_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "serving.yaml"
    path.write_bytes(b'deployments:\n  churn:\n    variants: [{name: a, model: "models:/churn@champion"}]\n'
                     b"# caf\xe9\n")
    with pytest.raises(TextEncodingError) as refused:
        load_config(path)
    assert refused.value.source == str(path) and refused.value.line == 4
    assert refused.value.offset == path.read_bytes().index(b"\xe9")


def test_a_latin1_monitoring_yaml_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_bytes(b"# seuil de d\xe9rive\n")
    with pytest.raises(TextEncodingError) as refused:
        load_thresholds(path)
    assert refused.value.source == str(path) and refused.value.line == 1
