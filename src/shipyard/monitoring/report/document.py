"""Rendering the report's templates, and writing the one-file report.

The templates (``templates/``, Jinja2 like the web UI's) are rendered with autoescaping on, so every name
and message from users or data reaches the page as text. Values are escaped the way the report always
escaped them (:func:`html.escape`, quotes included), so a report is the same file byte for byte as before
the templates; markup that is already safe (chart figures, messages with `code` spans) passes unchanged.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import charts
from ...extras import require
from ..checks import STATUS_ORDER
from ..monitor import MonitoringResult
from . import shaping, views

if TYPE_CHECKING:
    from jinja2 import Environment

PURPOSE = "The monitoring report"  # how a missing jinja2 names what needed it


def render_report(result: MonitoringResult, *, generated_ms: int | None = None) -> str:
    """The report as one HTML document (CSS and JavaScript inline).

    Args:
        result: what :func:`shipyard.monitoring.monitor.monitor` returned.
        generated_ms: the time printed in the footer (epoch ms; default now).
    """
    generated = time.time() * 1000 if generated_ms is None else generated_ms
    data = json.dumps(shaping.finite(result.to_dict()), separators=(",", ":"), allow_nan=False, default=str)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return _render("report.html", deployment=result.deployment, verdict=result.verdict,
                   body=_safe(report_body(result)), generated=shaping.when(int(generated)), data=_safe(data),
                   stylesheet=_safe(charts.report_stylesheet()), assets=_safe(charts.inline_assets()))


def report_body(result: MonitoringResult, *, heading_level: int = 1) -> str:
    """The report's content without the document around it: :func:`report_summary` then :func:`report_sections`.

    For pages that embed the report (the web UI); they supply the styles (``charts/assets/report.css``) and
    the chart assets.
    """
    return "\n".join([report_summary(result, heading_level=heading_level), report_sections(result)])


def report_summary(result: MonitoringResult, *, heading_level: int = 1) -> str:
    """The header with the verdict, the one-sentence summary and the window's facts.

    Args:
        result: what :func:`shipyard.monitoring.monitor.monitor` returned.
        heading_level: the level of its heading; 2 on a page that has its own ``<h1>``.
    """
    return _render("summary.html", level=heading_level, **views.summary(result))


def report_sections(result: MonitoringResult) -> str:
    """The section links, then the sections (failing checks, drift, responses, traffic, quality, A/B) and notes."""
    parts = [_render("nav.html", **views.nav(result)), _render("failing.html", **views.failing(result)),
             _render("drift.html", **views.drift(result)), _render("response.html", **views.response(result)),
             _render("traffic.html", **views.traffic(result)), _render("quality.html", **views.quality(result)),
             _render("ab.html", **views.ab(result)), _render("notes.html", notes=result.notes)]
    return "\n".join(parts)


def write_report(result: MonitoringResult, path: str | Path) -> Path:
    """Render and write the report atomically (a temporary file in the same folder, then a rename).

    Returns:
        The path written. Readers never see half a report, and a failed write leaves no temporary file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(result)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def _render(template: str, **context: Any) -> str:
    return str(_environment().get_template(template).render(**context))


@functools.cache
def _environment() -> Environment:
    """The report's Jinja2 environment: autoescaping, undefined names are errors, the report's filters."""
    jinja2 = require("jinja2", PURPOSE)
    environment = jinja2.Environment(loader=jinja2.PackageLoader(__package__, "templates"),
                                     autoescape=True, undefined=jinja2.StrictUndefined, finalize=_escaped)
    environment.filters.update(num=shaping.num, thousands=shaping.thousands, percent=shaping.percent,
                               message=lambda text: _safe(shaping.message(text)))
    environment.globals.update(chart=_chart, statuses=STATUS_ORDER)
    return environment


def _escaped(value: Any) -> Any:
    """Every value a template prints, escaped with :func:`html.escape` (``"`` as ``&quot;``) unless already markup.

    Autoescaping would escape it too (as ``&#34;``): doing it here keeps the report's bytes as they were.
    """
    import html

    from markupsafe import Markup

    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def _safe(text: str) -> Any:
    """Markup we made ourselves (escaped where it holds data): printed as it is."""
    from markupsafe import Markup

    return Markup(text)


def _chart(figure: views.Figure) -> Any:
    """A chart figure (``charts.chart`` escapes its spec and title itself)."""
    return _safe(charts.chart(figure.spec, title=figure.title))
