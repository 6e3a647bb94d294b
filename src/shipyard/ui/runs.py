"""The runs table: ``/runs?experiment=NAME&filter=...&order=...&page=N&size=50&cols=...``.

One page of runs with their params and metrics as columns, paged, filtered and ordered in the database by
``search_run_records`` / ``count_runs``, so a store of 10,000 runs costs one page of reads. A filtered count
stops past ``FILTERED_COUNT_CAP`` matches ("10,000+ runs", Next but no Last link). Which param and metric
columns exist comes from the key catalogue (``tracking/key_catalogue.py``; never from loading runs nor scanning
their keys); a few dozen keys are shown by default and the column chooser (``cols``, repeated) shows the rest.
A filter that does not parse keeps the page and its form, with the parser's message above the table and HTTP
422, so it can be fixed in place. The run page itself lives in :mod:`.run_page`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import ValidationError
from ..store.schema import experiments
from ..tracking.experiments import experiment_id
from ..tracking.key_catalogue import keys_of
from ..tracking.search import count_runs, search_run_records
from . import run_page
from ._paging import page_count, requested_page, whole_number
from ._render import page, query

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
DEFAULT_COLUMNS_PER_GROUP = 12  # params and metrics shown before the chooser is used; the rest are choosable
FILTERED_COUNT_CAP = 10_000  # a filtered count stops past this many runs (a multiple of every page size)
MAX_KEYS = 500  # keys offered in the chooser per group: a store with more is not browsed by checkbox
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_\-/:]+(\.[A-Za-z0-9_\-/:]+)*$")

# The run columns that can be sorted on: (label, order field, css class).
ATTRIBUTE_COLUMNS = (
    ("Run", "attributes.name", ""),
    ("Status", "attributes.status", ""),
    ("Started", "attributes.start_time", ""),
    ("Duration", "attributes.duration", "num"),
    ("Commit", "attributes.git_commit", ""),
)


@dataclass(frozen=True)
class Column:
    """One param or metric column: ``params.alpha``; ``sort`` is its order field (None when unsortable)."""

    section: str  # params | metrics
    key: str
    sort: str | None

    @property
    def id(self) -> str:
        return f"{self.section}.{self.key}"


def runs_table(request: Request) -> Response:
    store = request.app.state.ui.store
    args = request.query_params
    experiment = args.get("experiment") or None
    filter_text = args.get("filter", "").strip()
    order = args.get("order", "").strip()
    size = whole_number(args.get("size"), "size", DEFAULT_PAGE_SIZE)
    if size not in PAGE_SIZES:
        raise ValidationError(f"size must be one of {', '.join(map(str, PAGE_SIZES))}, got {size}.", field="size")
    page_number = requested_page(request)

    experiment_ids = [experiment_id(store, experiment, create=False)] if experiment else []
    names, param_keys, metric_keys = store.db.read(lambda conn: _names_and_keys(conn, experiment_ids))
    explicit = "cols" in args
    chosen = {value for value in args.getlist("cols") if value}
    param_columns = _columns("params", param_keys, chosen, explicit)
    metric_columns = _columns("metrics", metric_keys, chosen, explicit)

    error, total, capped, records = None, 0, False, []
    try:
        # A filtered count stops past the cap (or past the requested page): the pager then says "10,000+ runs"
        # and keeps its Next link, rather than testing the filter on every run for a number nobody pages through.
        cap = max(FILTERED_COUNT_CAP, page_number * size) if filter_text else None
        total = count_runs(store, experiment=experiment, filter=filter_text or None,
                           at_most=cap + 1 if cap is not None else None)
        capped = cap is not None and total > cap
        total = cap if capped and cap is not None else total
        page_number = min(page_number, page_count(total, size))
        if total:
            records = search_run_records(store, experiment=experiment, filter=filter_text or None,
                                         order_by=[order] if order else None, max_results=size,
                                         offset=(page_number - 1) * size)
    except ValidationError as exc:  # a filter or order that does not parse: shown inline, form kept
        error, total, capped, records = exc.message, 0, False, []
    pages = page_count(total, size)
    sorted_by, descending = _current_order(order)

    def sort_link(field: str) -> str:
        direction = "ASC" if field != sorted_by or descending else "DESC"
        return query(request, order=f"{field} {direction}", page=None)

    def aria_sort(field: str | None) -> str:
        if field is None or field != sorted_by:
            return "none"
        return "descending" if descending else "ascending"

    return page(
        request, "runs.html", status=422 if error else 200,
        experiment=experiment, experiments=names, filter_text=filter_text, order=order, size=size,
        page_sizes=PAGE_SIZES, page_number=page_number, pages=pages, total=total, capped=capped, records=records,
        error=error,
        attribute_columns=ATTRIBUTE_COLUMNS, all_params=param_columns, all_metrics=metric_columns,
        param_columns=[column for column, shown in param_columns if shown],
        metric_columns=[column for column, shown in metric_columns if shown],
        explicit_cols=explicit, chosen_cols=sorted(chosen), sort_link=sort_link, aria_sort=aria_sort,
    )


def _names_and_keys(conn: Connection, experiment_ids: list[int]) -> tuple[list[str], list[str], list[str]]:
    """Experiment names for the picker, and the param and metric keys of the chosen experiment's runs (from the
    key catalogue, which every write keeps: never a scan of the key tables)."""
    names = list(conn.execute(select(experiments.c.name).order_by(experiments.c.name)).scalars())
    return (names, keys_of(conn, "params", experiment_ids, limit=MAX_KEYS),
            keys_of(conn, "metrics", experiment_ids, limit=MAX_KEYS))


def _columns(section: str, keys: list[str], chosen: set[str], explicit: bool) -> list[tuple[Column, bool]]:
    """Every key of the section as a column, with whether it is shown (chosen, or among the first by default)."""
    out = []
    for index, key in enumerate(keys):
        column = Column(section, key, _order_field(section, key))
        shown = column.id in chosen if explicit else index < DEFAULT_COLUMNS_PER_GROUP
        out.append((column, shown))
    return out


def _order_field(section: str, key: str) -> str | None:
    """``metrics.auc``, or ``metrics.`odd key``` for keys the filter language cannot write bare."""
    if _PLAIN_KEY.match(key):
        return f"{section}.{key}"
    if "`" not in key:
        return f"{section}.`{key}`"
    return None


def _current_order(order: str) -> tuple[str, bool]:
    """The field and direction of ``order`` as the header links write it; no order is newest first."""
    if not order:
        return "attributes.start_time", True
    field, _, direction = order.rpartition(" ")
    if direction.upper() in ("ASC", "DESC") and field:
        return field.strip(), direction.upper() == "DESC"
    return order, False


ROUTES = [Route("/runs", runs_table, name="runs"), *run_page.ROUTES]
