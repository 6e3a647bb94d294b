"""A serving image: the Dockerfile and a build context that installs with no package index for Shipyard.

``shipyard dockerfile -o Dockerfile`` writes three things into the Dockerfile's folder:

- ``Dockerfile.context/``, everything the image copies: the wheel of the Shipyard installed here
  (:mod:`.shipyard_wheel`; ``shipyard-ml`` is not on an index), ``requirements.txt`` pinned to this
  environment (:mod:`.image_requirements`), ``store/`` holding only the served model packages and the
  registry rows they need (:mod:`shipyard.models.export`), and ``serving.yaml`` when a config is served;
- ``Dockerfile.dockerignore``, BuildKit's ignore file for this Dockerfile: the build sends only that folder,
  never the project's data or its ``.shipyard/``;
- the Dockerfile: slim Python of this minor version, non-root, a healthcheck, SIGTERM.

Without ``--no-bake`` the image carries its models (for air-gapped clusters, ``shipyard k8s render --bake``);
with it, ``store/`` is left out and the server opens the team's store when it starts
(``SHIPYARD_DATABASE_URI`` and ``SHIPYARD_OBJECTS_URI``, as ``shipyard k8s render`` sets them), so one image
serves every version; the requirements are still pinned to what the served models were packaged with.

The folder is made whole beside the old one and renamed into place, so nothing of an earlier export lingers
and a failed run leaves the previous context as it was. ``onnxruntime`` goes into the requirements only for
a version with a verified ONNX export that a deployment runs (``runtime: onnx``, or ``auto`` with
onnxruntime installed here, as ``shipyard serve`` decides). Nothing here runs Docker.
"""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ..errors import ConfigError, ConflictError
from ..models.export import Exported, Package, export_packages
from ..models.package import read_manifest
from ..store import Store
from ..store.atomic import replacing_folder
from .image_requirements import normalized, pinned_closure
from .shipyard_wheel import DISTRIBUTION, Wheel, shipyard_wheel
from .spec import ServingConfig

CONTEXT_SUFFIX = ".context"
IGNORE_SUFFIX = ".dockerignore"
REQUIREMENTS = "requirements.txt"
STORE = "store"
CONFIG = "serving.yaml"
# What the manifests of shipyard.deploy rely on: the user, the port, and where a baked image keeps its store.
IMAGE_USER_ID = 10001
IMAGE_PORT = 8000
BAKED_STORE = "/app/.shipyard"
_README = "README.txt"
_README_TEXT = ("Written by `shipyard dockerfile`: everything the image copies. The command replaces this folder "
                "whole each time it runs.\n")


@dataclass(frozen=True)
class WrittenDockerfile:
    dockerfile: Path
    context: Path  # the folder the image copies from
    requirements: Path
    wheel: Wheel
    exported: Exported
    pins: dict[str, str] = field(default_factory=dict)
    onnx: tuple[str, ...] = ()  # the versions served with their ONNX export


def write_dockerfile(store: Store, config: ServingConfig, output: Path, *, model_uri: str | None = None,
                     config_path: Path | None = None, wheel: Path | None = None,
                     bake: bool = True) -> WrittenDockerfile:
    """Write ``output``, its ignore file and its context folder (see the module docstring).

    Args:
        store: the store the served models are registered in.
        config: what the image serves (one URI's deployment, or a ``serving.yaml``).
        output: the Dockerfile to write; its folder is the build context.
        model_uri: the URI the image serves, when there is no config file.
        config_path: the ``serving.yaml`` copied into the image.
        wheel: a Shipyard wheel to use instead of building one (``--shipyard-wheel``).
        bake: copy the served model packages into the image; without, the server reads them from the store
            its environment names when it starts.

    Raises:
        ConfigError: ``runtime: onnx`` without a verified export or without onnxruntime here; no Shipyard wheel;
            two served models pinned to different versions of one library.
        ConflictError: the context folder exists and was not written by this command.
    """
    packages = served_packages(store, config)
    output = output.resolve()
    folder = output.with_name(output.name + CONTEXT_SUFFIX)
    if folder.exists() and not (folder / _README).is_file():
        raise ConflictError(f"{folder} exists and was not written by `shipyard dockerfile`; move it away or choose "
                            "another Dockerfile name with -o.")
    with replacing_folder(folder) as staging:
        built = shipyard_wheel(staging, given=wheel)
        exported = export_packages(store, packages, staging / STORE) if bake else Exported(staging / STORE)
        pins = _pins(store, packages)
        lines = [f"{name}=={version}\n" for name, version in sorted(pins.items(), key=lambda item: item[0].lower())]
        (staging / REQUIREMENTS).write_text("# Written by `shipyard dockerfile`: the versions installed where it ran. "
                                            "Shipyard itself is the wheel.\n" + "".join(lines))
        if config_path is not None:
            shutil.copyfile(config_path, staging / CONFIG)
        (staging / _README).write_text(_README_TEXT)
    _atomic_write(output.with_name(output.name + IGNORE_SUFFIX),
                  f"# Written by `shipyard dockerfile`: a build of {output.name} sends only what it copies.\n"
                  f"*\n!{folder.name}\n")
    _atomic_write(output, _render(config, output.name, folder.name, built.path.name, model_uri=model_uri,
                                  with_config=config_path is not None, bake=bake))
    return WrittenDockerfile(
        output, folder, folder / REQUIREMENTS, Wheel(folder / built.path.name, built.version, built.origin),
        Exported(folder / STORE, exported.packages, exported.objects), pins,
        tuple(package.label for package in packages if package.onnx))


