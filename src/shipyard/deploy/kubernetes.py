"""The manifests of one rendered deployment: ``render`` builds them as data, in the order they apply.

Without ``--kserve``: a Deployment of ``shipyard serve``, its Service, a HorizontalPodAutoscaler on CPU and a
PodDisruptionBudget; with it, one KServe InferenceService instead (:mod:`.kserve`). Either way: the ConfigMap
holding ``serving.yaml`` (and ``monitoring.yaml`` when given), the monitoring CronJobs and the loop scheduler
(:mod:`.jobs`), and with ``--service-monitor`` a Prometheus Operator ServiceMonitor (PodMonitor for KServe).
The Secret is referred to, never written: its keys are in :data:`.pod.SECRET_KEYS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError
from ..serving.spec import ServingConfig
from .jobs import monitor_cron_jobs, scheduler_deployment
from .kserve import inference_service, pod_monitor
from .options import RenderOptions, check_options
from .pod import (
    CONFIG_DIGEST,
    MONITORING_YAML,
    PORT_NAME,
    SERVING_YAML,
    TERMINATION_GRACE_SECONDS,
    Manifest,
    config_digest,
    config_map_name,
    labels,
    metadata,
    pod_spec,
    scrape_annotations,
    selector,
    serving_container,
    serving_volumes,
)

SERVING = "serving"


@dataclass(frozen=True)
class Rendered:
    """The manifests, in the order to apply them, and what the user should know about them."""

    manifests: list[Manifest]
    notes: list[str] = field(default_factory=list)


def render(config: ServingConfig, serving_yaml: str, options: RenderOptions, *, source: str = SERVING_YAML,
           monitoring_yaml: str | None = None) -> Rendered:
    """Every manifest for serving ``config`` (read from ``serving_yaml``, the file's text) on Kubernetes.

    Raises:
        ConfigError: a flag out of range, or a ``serving.yaml`` that cannot run in a pod as written (a token
            written in it would land in a ConfigMap; a local ``log_dir`` on a read-only file system).
    """
    check_options(options)
    notes = _check_config(config, source, options)
    data = {SERVING_YAML: serving_yaml}
    if monitoring_yaml is not None:
        data[MONITORING_YAML] = monitoring_yaml
    digest = config_digest(data)
    manifests: list[Manifest] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(options, config_map_name(options), SERVING),
         "data": data},
    ]
    if options.kserve:
        manifests.append(inference_service(config, options, digest))
        if options.service_monitor:
            manifests.append(pod_monitor(options))
    else:
        manifests += [deployment(options, digest), service(options), autoscaler(options), disruption_budget(options)]
        if options.service_monitor:
            manifests.append(service_monitor(options))
    manifests += monitor_cron_jobs(config, options, with_thresholds=monitoring_yaml is not None)
    manifests.append(scheduler_deployment(options))
    return Rendered(manifests, notes)


def _check_config(config: ServingConfig, source: str, options: RenderOptions) -> list[str]:
    if config.token:
        raise ConfigError(f"{source} sets token:, which would put the token in a ConfigMap anyone who reads the "
                          "namespace sees; remove it: the pods read the token from the Secret's key 'token' "
                          "(SHIPYARD_TOKEN).")
    if config.log_dir is not None and "://" not in config.log_dir:
        raise ConfigError(f"{source} sets log_dir: {config.log_dir}, a local folder; in a pod the file system is "
                          "read-only and each replica's disk its own: name a shared fsspec URL (s3://bucket/"
                          "predictions), or leave log_dir out to keep each pod's log in its own emptyDir.")
    if options.tracking_uri is not None:
        if config.log_dir is None:
            raise ConfigError(f"{source} has no log_dir; with --tracking-uri the serving pods hold no store, so name "
                              "a shared log such as s3://bucket/predictions.")
        return [f"The serving pods read their models from {options.tracking_uri} (the Secret's key 'tracking-token'; "
                "the serving token is its key 'token', as SHIPYARD_SERVE_TOKEN); the monitoring CronJobs read "
                "through it with the same key, and the loop scheduler with the key 'loop-tracking-token' (a writer "
                "token, an admin one if its loops promote champion). None of them opens the store."]
    if config.log_dir is None:
        return [f"{source} has no log_dir, so each pod logs predictions to its own emptyDir (lost with the pod, "
                "unseen by the monitoring CronJobs): set log_dir to a shared URL such as s3://bucket/predictions."]
    return []


def deployment(options: RenderOptions, config_digest: str) -> Manifest:
    """``shipyard serve`` behind the Service: rolling updates that never drop below the replicas asked for;
    ``config_digest`` (of the ConfigMap's data) changes the pod template, so a new ``serving.yaml`` rolls the pods."""
    pod_labels = labels(options, SERVING)
    container = serving_container(options, name="shipyard", services=(options.name,))
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": metadata(options, options.name, SERVING),
        "spec": {
            "replicas": options.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(options, SERVING)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": pod_labels,
                             "annotations": {**scrape_annotations(), CONFIG_DIGEST: config_digest}},
                "spec": pod_spec(options, [container], pod_volumes=serving_volumes(options),
                                 grace_seconds=TERMINATION_GRACE_SECONDS),
            },
        },
    }


def service(options: RenderOptions) -> Manifest:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": metadata(options, options.name, SERVING),
        "spec": {"type": "ClusterIP", "selector": selector(options, SERVING),
                 "ports": [{"name": PORT_NAME, "port": 80, "targetPort": PORT_NAME, "protocol": "TCP"}]},
    }


def autoscaler(options: RenderOptions) -> Manifest:
    """CPU-driven scaling from ``--replicas`` up to ``--max-replicas``; scaling down waits five minutes."""
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(options, options.name, SERVING),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": options.name},
            "minReplicas": options.replicas,
            "maxReplicas": options.hpa_max,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": options.target_cpu_percent}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def disruption_budget(options: RenderOptions) -> Manifest:
    """One pod at a time may be evicted (node drains), which also works with one replica."""
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": metadata(options, options.name, SERVING),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(options, SERVING)}},
    }


def service_monitor(options: RenderOptions) -> Manifest:
    """For the Prometheus Operator (a CRD: not in the Kubernetes API schemas)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": metadata(options, options.name, SERVING),
        "spec": {"selector": {"matchLabels": selector(options, SERVING)},
                 "endpoints": [{"port": PORT_NAME, "path": "/metrics", "interval": "30s"}]},
    }
