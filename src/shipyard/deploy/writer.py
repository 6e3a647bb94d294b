"""Writing rendered manifests: one YAML file per object, the folder replaced whole.

File names start with the object's position (``00-configmap-churn-config.yaml``), so ``kubectl apply -f
DIR`` creates them in order: the ConfigMap before the pods that mount it. The folder is written beside the
old one and renamed into place, so an object a previous render had (a Deployment before ``--kserve``) does
not linger to be applied again; a folder this command did not write is never replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConflictError
from ..store.atomic import replacing_folder
from .pod import Manifest

MARKER = "README.txt"
_MARKER_TEXT = ("Written by `shipyard k8s render`: apply with `kubectl apply -f .` (the Secret the pods read is "
                "not here; see docs/kubernetes.md). The command replaces this folder whole each time it runs.\n")


def file_name(index: int, manifest: Manifest) -> str:
    return f"{index:02d}-{manifest['kind'].lower()}-{manifest['metadata']['name']}.yaml"


def to_yaml(manifest: Manifest) -> str:
    """One manifest as YAML, keys in the order built, multi-line text (``serving.yaml``) as a literal block."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return str(yaml.dump(manifest, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=1000,
                         allow_unicode=True))


def write_manifests(manifests: list[Manifest], folder: Path) -> list[Path]:
    """Write ``manifests`` into ``folder`` (replacing an earlier render there); returns the files in order.

    Raises:
        ConflictError: ``folder`` exists, is not empty and was not written by this command.
        ConfigError: ``folder``'s parent cannot be written.
    """
    folder = folder.resolve()
    if folder.exists() and (not folder.is_dir() or (any(folder.iterdir()) and not (folder / MARKER).is_file())):
        raise ConflictError(f"{folder} exists and was not written by `shipyard k8s render`; choose another folder "
                            "with -o or move it away.")
    names = [file_name(index, manifest) for index, manifest in enumerate(manifests)]
    with replacing_folder(folder) as staging:
        for name, manifest in zip(names, manifests, strict=True):
            (staging / name).write_text(to_yaml(manifest))
        (staging / MARKER).write_text(_MARKER_TEXT)
    return [folder / name for name in names]
