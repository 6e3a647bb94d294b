"""Placeholder: the models pages land here (routes in ``ROUTES``, templates under templates/models*.html)."""

from __future__ import annotations

from starlette.routing import Route

ROUTES: list[Route] = []
