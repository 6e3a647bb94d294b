"""Shared by every benchmark: the machine's description and RESULTS.md sections."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        model = f" ({found.group(1).strip()})" if found else ""
    return f"{os.cpu_count()} CPUs{model}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def write_section(title: str, section: str) -> None:
    """Replace the ``## <title>`` section of RESULTS.md (``section`` starts with that heading), keeping the rest."""
    section = section.rstrip("\n") + "\n\n"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text.rstrip("\n") + "\n")
