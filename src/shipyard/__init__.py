"""Shipyard: take a model from a notebook to production and keep it healthy there.

This module is the public facade: everything a user calls is re-exported here, and nothing else.
"""

from .errors import (
    AmbiguousError as AmbiguousError,
    ConfigError as ConfigError,
    ConflictError as ConflictError,
    FilterSyntaxError as FilterSyntaxError,
    IntegrityError as IntegrityError,
    NotFoundError as NotFoundError,
    ShipyardError as ShipyardError,
    StoreUnavailableError as StoreUnavailableError,
    ValidationError as ValidationError,
)
from .models.api import (
    alias_history as alias_history,
    delete_alias as delete_alias,
    export_onnx as export_onnx,
    get_model_version as get_model_version,
    lineage as lineage,
    list_model_versions as list_model_versions,
    predict_batch as predict_batch,
    promote_model as promote_model,
    register_model as register_model,
    set_alias as set_alias,
)
from .models.onnx_export import VerificationError as VerificationError
from .models.package import (
    LoadedModel as LoadedModel,
    ModelInfo as ModelInfo,
    load_model as load_model,
    log_model as log_model,
)
from .models.promote import PromotionDecision as PromotionDecision
from .models.registry import AliasEvent as AliasEvent, ModelVersion as ModelVersion
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
from .tracking.runs import Run as Run

__version__ = "0.1.0"

__all__ = [
    "ActiveRun",
    "AliasEvent",
    "AmbiguousError",
    "ConfigError",
    "ConflictError",
    "FilterSyntaxError",
    "IntegrityError",
    "LoadedModel",
    "ModelInfo",
    "ModelVersion",
    "NotFoundError",
    "PromotionDecision",
    "Run",
    "ShipyardError",
    "StoreUnavailableError",
    "ValidationError",
    "VerificationError",
    "active_run",
    "alias_history",
    "current_store",
    "delete_alias",
    "download_artifacts",
    "end_run",
    "export_onnx",
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
    "promote_model",
    "read_artifact",
    "register_model",
    "search_runs",
    "set_alias",
    "set_store",
    "set_tag",
    "set_tags",
    "start_run",
]
