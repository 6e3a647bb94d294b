"""The image ``shipyard dockerfile`` writes is the one the rendered manifests expect, baked or not.

Without ``--bake`` the manifests read the models from the store at start, so ``shipyard dockerfile
--no-bake`` leaves every model out (and still pins the libraries they were packaged with); with it, the
image's store is where the init container copies it from. Either way the user and the port are the ones the
pods run as and probe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.serving._dockerfile import copies, env, exec_form, instructions, lay_out_image, missing_sources
from tests.integration.serving.test_cli import shipyard_cli

pytestmark = pytest.mark.slow

SERVING_YAML = "deployments:\n  churn: {model: \"models:/churn@champion\"}\nlog_dir: s3://predictions/churn\n"


def _build(folder: Path, wheel: Path, *flags: str) -> tuple[str, list[dict[str, Any]]]:
    """``shipyard dockerfile`` and ``shipyard k8s render`` with the same choice: the Dockerfile and the manifests."""
    folder.mkdir()
    config = folder / "serving.yaml"
    config.write_text(SERVING_YAML)
    bake = "--bake" in flags
    done = shipyard_cli("dockerfile", "--config", str(config), "--shipyard-wheel", str(wheel),
                        *([] if bake else ["--no-bake"]), cwd=folder, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    done = shipyard_cli("k8s", "render", "--config", str(config), *flags, "-o", "k8s", cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert missing_sources(folder / "Dockerfile") == []
    return ((folder / "Dockerfile").read_text(),
            [yaml.safe_load(path.read_text()) for path in sorted((folder / "k8s").glob("*.yaml"))])


def _serving_pod(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(next(item for item in manifests if item["kind"] == "Deployment")["spec"]["template"]["spec"])


def _user_id(text: str) -> int:
    useradd = next(item.arguments for item in instructions(text) if item.arguments.startswith("useradd"))
    words = useradd.split()
    return int(words[words.index("--uid") + 1])


def test_the_unbaked_image_holds_no_model_and_runs_as_the_pods_expect(churn_store: Path, shipyard_wheel: Path,
                                                                     tmp_path: Path) -> None:
    text, manifests = _build(tmp_path / "store-at-start", shipyard_wheel)
    assert "SHIPYARD_STORE" not in env(text)  # the pod names the store
    assert not any(copy.destination.endswith(".shipyard") for copy in copies(text))
    assert not (tmp_path / "store-at-start" / "Dockerfile.context" / "store").exists()
    image = lay_out_image(tmp_path / "store-at-start" / "Dockerfile", tmp_path / "image")
    pins = (image / "app" / "install" / "requirements.txt").read_text()
    assert "scikit-learn==" in pins  # what the served model was packaged with, though the model is not there
    pod = _serving_pod(manifests)
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsUser"] == _user_id(text)
    exposed = next(item.arguments for item in instructions(text) if item.keyword == "EXPOSE")
    assert container["ports"][0]["containerPort"] == int(exposed)
    assert container["command"][:2] == exec_form(text, "CMD")[:2] == ["shipyard", "serve"]
    assert "initContainers" not in pod


def test_the_baked_image_keeps_its_store_where_the_init_container_copies_it_from(
        churn_store: Path, shipyard_wheel: Path, tmp_path: Path) -> None:
    text, manifests = _build(tmp_path / "baked", shipyard_wheel, "--bake")
    pod = _serving_pod(manifests)
    source = pod["initContainers"][0]["command"][2].removesuffix("/.")
    assert source == env(text)["SHIPYARD_STORE"]
    assert any(copy.destination == source for copy in copies(text))
    image = lay_out_image(tmp_path / "baked" / "Dockerfile", tmp_path / "image")
    assert (image / source.lstrip("/") / "meta.db").is_file()
    variables = {item["name"] for item in pod["containers"][0]["env"]}
    assert not {"SHIPYARD_DATABASE_URI", "SHIPYARD_OBJECTS_URI"} & variables
