"""A Dockerfile for serving: slim Python, requirements pinned from the model manifests, non-root, healthcheck.

The image copies the project's store (``.shipyard/``: registry and model objects) and the serving config,
so it serves exactly the versions the registry names when the image is built; in production, point
``SHIPYARD_STORE`` at a shared database and object store instead (the same image works). Nothing here runs
Docker: the file is text a container platform builds.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path

from ..errors import ConfigError
from ..models.package import read_manifest
from ..models.registry import resolve
from ..store import Store
from .config import ServingConfig

REQUIREMENTS_NAME = "requirements-serving.txt"


@dataclass(frozen=True)
class WrittenDockerfile:
    dockerfile: Path
    requirements: Path


def write_dockerfile(store: Store, config: ServingConfig, output: Path, *, model_uri: str | None = None,
                     config_path: Path | None = None) -> WrittenDockerfile:
    """Write ``output`` and the pinned requirements beside it; returns both paths."""
    if store.location.root is None:
        raise ConfigError("The store is a database URI: the image cannot copy it. Build from a local store, or set "
                          "SHIPYARD_STORE in your deployment and adapt the generated file.")
    requirements = sorted(_requirements(store, config))
    output = output.resolve()
    context = output.parent
    store_dir = os.path.relpath(store.location.root, context)
    if store_dir.startswith(".."):
        raise ConfigError(f"The store {store.location.root} is outside {context}, the build context; write the "
                          "Dockerfile into the project that holds the store.")
    python = ".".join(platform.python_version_tuple()[:2])
    if config_path is not None:
        config_copy = f"COPY {os.path.relpath(config_path.resolve(), context)} /app/serving.yaml\n"
        command = '["shipyard", "serve", "--config", "/app/serving.yaml", "--host", "0.0.0.0", "--port", "8000"]'
    else:
        config_copy = ""
        command = f'["shipyard", "serve", "{model_uri}", "--host", "0.0.0.0", "--port", "8000"]'
    text = f"""# Written by `shipyard dockerfile`: serves {', '.join(d.name for d in config.deployments)}.
FROM python:{python}-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 SHIPYARD_STORE=/app/.shipyard
RUN useradd --create-home --uid 10001 shipyard
WORKDIR /app
COPY {REQUIREMENTS_NAME} /app/{REQUIREMENTS_NAME}
RUN pip install --no-cache-dir -r /app/{REQUIREMENTS_NAME}
COPY --chown=shipyard:shipyard {store_dir} /app/.shipyard
{config_copy}USER shipyard
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \\
  CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/health/ready', timeout=2)"
STOPSIGNAL SIGTERM
CMD {command}
"""
    requirements_path = output.with_name(REQUIREMENTS_NAME)
    _atomic_write(requirements_path, "\n".join(requirements) + "\n")
    _atomic_write(output, text)
    return WrittenDockerfile(output, requirements_path)


def _requirements(store: Store, config: ServingConfig) -> set[str]:
    pins = {f"shipyard-ml[serve]=={installed_version('shipyard-ml')}"}
    for deployment in config.deployments:
        for variant in deployment.all_variants:
            _, run_id, path = resolve(store, variant.model)
            manifest = read_manifest(store, run_id, path)
            pins.update(manifest.get("requirements", []))
            if deployment.runtime != "python":
                for library in ("onnxruntime",):
                    pins.add(f"{library}=={installed_version(library)}")
    return pins


def _atomic_write(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)