def served_packages(store: Store, config: ServingConfig) -> list[Package]:
    """The package behind every variant and shadow, with its ONNX export when the deployment would run it."""
    onnxruntime = _installed("onnxruntime")
    packages = []
    for deployment in config.deployments:
        for variant in deployment.all_variants:
            package = Package.resolved(store, variant.model)
            exported = package.version is not None and "onnx.hash" in package.version.tags
            if deployment.runtime == "onnx" and not exported:
                raise ConfigError(f"{variant.model} (deployment {deployment.name}) has no verified ONNX export, so it "
                                  f"cannot use runtime: onnx; run `shipyard models export-onnx {variant.model} "
                                  "model.onnx` first or use runtime: python.")
            if deployment.runtime == "onnx" and onnxruntime is None:
                raise ConfigError(f"Deployment {deployment.name} uses runtime: onnx, but onnxruntime is not installed "
                                  "here, so its version cannot be pinned; install the onnx extra, or use runtime: "
                                  "python.")
            uses_onnx = exported and deployment.runtime != "python" and onnxruntime is not None
            packages.append(Package(package.uri, package.version, package.run_id, package.path, uses_onnx))
    return packages


def _pins(store: Store, packages: list[Package]) -> dict[str, str]:
    """Every requirement of the image pinned: installed versions, except the libraries a model was packaged with."""
    packaged: dict[str, tuple[str, str, str]] = {}  # normalized name -> (name, version, the package that needs it)
    for package in packages:
        for line in read_manifest(store, package.run_id, package.path).get("requirements", []):
            name, _, version = line.partition("==")
            known = packaged.get(normalized(name))
            if known is not None and known[1] != version:
                raise ConfigError(f"{known[2]} was packaged with {name} {known[1]} and {package.label} with {version}; "
                                  "one image installs one version: serve them from two images, or log both models "
                                  "with the same libraries.")
            packaged[normalized(name)] = (name, version, package.label)
    roots: list[tuple[str, list[str]]] = [(DISTRIBUTION, ["serve"])]
    roots += [(name, []) for name, _, _ in packaged.values()]
    if any(package.onnx for package in packages):
        roots.append(("onnxruntime", []))
    pins = pinned_closure(roots, exclude=[DISTRIBUTION])
    by_name = {normalized(name): name for name in pins}
    for key, (name, version, _) in packaged.items():
        pins.pop(by_name.get(key, name), None)
        pins[name] = version
    return pins


def _render(config: ServingConfig, name: str, folder: str, wheel: str, *, model_uri: str | None,
            with_config: bool, bake: bool = True) -> str:
    python = ".".join(platform.python_version_tuple()[:2])
    names = ", ".join(deployment.name for deployment in config.deployments)
    if with_config:
        config_copy = f"COPY {folder}/{CONFIG} /app/{CONFIG}\n"
        command = f'["shipyard", "serve", "--config", "/app/{CONFIG}", "--host", "0.0.0.0", "--port", "{IMAGE_PORT}"]'
    else:
        config_copy = ""
        command = f'["shipyard", "serve", "{model_uri}", "--host", "0.0.0.0", "--port", "{IMAGE_PORT}"]'
    if bake:
        models = ("# and a store holding only the served model versions. In production, point SHIPYARD_STORE at a "
                  "shared\n# database and object store instead of the copied store (the same image works).\n")
        store_env = f" SHIPYARD_STORE={BAKED_STORE}"
        store_copy = f"COPY --chown=shipyard:shipyard {folder}/{STORE} {BAKED_STORE}\n"
    else:
        models = ("# and no model: the server opens the team's store when it starts, so one image serves every "
                  "version:\n#   SHIPYARD_DATABASE_URI=postgresql+psycopg://... SHIPYARD_OBJECTS_URI=s3://bucket/prefix\n")
        store_env = store_copy = ""
    return f"""# Written by `shipyard dockerfile`: serves {names}. Build it from this folder:
#   docker build -t {config.deployments[0].name}-server -f {name} .
# Everything it copies is in {folder}/: the Shipyard wheel, the requirements pinned where it was written,
{models}# It listens on 0.0.0.0, so it starts only with a token that writes (feedback) must carry, and answers only
# IP addresses and the Host names it is given:
#   docker run -e SHIPYARD_TOKEN=... -e SHIPYARD_ALLOWED_HOSTS="churn.example.com" -p {IMAGE_PORT}:{IMAGE_PORT} IMAGE
FROM python:{python}-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1{store_env}
RUN useradd --create-home --uid {IMAGE_USER_ID} shipyard
WORKDIR /app
COPY {folder}/{REQUIREMENTS} {folder}/{wheel} /app/install/
RUN pip install --no-cache-dir -r /app/install/{REQUIREMENTS} "/app/install/{wheel}[serve]"
{store_copy}{config_copy}USER shipyard
EXPOSE {IMAGE_PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \\
  CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:{IMAGE_PORT}/health/ready', timeout=2)"
STOPSIGNAL SIGTERM
CMD {command}
"""


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _atomic_write(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)
