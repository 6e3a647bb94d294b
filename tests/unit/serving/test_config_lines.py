"""A mistake in ``serving.yaml`` names its line, as shipyard.yaml's do: "serving.yaml line 10: deployments...".

Each case breaks one thing in a valid file; the error names the line of the key it is about (or, for a key the file
does not have, of the deepest part of its path that it has). The same data given as a plain dict (tests,
``from_dict``) has no lines: its message is the same without " line N".
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shipyard.errors import ConfigError
from shipyard.serving.spec import load_config, parse_config

VALID = """\
refresh_interval_s: 5
deployments:
  churn:
    variants:
      - name: champion
        model: "models:/churn@champion"
        weight: 90
      - name: challenger
        model: "models:/churn@challenger"
        weight: 10
    shadow: ["models:/churn/7"]
    batching: {max_batch_size: 32}
  fraud:
    model: "models:/fraud/3"
"""


def _with(old: str, new: str) -> str:
    assert VALID.count(old) == 1, old
    return VALID.replace(old, new)


# id: (serving.yaml, the line the error must name, the message after "PATH line N: ")
CASES = {
    "weight deep in the variants": (_with("weight: 10", "weight: ten"), 10,
                                    "deployments.churn.variants[1].weight must be a number, got 'ten'."),
    "negative weight": (_with("weight: 90", "weight: -1"), 7,
                        "deployments.churn.variants[0].weight must be at least 0, got -1."),
    "unknown variant key": (_with("weight: 10\n", "weight: 10\n        traffic: 5\n"), 11,
                            "deployments.churn.variants[1] has unknown key 'traffic'; allowed: model, name, weight."),
    "unknown top-level key": (VALID + "workers: 2\n", 15, "the top level has unknown key 'workers'; allowed: "),
    "unknown deployment key": (VALID + "    replicas: 2\n", 15, "deployments.fraud has unknown key 'replicas'"),
    "model shorthand not a URI": (_with('"models:/fraud/3"', "fraud.pkl"), 14, "deployments.fraud.variants[0].model:"),
    "shadow item not a URI": (_with('["models:/churn/7"]', "[churn.pkl]"), 11, "deployments.churn.shadow[0].model:"),
    "variant without a model": (_with('        model: "models:/churn@challenger"\n', ""), 8,
                                "deployments.churn.variants[1].model must be a model URI"),
    "name used twice": (_with("name: challenger", "name: champion"), 8,
                        "deployments.churn: the variant name 'champion' is used twice."),
    "weights add up to 0": (_with("weight: 90", "weight: 0").replace("weight: 10", "weight: 0"), 4,
                            "deployments.churn.variants: the weights add up to 0"),
    "fractional batch size": (_with("max_batch_size: 32", "max_batch_size: 2.5"), 12,
                              "deployments.churn.batching.max_batch_size must be a whole number, got 2.5."),
    "unknown batching key": (_with("max_batch_size: 32", "size: 32"), 12,
                             "deployments.churn.batching has unknown key 'size'"),
    "bad runtime": (_with("    batching:", "    runtime: gpu\n    batching:"), 12,
                    "deployments.churn.runtime must be one of auto, python, onnx, got 'gpu'."),
    "top-level number": (_with("refresh_interval_s: 5", "refresh_interval_s: 0"), 1,
                         "refresh_interval_s must be at least 0.1, got 0."),
    "trust true": ("trust: true\n" + VALID, 1, "'trust' must be a list of type names"),
    "allowed hosts not a list": (VALID + "allowed_hosts: models.example.com\n", 15, "'allowed_hosts' must be a list"),
    "variants not a list": (_with("    variants:\n", "    variants: champion\n").split("      - name: champion")[0]
                            + "  fraud:\n    model: x\n", 4, "deployments.churn.variants must be a non-empty list"),
    "a dotted deployment name": (_with("  churn:", "  churn.v2:").replace("weight: 10", "weight: ten"), 10,
                                 "deployments.churn.v2.variants[1].weight must be a number, got 'ten'."),
}


@pytest.mark.parametrize(("text", "line", "message"), list(CASES.values()), ids=list(CASES))
def test_a_mistake_in_serving_yaml_names_its_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    said = str(refused.value)
    assert said.startswith(f"{path} line {line}: {message}"), said
    assert "\n" not in said and refused.value.exit_code == 2
    with pytest.raises(ConfigError) as plain:  # the same data without lines: the message of before
        parse_config(yaml.safe_load(text), str(path))
    assert str(plain.value) == said.replace(f" line {line}", "", 1)


def test_a_key_written_twice_names_the_second(tmp_path: Path) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text(VALID + '  churn:\n    model: "models:/churn/1"\n')
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value) == f"{path} line 15: the key 'churn' appears twice."


def test_a_syntax_error_is_one_line_with_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text(_with('shadow: ["models:/churn/7"]', 'shadow: ["models:/churn/7"'))
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value) == (f"{path} line 12, column 5: cannot be read as YAML (expected ',' or ']', but got "
                                  "'<scalar>').")


def test_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text("deployments:\n  churn: &same\n    model: \"models:/churn/1\"\n    batching: {max_batch_size: 8}\n"
                    "  fraud:\n    <<: *same\n    model: \"models:/fraud/1\"\n")
    config = load_config(path)
    assert [(item.name, item.batching.max_batch_size, item.variants[0].model) for item in config.deployments] == [
        ("churn", 8, "models:/churn/1"), ("fraud", 8, "models:/fraud/1")]
