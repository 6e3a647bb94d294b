"""What every rendered container shares: where things are, the store's environment, security, probes.

The paths match the image ``shipyard dockerfile`` writes (:mod:`shipyard.serving.dockerfile`): the user
10001, port 8000, and in a baked image the store at ``/app/.shipyard``. The root file system is read-only, so
everything a process writes goes to an ``emptyDir``: ``/tmp`` (temporary files, the workers' metrics) and
``/var/lib/shipyard`` (the store's folder: its logs, and the prediction log unless ``serving.yaml`` names a
shared one). Secrets are referred to by name and key, never copied: ``SECRET_KEYS`` lists what the Secret
holds.

Drain timing: on SIGTERM the server stops accepting, answers what it accepted for up to
:data:`shipyard.serving.server.GRACEFUL_SECONDS`, then flushes its prediction log. Kubernetes sends SIGTERM
only after ``preStop`` (a pause, so the endpoint is gone from every Service before the server stops accepting),
and kills the pod ``terminationGracePeriodSeconds`` after the pause began, so the grace covers the pause,
the drain and the last flush.
"""

from __future__ import annotations

from typing import Any

from ..extras import DISTRIBUTION
from ..serving.dockerfile import BAKED_STORE, IMAGE_PORT, IMAGE_USER_ID
from ..serving.server import GRACEFUL_SECONDS
from .options import RenderOptions

Manifest = dict[str, Any]

CONFIG_DIR = "/etc/shipyard"
SERVING_YAML = "serving.yaml"
MONITORING_YAML = "monitoring.yaml"
STORE_DIR = "/var/lib/shipyard"
TMP_DIR = "/tmp"
WORK_DIR = "/work"  # the scheduler's writable copy of the project
CONFIG_DIGEST = "shipyard.dev/config-sha256"
PORT = IMAGE_PORT
PORT_NAME = "http"
PRE_STOP_SECONDS = 5
FLUSH_MARGIN_SECONDS = 10  # after the drain: the prediction log's last group commit, workers joining
TERMINATION_GRACE_SECONDS = PRE_STOP_SECONDS + GRACEFUL_SECONDS + FLUSH_MARGIN_SECONDS
STARTUP_BUDGET_SECONDS = 300  # models load before the server listens; this long before liveness counts

# The Secret's keys: the environment variable each one becomes, and whether the key must exist.
SECRET_KEYS: dict[str, tuple[str, bool]] = {
    "token": ("SHIPYARD_TOKEN", True),  # the token feedback (and client-chosen request ids) must carry
    "database-uri": ("SHIPYARD_DATABASE_URI", True),  # the registry's database (it holds a password)
    "objects-uri": ("SHIPYARD_OBJECTS_URI", True),  # the model packages: s3://bucket/prefix
    "aws-access-key-id": ("AWS_ACCESS_KEY_ID", False),  # S3 credentials; leave out with IRSA/workload identity
    "aws-secret-access-key": ("AWS_SECRET_ACCESS_KEY", False),
    "aws-endpoint-url": ("AWS_ENDPOINT_URL", False),  # S3-compatible stores (MinIO, Ceph)
}
# With --tracking-uri the serving pods read the team server's token (a reader's; a writer's for routing: thompson)
# from this key as SHIPYARD_TOKEN, so the serving token (the key 'token') gets a variable of its own.
TRACKING_TOKEN_KEY = "tracking-token"
# The loop scheduler writes runs and versions and moves aliases: a writer token, an admin one when its loops
# promote a protected alias such as champion. A key of its own keeps the serving pods' token least-privileged.
LOOP_TRACKING_TOKEN_KEY = "loop-tracking-token"
SERVE_TOKEN_ENV = "SHIPYARD_SERVE_TOKEN"
_STORE_KEYS = ("database-uri", "objects-uri")  # not in a baked image, which carries its store
_S3_KEYS = ("aws-access-key-id", "aws-secret-access-key", "aws-endpoint-url")


def labels(options: RenderOptions, component: str) -> dict[str, str]:
    """The recommended labels; ``selector`` picks the ones that never change for a running object."""
    from importlib import metadata

    return {**selector(options, component), "app.kubernetes.io/version": metadata.version(DISTRIBUTION),
            "app.kubernetes.io/managed-by": "shipyard"}


