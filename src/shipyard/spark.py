"""Shipyard on Spark: ``shipyard.spark.predict_udf`` scores a model inside Spark DataFrames; ``predict_file``
scores a Parquet file or folder into one output file, as ``shipyard predict --engine spark`` does.

Loaded only when used (``import shipyard`` does not import Spark); needs the spark extra.
"""

from .engines.spark_engine import predict_file as predict_file
from .engines.spark_udf import predict_udf as predict_udf

__all__ = ["predict_file", "predict_udf"]
