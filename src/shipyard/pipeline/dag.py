"""The stage graph: which stage makes each path, the order to run them, and what is wrong with it.

Pure logic over a :class:`Pipeline`; the only filesystem question it asks is whether a dependency that
no stage produces exists (it must, or nothing can run).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from ..errors import ConfigError
from .spec import PIPELINE_FILE, Pipeline


@dataclass(frozen=True)
class Graph:
    pipeline: Pipeline
    producer: dict[str, str]  # path -> stage that produces it
    upstream: dict[str, tuple[str, ...]]  # stage -> stages it depends on

    def order(self, targets: list[str] | None = None) -> list[str]:
        """Stages in dependency order: ``targets`` and everything upstream of them (all when omitted)."""
        wanted = self._closure(targets) if targets else set(self.pipeline.stages)
        ordered: list[str] = []
        done: set[str] = set()

        def visit(name: str) -> None:
            if name in done:
                return
            done.add(name)
            for parent in self.upstream[name]:
                visit(parent)
            if name in wanted:
                ordered.append(name)

        for name in self.pipeline.stages:
            if name in wanted:
                visit(name)
        return ordered

    def levels(self, names: list[str]) -> list[list[str]]:
        """``names`` grouped so every stage's upstream is in an earlier group (each group may run in parallel)."""
        depth: dict[str, int] = {}
        for name in names:  # names are in dependency order
            depth[name] = 1 + max((depth[parent] for parent in self.upstream[name] if parent in depth), default=-1)
        groups: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for name in names:
            groups[depth[name]].append(name)
        return groups

    def _closure(self, targets: list[str]) -> set[str]:
        unknown = [name for name in targets if name not in self.pipeline.stages]
        if unknown:
            raise ConfigError(f"No stage named '{unknown[0]}' in {PIPELINE_FILE}; stages: "
                              f"{', '.join(self.pipeline.stages) or 'none'}.")
        found: set[str] = set()
        pending = list(targets)
        while pending:
            name = pending.pop()
            if name not in found:
                found.add(name)
                pending.extend(self.upstream[name])
        return found


def build_graph(pipeline: Pipeline) -> Graph:
    """Check the pipeline's structure and return its graph; each problem is one clear error."""
    producer: dict[str, str] = {}
    for stage in pipeline.stages.values():
        for path in stage.produced:
            if path in producer:
                raise ConfigError(f"Stages '{producer[path]}' and '{stage.name}' both declare the output '{path}'; "
                                  "each path has exactly one producer.")
            producer[path] = stage.name
    _check_nested_outs(producer)
    upstream: dict[str, tuple[str, ...]] = {}
    for stage in pipeline.stages.values():
        parents = []
        for dep in stage.deps:
            owner = _owner(dep, producer)
            if owner == stage.name:
                raise ConfigError(f"Stage '{stage.name}' depends on '{dep}', which it produces itself.")
            if owner is not None:
                if owner not in parents:
                    parents.append(owner)
            elif not (pipeline.root / dep).exists():
                raise ConfigError(
                    f"Stage '{stage.name}' depends on '{dep}', which no stage produces and which does not exist; "
                    f"create it, track it with `shipyard add {dep}`, or fix the path in {PIPELINE_FILE}"
                    + (f" line {stage.line}." if stage.line else "."))
        upstream[stage.name] = tuple(parents)
    _check_cycles(upstream)
    return Graph(pipeline, producer, upstream)


def _owner(dep: str, producer: dict[str, str]) -> str | None:
    """The stage producing ``dep`` itself or a directory that contains it."""
    if dep in producer:
        return producer[dep]
    for parent in PurePosixPath(dep).parents:
        if parent.as_posix() in producer:
            return producer[parent.as_posix()]
    return None


def _check_nested_outs(producer: dict[str, str]) -> None:
    paths = sorted(producer)
    for path in paths:
        for parent in PurePosixPath(path).parents:
            key = parent.as_posix()
            if key in producer and key != ".":
                raise ConfigError(f"The output '{path}' of stage '{producer[path]}' is inside the output '{key}' of "
                                  f"stage '{producer[key]}'; outputs may not contain each other.")


def _check_cycles(upstream: dict[str, tuple[str, ...]]) -> None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for parent in upstream[name]:
            if state.get(parent) == 1:
                cycle = [*path[path.index(parent):], parent]
                raise ConfigError(f"The stages form a cycle: {' -> '.join(reversed(cycle))}; a stage cannot depend "
                                  "on its own results.")
            if state.get(parent) is None:
                visit(parent)
        path.pop()
        state[name] = 2

    for name in upstream:
        if name not in state:
            visit(name)
