"""Pages of an ordered search on PostgreSQL (ordered and cut on run ids first, then read) are the right runs.

Thirty runs whose metric ``m`` has ties, gaps (never logged) and NaN are read page by page in several orders; the
pages, joined, must equal the whole default listing (newest first) stably re-sorted in Python by the order's value
with missing values last, which is what the order means.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

import shipyard
from shipyard.store import Store
from shipyard.store.location import location_for
from shipyard.tracking.search import search_run_records
from tests._servers.postgres import unavailable_reason
from tests.integration.store.conftest import new_database

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(unavailable_reason() is not None,
                                                       reason=unavailable_reason() or "")]
RUNS, PAGE = 30, 7


@pytest.fixture(scope="module")
def filled(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    uri, objects = new_database(postgres_url), str(tmp_path_factory.mktemp("objects"))
    shipyard.set_store(uri, objects=objects)
    try:
        for index in range(RUNS):
            with shipyard.start_run(experiment="paged", name=f"r{index:02d}"):
                shipyard.log_params({"kind": "even" if index % 2 == 0 else "odd"})
                if index % 5 != 0:  # every fifth run never logs m
                    shipyard.log_metric("m", float("nan") if index % 11 == 3 else float(index % 4))
    finally:
        shipyard.set_store(None)
    store = Store(location_for(uri, objects=objects))
    try:
        yield store
    finally:
        store.close()


def _names(records: list[dict[str, Any]]) -> list[str]:
    return [record["name"] for record in records]


def _expected(store: Store, descending: bool, filter: str | None = None) -> list[str]:
    listing = search_run_records(store, experiment="paged", filter=filter, max_results=RUNS)

    def value(record: dict[str, Any]) -> tuple[bool, float]:
        found = record["metrics"].get("m")
        missing = found is None or math.isnan(found)
        return missing, 0.0 if missing else (-found if descending else found)

    return _names(sorted(listing, key=value))


@pytest.mark.parametrize(("order", "filter"), [("metrics.m DESC", None), ("metrics.m ASC", None),
                                                ("metrics.m DESC", "params.kind = 'odd'")])
def test_pages_joined_are_the_whole_listing_in_order(filled: Store, order: str, filter: str | None) -> None:
    store = filled
    pages = [search_run_records(store, experiment="paged", filter=filter, order_by=[order], max_results=PAGE,
                                offset=offset) for offset in range(0, RUNS, PAGE)]
    joined = [name for page in pages for name in _names(page)]
    assert joined == _expected(store, order.endswith("DESC"), filter)
    assert len(joined) == (RUNS if filter is None else RUNS // 2)
    assert all(len(page) == PAGE for page in pages[: len(joined) // PAGE])  # full pages before the last


def test_the_default_listing_is_newest_first_in_pages(filled: Store) -> None:
    store = filled
    joined = [name for offset in range(0, RUNS, PAGE)
              for name in _names(search_run_records(store, experiment="paged", max_results=PAGE, offset=offset))]
    assert joined == [f"r{index:02d}" for index in reversed(range(RUNS))]
