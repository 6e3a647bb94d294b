"""Placeholder: the pipelines pages land here (routes in ``ROUTES``, templates under templates/pipelines*.html)."""

from __future__ import annotations

from starlette.routing import Route

ROUTES: list[Route] = []
