"""The image's install step, run for real: a fresh venv, offline, from the generated requirements and wheel.

No Docker engine runs here, so the test does what the Dockerfile does: the COPY instructions lay the
context out into a folder standing for the image (``_dockerfile.lay_out_image``), then the Dockerfile's own
``pip install`` line runs with a new venv's pip, its ``/app`` paths pointing into that folder. It runs
offline for real: ``--no-index`` with only a local wheelhouse, no pip configuration (this machine's adds
find-links and local indexes), and, where the kernel allows it, in a network namespace of its own with no
interface but loopback. The wheelhouse holds the distributions installed in this environment, packed into
wheels from their files, so the install gets exactly the pinned versions or fails; it is cached under
``~/.cache/shipyard-test/wheelhouse`` (``tests/_cache.py``). Then the venv's ``shipyard serve`` runs the
image's CMD against the copied store on 127.0.0.1 and answers a prediction as the project's store does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest

from shipyard.serving.image_requirements import normalized
from shipyard.serving.shipyard_wheel import repack_installed
from tests._cache import cache_root, exclusive
from tests.integration.serving._dockerfile import env, exec_form, lay_out_image, pip_installs
from tests.integration.serving._serving import Template, records, running_server
from tests.integration.serving.test_cli import shipyard_cli

pytestmark = pytest.mark.slow

WHEELHOUSE = cache_root() / "wheelhouse"


def fill_wheelhouse(requirements: Path, folder: Path = WHEELHOUSE) -> Path:
    """A wheel in ``folder`` for every ``name==version`` line, packed from this environment's install."""
    folder.mkdir(parents=True, exist_ok=True)
    with exclusive(folder):  # another test process packing the same wheels finishes first
        for line in requirements.read_text().splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            name, _, version = line.partition("==")
            distribution = metadata.distribution(name)
            assert distribution.version == version, f"{name} is pinned to {version} but {distribution.version} is here"
            prefix = f"{normalized(name).replace('-', '_')}-{version}-"
            if not any(folder.glob(f"{prefix}*.whl")):
                repack_installed(distribution, folder, compress=False)  # stored: packing 400 MB is quicker
    return folder


@cache
def network_namespaces() -> bool:
    """Whether ``unshare --net`` can run a command here (it needs root or user namespaces)."""
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False).returncode == 0


def offline_environment() -> dict[str, str]:
    """A bare environment: no pip configuration, no proxy, no PYTHONPATH leading back into this checkout."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8",
            "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1",
            "PYTHONDONTWRITEBYTECODE": "1"}


def to_image(word: str, image: Path) -> str:
    """An argument of the Dockerfile's RUN line with its absolute paths moved into the image folder."""
    return str(image) + word if word.startswith("/") else word


def test_the_image_installs_offline_into_a_fresh_venv_and_serves_the_champion(churn_store: Path, template: Template,
                                                                              tmp_path: Path) -> None:
    done = shipyard_cli("dockerfile", "models:/churn@champion", "-o", "Dockerfile", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "built from" in done.stdout  # this checkout is an editable install: the wheel is built from its tree
    dockerfile = tmp_path / "Dockerfile"
    text = dockerfile.read_text()
    image = lay_out_image(dockerfile, tmp_path / "image")
    (install,) = pip_installs(text)
    requirements = image / install[install.index("-r") + 1].lstrip("/")
    wheelhouse = fill_wheelhouse(requirements)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    python = venv / "bin" / "python"
    command = [str(python), "-m", "pip", "install", "--no-index", "--find-links", str(wheelhouse),
               "--no-compile",  # bytecode is not what is tested, and compiling it all takes a minute here
               *(to_image(word, image) for word in install)]
    if network_namespaces():
        command = ["unshare", "--net", *command]
    installed = subprocess.run(command, capture_output=True, text=True, env=offline_environment(), timeout=900,
                               check=False)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    # Exactly the pinned set (plus Shipyard and pip), from the venv and not from this environment.
    frozen = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True,
                            env=offline_environment(), check=True, timeout=120).stdout
    got = {normalized(line.split("==")[0]): line.split("==")[1] for line in frozen.splitlines() if "==" in line}
    pinned = {normalized(line.split("==")[0]): line.split("==")[1] for line in requirements.read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    assert {name: version for name, version in got.items()
            if name not in {"pip", "setuptools", "shipyard-ml"}} == pinned
    assert got["shipyard-ml"] == metadata.version("shipyard-ml")
    where = subprocess.run([str(python), "-c", "import shipyard; print(shipyard.__file__)"], capture_output=True,
                           text=True, env=offline_environment(), check=True, timeout=120).stdout
    assert where.startswith(str(venv)), where

    # The image's CMD, from the venv, against the store the image holds.
    cmd = exec_form(text, "CMD")
    assert cmd[:2] == ["shipyard", "serve"]
    args = cmd[2:cmd.index("--host")]
    store = image / env(text)["SHIPYARD_STORE"].lstrip("/")
    with running_server(args, cwd=image / "app", store=store, shipyard=[str(venv / "bin" / "shipyard")],
                        environment=offline_environment(), timeout=180) as server:
        inputs = template.holdout(rows=8, seed=3)
        answer = server.post("/predict/churn", json={"records": records(inputs)})
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"] == {"name": "churn", "version": 1, "uri": "models:/churn/1"}
        assert answer.json()["predictions"] == template.models[1].predict(inputs).tolist()
        assert server.stop() == 0, server.describe()
