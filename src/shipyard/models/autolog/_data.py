"""Training data: a cheap fingerprint taken when ``fit`` returns, and the dataset record derived from it.

The fingerprint (BLAKE3 over the raw buffers) costs microseconds for the arrays of a small fit, so the
fitting thread can take it; the record written later checks the data still has it (a frame modified in
place between ``fit`` and the write is not misrecorded) and keys the costlier content hash that model
packages use (``frame_hash``) by it, so a loop of fits on the same data hashes it once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from ...store.hashing import new_hasher
from ..package import frame_hash
from ..signature import as_frame

_CACHE_SIZE = 8
_RAW_KINDS = "biufc"  # numbers whose bytes are their values
_described: OrderedDict[str, tuple[str, int, int]] = OrderedDict()
_lock = threading.Lock()
_column_names: dict[int, tuple[Any, str]] = {}  # id(Index) -> (the Index, kept so the id is not reused; text)


def fingerprint(data: Any) -> str | None:
    """A content fingerprint of an array or DataFrame (``None`` for anything else: nothing is recorded)."""
    import numpy as np

    hasher = new_hasher()
    if hasattr(data, "columns") and hasattr(data, "dtypes"):  # a DataFrame
        import pandas as pd

        dtypes = list(data.dtypes)
        kinds = [dtype.kind if isinstance(dtype, np.dtype) else "O" for dtype in dtypes]
        hasher.update(repr((_names(data.columns), [getattr(dtype, "str", None) or str(dtype) for dtype in dtypes],
                            data.shape)).encode())
        numeric = [index for index, kind in enumerate(kinds) if kind in _RAW_KINDS]
        if numeric:  # one block for all numeric columns: a view, not a copy, for the usual all-float frame
            block = data.to_numpy() if len(numeric) == len(kinds) else data.iloc[:, numeric].to_numpy()
            hasher.update(_raw_bytes(block))
        for index in (index for index, kind in enumerate(kinds) if kind not in _RAW_KINDS):
            hashed = pd.util.hash_pandas_object(data.iloc[:, index], index=False).to_numpy()
            hasher.update(hashed.view(np.uint8))
        return str(hasher.hexdigest())
    if isinstance(data, np.ndarray) and data.dtype.kind in _RAW_KINDS:
        hasher.update(repr((str(data.dtype), data.shape)).encode())
        hasher.update(_raw_bytes(data))
        return str(hasher.hexdigest())
    return None


def _raw_bytes(array: Any) -> Any:
    """The array's memory as bytes without a copy when it is contiguous in either order (a DataFrame's block
    comes out column-major): a fingerprint only has to be stable, not row-major."""
    import numpy as np

    if not array.flags.c_contiguous:
        array = array.T if array.T.flags.c_contiguous else np.ascontiguousarray(array)
    return array.reshape(-1).view(np.uint8)


def _names(columns: Any) -> str:
    """The column names as text, remembered per Index object (immutable, and shared by every fit of a frame)."""
    found = _column_names.get(id(columns))
    if found is None or found[0] is not columns:
        found = (columns, repr(list(map(str, columns))))
        if len(_column_names) >= _CACHE_SIZE:
            _column_names.clear()
        _column_names[id(columns)] = found
    return found[1]


def describe(data: Any, known: str) -> tuple[str, int, int]:
    """(content hash, rows, columns) of ``data``, whose fingerprint is ``known`` (cached by it)."""
    with _lock:
        found = _described.get(known)
        if found is not None:
            _described.move_to_end(known)
            return found
    frame = as_frame(data)
    found = (frame_hash(frame), len(frame), len(frame.columns))
    with _lock:
        _described[known] = found
        while len(_described) > _CACHE_SIZE:
            _described.popitem(last=False)
    return found