def selector(options: RenderOptions, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "shipyard", "app.kubernetes.io/instance": options.name,
            "app.kubernetes.io/component": component}


def metadata(options: RenderOptions, name: str, component: str, **extra: Any) -> Manifest:
    data: Manifest = {"name": name}
    if options.namespace:
        data["namespace"] = options.namespace
    data["labels"] = labels(options, component)
    data.update(extra)
    return data


def config_digest(data: dict[str, str]) -> str:
    """SHA-256 of the ConfigMap's data: a pod template annotation, so pods restart when ``serving.yaml`` changes."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def config_map_name(options: RenderOptions) -> str:
    return f"{options.name}-config"


def scrape_annotations() -> dict[str, str]:
    """Prometheus' conventional pod annotations: scrape ``/metrics`` on the server's port."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(PORT), "prometheus.io/path": "/metrics"}


def secret_env(options: RenderOptions, key: str, variable: str | None = None) -> Manifest:
    """``variable`` (default: the key's own, from :data:`SECRET_KEYS`) read from the Secret's ``key``."""
    named, required = SECRET_KEYS.get(key, ("SHIPYARD_TOKEN", True))  # else TRACKING_TOKEN_KEY
    variable = variable or named
    reference: Manifest = {"name": options.secret_name, "key": key}
    if not required:
        reference["optional"] = True
    return {"name": variable, "valueFrom": {"secretKeyRef": reference}}


def store_env(options: RenderOptions) -> list[Manifest]:
    """The environment that opens the store: the team's database and S3 objects (or the baked copy) and S3."""
    env: list[Manifest] = [
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "SHIPYARD_STORE", "value": STORE_DIR},
        {"name": "HOME", "value": TMP_DIR},
        {"name": "TMPDIR", "value": TMP_DIR},
    ]
    keys = _S3_KEYS if options.bake else (*_STORE_KEYS, *_S3_KEYS)
    return env + [secret_env(options, key) for key in keys]


def tracking_env(options: RenderOptions, *, token_key: str = TRACKING_TOKEN_KEY,
                 serving: bool = True) -> list[Manifest]:
    """With ``--tracking-uri``: the pod reaches the team server (its token from the Secret's ``token_key``) and
    holds no store; the S3 variables stay for a ``log_dir`` on S3. A serving pod's own token (the key ``token``)
    becomes ``SHIPYARD_SERVE_TOKEN``."""
    assert options.tracking_uri is not None
    return [
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "HOME", "value": TMP_DIR},  # the download cache goes to $HOME/.cache: the tmp emptyDir
        {"name": "TMPDIR", "value": TMP_DIR},
        {"name": "SHIPYARD_TRACKING_URI", "value": options.tracking_uri},
        secret_env(options, token_key, "SHIPYARD_TOKEN"),
        *(secret_env(options, key) for key in _S3_KEYS),
        *([secret_env(options, "token", SERVE_TOKEN_ENV)] if serving else []),
    ]


def job_env(options: RenderOptions, *, token_key: str = TRACKING_TOKEN_KEY) -> list[Manifest]:
    """The environment of the work around the servers (monitoring, the loop): the team server's when rendered
    with ``--tracking-uri``, else the store's."""
    if options.tracking_uri is None:
        return store_env(options)
    return tracking_env(options, token_key=token_key, serving=False)


def pod_security() -> Manifest:
    return {"runAsNonRoot": True, "runAsUser": IMAGE_USER_ID, "runAsGroup": IMAGE_USER_ID, "fsGroup": IMAGE_USER_ID,
            "seccompProfile": {"type": "RuntimeDefault"}}


def container_security() -> Manifest:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]}}


def writable_mounts(*, store: bool = True) -> list[Manifest]:
    """``/tmp``, and the store's folder unless ``store`` is False (a serving pod of a team server has none)."""
    tmp = [{"name": "tmp", "mountPath": TMP_DIR}]
    return [*tmp, {"name": "store", "mountPath": STORE_DIR}] if store else tmp


