"""``shipyard.spark.predict_udf``: a model as an Arrow-based pandas UDF, like MLflow's ``spark_udf``.

The package is read and verified on the driver and broadcast once; the UDF is of the iterator kind, so each
task takes the model from its Python worker's cache (built once per worker process) before its first Arrow
batch. Called with no columns, the UDF reads the model's input columns by name; columns given are taken in the
signature's order.
"""

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pandas as pd

from ..errors import ValidationError
from .frames import answer, check_options, label_kind, output_columns
from .shipment import model_for, prepare_shipment
from .spark_engine import import_pyspark, quiet_pyspark


def predict_udf(spark: Any, model_uri: str, result: str = "prediction", *, runtime: str = "auto",
                trust: bool | Iterable[str] = (), on_error: str = "fail") -> Callable[..., Any]:
    """A Spark UDF that scores a model: ``df.withColumn("churn", udf())`` or ``udf("tenure", "contract")``.

    Args:
        spark: the SparkSession whose executors score.
        model_uri: e.g. ``models:/churn@champion``.
        result: ``"prediction"`` (the label or value), ``"probabilities"`` (a struct of one ``proba_<class>``
            double per class) or ``"all"`` (a struct of both).
        runtime: ``"auto"`` runs the version's verified ONNX export when one is attached, ``"python"`` the
            packaged model, ``"onnx"`` insists on the export.
        trust: types to trust when loading the package (see :func:`shipyard.load_model`).
        on_error: ``"fail"`` fails the task at a row the model's signature refuses, naming it; ``"null"`` answers
            null for it.

    Returns:
        A function of zero or more columns (names or Columns) returning the UDF's Column.
    """
    sql = import_pyspark()
    from pyspark.sql import functions
    from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType, StructField, StructType

    shipment, model = prepare_shipment(model_uri, runtime=runtime, trust=trust)
    signature = model.signature
    check_options(signature, result, on_error)
    label = {"string": StringType(), "integer": LongType(), "boolean": BooleanType()}.get(label_kind(signature),
                                                                                          DoubleType())
    fields = [StructField(name, label if name == "prediction" else DoubleType())
              for name in output_columns(signature, result)]
    return_type = label if result == "prediction" else StructType(fields)
    names = signature.column_names
    shipped = spark.sparkContext.broadcast(shipment)

    def score(batches: Iterator[tuple[pd.Series, ...]]) -> Iterator[pd.DataFrame]:
        loaded = model_for(shipped.value)
        for columns in batches:
            frame = columns[0] if len(columns) == 1 and isinstance(columns[0], pd.DataFrame) else \
                pd.concat(list(columns), axis=1, keys=names)
            answers = answer(loaded, frame, result, on_error, "a Spark batch")
            yield answers["prediction"] if result == "prediction" else answers

    with quiet_pyspark():
        udf = sql.functions.pandas_udf(score, return_type)

    def call(*columns: Any) -> Any:
        chosen = list(columns) or list(names)
        if len(chosen) != len(names):
            raise ValidationError(f"{model_uri} takes {len(names)} columns ({', '.join(names)}); the UDF was given "
                                  f"{len(chosen)}. Call it with none to read them by name.", field="columns")
        with quiet_pyspark():
            return udf(*[functions.col(column) if isinstance(column, str) else column for column in chosen])

    call.__doc__ = f"Score {model_uri} ({result}) on the given columns, or on {', '.join(names)} by name."
    return call
