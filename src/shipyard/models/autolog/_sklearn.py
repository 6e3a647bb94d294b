"""scikit-learn: every estimator's ``fit`` (pipelines and searches included), logged at the outermost call.

The fitting thread does only what cannot wait (a pickle of the fitted model, a fingerprint of the data,
where to record it: tens of microseconds); :func:`_record` runs later (``_deferred.py``) and writes the
params, training metrics, the training data's hash and shape, and the model package. A search
(``GridSearchCV``, ``RandomizedSearchCV``, any ``BaseSearchCV``) also records ``best_<param>`` params, the
best cross-validation score, ``cv_results.csv``, the best estimator as the model and, when
``autolog(search_children=True)``, one child run per candidate.

Only estimators that predict are logged: a transformer fitted on its own (``StandardScaler().fit(X)``) is
a step of something that will be, and logging it would fill the store with runs nobody asked for.
"""

from __future__ import annotations

import functools
import io
import time
from collections.abc import Callable
from typing import Any

from . import _deferred, _patching
from ._record import Destination, RunWriter, Snapshot, TrainingData, destination, estimator_tags
from ._settings import settings
from ._training_metrics import training_metrics

LIBRARY = "sklearn"


def enable() -> None:
    for owner in _fit_owners():
        _patching.patch(LIBRARY, owner, "fit", _patched_fit)


@functools.cache
def _fit_owners() -> tuple[type, ...]:
    """The classes that define the ``fit`` of scikit-learn's public estimators (listing them imports every
    scikit-learn module once: about a second, so it is done once per process)."""
    from sklearn.utils import all_estimators

    owners = {_patching.defining_class(cls, "fit") for _, cls in all_estimators()}
    return tuple(sorted((o for o in owners if o is not None), key=lambda o: (o.__module__, o.__qualname__)))


def _patched_fit(original: Callable[..., Any]) -> Callable[..., Any]:
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if LIBRARY not in settings.libraries or _patching.inside_autologged_call():
            return original(self, *args, **kwargs)
        return logged_fit(LIBRARY, original, self, args, kwargs, _record)

    return fit


def logged_fit(library: str, original: Callable[..., Any], model: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any], record: Callable[..., None]) -> Any:
    """Run ``original`` as the outermost autologged call, then queue ``record`` for what it fitted.

    Shared by the scikit-learn wrappers of XGBoost and LightGBM.
    """
    with _patching.Outermost():
        _deferred.fit_started()
        start_ms = time.time_ns() // 1_000_000
        try:
            result = original(model, *args, **kwargs)
        finally:
            _deferred.fit_ended()
    try:
        if hasattr(model, "predict"):
            where = destination()
            X = args[0] if args else kwargs.get("X")
            y = args[1] if len(args) > 1 else kwargs.get("y")
            captured = (where, Snapshot.of(model), TrainingData.of(X, y), kwargs.get("sample_weight"),
                        start_ms, time.time_ns() // 1_000_000)
            _deferred.submit(f"the {library} fit of a {type(model).__name__}",
                             lambda: record(*captured, extras=kwargs))
    except Exception as exc:  # capturing must never break the user's training
        _deferred.warn(f"could not capture the fit of a {type(model).__name__}: {type(exc).__name__}: {exc}")
    return result


def _record(where: Destination, snapshot: Snapshot, data: TrainingData, sample_weight: Any, start_ms: int,
            end_ms: int, *, extras: dict[str, Any]) -> None:
    model = snapshot.restore()
    writer = RunWriter.open(where, start_ms, end_ms, estimator_tags(LIBRARY, model))
    try:
        write_estimator(writer, model, data, sample_weight)
    finally:
        writer.close()


def write_estimator(writer: RunWriter, model: Any, data: TrainingData, sample_weight: Any) -> None:
    """Params, training metrics, the training dataset, search results and the model of a fitted estimator."""
    writer.params(model.get_params(deep=True))
    writer.dataset("train", data)
    packaged = model
    if hasattr(model, "cv_results_"):  # a search: GridSearchCV, RandomizedSearchCV, ...
        _write_search(writer, model)
        packaged = getattr(model, "best_estimator_", model)  # refit=False leaves only the search itself
    if data.unchanged():
        writer.metrics(training_metrics(model, data.X, data.y, sample_weight))
    writer.model(packaged, data)


def _write_search(writer: RunWriter, search: Any) -> None:
    import pandas as pd

    if hasattr(search, "best_params_"):
        writer.params({f"best_{key}": value for key, value in search.best_params_.items()})
    if hasattr(search, "best_score_"):
        writer.metrics({"best_cv_score": search.best_score_})
    results = pd.DataFrame(search.cv_results_)
    buffer = io.StringIO()
    results.drop(columns=["params"]).to_csv(buffer, index=False)
    writer.artifact(buffer.getvalue().encode(), "cv_results.csv")
    if settings.search_children:
        _write_candidates(writer, results)


def _write_candidates(writer: RunWriter, results: Any) -> None:
    """One child run per candidate: its params, and the mean/std/rank columns of ``cv_results_`` as metrics."""
    scored = [name for name in results.columns if name.startswith(("mean_", "std_", "rank_"))]
    experiment = writer.target.experiment_of(writer.run_id)
    for index, candidate in enumerate(results["params"]):
        child = writer.child({"shipyard.autolog": "sklearn.candidate", "shipyard.autolog.candidate": str(index)},
                             experiment)
        try:
            child.params(candidate)
            child.metrics({name: float(results[name].iloc[index]) for name in scored})
        finally:
            child.close()
