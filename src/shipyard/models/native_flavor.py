"""What the XGBoost and LightGBM flavors share: models stored in their own library's format, never pickled.

A gradient-boosted model is data (trees, thresholds, leaf values), and its library writes it as such: XGBoost
as UBJSON, LightGBM as text. Loading such a file parses numbers; it cannot run code, so these flavors need no
trust. A scikit-learn Pipeline whose last step is such a model is split in two: the preprocessing is stored
with skops (by the dispatcher, :mod:`.flavors`, with its usual trust rules) and the final step natively.

A :class:`NativePredictor` puts the pieces back behind the ``predict``/``predict_proba``/``classes_`` face of a
scikit-learn model. It also gives the library what it needs for native categorical features: the signature
hands over text columns as text, while both libraries want pandas' ``category`` dtype; each such column is
cast to a categorical over the levels the model was trained on (a level it never saw becomes missing, as the
library itself would treat it).

The package holds ``native.json`` next to the model file: the flavor, the library version that wrote it,
which estimator class to rebuild (from a fixed list per flavor, never an arbitrary name), the classes, the
categorical levels and whether a ``preprocess.skops`` goes in front.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

from ..errors import MissingExtraError, ValidationError
from ..extras import from_module_not_found, install_command

META_FILE = "native.json"
PREPROCESS_FILE = "preprocess.skops"
META_FORMAT = 1  # the layout of native.json; a newer one is refused with a line saying to upgrade Shipyard


class NativePredictor:
    """A natively stored model, with its optional preprocessing, behind a scikit-learn-like face.

    ``estimator`` is the library's own object (an ``XGBClassifier``, a ``lightgbm.Booster``...), ``preprocess``
    the fitted scikit-learn steps in front of it (or ``None``), ``categories`` the levels of each categorical
    input column of the estimator, ``classes`` the labels of a classifier (``classes_``; absent otherwise).
    Subclasses name their flavor and answer for the estimator in :meth:`_predict` and :meth:`_predict_proba`.
    """

    flavor: ClassVar[str]
    library: ClassVar[str]  # the import name, also the extra that installs it

    def __init__(self, estimator: Any, *, kind: str, preprocess: Any = None, step: str | None = None,
                 categories: dict[str, list[Any]] | None = None, classes: list[Any] | None = None,
                 python_class: str | None = None) -> None:
        self.estimator = estimator
        self.kind = kind  # the estimator's class name in the flavor's list, or "Booster"
        self.preprocess = preprocess
        self.step = step  # the final step's name in the Pipeline it came from
        self.categories = categories or {}
        self.python_class = python_class or f"{type(estimator).__module__}.{type(estimator).__qualname__}"
        if classes is not None:
            import numpy as np

            self.classes_ = np.asarray(classes)

    def model_input(self, frame: Any) -> Any:
        """What the estimator takes for ``frame``: the preprocessing's output, categorical columns as categories."""
        data = self.preprocess.transform(frame) if self.preprocess is not None else frame
        return as_categories(data, self.categories)

    def predict(self, frame: Any) -> Any:
        return self._predict(self.model_input(frame))

    def predict_proba(self, frame: Any) -> Any:
        if not hasattr(self, "classes_"):
            raise ValidationError(f"This {self.kind} is not a classifier; it has no probabilities.", field="model")
        return self._predict_proba(self.model_input(frame))

    def _predict(self, data: Any) -> Any:
        raise NotImplementedError

    def _predict_proba(self, data: Any) -> Any:
        raise NotImplementedError

    def meta(self, version: str) -> dict[str, Any]:
        """The ``native.json`` of this model, written with library ``version``."""
        return {"format": META_FORMAT, "flavor": self.flavor, "library": self.library, "library_version": version,
                "estimator": self.kind, "python_class": self.python_class, "step": self.step,
                "preprocess": self.preprocess is not None, "categories": self.categories,
                "classes": [plain(value) for value in self.classes_] if hasattr(self, "classes_") else None}


def check_one_answer_per_row(predictor: NativePredictor, example: Any) -> None:
    """Refuse a raw Booster that does not answer one number per row: a multiclass Booster answers a
    row of probabilities, which no regressor's answer is; its classifier wrapper is what carries the classes."""
    import numpy as np

    if predictor.kind == "Booster" and np.asarray(predictor.predict(example.head(2))).ndim > 1:
        raise ValidationError(
            f"This {predictor.flavor} Booster answers several numbers per row (a multiclass objective), so it "
            "has neither one prediction nor named classes; log the scikit-learn classifier of its library "
            "(XGBClassifier, LGBMClassifier), whose classes and probabilities Shipyard serves.", field="model")


