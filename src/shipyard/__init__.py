"""Shipyard: take a model from a notebook to production and keep it healthy there.

This module is the public facade: everything a user calls is re-exported here, and nothing else.
"""

from .errors import (
    AmbiguousError as AmbiguousError,
)
from .errors import (
    ConfigError as ConfigError,
)
from .errors import (
    ConflictError as ConflictError,
)
from .errors import (
    FilterSyntaxError as FilterSyntaxError,
)
from .errors import (
    IntegrityError as IntegrityError,
)
from .errors import (
    NotFoundError as NotFoundError,
)
from .errors import (
    ShipyardError as ShipyardError,
)
from .errors import (
    StoreUnavailableError as StoreUnavailableError,
)
from .errors import (
    ValidationError as ValidationError,
)
from .store.store import current_store as current_store
from .store.store import set_store as set_store
from .tracking.fluent import (
    ActiveRun as ActiveRun,
)
from .tracking.fluent import (
    active_run as active_run,
)
from .tracking.fluent import (
    download_artifacts as download_artifacts,
)
from .tracking.fluent import (
    end_run as end_run,
)
from .tracking.fluent import (
    flush as flush,
)
from .tracking.fluent import (
    get_run as get_run,
)
from .tracking.fluent import (
    list_artifacts as list_artifacts,
)
from .tracking.fluent import (
    list_experiments as list_experiments,
)
from .tracking.fluent import (
    log_artifact as log_artifact,
)
from .tracking.fluent import (
    log_dict as log_dict,
)
from .tracking.fluent import (
    log_metric as log_metric,
)
from .tracking.fluent import (
    log_metrics as log_metrics,
)
from .tracking.fluent import (
    log_param as log_param,
)
from .tracking.fluent import (
    log_params as log_params,
)
from .tracking.fluent import (
    log_text as log_text,
)
from .tracking.fluent import (
    metric_history as metric_history,
)
from .tracking.fluent import (
    read_artifact as read_artifact,
)
from .tracking.fluent import (
    search_runs as search_runs,
)
from .tracking.fluent import (
    set_tag as set_tag,
)
from .tracking.fluent import (
    set_tags as set_tags,
)
from .tracking.fluent import (
    start_run as start_run,
)
from .tracking.runs import Run as Run

__version__ = "0.1.0"

__all__ = [
    "ActiveRun",
    "AmbiguousError",
    "ConfigError",
    "ConflictError",
    "FilterSyntaxError",
    "IntegrityError",
    "NotFoundError",
    "Run",
    "ShipyardError",
    "StoreUnavailableError",
    "ValidationError",
    "active_run",
    "current_store",
    "download_artifacts",
    "end_run",
    "flush",
    "get_run",
    "list_artifacts",
    "list_experiments",
    "log_artifact",
    "log_dict",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "metric_history",
    "read_artifact",
    "search_runs",
    "set_store",
    "set_tag",
    "set_tags",
    "start_run",
]
