"""The real ``shipyard`` console script in a pseudo-terminal of a chosen size, as a user's terminal runs it.

A pipe is not a terminal: Rich sizes its output by the terminal it writes to, so the width tests need a
real pty (``os.openpty``) whose window size is set with ``TIOCSWINSZ``, the ioctl a terminal emulator
sends when its window is resized. The child's stdin, stdout and stderr are all the pty, as in a shell.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path

from rich.cells import cell_len

SHIPYARD_SCRIPT = Path(sys.executable).with_name("shipyard")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DIM = "\x1b[2m"
ELLIPSIS = "…"


@dataclass(frozen=True)
class Screen:
    """What the terminal received from one command."""

    args: tuple[str, ...]
    columns: int
    raw: str  # with ANSI styles; line ends as "\n"
    exit_code: int

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw)

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def __str__(self) -> str:  # shown by a failing assert: the command and its screen
        return f"$ shipyard {' '.join(self.args)}   ({self.columns} columns, exit {self.exit_code})\n{self.text}"


def run_in_terminal(*args: str, columns: int, cwd: Path, env: dict[str, str | None], set_columns: bool = True,
                    rows: int = 60, timeout: float = 120) -> Screen:
    """Run ``shipyard ARGS`` in a pty ``columns`` wide and return its screen.

    ``env`` is added to this process's environment (a ``None`` value removes a variable). ``COLUMNS`` is set
    to the window's width when ``set_columns`` (as a shell that exports it does) and removed otherwise, so
    that only the window size tells the width.
    """
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE")}
    environment["TERM"] = "xterm-256color"
    if set_columns:
        environment["COLUMNS"] = str(columns)
    for key, value in env.items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    controller, terminal = os.openpty()
    try:
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        child = subprocess.Popen([str(SHIPYARD_SCRIPT), *args], stdin=terminal, stdout=terminal, stderr=terminal,
                                 cwd=cwd, env=environment)
    except BaseException:
        os.close(controller)
        raise
    finally:
        os.close(terminal)
    received = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                child.kill()
                raise AssertionError(f"shipyard {' '.join(args)} did not finish in {timeout:.0f} s:\n"
                                     f"{received.decode(errors='replace')}")
            ready, _, _ = select.select([controller], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the child closed its side of the pty and everything was read
                break
            if not chunk:
                break
            received += chunk
        exit_code = child.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(controller)
    raw = received.decode().replace("\r\n", "\n")
    return Screen(args=args, columns=columns, raw=raw, exit_code=exit_code)


def assert_fits(screen: Screen, *, exit_code: int = 0) -> None:
    """The command ended as expected, no line is wider than the terminal and no value was cut to an ellipsis."""
    assert screen.exit_code == exit_code, screen
    too_wide = [line for line in screen.lines if cell_len(line) > screen.columns]
    assert not too_wide, f"{len(too_wide)} lines wider than {screen.columns} columns:\n{screen}"
    assert ELLIPSIS not in screen.text, screen


def more_columns_line(screen: Screen) -> str | None:
    """The dim line saying which columns were left out, or ``None`` when there is none."""
    lines = [line for line in screen.raw.splitlines() if "more column" in ANSI.sub("", line)
             or "more run" in ANSI.sub("", line)]
    if not lines:
        return None
    assert len(lines) == 1, screen
    assert lines[0].startswith(DIM), f"not dim: {lines[0]!r}\n{screen}"
    return ANSI.sub("", lines[0])
