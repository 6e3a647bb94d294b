"""The runs page's filtered count stops past 10,000 matches ("10,000+ runs") and its pager stays right.

One run is logged through the public API and cloned in SQL into 10,050 runs (logging them one by one would take
minutes); three more runs carry a rare param. A real ``shipyard ui`` serves the store and the pages are read over
HTTP: the capped count keeps a Next link and drops Last, a page past the cap counts on to the real end, and an
unfiltered or selective count stays exact.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

import shipyard
from shipyard.ui.runs import FILTERED_COUNT_CAP
from tests.integration.ui._ui import UIProcess, filled_store, start_ui

pytestmark = pytest.mark.slow
CLONES = 10_049  # with the logged run and the 3 rare ones: 10,053 runs, 10,050 with model = 'gbm'
_STATUS = re.compile(r'<span class="page-status">([^<]*)</span>')
_PAGER = re.compile(r'<nav class="pager".*?</nav>', re.DOTALL)


def _clone(database: Path, run_id: str, copies: int) -> None:
    """``copies`` copies of the run, each with its own id, name, start time and sequence number."""
    with sqlite3.connect(database) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
        changed = {"id": "printf('%032x', g)", "name": "'clone-' || g", "start_time": "start_time - g",
                   "seq": "seq + g"}
        series = f"WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {copies})"
        conn.execute(f"{series} INSERT INTO runs ({', '.join(columns)}) "
                     f"SELECT {', '.join(changed.get(c, c) for c in columns)} FROM runs, s WHERE id = ?", (run_id,))
        for table in ("params", "latest_metrics"):
            names = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            picked = ["printf('%032x', g)" if name == "run_id" else name for name in names]
            conn.execute(f"{series} INSERT INTO {table} ({', '.join(names)}) "
                         f"SELECT {', '.join(picked)} FROM {table}, s WHERE run_id = ?", (run_id,))


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIProcess]:
    root = tmp_path_factory.mktemp("capped") / ".shipyard"
    with filled_store(root):
        with shipyard.start_run(experiment="sweep", name="original") as run:
            shipyard.log_params({"model": "gbm"})
            shipyard.log_metric("auc", 0.8)
        for index in range(3):
            with shipyard.start_run(experiment="sweep", name=f"rare-{index}"):
                shipyard.log_params({"model": "rare"})
                shipyard.log_metric("auc", 0.5)
    _clone(root / "meta.db", run.id, CLONES)
    process = start_ui(root)
    try:
        yield process
    finally:
        process.stop()


def _status(ui: UIProcess, **args: str | int) -> tuple[str, str, int]:
    """The pager's status line, the pager's HTML and how many runs the table shows."""
    answer = httpx.get(f"{ui.url}/runs?{urlencode({'experiment': 'sweep', **args})}", timeout=60)
    assert answer.status_code == 200, answer.text[:500]
    found = _STATUS.search(answer.text)
    assert found, answer.text[:500]
    pager = _PAGER.search(answer.text)
    assert pager, answer.text[:500]
    return found.group(1), pager.group(0), answer.text.count("<tr data-run-id=")


def test_a_filter_most_runs_pass_is_counted_to_the_cap_with_next_and_no_last(ui: UIProcess) -> None:
    assert FILTERED_COUNT_CAP == 10_000
    status, pager, shown = _status(ui, filter="params.model = 'gbm'")
    assert status == "Page 1 of 200+, 10,000+ runs"
    assert 'rel="next"' in pager and 'rel="last"' not in pager and shown == 50


def test_the_last_page_under_the_cap_still_leads_on(ui: UIProcess) -> None:
    status, pager, shown = _status(ui, filter="params.model = 'gbm'", page=200)
    assert status == "Page 200 of 200+, 10,000+ runs"
    assert 'rel="next"' in pager and "page=201" in pager and shown == 50


def test_a_page_past_the_cap_counts_to_the_real_end(ui: UIProcess) -> None:
    status, pager, shown = _status(ui, filter="params.model = 'gbm'", page=201)
    assert status == "Page 201 of 201, 10,050 runs"
    assert 'rel="next"' not in pager and shown == 50
    status, _, _ = _status(ui, filter="params.model = 'gbm'", page=999)  # past the end: the last page, as before
    assert status == "Page 201 of 201, 10,050 runs"


def test_unfiltered_and_selective_counts_stay_exact(ui: UIProcess) -> None:
    status, pager, _ = _status(ui)
    assert status == "Page 1 of 202, 10,053 runs"
    assert 'rel="last"' in pager and "page=202" in pager
    status, _, shown = _status(ui, filter="params.model = 'rare'")
    assert status == "Page 1 of 1, 3 runs" and shown == 3
