"""The checks: reference and current counts in, results with a status and a plain sentence out.

Pure computation over profiles and labelled arrays: no files, no clock. One module per kind of check
(inputs, outputs, the service, labels) around one result type; this package gathers what the monitor, the
comparison and the report call.
"""

from .inputs import input_checks, new_column
from .labels import ab_check, quality_checks, shadow_checks, variant_scores
from .outputs import output_checks
from .result import STATUS_ORDER, CheckResult, findings, verdict_sentence, worst
from .service import error_check, latency_check, volume_check

__all__ = ["STATUS_ORDER", "CheckResult", "ab_check", "error_check", "findings", "input_checks", "latency_check",
           "new_column", "output_checks", "quality_checks", "shadow_checks", "variant_scores", "verdict_sentence",
           "volume_check", "worst"]
