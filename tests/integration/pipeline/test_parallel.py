"""``repro --jobs 2``: independent stages really run at the same time; dependent ones still wait.

Stages ``left`` and ``right`` are independent and ``join`` needs both. Each stage records its start and
end time; ``left`` and ``right`` also wait (up to 10 s) for each other's start marker, so if they ran one
after the other the first would end before the second began and the overlap assertion would fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard
from tests.integration.pipeline._pipelines import calls, invoke, lock_file, make_project, plain, use_venv_python

STAGE = """\
import pathlib
import sys
import time

name, partner = sys.argv[1], sys.argv[2]
times = pathlib.Path("times")
times.mkdir(exist_ok=True)
(times / f"{name}.start").write_text(repr(time.time()))
with open("calls.log", "a") as log:
    log.write(name + "\\n")
deadline = time.monotonic() + 10
while partner != "-" and not (times / f"{partner}.start").exists() and time.monotonic() < deadline:
    time.sleep(0.01)
print(f"{name} saw {partner} start")
pathlib.Path("out").mkdir(exist_ok=True)
pathlib.Path(f"out/{name}.txt").write_text(name)
(times / f"{name}.end").write_text(repr(time.time()))
"""

SPEC = """\
stages:
  left:
    cmd: python src/stage.py left right
    deps: [src/stage.py]
    outs: [out/left.txt]
  right:
    cmd: python src/stage.py right left
    deps: [src/stage.py]
    outs: [out/right.txt]
  join:
    cmd: python src/stage.py join -
    deps: [out/left.txt, out/right.txt]
    outs: [out/join.txt]
"""


def interval(root: Path, name: str) -> tuple[float, float]:
    return float((root / "times" / f"{name}.start").read_text()), float((root / "times" / f"{name}.end").read_text())


def test_two_independent_stages_overlap_and_the_dependent_one_waits(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    use_venv_python(monkeypatch)
    root = make_project(tmp_path / "fanin", spec=SPEC, params=None, files={"src/stage.py": STAGE})
    monkeypatch.chdir(root)

    result = invoke("repro", "--jobs", "2")

    assert result.exit_code == 0, result.output
    assert result.stdout == "3 stages: 3 ran, 0 restored from the cache, 0 up to date.\n"
    left, right, join = (interval(root, name) for name in ("left", "right", "join"))
    assert left[0] < right[1] and right[0] < left[1], f"no overlap: left {left}, right {right}"
    assert join[0] >= max(left[1], right[1]), f"join started before its deps ended: {left} {right} {join}"
    assert sorted(calls(root)[:2]) == ["left", "right"] and calls(root)[2] == "join"
    # With --jobs the stages' output is shown as it comes, prefixed by the stage.
    stderr = plain(result.stderr)
    assert "left | left saw right start" in stderr and "right | right saw left start" in stderr
    lock = lock_file(root)
    assert list(lock) == ["left", "right", "join"]  # pipeline order, although left and right finish in any order
    runs = {run_id: shipyard.get_run(run_id) for run_id in (entry["run_id"] for entry in lock.values())}
    assert sorted((run.name, run.status) for run in runs.values()) == [
        ("join", "FINISHED"), ("left", "FINISHED"), ("right", "FINISHED")]
