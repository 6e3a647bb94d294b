"""The monitoring report: one self-contained HTML file (no CDN, works offline) from a :class:`MonitoringResult`.

Top to bottom: the verdict with the window, reference and row counts; the failing checks; then one
section per concern with charts (drift per feature, response distribution, volume and latency, quality
over time, A/B). Charts are :mod:`shipyard.charts` specs drawn in the browser by the vendored uPlot, the
same code the web UI uses. Only aggregated counts go in (bins, levels, per-minute counts), and long lists
are capped (``MAX_LEVELS`` categories per feature, ``MAX_POINTS`` per time series), so the file stays
small however many rows the window had. Every string that comes from users or data (deployment, feature,
level and variant names, messages) is HTML-escaped; chart labels reach the page only as text.

Three modules, in the order data flows: :mod:`.views` works out what each part shows, :mod:`.shaping`
formats numbers and keeps chart data small, :mod:`.document` renders the Jinja2 templates (``templates/``,
one per part) and writes the file. The styles are ``charts/assets/report.css``, shared with the web UI's
deployment page, which embeds :func:`report_summary` and :func:`report_sections`.
"""

from __future__ import annotations

from .document import (
    render_report as render_report,
    report_body as report_body,
    report_sections as report_sections,
    report_summary as report_summary,
    write_report as write_report,
)
from .shaping import MAX_LEVELS as MAX_LEVELS, MAX_POINTS as MAX_POINTS, MAX_TEXT as MAX_TEXT
from .views import INPUT_CHECKS as INPUT_CHECKS

__all__ = ["INPUT_CHECKS", "MAX_LEVELS", "MAX_POINTS", "MAX_TEXT", "render_report", "report_body", "report_sections",
           "report_summary", "write_report"]
