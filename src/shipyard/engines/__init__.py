"""Batch scoring on the engines teams already run: Spark and Dask.

The driver reads the model package once, verified by hash (:mod:`.shipment`), plans the Parquet input into
pieces of whole row groups (:mod:`.plan`), and the engine runs :func:`.pieces.score_piece` on each piece:
Spark ships the package to its executors as one broadcast (:mod:`.spark_engine`), Dask scatters it to every
worker once (:mod:`.dask_engine`), and each worker process deserializes it once. Each piece is scored by the
local engine's own per-batch step (:func:`shipyard.models.batch.score_batch`), so every engine gives the same
rows, in the same order, with the same numbers; the driver then joins the pieces' parts in row order into one
output file carrying the same metadata (:mod:`.assemble`).

For DataFrames a program already holds, :mod:`.spark_udf` makes an Arrow-based pandas UDF and
:mod:`.dask_frames` maps a Dask DataFrame's partitions; ``shipyard.spark`` and ``shipyard.dask`` re-export them.
Nothing imports this package but the CLI and those two facades.
"""
