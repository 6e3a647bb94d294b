"""Placeholder: the compare pages land here (routes in ``ROUTES``, templates under templates/compare*.html)."""

from __future__ import annotations

from starlette.routing import Route

ROUTES: list[Route] = []
