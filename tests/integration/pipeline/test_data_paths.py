"""Names inside a tracked directory follow the artifact-path rule: ``checkout`` never writes outside the folder
it restores, whatever a pointer file names, and ``add`` refuses up front a name that could not be restored.

A directory's manifest is an object named by a pointer file committed to git: a pushed commit plus a pushed
object is all it takes to hand someone a manifest listing ``../.git/hooks/post-checkout``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import shipyard
from tests.integration.pipeline._data import (
    Project,
    assert_ok,
    cli,
    digest,
    error_line,
    make_project,
    pointer_text,
    write,
)

HOOK = b"#!/bin/sh\necho owned\n"


@pytest.fixture
def project(tmp_path: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    return make_project(tmp_path, isolated_store, monkeypatch)


@pytest.mark.parametrize("name", ["../.git/hooks/post-checkout", "a/../../.git/hooks/post-checkout",
                                  "..\\.git\\hooks\\post-checkout"])
def test_checkout_refuses_a_manifest_entry_that_leaves_the_folder(project: Project, name: str) -> None:
    write(project.root, {"images/a.txt": b"alpha\n"})
    assert_ok(cli("add", "images"))
    store = shipyard.current_store()
    hook = store.objects.put_bytes(HOOK)
    crafted = [["a.txt", digest(b"alpha\n"), 6], [name, hook.hash, hook.size]]
    manifest = store.objects.put_bytes(json.dumps(crafted, separators=(",", ":")).encode())
    (project.root / "images.ship").write_text(pointer_text(manifest.hash, 6 + hook.size, 2))

    line = error_line(cli("checkout", "images"), 2)

    assert repr(name) in line and "images" in line
    assert not (project.root / ".git/hooks/post-checkout").exists()
    assert not (project.root / "..git").exists() and (project.root / "images/a.txt").read_bytes() == b"alpha\n"


def test_add_refuses_a_file_name_that_could_not_be_restored(project: Project) -> None:
    write(project.root, {"images/a.txt": b"alpha\n", "images/sub/..\\..\\x": b"a Windows path in a Linux name\n"})

    line = error_line(cli("add", "images"), 2)

    assert "'sub/..\\\\..\\\\x'" in line and "backslash" in line and "images" in line
    assert not (project.root / "images.ship").exists()
