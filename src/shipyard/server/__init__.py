"""The team server: one shared Shipyard for many people and machines (``shipyard server``).

It serves the MLflow-compatible REST API (:mod:`.mlflow`) over Shipyard's own tracking functions, and the web UI,
behind tokens with roles (:mod:`.tokens`, :mod:`.auth`). The metadata database is shared, so its schema is never
migrated implicitly (:mod:`.database`): ``shipyard server db upgrade`` does that on purpose.
"""
