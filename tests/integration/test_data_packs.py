"""Small objects travel in packs: fewer requests, same verification."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import shipyard
from shipyard.pipeline import remotes
from shipyard.pipeline.data import add, checkout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "data" / "rows").mkdir(parents=True)
    for index in range(100):
        (root / "data" / "rows" / f"r{index:03d}.bin").write_bytes(os.urandom(200) + bytes([index]))
    (root / "data" / "big.bin").write_bytes(os.urandom(2 << 20))  # above the pack limit: travels loose
    add(shipyard.current_store(), root, [str(root / "data" / "rows"), str(root / "data" / "big.bin")])
    remotes.add_remote(root, "local", str(tmp_path / "remote"), default=True)
    return root


def test_small_objects_go_in_a_pack_and_big_ones_loose(project: Path, tmp_path: Path) -> None:
    store = shipyard.current_store()
    remote = remotes.get_remote(project, None)
    pushed = remotes.push(store, project, remote)
    assert len(pushed.transferred) == 102  # 100 files + the directory manifest + the big file
    packs = sorted((tmp_path / "remote" / "packs").iterdir())
    assert [path.suffix for path in packs] == [".idx", ".pack"]
    index = json.loads(packs[0].read_text())
    assert len(index) == 101
    loose = [path for path in (tmp_path / "remote").rglob("*") if path.is_file() and path.parent.name != "packs"]
    assert len(loose) == 1 and loose[0].stat().st_size == 2 << 20
    again = remotes.push(store, project, remote)
    assert (again.transferred, again.already) == ([], 102)  # the index says what the pack holds

    shutil.rmtree(store.location.root / "objects")
    shipyard.set_store(None)
    shutil.rmtree(project / "data" / "rows")
    (project / "data" / "big.bin").unlink()  # the .ship pointers stay: they are what git keeps
    store = shipyard.current_store()
    pulled = remotes.pull(store, project, remote)
    assert len(pulled.transferred) == 102 and pulled.missing_everywhere == []
    restored, _ = checkout(store, project)
    assert sorted(restored) == ["data/big.bin", "data/rows"]
    assert len(list((project / "data" / "rows").iterdir())) == 100


def test_a_corrupted_object_inside_a_pack_is_refused_by_name(project: Path, tmp_path: Path) -> None:
    store = shipyard.current_store()
    remote = remotes.get_remote(project, None)
    remotes.push(store, project, remote)
    index_path = next((tmp_path / "remote" / "packs").glob("*.idx"))
    index = json.loads(index_path.read_text())
    victim, (offset, _size) = sorted(index.items())[0]
    pack = index_path.with_suffix(".pack")
    body = bytearray(pack.read_bytes())
    body[offset] ^= 0xFF
    pack.write_bytes(bytes(body))
    shutil.rmtree(store.location.root / "objects")
    shipyard.set_store(None)
    with pytest.raises(shipyard.IntegrityError, match=victim[:12]) as caught:
        remotes.pull(shipyard.current_store(), project, remote)
    assert caught.value.object_hash == victim
    assert not shipyard.current_store().objects.exists(victim)


def test_a_local_remote_ignores_what_an_interrupted_push_left(project: Path, tmp_path: Path) -> None:
    """Files land under a temporary name and are renamed: a push killed mid-file leaves a ``.tmp`` that no
    listing takes for an object or an index, so the next push sends everything again, intact."""
    remote_dir = tmp_path / "remote"
    (remote_dir / "packs").mkdir(parents=True)
    (remote_dir / "packs" / ".0123.idx.1a2b3c4d.tmp").write_text('{"half an index')
    big = (project / "data" / "big.bin").read_bytes()
    big_hash = shipyard.current_store().objects.put_bytes(big).hash
    (remote_dir / big_hash[:2]).mkdir()
    (remote_dir / big_hash[:2] / f".{big_hash[2:]}.5e6f7a8b.tmp").write_bytes(big[:1000])  # a partial object

    pushed = remotes.push(shipyard.current_store(), project, remotes.get_remote(project, None))

    assert len(pushed.transferred) == 102
    assert (remote_dir / big_hash[:2] / big_hash[2:]).read_bytes() == big
    finished = [path for path in remote_dir.rglob("*") if path.is_file() and not path.name.endswith(".tmp")]
    assert len(finished) == 3  # the pack, its index and the big object; the leftovers stay inert
