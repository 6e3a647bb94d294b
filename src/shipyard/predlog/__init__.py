"""The prediction log: what every server answered, the feedback that came later, the requests it refused.

Below serving, monitoring and the UI, which all read it through this package and nothing else: the schema
of its entries and tables (:mod:`.schema`), the folders and file names on disk (:mod:`.layout`, the only
module that knows them), the writer a server appends to (:mod:`.writer`), the Arrow readers
(:mod:`.scan`), the queries people run (:mod:`.readers`, :mod:`.lookup`) and the times they write
(:mod:`.times`). Importing it loads nothing heavy: pyarrow and pandas are imported by the functions that
read or write.
"""