def volumes(options: RenderOptions, *, config: bool = True, extra: tuple[Manifest, ...] = (),
            store: bool = True) -> list[Manifest]:
    """The ConfigMap (when ``config``) and the writable ``emptyDir`` volumes (the store's unless ``store`` is
    False), then ``extra``."""
    found = [{"name": "config", "configMap": {"name": config_map_name(options)}}] if config else []
    writable = [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]
    if store:
        writable.append({"name": "store", "emptyDir": {"sizeLimit": "5Gi"}})
    return [*found, *writable, *extra]


def serving_volumes(options: RenderOptions) -> list[Manifest]:
    """The volumes of a serving pod: no store volume when it reads its models from a team server."""
    return volumes(options, store=options.tracking_uri is None)


def config_mount() -> Manifest:
    return {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}


def baked_store_copy(options: RenderOptions) -> list[Manifest]:
    """With ``--bake``: an init container copies the image's store into the writable ``store`` volume."""
    if not options.bake:
        return []
    return [{
        "name": "copy-store",
        "image": options.image,
        "command": ["cp", "-a", f"{BAKED_STORE}/.", f"{STORE_DIR}/"],
        "securityContext": container_security(),
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "volumeMounts": [{"name": "store", "mountPath": STORE_DIR}],
    }]


def serve_command(options: RenderOptions) -> list[str]:
    """What the serving container runs (the image's ``CMD`` with the config from the ConfigMap)."""
    return ["shipyard", "serve", "--config", f"{CONFIG_DIR}/{SERVING_YAML}", "--host", "0.0.0.0",
            "--port", str(PORT), "--workers", str(options.workers)]


def allowed_hosts(options: RenderOptions, services: tuple[str, ...]) -> str:
    """The Host names the server answers (it refuses others): each Service's DNS names, then ``--allowed-host``.

    ``$(POD_NAMESPACE)`` is expanded by the kubelet from the variable defined before it.
    """
    names = []
    for service in services:
        names += [service, f"{service}.$(POD_NAMESPACE)", f"{service}.$(POD_NAMESPACE).svc",
                  f"{service}.$(POD_NAMESPACE).svc.cluster.local"]
    return " ".join([*names, *options.allowed_hosts])


def serving_container(options: RenderOptions, *, name: str, services: tuple[str, ...],
                      port_name: str = PORT_NAME) -> Manifest:
    """The ``shipyard serve`` container: probes, drain, security, the config, the store and the Secret."""
    def probe(path: str, period: int, failures: int) -> Manifest:
        # The port by number: Knative (KServe) refuses a probe that names its port.
        return {"httpGet": {"path": path, "port": PORT}, "periodSeconds": period, "timeoutSeconds": 3,
                "failureThreshold": failures}

    return {
        "name": name,
        "image": options.image,
        "imagePullPolicy": "IfNotPresent",
        "command": serve_command(options),
        "ports": [{"name": port_name, "containerPort": PORT, "protocol": "TCP"}],
        "env": [*(tracking_env(options) if options.tracking_uri else [*store_env(options), secret_env(options,
                                                                                                    "token")]),
                {"name": "SHIPYARD_ALLOWED_HOSTS", "value": allowed_hosts(options, services)}],
        "resources": options.resources.to_dict(),
        "startupProbe": probe("/health/live", 5, STARTUP_BUDGET_SECONDS // 5),
        "livenessProbe": probe("/health/live", 10, 3),
        "readinessProbe": probe("/health/ready", 5, 2),
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRE_STOP_SECONDS)]}}},
        "securityContext": container_security(),
        "volumeMounts": [config_mount(), *writable_mounts(store=options.tracking_uri is None)],
    }


def pod_spec(options: RenderOptions, containers: list[Manifest], *, pod_volumes: list[Manifest],
             init_containers: list[Manifest] | None = None, grace_seconds: int | None = None,
             restart_policy: str | None = None) -> Manifest:
    """A pod that runs as the image's user, without the service-account token or Service variables; with
    ``--bake`` the store is copied to its writable volume first."""
    spec: Manifest = {"automountServiceAccountToken": False, "enableServiceLinks": False,
                      "securityContext": pod_security()}
    if restart_policy is not None:
        spec["restartPolicy"] = restart_policy
    if grace_seconds is not None:
        spec["terminationGracePeriodSeconds"] = grace_seconds
    init = [*baked_store_copy(options), *(init_containers or [])]
    if init:
        spec["initContainers"] = init
    spec["containers"] = containers
    spec["volumes"] = pod_volumes
    return spec
