"""Model URIs: ``runs:/<run_id>/<path>``, ``models:/<name>/<version>`` and ``models:/<name>@<alias>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ValidationError

_RUNS_RE = re.compile(r"^runs:/([0-9a-fA-F]{1,32})/(.+)$")
_VERSION_RE = re.compile(r"^models:/([^/@]+)/(\d+)$")
_ALIAS_RE = re.compile(r"^models:/([^/@]+)@([A-Za-z0-9_\-.]+)$")


@dataclass(frozen=True)
class ModelURI:
    kind: str  # "run" | "version" | "alias"
    run_id: str | None = None
    path: str | None = None
    name: str | None = None
    version: int | None = None
    alias: str | None = None


def parse_model_uri(text: str) -> ModelURI:
    value = str(text).strip()
    if match := _RUNS_RE.match(value):
        return ModelURI("run", run_id=match.group(1).lower(), path=match.group(2).strip("/"))
    if match := _VERSION_RE.match(value):
        return ModelURI("version", name=match.group(1), version=int(match.group(2)))
    if match := _ALIAS_RE.match(value):
        return ModelURI("alias", name=match.group(1), alias=match.group(2))
    raise ValidationError(
        f"{text!r} is not a model URI; use runs:/<run_id>/<path>, models:/<name>/<version> or "
        "models:/<name>@<alias> (for example models:/churn@champion).",
        field="model_uri",
    )