def split_pipeline(model: Any, is_native: Callable[[Any], bool]) -> tuple[Any, str | None, Any] | None:
    """(preprocessing or None, final step name or None, native estimator) when ``model`` is a native model or a
    scikit-learn Pipeline ending in one; ``None`` otherwise."""
    if is_native(model):
        return None, None, model
    steps = getattr(model, "steps", None)
    if type(model).__name__ != "Pipeline" or not isinstance(steps, list) or not steps:
        return None
    name, last = steps[-1]
    if not is_native(last):
        return None
    if len(steps) == 1:
        return None, name, last
    return model[:-1], name, last


def example_input(preprocess: Any, frame: Any) -> Any:
    """What the estimator saw for the input example (the preprocessing's output, when there is one)."""
    return preprocess.transform(frame) if preprocess is not None else frame


def category_columns(data: Any) -> dict[str, list[Any]]:
    """The levels of every ``category`` column of a DataFrame (none for arrays): the fallback when the model
    does not record its own."""
    dtypes = getattr(data, "dtypes", None)
    if dtypes is None:
        return {}
    return {str(name): [plain(level) for level in dtype.categories] for name, dtype in dtypes.items()
            if str(dtype) == "category"}


def as_categories(data: Any, categories: dict[str, list[Any]]) -> Any:
    """``data`` with each column named in ``categories`` cast to a categorical over exactly those levels."""
    if not categories or not hasattr(data, "columns"):
        return data
    import pandas as pd

    data = data.copy()
    for name, levels in categories.items():
        if name in data.columns:
            values = data[name]
            if str(values.dtype) == "category":  # take its values, not its codes: the levels may differ
                values = values.astype(object)
            values = values.where(values.isin(levels))  # an unseen level is missing (pandas 4 would raise)
            data[name] = pd.Categorical(values, categories=levels)
    return data


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON holds."""
    return value.item() if hasattr(value, "item") else value


def dump_meta(meta: dict[str, Any]) -> bytes:
    return json.dumps(meta, indent=1, sort_keys=True).encode()


def read_meta(files: dict[str, bytes], flavor: str, source: str) -> dict[str, Any]:
    """The package's ``native.json``, refused with one line when it is not one this Shipyard reads."""
    where = f"{source} (a {flavor} package)"
    try:
        meta = json.loads(files[META_FILE])
    except (KeyError, ValueError, RecursionError):
        raise ValidationError(f"{where} has no readable {META_FILE}; it is not a package this Shipyard can load. "
                              "Log the model again.", field="format") from None
    if not isinstance(meta, dict) or meta.get("flavor") != flavor:
        raise ValidationError(f"{where}: {META_FILE} is not a {flavor} description; log the model again.",
                              field="format")
    if not isinstance(meta.get("format"), int) or meta["format"] > META_FORMAT:
        raise ValidationError(f"{where} was written in {flavor} package format {meta.get('format')!r}, newer than "
                              f"this Shipyard reads ({META_FORMAT}); upgrade shipyard-ml to load it.", field="format")
    return meta


def require_library(flavor: str, title: str, source: str) -> Any:
    """Import the flavor's library (named as its extra), or raise :class:`MissingExtraError` naming that extra:
    "Loading models:/churn/3, an XGBoost model, needs the 'xgboost' extra (...): pip install ..."."""
    from importlib import import_module

    try:
        return import_module(flavor)
    except ModuleNotFoundError as exc:
        raise missing_while(exc, flavor, title, source) from exc


def missing_while(exc: ModuleNotFoundError, flavor: str, title: str, source: str) -> Exception:
    """The error for a module missing while loading ``title`` (the library, or scikit-learn its wrappers need):
    :class:`MissingExtraError` naming the flavor's extra, or ``exc`` itself for a module of no extra."""
    missing: MissingExtraError | None = from_module_not_found(exc, f"Loading {source}, {title},", wanted=flavor)
    return missing if missing is not None else exc


def unreadable(flavor: str, title: str, source: str, meta: dict[str, Any], installed: str,
               exc: Exception) -> ValidationError:
    """One line for a model file the installed library cannot parse (written by a newer library, or damaged)."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    written = meta.get("library_version", "?")
    return ValidationError(
        f"{source} is {title} written with {flavor} {written} that {flavor} {installed} cannot read "
        f"({reason[:200]}); install {flavor} {written} ({install_command(flavor)} brings a supported one) or log "
        "the model again.", field="format")
