"""``serving.yaml`` parsing: the settings it gives, and the message of each mistake (file, key path, expected)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import ConfigError
from shipyard.serving.spec import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_REQUEST_ROWS,
    DEFAULT_REFRESH_S,
    Batching,
    config_for_uri,
    from_dict,
    load_config,
    parse_config,
)

FULL = """
refresh_interval_s: 5
max_body_bytes: 65536
flush_interval_s: 0.5
durability: strict
max_request_rows: 500
body_timeout_s: 2.5
log_dir: logs
token: secret
trust: [numpy.dtype]
deployments:
  churn:
    variants:
      - {name: champion, model: "models:/churn@champion", weight: 90}
      - {name: challenger, model: "models:/churn@challenger", weight: 10}
    shadow: ["models:/churn/7", {name: candidate, model: "models:/churn/8"}]
    sticky_key: customer_id
    batching: {max_batch_size: 32, max_wait_ms: 1.5}
    runtime: python
  fraud:
    model: "models:/fraud/3"
    batching: false
"""


def test_a_full_file_gives_every_setting(tmp_path: Path) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text(FULL)
    config = load_config(path)
    assert (config.refresh_interval_s, config.max_body_bytes, config.flush_interval_s) == (5.0, 65536, 0.5)
    assert (config.log_dir, config.token, config.trust) == ("logs", "secret", ("numpy.dtype",))
    assert (config.durability, config.max_request_rows, config.body_timeout_s) == ("strict", 500, 2.5)
    churn = config.deployment("churn")
    assert churn is not None
    assert [(item.name, item.model, item.weight) for item in churn.variants] == [
        ("champion", "models:/churn@champion", 90.0), ("challenger", "models:/churn@challenger", 10.0)]
    assert [(item.name, item.model, item.shadow, item.weight) for item in churn.shadows] == [
        ("shadow1", "models:/churn/7", True, 0.0), ("candidate", "models:/churn/8", True, 0.0)]
    assert [item.name for item in churn.all_variants] == ["champion", "challenger", "shadow1", "candidate"]
    assert churn.sticky_key == "customer_id" and churn.runtime == "python"
    assert churn.batching == Batching(32, 1.5) and churn.batching.enabled
    fraud = config.deployment("fraud")
    assert fraud is not None
    assert [(item.name, item.model, item.weight) for item in fraud.variants] == [("default", "models:/fraud/3", 100)]
    assert fraud.batching == Batching(1, 0.0) and not fraud.batching.enabled
    assert fraud.runtime == "auto" and fraud.shadows == ()
    assert config.deployment("nope") is None


def test_defaults() -> None:
    config = parse_config({"deployments": {"churn": {"variants": [{"model": "models:/churn@champion"},
                                                                  {"model": "models:/churn/2"}]}}})
    assert config.refresh_interval_s == DEFAULT_REFRESH_S and config.max_body_bytes == DEFAULT_MAX_BODY
    assert config.token is None and config.log_dir is None and config.flush_interval_s == 1.0
    assert config.durability == "buffered" and config.max_request_rows == DEFAULT_MAX_REQUEST_ROWS == 10_000
    assert config.body_timeout_s == DEFAULT_BODY_TIMEOUT_S == 10.0
    churn = config.deployments[0]
    assert [item.name for item in churn.variants] == ["champion", "variant2"]  # alias, else position
    assert [item.weight for item in churn.variants] == [1.0, 1.0]
    assert churn.batching == Batching() and churn.sticky_key is None


def test_the_config_survives_the_trip_to_worker_processes(tmp_path: Path) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text(FULL)
    config = load_config(path)
    assert from_dict(config.to_dict()) == config


def test_a_model_uri_becomes_one_deployment_named_after_the_model() -> None:
    config = config_for_uri("models:/churn@champion", batching=Batching(8, 0.0), runtime="onnx")
    (deployment,) = config.deployments
    assert deployment.name == "churn" and deployment.runtime == "onnx" and deployment.batching == Batching(8, 0.0)
    assert [(item.name, item.model, item.weight) for item in deployment.variants] == [
        ("champion", "models:/churn@champion", 100.0)]
    assert config_for_uri("models:/churn/4").deployments[0].variants[0].name == "v4"
    assert config_for_uri("models:/churn/4").max_request_rows == DEFAULT_MAX_REQUEST_ROWS
    with pytest.raises(ConfigError, match="must be one of auto, python, onnx"):
        config_for_uri("models:/churn/4", runtime="gpu")


def _variant(**fields: Any) -> dict[str, Any]:
    return {"deployments": {"churn": {"variants": [{"name": "a", "model": "models:/churn/1", **fields}]}}}


ERRORS = {
    "not a mapping": ([1, 2], "the top level must be a mapping"),
    "unknown top-level key": ({"deployment": {}}, "the top level has unknown key 'deployment'; allowed:"),
    "no deployments": ({"deployments": {}}, "'deployments' is empty"),
    "deployments as a list": ({"deployments": ["churn"]}, "deployments must be a mapping"),
    "bad deployment name": ({"deployments": {"a b": {"model": "models:/churn/1"}}}, "deployment name 'a b'"),
    "unknown deployment key": ({"deployments": {"churn": {"model": "models:/churn/1", "replicas": 2}}},
                               "deployments.churn has unknown key 'replicas'"),
    "both model and variants": ({"deployments": {"churn": {"model": "models:/churn/1", "variants": []}}},
                                "has both 'model' and 'variants'"),
    "no variants": ({"deployments": {"churn": {"variants": []}}}, "deployments.churn.variants must be a non-empty"),
    "unknown variant key": (_variant(traffic=5), "deployments.churn.variants[0] has unknown key 'traffic'"),
    "model not a URI": (_variant(model="churn.pkl"), "deployments.churn.variants[0].model:"),
    "model missing": ({"deployments": {"churn": {"variants": [{"name": "a"}]}}},
                      "deployments.churn.variants[0].model must be a model URI"),
    "negative weight": (_variant(weight=-1), "deployments.churn.variants[0].weight must be at least 0, got -1"),
    "weight as text": (_variant(weight="90%"), "deployments.churn.variants[0].weight must be a number, got '90%'"),
    "weight as a boolean": (_variant(weight=True), "weight must be a number, got True"),
    "weights add up to 0": (_variant(weight=0), "the weights add up to 0"),
    "bad variant name": (_variant(name="a/b"), "deployments.churn.variants[0].name must be letters"),
    "duplicate variant name": ({"deployments": {"churn": {"variants": [{"name": "a", "model": "models:/churn/1"}],
                                                          "shadow": [{"name": "a", "model": "models:/churn/2"}]}}},
                               "the variant name 'a' is used twice"),
    "shadow not a list": ({"deployments": {"churn": {"model": "models:/churn/1", "shadow": "models:/churn/2"}}},
                          "deployments.churn.shadow must be a list"),
    "bad runtime": ({"deployments": {"churn": {"model": "models:/churn/1", "runtime": "gpu"}}},
                    "deployments.churn.runtime must be one of auto, python, onnx, got 'gpu'"),
    "unknown batching key": ({"deployments": {"churn": {"model": "models:/churn/1", "batching": {"size": 2}}}},
                             "deployments.churn.batching has unknown key 'size'"),
    "fractional batch size": ({"deployments": {"churn": {"model": "models:/churn/1",
                                                        "batching": {"max_batch_size": 2.5}}}},
                              "max_batch_size must be a whole number"),
    "batch size 0": ({"deployments": {"churn": {"model": "models:/churn/1", "batching": {"max_batch_size": 0}}}},
                     "max_batch_size must be at least 1"),
    "wait too long": ({"deployments": {"churn": {"model": "models:/churn/1", "batching": {"max_wait_ms": 5000}}}},
                      "max_wait_ms must be at most 1000"),
    "tiny body limit": ({"max_body_bytes": 10, **_variant()}, "max_body_bytes must be at least 1024"),
    "slow flush": ({"flush_interval_s": 5, **_variant()}, "flush_interval_s must be at most 1"),
    "refresh too fast": ({"refresh_interval_s": 0, **_variant()}, "refresh_interval_s must be at least 0.1"),
    "trust not a list": ({"trust": "numpy.dtype", **_variant()}, "'trust' must be a list of type names"),
    "token not text": ({"token": ["a"], **_variant()}, "token must be text"),
    "unknown durability": ({"durability": "fsync", **_variant()},
                           "durability must be one of buffered, strict, got 'fsync'"),
    "no rows allowed": ({"max_request_rows": 0, **_variant()}, "max_request_rows must be at least 1, got 0"),
    "fractional rows": ({"max_request_rows": 2.5, **_variant()}, "max_request_rows must be a whole number"),
    "no body timeout": ({"body_timeout_s": 0, **_variant()}, "body_timeout_s must be at least 0.1"),
}


@pytest.mark.parametrize(("data", "message"), list(ERRORS.values()), ids=list(ERRORS))
def test_each_mistake_names_the_file_and_key(data: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "conf/serving.yaml")
    text = str(caught.value)
    assert text.startswith("conf/serving.yaml: ")
    assert message in text
    assert caught.value.exit_code == 2


def test_a_missing_or_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "serving.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("deployments: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot be read as YAML"):
        load_config(broken)
