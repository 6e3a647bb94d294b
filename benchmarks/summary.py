"""The one table ``make bench`` ends with: every row of RESULTS.md that has a target, across all benchmarks.

Each benchmark writes its own section of RESULTS.md (its full tables and notes); this reads them back and
prints the rows that carry a target and a verdict (or a ratio against an anchor tool), with the machine's
description, so a reader sees in one place where Shipyard stands against MLflow, DVC, BentoML and Evidently.
Run it alone with ``python -m benchmarks.summary``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from benchmarks._results import RESULTS, machine

# Which column of a table is "the figure": a ratio against the anchor first, then Shipyard's own measurement.
_FIGURE_COLUMNS = ("ratio", "evidently /", "vs ", "shipyard", "seconds", "median")


@dataclass
class Row:
    section: str
    workload: str
    figure: str
    target: str
    result: str


def rows_with_targets(text: str) -> list[Row]:
    """Table rows whose table has a ``target`` column, plus the serving section's ``- ...: X (target ...)`` lines."""
    found: list[Row] = []
    for section, body in re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", text, re.S | re.M):
        header: list[str] = []
        for line in body.splitlines():
            if not line.startswith("|"):
                header = []
                bullet = re.match(r"- (.+?): (.+?) \(target ([^)]+?)(?:: (pass|FAIL))?\)", line)
                if bullet:
                    found.append(Row(section, bullet.group(1), bullet.group(2), bullet.group(3), bullet.group(4) or ""))
                continue
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not header:
                header = [cell.lower() for cell in cells]
                continue
            if set(cells[0]) <= {"-", " "}:
                continue
            if "target" not in header:
                continue
            values = dict(zip(header, cells, strict=False))
            target = values.get("target", "")
            if not target or target in ("-", "(both rows)"):
                continue
            figure = next((values[key] for prefix in _FIGURE_COLUMNS for key in header[1:]
                           if key.startswith(prefix) and values.get(key) not in ("", "-")), "")
            found.append(Row(section, cells[0], figure, target, values.get("result", "")))
    return found


def main() -> int:
    from rich.console import Console
    from rich.table import Table

    if not RESULTS.exists():
        print("No benchmarks/RESULTS.md yet: run `make bench`.", file=sys.stderr)
        return 1
    table = Table(title=f"Shipyard benchmarks against the anchors — {machine()}", show_lines=False)
    for column in ("area", "workload", "figure", "target", "result"):
        table.add_column(column, overflow="fold")
    for row in rows_with_targets(RESULTS.read_text()):
        style = "red" if row.result.upper().startswith("FAIL") else None
        table.add_row(row.section, row.workload, row.figure, row.target, row.result, style=style)
    Console(width=160).print(table)
    print(f"Full tables and notes: {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
