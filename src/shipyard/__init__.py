"""Shipyard: take a model from a notebook to production and keep it healthy there.

This module is the public facade: everything a user calls is re-exported here, and nothing else.

The names are loaded on first use (PEP 562 ``__getattr__``): ``import shipyard`` imports no SQLAlchemy,
pandas or Typer, so the ``shipyard`` command and any program that only needs one corner of the API
start fast. Type checkers and IDEs read the ``TYPE_CHECKING`` imports instead, which name the same
objects. To export a new name, add one line to ``_LAZY``, the same import under ``TYPE_CHECKING`` and the
name to ``__all__``; ``tests/unit/test_facade.py`` fails until the three agree.
"""

# typing.TYPE_CHECKING without importing typing (~9 ms, most of what `import shipyard` would cost):
# mypy and pyright treat any name TYPE_CHECKING as true. Deleted at the end: it is not part of the API.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .errors import (
        AmbiguousError as AmbiguousError,
        ConfigError as ConfigError,
        ConflictError as ConflictError,
        FilterSyntaxError as FilterSyntaxError,
        IntegrityError as IntegrityError,
        MissingExtraError as MissingExtraError,
        NotFoundError as NotFoundError,
        NothingScoredError as NothingScoredError,
        ShipyardError as ShipyardError,
        StoreUnavailableError as StoreUnavailableError,
        ValidationError as ValidationError,
        VerificationError as VerificationError,
    )
    from .lineage_query import lineage as lineage
    from .models.api import (
        alias_history as alias_history,
        delete_alias as delete_alias,
        export_onnx as export_onnx,
        get_model_version as get_model_version,
        list_model_versions as list_model_versions,
        predict_batch as predict_batch,
        promote_model as promote_model,
        register_model as register_model,
        set_alias as set_alias,
    )
    from .models.autolog import autolog as autolog
    from .models.package import (
        LoadedModel as LoadedModel,
        ModelInfo as ModelInfo,
        load_model as load_model,
        log_model as log_model,
    )
    from .models.promote import PromotionDecision as PromotionDecision
    from .models.python_flavor import ModelContext as ModelContext, PythonModel as PythonModel
    from .models.registry import AliasEvent as AliasEvent, ModelVersion as ModelVersion
    from .predlog.readers import feedback_log as feedback_log, prediction_log as prediction_log
    from .store.store import current_store as current_store
    from .tracking.fluent import (
        ActiveRun as ActiveRun,
        active_run as active_run,
        download_artifacts as download_artifacts,
        end_run as end_run,
        flush as flush,
        get_run as get_run,
        list_artifacts as list_artifacts,
        list_experiments as list_experiments,
        log_artifact as log_artifact,
        log_dict as log_dict,
        log_metric as log_metric,
        log_metrics as log_metrics,
        log_param as log_param,
        log_params as log_params,
        log_text as log_text,
        metric_history as metric_history,
        read_artifact as read_artifact,
        search_runs as search_runs,
        set_store as set_store,
        set_tag as set_tag,
        set_tags as set_tags,
        start_run as start_run,
    )
    from .tracking.remote import set_tracking_uri as set_tracking_uri
    from .tracking.runs import Run as Run

__version__ = "0.1.0"

# Public name -> the module that defines it, relative to this package. One line per name, sorted by name
# within each module; e.g. a new `prediction_log` exported by monitoring/log.py would be
#     "prediction_log": "monitoring.log",
# plus its import under TYPE_CHECKING above and its place in __all__ below.
_LAZY: dict[str, str] = {
    "AmbiguousError": "errors",
    "ConfigError": "errors",
    "ConflictError": "errors",
    "FilterSyntaxError": "errors",
    "IntegrityError": "errors",
    "MissingExtraError": "errors",
    "NotFoundError": "errors",
    "NothingScoredError": "errors",
    "ShipyardError": "errors",
    "StoreUnavailableError": "errors",
    "ValidationError": "errors",
    "VerificationError": "errors",
    "alias_history": "models.api",
    "delete_alias": "models.api",
    "export_onnx": "models.api",
    "get_model_version": "models.api",
    "lineage": "lineage_query",
    "list_model_versions": "models.api",
    "predict_batch": "models.api",
    "promote_model": "models.api",
    "register_model": "models.api",
    "set_alias": "models.api",
    "autolog": "models.autolog",
    "LoadedModel": "models.package",
    "ModelInfo": "models.package",
    "load_model": "models.package",
    "log_model": "models.package",
    "PromotionDecision": "models.promote",
    "ModelContext": "models.python_flavor",
    "PythonModel": "models.python_flavor",
    "AliasEvent": "models.registry",
    "ModelVersion": "models.registry",
    "feedback_log": "predlog.readers",
    "prediction_log": "predlog.readers",
    "current_store": "store.store",
    "ActiveRun": "tracking.fluent",
    "active_run": "tracking.fluent",
    "download_artifacts": "tracking.fluent",
    "end_run": "tracking.fluent",
    "flush": "tracking.fluent",
    "get_run": "tracking.fluent",
    "list_artifacts": "tracking.fluent",
    "list_experiments": "tracking.fluent",
    "log_artifact": "tracking.fluent",
    "log_dict": "tracking.fluent",
    "log_metric": "tracking.fluent",
    "log_metrics": "tracking.fluent",
    "log_param": "tracking.fluent",
    "log_params": "tracking.fluent",
    "log_text": "tracking.fluent",
    "metric_history": "tracking.fluent",
    "read_artifact": "tracking.fluent",
    "search_runs": "tracking.fluent",
    "set_store": "tracking.fluent",
    "set_tag": "tracking.fluent",
    "set_tags": "tracking.fluent",
    "set_tracking_uri": "tracking.remote",
    "start_run": "tracking.fluent",
    "Run": "tracking.runs",
}

__all__ = [
    "ActiveRun",
    "AliasEvent",
    "AmbiguousError",
    "ConfigError",
    "ConflictError",
    "FilterSyntaxError",
    "IntegrityError",
    "LoadedModel",
    "MissingExtraError",
    "ModelContext",
    "ModelInfo",
    "ModelVersion",
    "NotFoundError",
    "NothingScoredError",
    "PromotionDecision",
    "PythonModel",
    "Run",
    "ShipyardError",
    "StoreUnavailableError",
    "ValidationError",
    "VerificationError",
    "active_run",
    "alias_history",
    "autolog",
    "current_store",
    "delete_alias",
    "download_artifacts",
    "end_run",
    "export_onnx",
    "feedback_log",
    "flush",
    "get_model_version",
    "get_run",
    "lineage",
    "list_artifacts",
    "list_experiments",
    "list_model_versions",
    "load_model",
    "log_artifact",
    "log_dict",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
    "metric_history",
    "predict_batch",
    "prediction_log",
    "promote_model",
    "read_artifact",
    "register_model",
    "search_runs",
    "set_alias",
    "set_store",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]


# Hidden from type checkers: they see the imports above, so a misspelt name is an error there instead of
# whatever __getattr__ returns.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        """Import the module that defines a public name on first use, and keep the value for later lookups."""
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from importlib import import_module

        value = getattr(import_module(f".{module}", __name__), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        """``dir()`` and tab completion list the lazy names too, loaded or not."""
        return sorted({*globals(), *_LAZY})


del TYPE_CHECKING
