"""The demo's story lines: what serving ran each model on, which exports were refused, which flavor a version is.

The end-to-end run (tests/e2e/test_demo.py) checks the story on real models; these check the wording of
the cases one demo run cannot show at once, such as an export whose equality could not be proven.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from shipyard.demo.churn import export_line, lineage_line, traffic_line
from shipyard.demo.traffic import Traffic
from shipyard.errors import VerificationError
from shipyard.models.onnx_export import OnnxReport


def test_a_refused_export_says_the_python_model_serves_and_why() -> None:
    refused = VerificationError("The ONNX conversion of models:/churn@challenger disagrees on 3 of 106 rows",
                                mismatches=[])
    verified = OnnxReport(Path("shipyard-demo/churn.onnx"), rows_checked=106, max_abs_diff=9.9e-08, tolerance=1e-4,
                          onnx_hash="ab" * 32)

    assert export_line("challenger", refused) == ("challenger not exported, so served by its Python model (The ONNX "
                                                  "conversion of models:/churn@challenger disagrees on 3 of 106 rows)")
    assert export_line("champion", verified) == ("champion to shipyard-demo/churn.onnx (verified on 106 rows, largest "
                                                 "probability difference 9.9e-08)")


def test_the_traffic_line_names_the_runtime_each_variant_answered_on() -> None:
    logged = pd.DataFrame({"variant": ["champion"] * 3 + ["challenger"] + ["challenger-shadow"] * 4,
                           "runtime": ["onnx"] * 3 + ["python"] + ["python"] * 4,
                           "shadow": [False] * 4 + [True] * 4, "label": [1, None, 0, None, None, None, None, None],
                           "latency_ms": [1.0, 2.0, 3.0, 4.0, 1.0, 1.0, 1.0, 1.0]})
    served = Traffic("http://127.0.0.1:1", 4, 0, 2, 1.0, logged, "r1", datetime.now(UTC), None)

    assert traffic_line(served) == ("The prediction log holds 4 live rows (champion 3 on onnx, challenger 1 on "
                                    "python) and 4 shadow rows; 2 have a label; p50 latency 2.5 ms.")


def test_the_lineage_line_names_the_flavor_of_the_version() -> None:
    chain = {"target": "models:/churn@champion", "model_version": {"version": 2},
             "package": {"flavor": "lightgbm"}, "run": {"run_id": "53733bb1aaaa"}}

    assert lineage_line(chain) == "v2 (lightgbm flavor) <- run 53733bb1"


def test_the_estimate_line_puts_each_variants_estimate_next_to_what_its_labels_say() -> None:
    from shipyard.demo.churn import estimate_line
    from shipyard.monitoring.checks import CheckResult

    def estimate(variant: str, realized: float | None, labelled: int) -> CheckResult:
        return CheckResult("estimated_quality", variant, "ok", "accuracy", 0.8012, None, "", extra={
            "low": 0.78, "high": 0.823, "realized": realized, "labelled_rows": labelled})

    line = estimate_line([estimate("champion", 0.79, 1_204), estimate("challenger", None, 0)])
    assert line == ("Accuracy estimated from the logged scores before labels: champion 0.801 (90% 0.780 to 0.823, "
                    "realized 0.790 on 1,204 labels); challenger 0.801 (90% 0.780 to 0.823, no label yet).")
    assert estimate_line([]) == ""
