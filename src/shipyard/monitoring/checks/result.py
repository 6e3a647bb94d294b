"""One check's result and the sentences and levels every kind of check shares.

A result is shaped like the stable ``--json`` form (check, feature, status, statistic, value, threshold,
message) plus ``details`` the report draws (histograms, series).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..windows import FeatureWindow

STATUS_ORDER = {"ok": 0, "warn": 1, "alert": 2}


@dataclass
class CheckResult:
    check: str
    feature: str | None
    status: str
    statistic: str | None
    value: float | None
    threshold: float | None
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # fields of a kind of check in --json (an interval...)

    def to_dict(self, *, details: bool = False) -> dict[str, Any]:
        data = {"check": self.check, "feature": self.feature, "status": self.status, "statistic": self.statistic,
                "value": self.value, "threshold": self.threshold, "message": self.message, **self.extra}
        if details:  # copied only when asked: a category with 200,000 levels makes them large
            data["details"] = asdict(self)["details"]
        return data


def worst(results: list[CheckResult]) -> str:
    return max((result.status for result in results), key=STATUS_ORDER.__getitem__, default="ok")


def findings(results: list[CheckResult]) -> str | None:
    """The worst findings in one sentence ("2 alert(s), 1 warning(s): ..."), or None when all is ok.

    The status word is not part of it: :func:`verdict_sentence` puts it in front, once.
    """
    alerts = [result for result in results if result.status == "alert"]
    warns = [result for result in results if result.status == "warn"]
    if not alerts and not warns:
        return None
    worst = alerts or warns
    named = "; ".join(_short(result.message) for result in worst[:4])
    more = f" and {len(worst) - 4} more" if len(worst) > 4 else ""
    end = "" if (named + more).endswith("...") else "."  # a cut message ends in "...", not "...."
    return f"{len(alerts)} alert(s), {len(warns)} warning(s): {named}{more}{end}"


def verdict_sentence(verdict: str, text: str, *, status: bool = True) -> str:
    """``ALERT: text`` (or ``WARN:``/``OK:``); just ``text`` where the caller shows the status already, as the
    CLI's coloured badge and the report's header do (else they would say ``ALERT ALERT: ...``)."""
    return f"{verdict.upper()}: {text}" if status else text


def _short(message: str) -> str:
    """A message cut at a word boundary (never inside a number) when long."""
    text = message.rstrip(".")
    return text if len(text) <= 100 else text[:100].rsplit(" ", 1)[0].rstrip(",;:(") + " ..."


def status_of(value: float, warn: float, alert: float) -> str:
    """The status a value earns where higher is worse (PSI, a rate): reaching a line counts as crossing it."""
    return "alert" if value >= alert else "warn" if value >= warn else "ok"


def status_of_pvalue(pvalue: float, threshold: float) -> str:
    """A p-value under the threshold warns; ten times smaller alerts, so one test does not flap the status."""
    return "alert" if pvalue < threshold / 10 else "warn" if pvalue < threshold else "ok"


def proportions(counts: Any) -> list[float]:
    values = [float(count) for count in counts]
    total = sum(values)
    return [value / total for value in values] if total else values


def percent(count: float, total: float) -> str:
    return f"{count / total:.1%}" if total else "-"


def hist_details(ref: dict[str, Any], window: FeatureWindow) -> dict[str, Any]:
    edges = ref.get("hist_edges") or []
    labels = [f"{edges[index]:.3g}" for index in range(len(edges) - 1)]
    return {"labels": labels, "reference": proportions(ref.get("hist_counts") or []),
            "current": proportions(window.hist_counts)}
