"""Thresholds of the checks: common-practice defaults, overridable in ``monitoring.yaml``.

```yaml
thresholds:                      # every check, every feature
  drift: {psi_warn: 0.1, psi_alert: 0.25, p_value: 0.01}
  missing: {warn_points: 5, alert_points: 20}
features:                        # per feature, on top of the above
  total_charges: {drift: {psi_alert: 0.4}}
```

PSI 0.1 / 0.25 is the usual credit-scoring rule ("some shift" / "major shift"). A p-value alone is not
used to warn on large windows, where every trivial difference is significant: drift needs the effect
size (PSI) too. Unknown keys are refused with the file and key path, as elsewhere.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..store.text import read_text

DEFAULTS: dict[str, dict[str, Any]] = {
    # js_*: Jensen-Shannon distance (base 2), used for categorical columns on large samples.
    "drift": {"psi_warn": 0.1, "psi_alert": 0.25, "p_value": 0.01, "js_warn": 0.1, "js_alert": 0.2},
    "missing": {"warn_points": 5.0, "alert_points": 20.0},
    "new_categories": {"warn_share": 0.01, "alert_share": 0.05},
    "out_of_range": {"warn_share": 0.05, "alert_share": 0.2},
    "prediction_drift": {"psi_warn": 0.1, "psi_alert": 0.25},
    "confused": {"warn_increase": 0.1, "alert_increase": 0.25},  # share of low-margin answers, absolute
    "volume": {"warn_ratio": 2.0, "alert_ratio": 5.0, "min_rows": 100},
    "latency": {"p99_warn_ms": 100.0, "p99_alert_ms": 500.0},
    "errors": {"warn_rate": 0.01, "alert_rate": 0.05},  # share of prediction requests refused or failed
    "quality": {"metric": "auto", "warn_drop": 0.02, "alert_drop": 0.05, "warn_below": None, "alert_below": None,
                "min_labels": 100},
    "ab": {"alpha": 0.05, "power": 0.8},
    "shadow": {"warn_rate": 0.2, "alert_rate": 0.5},  # share of rows where a shadow answers differently
    "min_rows": {"rows": 50},  # fewer current rows than this: drift checks say "not enough data"
}


class Thresholds:
    """Defaults, then ``thresholds:``, then ``features: {name: ...}`` of monitoring.yaml."""

    def __init__(self, data: dict[str, Any] | None = None, source: str = "monitoring.yaml") -> None:
        data = data or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: the top level must be a mapping with 'thresholds' and/or 'features'.")
        unknown = sorted(set(data) - {"thresholds", "features"})
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r}; allowed: features, thresholds.")
        self.source = source
        self.base = copy.deepcopy(DEFAULTS)
        self._apply(self.base, data.get("thresholds") or {}, "thresholds")
        self.features: dict[str, dict[str, dict[str, Any]]] = {}
        for name, overrides in (data.get("features") or {}).items():
            merged = copy.deepcopy(self.base)
            self._apply(merged, overrides or {}, f"features.{name}")
            self.features[str(name)] = merged

    def get(self, check: str, key: str, feature: str | None = None) -> Any:
        table = self.features.get(feature, self.base) if feature else self.base
        return table[check][key]

    def _apply(self, target: dict[str, dict[str, Any]], overrides: Any, where: str) -> None:
        if not isinstance(overrides, dict):
            raise ConfigError(f"{self.source}: {where} must be a mapping of check -> settings.")
        for check, settings in overrides.items():
            if check not in target:
                raise ConfigError(f"{self.source}: {where}.{check} is not a check; known: {', '.join(sorted(target))}.")
            if not isinstance(settings, dict):
                raise ConfigError(f"{self.source}: {where}.{check} must be a mapping of setting: value.")
            for key, value in settings.items():
                if key not in target[check]:
                    raise ConfigError(f"{self.source}: {where}.{check}.{key} is not a setting; known: "
                                      f"{', '.join(sorted(target[check]))}.")
                default = DEFAULTS[check][key]
                if isinstance(default, int | float) and not isinstance(default, bool) and (
                        isinstance(value, bool) or not isinstance(value, int | float)):
                    raise ConfigError(f"{self.source}: {where}.{check}.{key} must be a number, got {value!r}.")
                target[check][key] = value


def load_thresholds(path: str | Path | None) -> Thresholds:
    """Thresholds from ``path`` (or ``monitoring.yaml`` in the working directory when it exists)."""
    import yaml

    candidate = Path(path) if path else Path("monitoring.yaml")
    if not candidate.exists():
        if path:
            raise ConfigError(f"{candidate}: no such file.")
        return Thresholds()
    try:
        data = yaml.safe_load(read_text(candidate))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{candidate}: not valid YAML: {exc}") from None
    return Thresholds(data, str(candidate))
