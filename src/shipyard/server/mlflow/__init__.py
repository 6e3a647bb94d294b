"""The MLflow-compatible REST API: the paths MLflow 3's client calls, answered by Shipyard's tracking functions.

One module per resource: :mod:`.experiments`, :mod:`.runs` (create, read, update), :mod:`.logging` (params,
metrics, tags, inputs), :mod:`.search` (runs and metric histories), :mod:`.artifacts` (the ``mlflow-artifacts``
proxy); :mod:`.protocol` reads requests and writes answers and errors in MLflow's shape, and :mod:`.routes`
gathers the routes, with every other MLflow path refused by name. ``docs/from-mlflow.md`` lists the subset.
"""
