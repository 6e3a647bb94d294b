"""Shipyard on Dask: ``shipyard.dask.predict`` maps a model over a Dask DataFrame's partitions; ``predict_file``
scores a Parquet file or folder into one output file, as ``shipyard predict --engine dask`` does.

Loaded only when used (``import shipyard`` does not import Dask); needs the dask extra.
"""

from .engines.dask_engine import predict_file as predict_file
from .engines.dask_frames import predict as predict

__all__ = ["predict", "predict_file"]
