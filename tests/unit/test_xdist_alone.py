"""``@pytest.mark.alone`` (tests/_alone.py): on xdist workers, a marked test never overlaps another test.

A small suite runs on three workers in a child pytest: four ordinary tests each stay in the room for up to a
second watching for the marked test to start, and the marked test checks that the room is empty when it starts
and when it ends. Without the plugin the marked test starts while the others are running and both sides fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "_alone.py"

SUITE = textwrap.dedent('''
    import os, time
    from pathlib import Path
    import pytest

    ROOM = Path(os.environ["ROOM"])

    @pytest.mark.alone
    @pytest.mark.parametrize("twin", range(2))
    def test_marked(twin):
        assert not list(ROOM.glob("running-*")), "started beside " + str(list(ROOM.glob("running-*")))
        (ROOM / "alone").touch()
        try:
            time.sleep(0.5)  # the others must not start meanwhile: this is the window they would be seen in
            assert not list(ROOM.glob("running-*")), "others ran beside it"
        finally:
            (ROOM / "alone").unlink()

    @pytest.mark.parametrize("n", range(4))
    def test_ordinary(n):
        mine = ROOM / f"running-{n}"
        mine.touch()
        try:
            deadline = time.monotonic() + 1
            while time.monotonic() < deadline:  # watching for an overlap that must not happen
                assert not (ROOM / "alone").exists(), "the marked test ran beside this one"
                time.sleep(0.02)
        finally:
            mine.unlink()
''')


@pytest.mark.slow
def test_an_alone_test_runs_while_no_other_test_does(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    room = tmp_path / "room"
    suite.mkdir()
    room.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\nmarkers =\n    alone: the marker under test\n")
    (suite / "test_suite.py").write_text(SUITE)
    shutil.copyfile(PLUGIN, suite / "alone_plugin.py")  # importable from here (a site package is named `tests`)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "alone_plugin", "-n", "3",
         "--basetemp", str(tmp_path / "basetemp"), str(suite)],
        cwd=suite, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "ROOM": str(room), "PYTHONPATH": str(suite)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout, done.stdout
