"""Placeholder: the runs pages land here (routes in ``ROUTES``, templates under templates/runs*.html)."""

from __future__ import annotations

from starlette.routing import Route

ROUTES: list[Route] = []
