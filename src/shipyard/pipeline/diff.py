"""``shipyard params diff`` and ``shipyard metrics diff``: the workspace against a git revision."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..store.text import decode_text, read_text
from .params import PARAMS_FILE, flatten
from .spec import load_pipeline


@dataclass(frozen=True)
class Change:
    source: str  # the file
    key: str
    old: Any
    new: Any

    @property
    def delta(self) -> float | None:
        numbers = (int, float)
        if isinstance(self.old, numbers) and isinstance(self.new, numbers) and not isinstance(self.old, bool):
            return float(self.new) - float(self.old)
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.source, "key": self.key, "old": self.old, "new": self.new, "delta": self.delta}


def params_diff(root: Path, revision: str = "HEAD", *, all_keys: bool = False) -> list[Change]:
    return _diff(root, revision, [PARAMS_FILE], all_keys)


def metrics_diff(root: Path, revision: str = "HEAD", *, all_keys: bool = False) -> list[Change]:
    pipeline = load_pipeline(root)
    files = sorted({path for stage in pipeline.stages.values() for path in stage.metrics})
    return _diff(root, revision, files, all_keys)


def _diff(root: Path, revision: str, files: list[str], all_keys: bool) -> list[Change]:
    _check_revision(root, revision)
    changes = []
    for name in files:
        old = _flat(_git_show(root, revision, name), name)
        new_path = root / name
        new = _flat(read_text(new_path, name) if new_path.exists() else None, name)
        for key in sorted(set(old) | set(new)):
            if all_keys or old.get(key) != new.get(key):
                changes.append(Change(name, key, old.get(key), new.get(key)))
    return changes


def _flat(text: str | None, name: str) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        data = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        raise ConfigError(f"{name} is not valid JSON/YAML.") from None
    return flatten(data) if isinstance(data, dict) else {}


def _check_revision(root: Path, revision: str) -> None:
    done = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"{revision!r} is not a git revision of {root} (is it a git repository with commits?).")


def _git_show(root: Path, revision: str, name: str) -> str | None:
    # "./" makes the path relative to the project folder, which may be a subfolder of the repository.
    done = subprocess.run(["git", "-C", str(root), "show", f"{revision}:./{name}"], capture_output=True, check=False)
    return decode_text(done.stdout, f"{name} at {revision}") if done.returncode == 0 else None
