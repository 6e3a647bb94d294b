"""Writing manifests: YAML that reads back as the data built, in apply order, a folder replaced whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shipyard.deploy.writer import MARKER, to_yaml, write_manifests
from shipyard.errors import ConflictError

CONFIG_TEXT = "# a comment\ndeployments:\n  churn: {model: \"models:/churn@champion\"}\n"
MANIFESTS = [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "churn-config"},
     "data": {"serving.yaml": CONFIG_TEXT}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "churn"},
     "spec": {"ports": [{"port": 80, "targetPort": "http"}], "selector": {"on": "yes"}}},
]


def test_yaml_reads_back_as_built_with_the_config_as_a_literal_block() -> None:
    text = to_yaml(MANIFESTS[0])
    assert yaml.safe_load(text) == MANIFESTS[0]
    assert "serving.yaml: |" in text and "  # a comment\n" in text  # readable in kubectl describe and diffs
    service = to_yaml(MANIFESTS[1])
    assert yaml.safe_load(service)["spec"]["selector"] == {"on": "yes"}  # quoted: YAML 1.1 would read true
    assert service.index("apiVersion") < service.index("kind") < service.index("metadata") < service.index("spec")


def test_files_are_numbered_in_apply_order_and_a_second_render_leaves_nothing_stale(tmp_path: Path) -> None:
    folder = tmp_path / "k8s"
    files = write_manifests(MANIFESTS, folder)
    assert [path.name for path in files] == ["00-configmap-churn-config.yaml", "01-service-churn.yaml"]
    assert [yaml.safe_load(path.read_text()) for path in files] == MANIFESTS
    again = write_manifests(MANIFESTS[:1], folder)
    assert sorted(path.name for path in folder.iterdir()) == sorted([again[0].name, MARKER])
    assert [path.name for path in tmp_path.iterdir()] == ["k8s"]  # no staging folder left behind


def test_a_folder_this_command_did_not_write_is_never_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "ingress.yaml").write_text("kind: Ingress\n")
    with pytest.raises(ConflictError, match="not written by `shipyard k8s render`"):
        write_manifests(MANIFESTS, folder)
    assert (folder / "ingress.yaml").read_text() == "kind: Ingress\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(write_manifests(MANIFESTS, empty)) == 2
