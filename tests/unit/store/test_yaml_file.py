"""The one YAML reader of the configuration files: lines of keys, the line of a key path, one-line refusals.

``line_at`` is what lets serving.yaml and monitoring.yaml name the line of a mistake the way shipyard.yaml does:
given the data as read and the key path an error is about, the line of the deepest part of that path the file has.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shipyard.errors import ConfigError
from shipyard.store.yaml_file import error_at, line_at, load_yaml

SERVING = """\
deployments:
  churn.v2:
    variants:
      - name: a
        model: m
      - {name: b, weight: x}
    shadow: ["models:/churn/7"]
  fraud: {model: f}
"""


@pytest.fixture
def served(tmp_path: Path) -> object:
    path = tmp_path / "serving.yaml"
    path.write_text(SERVING)
    return load_yaml(path)


@pytest.mark.parametrize(("path", "line"), [
    ("deployments", 1),
    ("deployments.churn.v2", 2),  # a key with a dot in it: the longest key that fits wins
    ("deployments.churn.v2.variants[1].weight", 6),
    ("deployments.churn.v2.variants[0].model", 5),
    ("deployments.churn.v2.variants[0]", 4),  # a mapping in a list starts at its first key
    ("deployments.churn.v2.variants[0].colour", 4),  # not in the file: the deepest part that is
    ("deployments.churn.v2.variants[7].weight", 3),  # no such item: the list's key
    ("deployments.churn.v2.shadow[0].model", 7),  # a plain item has no key of its own: its list's key
    ("deployments.fraud.model", 8),
    ("deployments.fraud.runtime", 8),
    ("deployments.churn", 1),  # 'churn' alone is not a key: 'churn.v2' does not fit 'churn'
    ("workers", None),
    ("", None),
])
def test_the_line_of_a_key_path_is_the_line_of_its_deepest_part_in_the_file(served: object, path: str,
                                                                             line: int | None) -> None:
    assert line_at(served, path) == line


def test_data_that_was_not_read_from_a_file_has_no_lines() -> None:
    assert line_at({"deployments": {"churn": {"model": "m"}}}, "deployments.churn.model") is None
    assert line_at([1, 2], "[0]") is None


def test_an_error_at_a_key_path_names_the_line_when_there_is_one(served: object) -> None:
    error = error_at("conf/serving.yaml", served, "deployments.churn.v2.variants[1].weight",
                     "deployments.churn.v2.variants[1].weight must be a number, got 'x'.")
    assert isinstance(error, ConfigError) and error.exit_code == 2
    assert str(error) == "conf/serving.yaml line 6: deployments.churn.v2.variants[1].weight must be a number, got 'x'."
    plain = error_at("serving.yaml", {"weight": "x"}, "weight", "weight must be a number, got 'x'.")
    assert str(plain) == "serving.yaml: weight must be a number, got 'x'."


def test_the_name_of_the_source_is_the_callers(tmp_path: Path) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text("a: 1\nb: 2\na: 3\n")
    with pytest.raises(ConfigError) as duplicate:
        load_yaml(path, str(path))
    assert str(duplicate.value) == f"{path} line 3: the key 'a' appears twice."
    with pytest.raises(ConfigError) as short:
        load_yaml(path)
    assert str(short.value) == "serving.yaml line 3: the key 'a' appears twice."


def test_a_syntax_error_is_one_line_in_the_callers_words(tmp_path: Path) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text("deployments:\n  churn: [unclosed\n")
    with pytest.raises(ConfigError) as broken:
        load_yaml(path)
    assert str(broken.value) == ("serving.yaml line 3, column 1: invalid YAML (expected ',' or ']', but got "
                                 "'<stream end>').")
    assert broken.value.exit_code == 2
    with pytest.raises(ConfigError) as worded:
        load_yaml(path, "conf/serving.yaml", not_yaml="cannot be read as YAML")
    assert str(worded.value) == ("conf/serving.yaml line 3, column 1: cannot be read as YAML (expected ',' or ']', "
                                 "but got '<stream end>').")


def test_a_control_character_is_refused_in_one_line_naming_its_line(tmp_path: Path) -> None:
    """Before: "c.yaml: invalid YAML (unacceptable character ...\\n  in "<unicode string>", position 10)."."""
    path = tmp_path / "c.yaml"
    path.write_text('a: 1\nb: "x\x07"\n')
    with pytest.raises(ConfigError) as refused:
        load_yaml(path)
    assert str(refused.value) == ("c.yaml line 2, column 6: invalid YAML (unacceptable character #x0007: special "
                                  "characters are not allowed).")


def test_a_key_that_is_a_list_is_refused_naming_its_line(tmp_path: Path) -> None:
    """Before: TypeError: unhashable type: 'list' (a traceback)."""
    path = tmp_path / "shipyard.yaml"
    path.write_text("stages: {}\n? [x, y]\n: 2\n")
    with pytest.raises(ConfigError) as refused:
        load_yaml(path)
    assert str(refused.value) == "shipyard.yaml line 2, column 3: invalid YAML (found unhashable key)."


MERGED = """\
defaults: &defaults
  batching: {max_batch_size: 8}
  runtime: python
deployments:
  churn:
    <<: *defaults
    runtime: onnx
    model: m
"""


def test_merge_keys_read_as_yaml_safe_load_reads_them(tmp_path: Path) -> None:
    """serving.yaml and monitoring.yaml were read with yaml.safe_load, which merges ``<<: *anchor``: so does this
    reader, a key written after the merge overriding the merged one (not a duplicate)."""
    path = tmp_path / "serving.yaml"
    path.write_text(MERGED)
    data = load_yaml(path)
    assert data == yaml.safe_load(MERGED)
    assert data["deployments"]["churn"] == {"batching": {"max_batch_size": 8}, "runtime": "onnx", "model": "m"}
    assert line_at(data, "deployments.churn.runtime") == 7  # the key that won
    assert line_at(data, "deployments.churn.batching.max_batch_size") == 2  # where the merged value is written
    path.write_text(MERGED + "    model: n\n")
    with pytest.raises(ConfigError, match=r"^serving\.yaml line 9: the key 'model' appears twice\.$"):
        load_yaml(path)
