"""Reading a generated Dockerfile the way ``docker build`` does, without a Docker engine.

No engine runs on the test machines, so the tests check what a build would do: the instructions are
parsed (continuation lines joined, comments dropped, exec or shell form), every ``COPY`` source is looked
up in the build context and against its ignore files, and :func:`lay_out_image` performs the ``COPY``
instructions into a folder standing for the image's file system, so the install step and the server can
run against exactly what the image would hold.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, COPY, RUN, ...
    arguments: str
    line: int


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    destination: str
    flags: tuple[str, ...]


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined (``\\`` at the end of a line)."""
    found: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        keyword, _, arguments = " ".join(part for part in pending if part).partition(" ")
        found.append(Instruction(keyword.upper(), arguments.strip(), start))
        pending = []
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return found


def copies(text: str) -> list[Copy]:
    """Every ``COPY``: its flags (``--chown=...``), sources and destination."""
    found = []
    for item in instructions(text):
        if item.keyword != "COPY":
            continue
        words = shlex.split(item.arguments)
        flags = tuple(word for word in words if word.startswith("--"))
        rest = [word for word in words if not word.startswith("--")]
        if rest and rest[0].startswith("["):
            rest = json.loads(" ".join(rest))
        assert len(rest) >= 2, f"line {item.line}: COPY needs a source and a destination"
        found.append(Copy(tuple(rest[:-1]), rest[-1], flags))
    return found


def ignore_patterns(dockerfile: Path) -> list[str]:
    """The ignore file a BuildKit build of ``dockerfile`` uses: ``<name>.dockerignore``, else ``.dockerignore``."""
    for candidate in (dockerfile.with_name(f"{dockerfile.name}.dockerignore"), dockerfile.parent / ".dockerignore"):
        if candidate.is_file():
            return [line.strip() for line in candidate.read_text().splitlines()
                    if line.strip() and not line.strip().startswith("#")]
    return []


def is_ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes; a folder pattern covers its contents."""
    ignored = False
    parts = PurePosixPath(relative).parts
    prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    for pattern in patterns:
        negated = pattern.startswith("!")
        clean = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase(prefix, clean) for prefix in prefixes):
            ignored = not negated
    return ignored


def missing_sources(dockerfile: Path) -> list[str]:
    """COPY sources that a build of ``dockerfile`` (context: its folder) would not find, with the reason."""
    context = dockerfile.parent
    patterns = ignore_patterns(dockerfile)
    problems = []
    for copy in copies(dockerfile.read_text()):
        for source in copy.sources:
            if not (context / source).exists():
                problems.append(f"{source}: not in the build context {context}")
            elif is_ignored(source, patterns):
                problems.append(f"{source}: excluded by the ignore file")
    return problems


def lay_out_image(dockerfile: Path, root: Path) -> Path:
    """Perform the Dockerfile's COPY instructions into ``root`` (the image's ``/``); returns ``root``."""
    context = dockerfile.parent
    workdir = PurePosixPath("/")
    for item in instructions(dockerfile.read_text()):
        if item.keyword == "WORKDIR":
            workdir = workdir / item.arguments
            (root / str(workdir).lstrip("/")).mkdir(parents=True, exist_ok=True)
    for copy in copies(dockerfile.read_text()):
        destination = root / str(workdir / copy.destination).lstrip("/")
        for source in copy.sources:
            origin = context / source
            if origin.is_dir():  # Docker copies a folder's contents into the destination
                shutil.copytree(origin, destination, dirs_exist_ok=True)
            elif copy.destination.endswith("/") or len(copy.sources) > 1:
                destination.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, destination / origin.name)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, destination)
    return root


def env(text: str) -> dict[str, str]:
    """The ``ENV KEY=VALUE ...`` settings of the Dockerfile."""
    values: dict[str, str] = {}
    for item in instructions(text):
        if item.keyword == "ENV":
            for word in shlex.split(item.arguments):
                key, _, value = word.partition("=")
                values[key] = value
    return values


def exec_form(text: str, keyword: str) -> list[str]:
    """The last ``CMD`` (or ``ENTRYPOINT``) in exec form, as a list."""
    found = [item for item in instructions(text) if item.keyword == keyword]
    assert found, f"no {keyword} instruction"
    value: list[str] = json.loads(found[-1].arguments)
    return value


def pip_installs(text: str) -> list[list[str]]:
    """The argument lists of each ``pip install`` in a RUN instruction (``&&``-joined commands split)."""
    found = []
    for item in instructions(text):
        if item.keyword != "RUN":
            continue
        for command in item.arguments.split("&&"):
            words = shlex.split(command)
            if words[:2] == ["pip", "install"] or (words[1:3] == ["-m", "pip"] and words[3:4] == ["install"]):
                found.append(words[words.index("install") + 1:])
    return found
