"""``shipyard.autolog()``: training calls of scikit-learn, XGBoost and LightGBM log themselves.

Where this lives, and why. DESIGN.md section 3 lists autolog under ``tracking/``, but what autologging
writes last is a model package, and packaging (``models/package.py``) sits above tracking: tracking code
calling it would be an upward import, and hiding that import inside a function is still a cycle. So the
patches live here, in ``models/autolog/``, which may import both layers below; ``shipyard.autolog`` is
re-exported by the facade as usual. Tracking offers the one thing it must: a hook
(``tracking/pending.py``) through which records written after ``fit`` returned are drained before a run
ends or is read, and a home for the tags that record a run's input data (``tracking/datasets.py``).

How it stays cheap: see ``_deferred.py`` (what the fitting thread does, and when records are written) and
``benchmarks/bench_autolog.py`` (the figures against no logging and ``mlflow.autolog()``).

Keras is not offered yet: the project installs no Keras or PyTorch. A ``keras=`` switch will join the
others with the Keras flavor, writing per-epoch metrics through a callback and the model at the end.
"""

from __future__ import annotations

import importlib.util
import threading

from ...tracking.remote import refuse_through_server
from . import _deferred, _patching  # _deferred registers the drain with tracking when imported
from ._deferred import AutologWarning as AutologWarning
from ._settings import settings

LIBRARIES = ("sklearn", "xgboost", "lightgbm")
_lock = threading.Lock()


def autolog(
    *,
    disable: bool = False,
    sklearn: bool = True,
    xgboost: bool = True,
    lightgbm: bool = True,
    log_models: bool = True,
    search_children: bool = False,
    experiment: str | None = None,
) -> None:
    """Log every training call of the chosen libraries from now on, inside a run or outside one.

    Outside a run, each fit starts and ends its own run. Inside one, the run's first fit logs into it and
    each later fit into a child run of it. A fit inside another (a Pipeline's steps, a search's
    candidates) is logged once, as the outermost fit. Logged: params, training metrics, the training
    data's hash and shape (tags ``shipyard.dataset.train.*``), and the model with its signature and
    training profile; for searches also the best params and score and ``cv_results.csv``; for boosting
    also per-iteration eval metrics, the best iteration and ``feature_importance.csv``.

    The fitting thread only takes a snapshot; the records are written moments later, or at once when the
    program reads or ends a run (``shipyard.flush()`` forces it). A failure to log is one
    :class:`AutologWarning` line; the training itself is never interrupted.

    Args:
        disable: restore every patched method and stop logging (the other arguments are ignored).
        sklearn: log scikit-learn ``fit`` (estimators, pipelines, ``GridSearchCV``/``RandomizedSearchCV``).
        xgboost: log ``xgboost.train`` and the ``XGBClassifier``/``XGBRegressor`` ``fit``.
        lightgbm: log ``lightgbm.train`` and the ``LGBMClassifier``/``LGBMRegressor`` ``fit``.
        log_models: package each fitted model (``shipyard.log_model``); the costliest part of a record.
        search_children: one child run per candidate of a search, with its params and CV scores.
        experiment: experiment of the runs autologging starts outside a run (default
            ``$SHIPYARD_EXPERIMENT`` or "Default").

    A library that is not installed is skipped, switched on or not.
    """
    if not disable:
        refuse_through_server("shipyard.autolog()")  # it writes runs and models straight into a store
    with _lock:
        if disable:
            settings.libraries.clear()
            _patching.unpatch()
            return
        wanted = {"sklearn": sklearn, "xgboost": xgboost, "lightgbm": lightgbm}
        settings.log_models, settings.search_children, settings.experiment = log_models, search_children, experiment
        for library, on in wanted.items():
            if on and importlib.util.find_spec(library) is not None:
                _enable(library)
                settings.libraries.add(library)
            else:
                settings.libraries.discard(library)
                _patching.unpatch(library)


def _enable(library: str) -> None:
    if library == "sklearn":
        from . import _sklearn

        _sklearn.enable()
    else:
        from . import _boosting

        _boosting.enable(library)


__all__ = ["LIBRARIES", "AutologWarning", "autolog"]
del _deferred  # imported for its registration with tracking's drain hook
