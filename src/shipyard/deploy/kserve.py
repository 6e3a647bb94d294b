"""``--kserve``: one KServe InferenceService whose predictor is Shipyard's own server.

Shipyard already speaks the Open Inference Protocol (``/v2/models/DEPLOYMENT/infer``), so it runs as a custom
predictor container (``kserve-container``): the same command, environment, probes and security as the plain
Deployment. The InferenceService asks for KServe's raw deployment mode: a plain Deployment and HPA, where every
pod field used here is allowed (Knative's serverless mode refuses ``preStop`` hooks and init containers, and
takes one port named ``http1``). KServe names the predictor's Service ``NAME-predictor``; the server answers
that Host and the InferenceService's own name.
"""

from __future__ import annotations

from ..serving.spec import ServingConfig
from .options import RenderOptions
from .pod import (
    CONFIG_DIGEST,
    TERMINATION_GRACE_SECONDS,
    Manifest,
    metadata,
    pod_spec,
    scrape_annotations,
    serving_container,
    serving_volumes,
)

KSERVE_CONTAINER = "kserve-container"  # the name KServe requires of a custom predictor's container
KSERVE_PORT_NAME = "http1"
ISVC_LABEL = "serving.kserve.io/inferenceservice"  # the label KServe puts on the predictor's pods


def inference_service(config: ServingConfig, options: RenderOptions, config_digest: str) -> Manifest:
    container = serving_container(options, name=KSERVE_CONTAINER, port_name=KSERVE_PORT_NAME,
                                  services=(f"{options.name}-predictor", options.name))
    served = ", ".join(item.name for item in config.deployments)
    annotations = {"serving.kserve.io/deploymentMode": "RawDeployment",
                   "serving.kserve.io/autoscalerClass": "hpa",
                   "shipyard.dev/deployments": served,
                   CONFIG_DIGEST: config_digest,
                   **scrape_annotations()}
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": metadata(options, options.name, "serving", annotations=annotations),
        "spec": {
            "predictor": {
                "minReplicas": options.replicas,
                "maxReplicas": options.hpa_max,
                "scaleMetric": "cpu",
                "scaleTarget": options.target_cpu_percent,
                **pod_spec(options, [container], pod_volumes=serving_volumes(options),
                           grace_seconds=TERMINATION_GRACE_SECONDS),
            },
        },
    }


def pod_monitor(options: RenderOptions) -> Manifest:
    """KServe makes the Service, so Prometheus Operator finds the predictor's pods by KServe's label."""
    return {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
        "metadata": metadata(options, options.name, "serving"),
        "spec": {"selector": {"matchLabels": {ISVC_LABEL: options.name}},
                 "podMetricsEndpoints": [{"port": KSERVE_PORT_NAME, "path": "/metrics", "interval": "30s"}]},
    }
