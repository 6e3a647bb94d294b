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


def pulled_into_a_fresh_cache(project: Path) -> shipyard.Store:
    """Push, empty the cache and the data, pull: the store the pull filled."""
    store = shipyard.current_store()
    remote = remotes.get_remote(project, None)
    remotes.push(store, project, remote)
    shutil.rmtree(store.location.root / "objects")
    shutil.rmtree(project / "data" / "rows")
    shipyard.set_store(None)
    store = shipyard.current_store()
    remotes.pull(store, project, remote)
    return store


def test_a_pull_keeps_a_remote_pack_packed_in_the_cache(project: Path, tmp_path: Path) -> None:
    """100 small objects arrive as one pack file and one index, not 100 files; every read verifies them."""
    before = {path.name: path.read_bytes() for path in (project / "data" / "rows").iterdir()}
    store = pulled_into_a_fresh_cache(project)
    objects = store.location.root / "objects"
    assert sorted(path.suffix for path in (objects / "packs").iterdir()) == [".idx", ".pack"]
    loose = [path for path in objects.rglob("*") if path.is_file() and path.parent.name != "packs"]
    assert len(loose) == 2  # the directory manifest (fetched first, to learn the files) and the big file

    restored, _ = checkout(store, project)
    assert restored == ["data/rows"]
    assert {path.name: path.read_bytes() for path in (project / "data" / "rows").iterdir()} == before
    index = json.loads(next((objects / "packs").glob("*.idx")).read_text())
    some = sorted(index)[0]
    assert store.objects.exists(some) and store.objects.size(some) == index[some][1]
    assert store.objects.get_bytes(some) in before.values()
    assert set(index) <= set(store.objects.iter_hashes())

    again = tmp_path / "second-remote"  # and what is packed here can be pushed on from here
    remotes.add_remote(project, "second", str(again))
    pushed = remotes.push(store, project, remotes.get_remote(project, "second"))
    assert len(pushed.transferred) == 102


def test_a_corrupted_object_in_a_local_pack_is_refused_at_checkout(project: Path) -> None:
    store = pulled_into_a_fresh_cache(project)
    index_path = next((store.location.root / "objects" / "packs").glob("*.idx"))
    victim, (offset, _size) = sorted(json.loads(index_path.read_text()).items())[0]
    pack = index_path.with_suffix(".pack")
    body = bytearray(pack.read_bytes())
    body[offset] ^= 0xFF
    pack.write_bytes(bytes(body))
    with pytest.raises(shipyard.IntegrityError, match=f"{victim[:12]}.*{pack.name}") as caught:
        checkout(store, project)
    assert caught.value.object_hash == victim
    assert not (project / "data" / "rows").exists()  # nothing partial in the workspace


def test_gc_rewrites_a_local_pack_without_the_objects_it_removes(project: Path) -> None:
    store = pulled_into_a_fresh_cache(project)
    checkout(store, project)
    packs = store.location.root / "objects" / "packs"
    index = json.loads(next(packs.glob("*.idx")).read_text())
    doomed = set(sorted(index)[:10])
    store.objects.delete_many(doomed)
    rewritten = json.loads(next(packs.glob("*.idx")).read_text())
    assert len(list(packs.iterdir())) == 2 and set(rewritten) == set(index) - doomed
    assert not any(store.objects.exists(digest) for digest in doomed)
    kept = sorted(set(index) - doomed)
    assert all(store.objects.get_bytes(digest) for digest in kept)  # verified reads from the new pack

    store.objects.delete_many(set(kept))
    assert list(packs.iterdir()) == []  # a pack with nothing left goes, index and all
