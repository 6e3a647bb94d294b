"""Validating rendered manifests: Kubernetes objects against a current release's API schemas, CRDs by structure.

``kubernetes-validate`` bundles the API schemas of Kubernetes releases and, with ``strict=True``, refuses any
field the schema does not know. The custom resources (KServe's InferenceService, the Prometheus Operator's
ServiceMonitor and PodMonitor) have no schema there (their CRDs are not part of Kubernetes), so they are
checked by structure: the InferenceService's predictor is a pod spec plus KServe's own keys, and the pod
part is validated as a real ``v1/Pod``; the monitors' keys are checked against the fields their CRDs define.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate

KUBERNETES = kubernetes_validate.latest_version()
CUSTOM_KINDS = {"InferenceService", "ServiceMonitor", "PodMonitor"}
# KServe v1beta1 ComponentExtensionSpec: the predictor's keys that are not pod spec fields
_KSERVE_PREDICTOR_KEYS = {"minReplicas", "maxReplicas", "scaleMetric", "scaleTarget", "containerConcurrency",
                          "timeout", "canaryTrafficPercent", "logger", "batcher", "labels", "annotations",
                          "deploymentStrategy"}
# Prometheus Operator monitoring.coreos.com/v1 (the fields used here and their siblings)
_MONITOR_SPEC_KEYS = {"ServiceMonitor": {"selector", "endpoints", "namespaceSelector", "jobLabel"},
                      "PodMonitor": {"selector", "podMetricsEndpoints", "namespaceSelector", "jobLabel"}}
_ENDPOINT_KEYS = {"port", "path", "interval", "scheme", "scrapeTimeout", "honorLabels"}


def validate(manifest: dict[str, Any]) -> str:
    """Raise if ``manifest`` is not valid; return how it was checked (for the report)."""
    kind = manifest["kind"]
    if kind not in CUSTOM_KINDS:
        kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
        return f"schema {KUBERNETES}"
    if kind == "InferenceService":
        _check_inference_service(manifest)
    else:
        _check_monitor(manifest)
    return "structure (CRD)"


def _check_inference_service(manifest: dict[str, Any]) -> None:
    assert manifest["apiVersion"] == "serving.kserve.io/v1beta1"
    assert set(manifest) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(manifest["spec"]) == {"predictor"}
    predictor = manifest["spec"]["predictor"]
    pod_fields = {key: value for key, value in predictor.items() if key not in _KSERVE_PREDICTOR_KEYS}
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": manifest["metadata"],
                                  "spec": pod_fields}, KUBERNETES, strict=True)
    assert [container["name"] for container in predictor["containers"]] == ["kserve-container"]
    assert 1 <= predictor["minReplicas"] <= predictor["maxReplicas"]


def _check_monitor(manifest: dict[str, Any]) -> None:
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    kind = manifest["kind"]
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": manifest["metadata"]},
                                 KUBERNETES, strict=True)  # the metadata is an ObjectMeta
    assert set(manifest["spec"]) <= _MONITOR_SPEC_KEYS[kind]
    endpoints = manifest["spec"]["endpoints" if kind == "ServiceMonitor" else "podMetricsEndpoints"]
    assert endpoints and all(set(item) <= _ENDPOINT_KEYS for item in endpoints)
    assert set(manifest["spec"]["selector"]) == {"matchLabels"}
