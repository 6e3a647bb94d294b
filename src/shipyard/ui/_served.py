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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ShipyardError
from ..models.registry import ModelVersion
from ..models.uri import parse_model_uri
from ..serving.logstore import partition_files, read_table
from ..serving.predlog import serving_root

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
    config = _serving_config(settings.project_dir)
    for deployment in config.deployments if config is not None else ():
        for variant in deployment.all_variants:
            if _names_version(variant.model, version):
                kind = "shadow" if variant.shadow else f"weight {variant.weight:g}"
                found.setdefault(deployment.name, Served(deployment.name)).configured.append(
                    f"{variant.name}: {variant.model} ({kind})")
    log_dir = settings.log_dir or _config_log_dir(config, settings.project_dir)
    for name, variants, last in _logged(settings.store, log_dir, version):
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


def _serving_config(project_dir: Path | None) -> Any:
    from ..serving.config import load_config

    path = project_dir / "serving.yaml" if project_dir is not None else None
    if path is None or not path.is_file():
        return None
    try:
        return load_config(path)
    except ConfigError as exc:  # the deployments page reports a broken file; here it only adds nothing
        _log.info("serving.yaml not used for lineage: %s", exc.message)
        return None


def _config_log_dir(config: Any, project_dir: Path | None) -> str | None:
    if config is None or not config.log_dir:
        return None
    folder = Path(config.log_dir).expanduser()
    return str(folder if folder.is_absolute() or project_dir is None else project_dir / folder)


def _logged(store: Any, log_dir: str | None, version: ModelVersion) -> list[tuple[str, set[str], datetime | None]]:
    """(deployment, variants, newest answer) for each deployment whose recent log rows name ``version``."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    try:
        root = serving_root(store, log_dir) / "predictions"
    except ConfigError:  # a database store without a log_dir: no log to read
        return []
    if not root.is_dir():
        return []
    wanted = (ds.field("model_name") == version.name) & (ds.field("model_version") == version.version)
    result = []
    for folder in sorted(root.glob("deployment=*")):
        name = folder.name[len("deployment="):]
        hours = sorted(folder.glob("date=*/hour=*"))[-RECENT_HOURS:]
        if not hours:
            continue
        try:
            oldest = datetime.strptime(f"{hours[0].parent.name[5:]} {hours[0].name[5:]}", "%Y-%m-%d %H")
            files = partition_files(root, name, int(oldest.replace(tzinfo=UTC).timestamp() * 1000), None)
            table = read_table(files, ["model_name", "model_version", "variant", "timestamp"], wanted)
        except (OSError, ValueError) as exc:  # a partition being written or damaged: leave this deployment out
            _log.info("prediction log of %s not read for lineage: %s", name, exc)
            continue
        if table is None or table.num_rows == 0:
            continue
        newest = pc.max(table["timestamp"]).as_py()
        result.append((name, {str(value) for value in pc.unique(table["variant"]).to_pylist()}, newest))
    return result
