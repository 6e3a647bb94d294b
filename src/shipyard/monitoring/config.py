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
size (PSI) too. Unknown keys are refused with the file, line and key path, as elsewhere.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..store.yaml_file import error_at, load_yaml

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
    # Before labels: a classifier's performance estimated from its scores (estimated_quality.py). A level is
    # crossed when the whole 90% interval lies under it: the upper bound below the floor, or more than the drop
    # under the reference's realized value. metric: accuracy, precision, recall, f1, roc_auc, or all of them.
    "estimated_quality": {"metric": "all", "warn_drop": 0.02, "alert_drop": 0.05, "warn_below": None,
                          "alert_below": None, "min_rows": 100},
    "concept_drift": {"p_value": 0.01, "min_labels": 20},  # labels against what their scores expect
    "ab": {"alpha": 0.05, "power": 0.8},
    "shadow": {"warn_rate": 0.2, "alert_rate": 0.5},  # share of rows where a shadow answers differently
    "min_rows": {"rows": 50},  # fewer current rows than this: drift checks say "not enough data"
}


class Thresholds:
    """Defaults, then ``thresholds:``, then ``features: {name: ...}`` of monitoring.yaml."""

    def __init__(self, data: dict[str, Any] | None = None, source: str = "monitoring.yaml") -> None:
        self.source = source
        self._data = data  # as load_yaml read it, so errors can name lines; a plain dict has none
        data = data or {}
        if not isinstance(data, dict):
            raise self._error("", "the top level must be a mapping with 'thresholds' and/or 'features'.")
        unknown = sorted(str(key) for key in data if key not in {"thresholds", "features"})
        if unknown:
            raise self._error(unknown[0], f"unknown key {unknown[0]!r}; allowed: features, thresholds.")
        self.base = copy.deepcopy(DEFAULTS)
        self._apply(self.base, data.get("thresholds") or {}, "thresholds")
        self.features: dict[str, dict[str, dict[str, Any]]] = {}
        features = data.get("features") or {}
        if not isinstance(features, dict):
            raise self._error("features", "features must be a mapping of feature -> checks.")
        for name, overrides in features.items():
            merged = copy.deepcopy(self.base)
            self._apply(merged, overrides or {}, f"features.{name}")
            self.features[str(name)] = merged

    def get(self, check: str, key: str, feature: str | None = None) -> Any:
        table = self.features.get(feature, self.base) if feature else self.base
        return table[check][key]

    def _error(self, at: str, message: str) -> ConfigError:
        """``message`` about the key path ``at`` ("features.tenure.drift.psi_alert"), naming its line."""
        return error_at(self.source, self._data, at, message)

    def _apply(self, target: dict[str, dict[str, Any]], overrides: Any, where: str) -> None:
        if not isinstance(overrides, dict):
            raise self._error(where, f"{where} must be a mapping of check -> settings.")
        for check, settings in overrides.items():
            if check not in target:
                raise self._error(f"{where}.{check}", f"{where}.{check} is not a check; known: "
                                  f"{', '.join(sorted(target))}.")
            if not isinstance(settings, dict):
                raise self._error(f"{where}.{check}", f"{where}.{check} must be a mapping of setting: value.")
            for key, value in settings.items():
                if key not in target[check]:
                    raise self._error(f"{where}.{check}.{key}", f"{where}.{check}.{key} is not a setting; known: "
                                      f"{', '.join(sorted(target[check]))}.")
                default = DEFAULTS[check][key]
                if isinstance(default, int | float) and not isinstance(default, bool) and (
                        isinstance(value, bool) or not isinstance(value, int | float)):
                    raise self._error(f"{where}.{check}.{key}",
                                      f"{where}.{check}.{key} must be a number, got {value!r}.")
                target[check][key] = value


def load_thresholds(path: str | Path | None) -> Thresholds:
    """Thresholds from ``path`` (or ``monitoring.yaml`` in the working directory when it exists)."""
    candidate = Path(path) if path else Path("monitoring.yaml")
    if not candidate.exists():
        if path:
            raise ConfigError(f"{candidate}: no such file.")
        return Thresholds()
    data = load_yaml(candidate, str(candidate), not_yaml="not valid YAML")
    return Thresholds(data, str(candidate))
