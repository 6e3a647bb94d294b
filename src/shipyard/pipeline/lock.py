"""``shipyard.lock``: what each stage ran with and produced, committed to git next to shipyard.yaml.

Written atomically (temporary file, then rename) after every stage that finishes, so an interrupted
``repro`` leaves the previous entries intact and the finished ones recorded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ._files import LOCK_FILE as LOCK_FILE

LOCK_SCHEMA = 1


def read_lock(root: Path) -> dict[str, dict[str, Any]]:
    path = root / LOCK_FILE
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{LOCK_FILE} is not valid YAML ({exc}); restore it from git or delete it to rerun "
                          "every stage.") from None
    if not isinstance(data, dict) or not isinstance(data.get("stages", {}), dict):
        raise ConfigError(f"{LOCK_FILE} is not a Shipyard lock file; restore it from git or delete it.")
    return dict(data.get("stages") or {})


def write_lock(root: Path, stages: dict[str, dict[str, Any]], order: list[str]) -> None:
    """Write the entries, in pipeline order, atomically."""
    ordered = {name: stages[name] for name in order if name in stages}
    ordered.update({name: entry for name, entry in stages.items() if name not in ordered})
    text = yaml.safe_dump({"schema": LOCK_SCHEMA, "stages": ordered}, sort_keys=False, default_flow_style=False,
                          allow_unicode=True)
    path = root / LOCK_FILE
    temp = path.with_name(f".{LOCK_FILE}.{os.getpid()}.tmp")
    with open(temp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
