"""Bringing history from other tools into the store: ``shipyard import mlflow``.

An importer reads another tool's experiments, runs and registry and writes them with the tracking and registry
functions every other writer uses, so an imported run is a run like any other. It sits beside pipeline, serving
and monitoring: above ``models`` (a registered MLflow model becomes a Shipyard package) and ``tracking``, below
the CLI that drives it.
"""
