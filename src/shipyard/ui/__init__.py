"""The web UI: runs, comparisons, the registry with lineage, pipelines, deployments and monitoring.

Pages are rendered on the server (Jinja2 with autoescaping, so every user-supplied string reaches the
browser as text) and stay usable without JavaScript; charts are drawn by the same ``shipyard.charts``
code as the monitoring report. ``create_app`` in :mod:`shipyard.ui.app` builds the ASGI app;
``shipyard ui`` serves it.
"""
