"""Shipyard's own REST API on the team server (``/api/shipyard/v1``), what ``SHIPYARD_TRACKING_URI`` clients call."""
