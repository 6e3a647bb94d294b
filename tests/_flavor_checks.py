"""Checks every model flavor's unit tests make the same way: answers read back in a fresh process, the one-line
refusal of a package that must not load, and the warnings of a load.

A fresh process is the honest test of a package: nothing of the logging process (imported classes, caches) helps
it load.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shipyard
from shipyard.models import package

_FRESH_ANSWERS = """
import numpy as np, pandas as pd, shipyard
for kind, uri in {uris!r}.items():
    model = shipyard.load_model(uri)
    frame = pd.read_parquet(f"{{kind}}.parquet")
    answers = {{"predict": np.asarray(model.predict(frame))}}
    if model.signature.output.kind == "classifier":
        answers["predict_proba"] = model.predict_proba(frame).to_numpy()
    np.savez(f"{{kind}}.npz", **answers)
"""


def fresh_process_answers(run_python: Callable[..., Any], uris: dict[str, str], folder: Path) -> dict[str, Any]:
    """kind -> the arrays (``predict``, and ``predict_proba`` for a classifier) that a new Python process answers
    for ``models:`` URI ``uris[kind]`` on ``folder/<kind>.parquet``; the test compares them with the library's."""
    run_python(_FRESH_ANSWERS.format(uris=uris), cwd=folder)
    return {kind: np.load(folder / f"{kind}.npz") for kind in uris}


def refusal(uri: str) -> str:
    """The message of the ValidationError that loading ``uri`` must raise."""
    with pytest.raises(shipyard.ValidationError) as refused:
        shipyard.load_model(uri)
    return str(refused.value)


def load_with_warnings(uri: str, library: str) -> tuple[Any, list[str]]:
    """The loaded model and every warning message of its load, ``library``'s version warning included even if
    this process warned about it before."""
    package._warned_versions.discard(library)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = shipyard.load_model(uri)
    return loaded, [str(item.message) for item in caught]
