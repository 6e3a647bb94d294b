"""``shipyard.dask.predict``: a model mapped over a Dask DataFrame's partitions.

With a ``distributed`` client the package is scattered to every worker once and each worker process builds it
once; without one (the local schedulers) the shipment travels in the graph. The answers keep the partitions and
index of the input, so they can be joined back or assigned as columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .frames import answer, check_options, label_kind, output_columns
from .shipment import Shipment, model_for, prepare_shipment


def predict(ddf: Any, model_uri: str, result: str = "prediction", *, runtime: str = "auto",
            trust: bool | Iterable[str] = (), on_error: str = "fail", client: Any = None) -> Any:
    """Score every partition of ``ddf`` with a model: a Dask Series (``result="prediction"``) or DataFrame.

    Args:
        ddf: a Dask DataFrame holding the model's input columns (others are ignored).
        model_uri: e.g. ``models:/churn@champion``.
        result: ``"prediction"``, ``"probabilities"`` (one ``proba_<class>`` column per class) or ``"all"``.
        runtime: ``"auto"``, ``"python"`` or ``"onnx"`` (see :func:`shipyard.spark.predict_udf`).
        trust: types to trust when loading the package.
        on_error: ``"fail"`` raises at a row the signature refuses; ``"null"`` answers null for it.
        client: the ``distributed.Client`` to scatter the model with (the current one when None, if any).
    """
    import pandas as pd

    shipment, model = prepare_shipment(model_uri, runtime=runtime, trust=trust)
    signature = model.signature
    check_options(signature, result, on_error)
    client = client if client is not None else _current_client()
    shipped: Any = client.scatter(shipment, broadcast=True, hash=False) if client is not None else shipment
    columns = output_columns(signature, result)
    label = {"string": "object", "integer": "int64", "boolean": "bool"}.get(label_kind(signature), "float64")
    meta = pd.DataFrame({name: pd.Series(dtype=label if name == "prediction" else "float64") for name in columns})
    answers = ddf[signature.column_names].map_partitions(_score_partition, shipped, result, on_error, meta=meta)
    return answers["prediction"] if result == "prediction" else answers


def _score_partition(partition: Any, shipment: Shipment, result: str, on_error: str) -> Any:
    return answer(model_for(shipment), partition, result, on_error, "a Dask partition")


def _current_client() -> Any:
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:  # no client: the threaded or synchronous scheduler
        return None
