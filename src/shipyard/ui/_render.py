"""Rendering pages: one Jinja2 environment with autoescaping on, and the formatting filters every page shares.

Autoescaping is the reason for Jinja2 here: a run named ``<img src=x onerror=...>`` becomes text in every
template without each page remembering to escape it. Charts are inserted with :func:`chart`, which escapes
its spec itself and is marked safe.
"""

from __future__ import annotations

import functools
import math
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .. import charts

if TYPE_CHECKING:
    from jinja2 import Environment
    from starlette.requests import Request
    from starlette.responses import HTMLResponse


@functools.cache
def environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("shipyard.ui", "templates"), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=when, duration=duration, num=num, short=short)
    env.globals.update(chart=_chart, query=query)
    return env


def page(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """The page ``template`` rendered with ``context``; every page also gets ``request`` and ``ui`` (settings)."""
    from starlette.responses import HTMLResponse

    body = environment().get_template(template).render(request=request, ui=request.app.state.ui, **context)
    return HTMLResponse(body, status_code=status)


def _chart(spec: dict[str, Any], title: str = "", css_class: str = "") -> Any:
    from markupsafe import Markup

    return Markup(charts.chart(spec, title=title, css_class=css_class))


def query(request: Request, **changes: Any) -> str:
    """The current page's query string with ``changes`` applied: for sort, page and filter links.

    A changed key gets the one new value (``None`` removes it); every other key keeps all its values, so a
    repeated key such as the runs table's ``cols`` survives a sort or a page change. The result is a
    relative link (``?a=1&b=2``; bare ``?`` for none) to the same path.
    """
    kept = [(key, value) for key, value in request.query_params.multi_items() if key not in changes]
    kept += [(key, str(value)) for key, value in changes.items() if value is not None]
    return "?" + urlencode(kept)


def when(value: Any) -> str:
    """A moment as ``2026-12-02 18:09`` in the server's zone; epoch ms, epoch s (float) or datetime."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    seconds = value / 1000 if isinstance(value, int) else float(value)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def duration(seconds: Any) -> str:
    """``0.4 s``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``; empty for a run still going."""
    if seconds is None:
        return ""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def num(value: Any, digits: int = 4) -> str:
    """A number short enough for a table cell; text passes through unchanged."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if value != 0 and (abs(value) < 10 ** -digits or abs(value) >= 1e9):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"
    return f"{value:,}"


def short(identifier: Any, length: int = 8) -> str:
    """The first characters of a run id or hash, as the CLI prints them."""
    return str(identifier or "")[:length]
