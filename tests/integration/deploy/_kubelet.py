"""Running a rendered container on this machine as the kubelet would: same command, same environment.

No cluster runs here, so the parts of the kubelet that matter to the process are done by hand, and nothing
else is changed: each ``volumeMount`` becomes a local folder (a ConfigMap's keys written in as files, an
``emptyDir`` empty), and the mount path is replaced by that folder wherever the command or the environment
names it (except in the Secret's values, which the test gives as paths of this machine); ``env`` is
resolved the kubelet's way (``value`` with ``$(VAR)`` expanded from the variables before it,
``secretKeyRef`` from the given Secret, left unset when the key is missing and ``optional``, ``fieldRef``
``metadata.namespace``). The environment is only that, plus ``PATH`` to find ``shipyard``. The one change
to the command is the address: a test listens on 127.0.0.1 and a free port instead of 0.0.0.0:8000
(:func:`listen_locally`).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_REFERENCE_RE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass(frozen=True)
class LocalPod:
    command: list[str]
    env: dict[str, str]
    mounts: dict[str, Path]  # mount path in the container -> the local folder standing for it

    def local(self, path: str) -> Path:
        for mount, folder in self.mounts.items():
            if path == mount or path.startswith(mount + "/"):
                return folder / path[len(mount):].lstrip("/")
        raise AssertionError(f"{path} is not on a volume of the pod")


class MissingSecretKey(AssertionError):
    """A required ``secretKeyRef`` whose key the Secret does not have: the kubelet would not start the pod."""


def local_pod(manifests: list[dict[str, Any]], pod: dict[str, Any], container: dict[str, Any], *,
              secret: dict[str, str], root: Path, namespace: str = "default") -> LocalPod:
    """Lay out ``container`` of ``pod`` under ``root`` (see the module docstring)."""
    config_maps = {item["metadata"]["name"]: item for item in manifests if item["kind"] == "ConfigMap"}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts: dict[str, Path] = {}
    for mount in container["volumeMounts"]:
        folder = root / "volumes" / mount["name"]
        folder.mkdir(parents=True, exist_ok=True)
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            for key, text in config_maps[volume["configMap"]["name"]]["data"].items():
                (folder / key).write_text(text)
        else:
            assert "emptyDir" in volume, volume
        mounts[mount["mountPath"]] = folder

    # one pass, longest mount first: a local folder under /tmp must not be rewritten again as the /tmp mount
    pattern = re.compile("|".join(rf"(?<![\w/]){re.escape(path)}(?=/|$)"
                                  for path in sorted(mounts, key=len, reverse=True)))

    def localize(text: str) -> str:
        return pattern.sub(lambda match: str(mounts[match.group(0)]), text)

    env: dict[str, str] = {}
    for item in container.get("env", []):
        source = item.get("valueFrom")
        if source is None:
            value = _REFERENCE_RE.sub(lambda match: env.get(match.group(1), match.group(0)), item.get("value", ""))
        elif "secretKeyRef" in source:
            reference = source["secretKeyRef"]
            if reference["key"] not in secret:
                if reference.get("optional"):
                    continue
                raise MissingSecretKey(f"the Secret has no key {reference['key']!r} ({item['name']})")
            env[item["name"]] = secret[reference["key"]]  # the test's own values: paths of this machine already
            continue
        else:
            assert source["fieldRef"]["fieldPath"] == "metadata.namespace", source
            value = namespace
        env[item["name"]] = localize(value)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin"
    return LocalPod([localize(word) for word in container["command"]], env, mounts)


def listen_locally(command: list[str], port: int) -> list[str]:
    """``command`` with ``--host 0.0.0.0 --port 8000`` changed to 127.0.0.1 and ``port``: nothing else differs."""
    changed = list(command)
    assert changed[changed.index("--host") + 1] == "0.0.0.0"
    changed[changed.index("--host") + 1] = "127.0.0.1"
    changed[changed.index("--port") + 1] = str(port)
    return changed
