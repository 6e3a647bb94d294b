"""Placeholder: the deployments pages land here (routes in ``ROUTES``, templates under templates/deployments*.html)."""

from __future__ import annotations

from starlette.routing import Route

ROUTES: list[Route] = []
