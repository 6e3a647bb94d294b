"""Which deployments serve a model version: the forward end of the lineage graph on the version page.

Two cheap sources, no full log scan (a page load must stay fast whatever the log's size):

* the prediction log: for each ``deployment=<name>`` folder, the newest few hour partitions are read for
  their ``model_name``/``model_version``/``variant`` columns only; a version that answered there recently
  is served (a version retired weeks ago is not found this way, which is the point: "serving now");
* the project's ``serving.yaml``: a variant whose URI names the version, or an alias that points at it now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import ConfigError, ShipyardError
from ..models.registry import ModelVersion
from ..models.uri import parse_model_uri
from ..predlog.layout import PREDICTIONS, HourPartition, hour_partitions
from ..predlog.location import LogPath
from ..predlog.scan import read_table
from ._serving_log import log_root, serving_file

RECENT_HOURS = 3  # hour partitions read per deployment
_log = logging.getLogger(__name__)


@dataclass
class Served:
    """A deployment that serves the version: its variants seen in the log, when last, and its serving.yaml lines."""

    name: str
    variants: set[str] = field(default_factory=set)
    last_seen: datetime | None = None
    configured: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if self.variants:
            return "variant " + ", ".join(sorted(self.variants))
        return "in serving.yaml" if self.configured else ""


def served_by(settings: Any, version: ModelVersion) -> list[Served]:
    """Deployments that answered with ``version`` lately or that serving.yaml points at it, by name."""
    found: dict[str, Served] = {}
    config, problem = serving_file(settings)
    if problem:  # the deployments page reports a broken file; here it only adds nothing
        _log.info("serving.yaml not used for lineage: %s", problem)
    for deployment in config.deployments if config is not None else ():
        for variant in deployment.all_variants:
            if _names_version(variant.model, version):
                kind = "shadow" if variant.shadow else f"weight {variant.weight:g}"
                found.setdefault(deployment.name, Served(deployment.name)).configured.append(
                    f"{variant.name}: {variant.model} ({kind})")
    try:
        logged = _logged(log_root(settings, config) / PREDICTIONS, version)
    except ConfigError:  # a database store without a log_dir: no log to read
        logged = []
    for name, variants, last in logged:
        served = found.setdefault(name, Served(name))
        served.variants.update(variants)
        served.last_seen = last
    return sorted(found.values(), key=lambda served: served.name)


def _names_version(uri: str, version: ModelVersion) -> bool:
    try:
        parsed = parse_model_uri(uri)
    except ShipyardError:
        return False
    if parsed.name != version.name:
        return False
    return parsed.version == version.version if parsed.kind == "version" else parsed.alias in version.aliases


def _logged(root: LogPath, version: ModelVersion) -> list[tuple[str, set[str], datetime | None]]:
    """(deployment, variants, newest answer) for each deployment whose recent log rows name ``version``."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    by_deployment: dict[str, list[HourPartition]] = {}
    for hour in hour_partitions(root, None, None, None):  # folder names only, oldest first
        by_deployment.setdefault(hour.deployment, []).append(hour)
    wanted = (ds.field("model_name") == version.name) & (ds.field("model_version") == version.version)
    result = []
    for name, hours in sorted(by_deployment.items()):
        try:
            files = [path for hour in hours[-RECENT_HOURS:] for path in hour.files()]
            table = read_table(files, ["model_name", "model_version", "variant", "timestamp"], wanted)
        except (OSError, ValueError) as exc:  # a partition being written or damaged: leave this deployment out
            _log.info("prediction log of %s not read for lineage: %s", name, exc)
            continue
        if table is None or table.num_rows == 0:
            continue
        newest = pc.max(table["timestamp"]).as_py()
        result.append((name, {str(value) for value in pc.unique(table["variant"]).to_pylist()}, newest))
    return result
