"""Link-out of cached objects (``store/_linking.py``): reflink, then copy; hardlink only when asked, read-only.

Real files only. Whether this machine's filesystem can clone is probed here with the raw ``FICLONE`` ioctl,
independently of the code under test, so the same tests check the clone where there is one and the copy
fallback where there is none (ext4 and tmpfs cannot clone). A second filesystem (``/dev/shm``) stands in for a
cache on another device, where hardlinks and clones are impossible.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

import blake3
import pytest

from shipyard.errors import IntegrityError, ValidationError
from shipyard.store._linking import LINK_MODES, check_link_mode, link_out
from shipyard.store.objects import LocalObjectStore

DATA = b"customer,churn\n" + b"1,0\n" * 5000
DIGEST = str(blake3.blake3(DATA).hexdigest())
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # root writes read-only files regardless


def _can_clone(folder: Path) -> bool:
    """Whether ``folder``'s filesystem accepts FICLONE, asked directly of the kernel."""
    if sys.platform != "linux":
        return False
    import fcntl

    source, clone = folder / ".probe-source", folder / ".probe-clone"
    source.write_bytes(b"probe")
    try:
        with open(source, "rb") as reader, open(clone, "wb") as writer:
            fcntl.ioctl(writer.fileno(), 0x40049409, reader.fileno())
        return True
    except OSError:
        return False
    finally:
        source.unlink()
        clone.unlink(missing_ok=True)


def _object(folder: Path, data: bytes = DATA) -> Path:
    path = folder / "cache" / "ab" / "cdef"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return path


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".tmp"))


def test_the_default_clones_where_the_filesystem_can_and_copies_otherwise(tmp_path: Path) -> None:
    source = _object(tmp_path)
    dest = tmp_path / "work" / "raw.csv"

    method = link_out(source, dest, DIGEST)

    assert method == ("reflink" if _can_clone(tmp_path) else "copy")
    assert dest.read_bytes() == DATA
    assert not os.path.samefile(source, dest)  # an independent file either way
    dest.write_bytes(b"edited in the workspace")
    assert source.read_bytes() == DATA  # the cache is untouched by edits
    assert stat.S_IMODE(source.stat().st_mode) & 0o200  # and not made read-only: nothing shares it
    assert _leftovers(dest.parent) == []


def test_copy_mode_always_copies(tmp_path: Path) -> None:
    source = _object(tmp_path)
    dest = tmp_path / "raw.csv"

    assert link_out(source, dest, DIGEST, mode="copy") == "copy"

    assert dest.read_bytes() == DATA
    assert dest.stat().st_ino != source.stat().st_ino


def test_a_hardlink_shares_the_inode_and_makes_the_object_read_only(tmp_path: Path) -> None:
    source = _object(tmp_path)
    dest = tmp_path / "work" / "raw.csv"

    assert link_out(source, dest, DIGEST, mode="hardlink") == "hardlink"

    assert (dest.stat().st_ino, dest.stat().st_dev) == (source.stat().st_ino, source.stat().st_dev)
    assert source.stat().st_nlink == 2
    assert stat.S_IMODE(source.stat().st_mode) & 0o222 == 0  # read-only for everyone, so for the link too
    if not AS_ROOT:
        with pytest.raises(PermissionError):
            dest.open("r+b")
    assert link_out(source, dest, DIGEST, mode="hardlink") == "hardlink"  # again onto its own link: a no-op
    assert source.stat().st_nlink == 2
    assert _leftovers(dest.parent) == []


def test_a_hardlink_to_another_filesystem_falls_back_to_a_verified_copy(tmp_path: Path) -> None:
    other = Path("/dev/shm")
    if not other.is_dir() or not os.access(other, os.W_OK) or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm as a second, writable filesystem")
    source = _object(tmp_path)
    folder = other / f"shipyard-test-{os.getpid()}"
    folder.mkdir()
    try:
        with pytest.raises(OSError) as refused:  # the premise: the kernel refuses this hardlink
            os.link(source, folder / "probe")
        assert refused.value.errno == errno.EXDEV

        assert link_out(source, folder / "raw.csv", DIGEST, mode="hardlink") == "copy"

        assert (folder / "raw.csv").read_bytes() == DATA
        assert source.stat().st_nlink == 1
        assert _leftovers(folder) == []
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


@pytest.mark.parametrize("mode", LINK_MODES)
def test_bytes_that_do_not_match_their_hash_never_reach_the_destination(tmp_path: Path, mode: str) -> None:
    source = _object(tmp_path, DATA[:-1] + b"X")  # same size, one byte off
    dest = tmp_path / "work" / "raw.csv"
    dest.parent.mkdir()
    dest.write_bytes(b"the previous version")

    assert link_out(source, dest, DIGEST, mode=check_link_mode(mode)) is None

    assert dest.read_bytes() == b"the previous version"
    assert os.listdir(dest.parent) == ["raw.csv"]  # no temporary file, no partial bytes
    assert source.stat().st_nlink == 1


def test_an_unknown_mode_is_refused_with_the_choices() -> None:
    with pytest.raises(ValidationError, match="reflink .*copy .*hardlink") as caught:
        check_link_mode("symlink")
    assert caught.value.field == "link"
    assert "'symlink'" in caught.value.message


def test_the_store_names_a_hardlinked_file_that_was_edited_in_place(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    info = store.put_bytes(DATA)
    dest = tmp_path / "work" / "raw.csv"
    assert store.link_file(info.hash, dest, mode="hardlink", label="data/raw.csv") == "hardlink"

    dest.chmod(0o644)  # what it takes to edit it (root needs not even that)
    with dest.open("r+b") as handle:
        handle.write(b"C")  # in place: through the link, into the cache

    with pytest.raises(IntegrityError) as caught:
        store.link_file(info.hash, dest, mode="hardlink", label="data/raw.csv")
    assert caught.value.object_hash == info.hash
    assert caught.value.path == "data/raw.csv"
    assert f"{dest} is hard-linked to it and was edited in place" in caught.value.message
    assert str(store.path_for(info.hash)) in caught.value.message  # what to delete to get the original back
    with pytest.raises(IntegrityError, match="no longer match their hash"):  # another file: the usual message
        store.link_file(info.hash, tmp_path / "elsewhere.csv", label="data/raw.csv")
    assert not (tmp_path / "elsewhere.csv").exists()
