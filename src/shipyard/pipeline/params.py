"""``params.yaml``: the values stages declare they depend on, by dotted key or whole section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..store.yaml_file import load_yaml
from ._files import PARAMS_FILE as PARAMS_FILE


def load_params(root: Path) -> dict[str, Any]:
    path = root / PARAMS_FILE
    if not path.is_file():
        return {}
    data = load_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{PARAMS_FILE} must be a mapping of names to values.")
    return _plain(data)


def resolve(params: dict[str, Any], keys: tuple[str, ...], stage: str) -> dict[str, Any]:
    """The flat ``{"train.C": 1.0, ...}`` values of ``keys`` (a key may name a whole section)."""
    values: dict[str, Any] = {}
    for key in keys:
        node: Any = params
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                known = ", ".join(sorted(flatten(params))[:12]) or "none"
                raise ConfigError(f"Stage '{stage}' depends on param '{key}', which is not in {PARAMS_FILE} "
                                  f"(known: {known}).")
            node = node[part]
        if isinstance(node, dict):
            values.update({f"{key}.{sub}": value for sub, value in flatten(node).items()})
        else:
            values[key] = node
    return values


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _plain(value: Any) -> Any:
    """Line-numbered dicts back to plain ones (they are compared and written to the lock file)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
