"""The pipeline file ``shipyard.yaml``: stages, what each needs and makes, validated on load.

Every error names the file, the stage, the key and the line, and says what was expected, before
anything runs.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ConfigError
from ..store.yaml_file import line_of, load_yaml
from ._files import PIPELINE_FILE as PIPELINE_FILE

_STAGE_KEYS = {"cmd", "notebook", "deps", "params", "outs", "metrics", "plots", "desc"}
_TOP_LEVEL_KEYS = {"name", "stages", "remotes", "loops"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]*$")


@dataclass(frozen=True)
class Stage:
    name: str
    cmd: str | None
    notebook: str | None
    deps: tuple[str, ...]
    params: tuple[str, ...]
    outs: tuple[str, ...]
    metrics: tuple[str, ...]
    plots: tuple[str, ...]
    line: int | None = None
    desc: str | None = None

    @property
    def command(self) -> str:
        """What identifies the stage's action in the lock file (its command or its notebook)."""
        return self.cmd if self.cmd is not None else f"notebook {self.notebook}"

    @property
    def produced(self) -> tuple[str, ...]:
        """Everything the stage writes: cached outs, then metrics and plots (tracked, not cached)."""
        return (*self.outs, *self.metrics, *self.plots)


@dataclass(frozen=True)
class Pipeline:
    root: Path
    name: str
    stages: dict[str, Stage] = field(default_factory=dict)
    raw: Any = None

    @property
    def path(self) -> Path:
        return self.root / PIPELINE_FILE


def find_pipeline_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PIPELINE_FILE).is_file():
            return folder
    raise ConfigError(f"No {PIPELINE_FILE} in {here} or above; create one (docs/pipelines.md shows the format).")


def load_pipeline(root: Path | None = None) -> Pipeline:
    """Read and validate ``shipyard.yaml`` at ``root`` (found by walking up when omitted)."""
    folder = root or find_pipeline_root()
    path = folder / PIPELINE_FILE
    if not path.is_file():
        raise ConfigError(f"No {PIPELINE_FILE} in {folder}.")
    data = load_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{PIPELINE_FILE} must be a mapping with a 'stages' key, not a {type(data).__name__}.")
    for key in data:
        if key not in _TOP_LEVEL_KEYS:
            close = difflib.get_close_matches(str(key), sorted(_TOP_LEVEL_KEYS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{PIPELINE_FILE} line {line_of(data, str(key))}: unknown top-level key '{key}'{hint}; "
                              f"the file takes {', '.join(sorted(_TOP_LEVEL_KEYS))}.")
    stages_node = data.get("stages") or {}
    if not isinstance(stages_node, dict):
        raise ConfigError(f"{PIPELINE_FILE} line {line_of(data, 'stages')}: 'stages' must be a mapping of "
                          "stage names to stages.")
    stages = {}
    for name, node in stages_node.items():
        stages[str(name)] = _stage(str(name), node, line_of(stages_node, str(name)))
    return Pipeline(root=folder, name=str(data.get("name") or folder.name), stages=stages, raw=data)


def _stage(name: str, node: Any, line: int | None) -> Stage:
    where = f"{PIPELINE_FILE} line {line}, stage '{name}'"
    if not _NAME_RE.match(name):
        raise ConfigError(f"{where}: stage names use letters, digits, _ - . (and start with a letter or digit).")
    if not isinstance(node, dict):
        raise ConfigError(f"{where}: a stage is a mapping with 'cmd' (or 'notebook'), 'deps', 'outs'...")
    unknown = sorted(set(node) - _STAGE_KEYS)
    if unknown:
        key = unknown[0]
        raise ConfigError(f"{PIPELINE_FILE} line {line_of(node, key)}, stage '{name}': unknown key '{key}'; "
                          f"a stage takes {', '.join(sorted(_STAGE_KEYS))}.")
    cmd, notebook = node.get("cmd"), node.get("notebook")
    if (cmd is None) == (notebook is None):
        raise ConfigError(f"{where}: give exactly one of 'cmd' (a shell command) and 'notebook' (an .ipynb path).")
    if cmd is not None and (not isinstance(cmd, str) or not cmd.strip()):
        raise ConfigError(f"{PIPELINE_FILE} line {line_of(node, 'cmd')}, stage '{name}': 'cmd' must be a command "
                          "string.")
    if notebook is not None and (not isinstance(notebook, str) or not notebook.endswith(".ipynb")):
        raise ConfigError(f"{PIPELINE_FILE} line {line_of(node, 'notebook')}, stage '{name}': 'notebook' must be "
                          "the path of an .ipynb file.")
    lists = {key: _paths(node, key, name, allow_keys=key == "params") for key in
             ("deps", "params", "outs", "metrics", "plots")}
    deps = list(lists["deps"])
    if notebook is not None and notebook not in deps:
        deps.insert(0, notebook)  # a notebook is always a dependency of its stage
    return Stage(name=name, cmd=cmd, notebook=notebook, deps=tuple(deps), params=lists["params"],
                 outs=lists["outs"], metrics=lists["metrics"], plots=lists["plots"], line=line,
                 desc=node.get("desc"))


def _paths(node: Any, key: str, stage: str, *, allow_keys: bool) -> tuple[str, ...]:
    value = node.get(key)
    if value is None:
        return ()
    where = f"{PIPELINE_FILE} line {line_of(node, key)}, stage '{stage}', key '{key}'"
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ConfigError(f"{where}: expected a list of {'param keys' if allow_keys else 'paths'}.")
    cleaned = []
    for item in value:
        if allow_keys:
            cleaned.append(item.strip())
            continue
        path = PurePosixPath(item.strip())
        if path.is_absolute() or ".." in path.parts:
            raise ConfigError(f"{where}: {item!r} must be a path inside the project (relative, no '..').")
        cleaned.append(path.as_posix())
    if len(set(cleaned)) != len(cleaned):
        duplicate = next(item for item in cleaned if cleaned.count(item) > 1)
        raise ConfigError(f"{where}: {duplicate!r} is listed twice.")
    return tuple(cleaned)
