"""``shipyard.autolog()``: training calls of scikit-learn, XGBoost, LightGBM and Keras log themselves.

Where this lives, and why. DESIGN.md section 3 lists autolog under ``tracking/``, but what autologging
writes last is a model package, and packaging (``models/package.py``) sits above tracking: tracking code
calling it would be an upward import, and hiding that import inside a function is still a cycle. So the
patches live here, in ``models/autolog/``, which may import both layers below; ``shipyard.autolog`` is
re-exported by the facade as usual. Tracking offers the one thing it must: a hook
(``tracking/pending.py``) through which records written after ``fit`` returned are drained before a run
ends or is read, and a home for the tags that record a run's input data (``tracking/datasets.py``).

How it stays cheap: see ``_deferred.py`` (what the fitting thread does, and when records are written) and
``benchmarks/bench_autolog.py`` (the figures against no logging and ``mlflow.autolog()``).

Keras (``_keras.py``) is patched when ``keras`` is imported, not by ``autolog()`` itself: Keras and torch take
seconds to import, which a scikit-learn notebook should not pay.
"""

from __future__ import annotations

import importlib.util
import sys
import threading

from . import _deferred, _patching  # _deferred registers the drain with tracking when imported
from ._deferred import AutologWarning as AutologWarning
from ._settings import settings

LIBRARIES = ("sklearn", "xgboost", "lightgbm", "keras")
_lock = threading.Lock()


def autolog(
    *,
    disable: bool = False,
    sklearn: bool = True,
    xgboost: bool = True,
    lightgbm: bool = True,
    keras: bool = True,
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
    also per-iteration eval metrics, the best iteration and ``feature_importance.csv``; for Keras the metrics
    of every epoch (steps are epoch numbers) and the optimizer's settings.

    The fitting thread only takes a snapshot; the records are written moments later, or at once when the
    program reads or ends a run (``shipyard.flush()`` forces it). A failure to log is one
    :class:`AutologWarning` line; the training itself is never interrupted.

    Args:
        disable: restore every patched method and stop logging (the other arguments are ignored).
        sklearn: log scikit-learn ``fit`` (estimators, pipelines, ``GridSearchCV``/``RandomizedSearchCV``).
        xgboost: log ``xgboost.train`` and the ``XGBClassifier``/``XGBRegressor`` ``fit``.
        lightgbm: log ``lightgbm.train`` and the ``LGBMClassifier``/``LGBMRegressor`` ``fit``.
        keras: log ``keras.Model.fit`` (patched when Keras is imported; picks the torch backend then if
            ``KERAS_BACKEND`` is unset).
        log_models: package each fitted model (``shipyard.log_model``); the costliest part of a record.
        search_children: one child run per candidate of a search, with its params and CV scores.
        experiment: experiment of the runs autologging starts outside a run (default
            ``$SHIPYARD_EXPERIMENT`` or "Default").

    A library that is not installed is skipped, switched on or not.
    """
    with _lock:
        if disable:
            settings.libraries.clear()
            _patching.unpatch()
            _disable("keras")
            return
        wanted = {"sklearn": sklearn, "xgboost": xgboost, "lightgbm": lightgbm, "keras": keras}
        settings.log_models, settings.search_children, settings.experiment = log_models, search_children, experiment
        for library, on in wanted.items():
            if on and importlib.util.find_spec(library) is not None:
                _enable(library)
                settings.libraries.add(library)
            else:
                settings.libraries.discard(library)
                _patching.unpatch(library)
                _disable(library)


def _enable(library: str) -> None:
    if library == "sklearn":
        from . import _sklearn

        _sklearn.enable()
    elif library == "keras":
        from . import _keras

        _keras.enable()
    else:
        from . import _boosting

        _boosting.enable(library)


def _disable(library: str) -> None:
    if library == "keras" and "shipyard.models.autolog._keras" in sys.modules:
        from . import _keras

        _keras.disable()


__all__ = ["LIBRARIES", "AutologWarning", "autolog"]
del _deferred  # imported for its registration with tracking's drain hook
