"""What ``shipyard k8s render`` was asked for, checked before anything is built.

Every flag is checked here with a message naming the flag and what to do, so a bad value fails the command
with one line (exit 2) instead of surfacing as a manifest the API server rejects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import ConfigError

# RFC 1123 label: what Kubernetes accepts as a Service name (the strictest of the objects rendered).
_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_CRON_FIELD_RE = re.compile(r"^[0-9*/,\-A-Za-z?]+$")
_TRACKING_URI_RE = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/]*)?$")
_IMAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$")
MAX_NAME = 40  # leaves room for the suffixes of the objects' names (-monitor-DEPLOYMENT, -scheduler) within 63
MAX_REPLICAS = 1000


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container, as Kubernetes quantities ("500m", "1Gi")."""

    cpu: str = "500m"
    memory: str = "1Gi"
    cpu_limit: str | None = None  # None: no CPU limit (throttling a latency-bound server hurts its tail)
    memory_limit: str | None = None  # None: the request (a pod is never killed for memory it was promised)

    def to_dict(self) -> dict[str, dict[str, str]]:
        limits = {"memory": self.memory_limit or self.memory}
        if self.cpu_limit:
            limits["cpu"] = self.cpu_limit
        return {"requests": {"cpu": self.cpu, "memory": self.memory}, "limits": limits}


@dataclass(frozen=True)
class RenderOptions:
    """The flags of ``shipyard k8s render`` (see docs/kubernetes.md)."""

    name: str
    image: str
    replicas: int = 2
    max_replicas: int | None = None  # None: three times the replicas
    workers: int = 1
    resources: Resources = field(default_factory=Resources)
    namespace: str | None = None
    secret: str | None = None  # None: NAME-secrets
    kserve: bool = False
    service_monitor: bool = False
    bake: bool = False
    allowed_hosts: tuple[str, ...] = ()
    monitor_schedule: str = "0 * * * *"
    monitor_since: str = "24h"
    monitor_notify: str | None = None
    loop_image: str | None = None  # None: the serving image
    project_dir: str = "/app/project"
    target_cpu_percent: int = 70
    tracking_uri: str | None = None  # serving pods read models from this team server instead of the store

    @property
    def secret_name(self) -> str:
        return self.secret or f"{self.name}-secrets"

    @property
    def hpa_max(self) -> int:
        return self.max_replicas if self.max_replicas is not None else max(self.replicas * 3, self.replicas + 1)


def check_options(options: RenderOptions) -> RenderOptions:
    """Return ``options`` when every value is one Kubernetes accepts.

    Raises:
        ConfigError: naming the flag and the value, with what was expected.
    """
    if not _LABEL_RE.match(options.name) or len(options.name) > MAX_NAME:
        raise ConfigError(f"--name {options.name!r} must be lower-case letters, digits and '-', starting and ending "
                          f"with a letter or digit, at most {MAX_NAME} characters (it names the Kubernetes objects).")
    if options.namespace is not None and (not _LABEL_RE.match(options.namespace) or len(options.namespace) > 63):
        raise ConfigError(f"--namespace {options.namespace!r} must be lower-case letters, digits and '-' (at most 63).")
    if options.secret is not None and (not _LABEL_RE.match(options.secret) or len(options.secret) > 63):
        raise ConfigError(f"--secret {options.secret!r} must be lower-case letters, digits and '-' (at most 63).")
    for flag, image in (("--image", options.image), ("--loop-image", options.loop_image)):
        if image is not None and not _IMAGE_RE.match(image):
            raise ConfigError(f"{flag} {image!r} is not an image reference such as registry.example.com/churn:1.2.")
    if not 1 <= options.replicas <= MAX_REPLICAS:
        raise ConfigError(f"--replicas must be between 1 and {MAX_REPLICAS}, got {options.replicas}.")
    if options.max_replicas is not None and not options.replicas <= options.max_replicas <= MAX_REPLICAS:
        raise ConfigError(f"--max-replicas must be between --replicas ({options.replicas}) and {MAX_REPLICAS}, "
                          f"got {options.max_replicas}.")
    if not 1 <= options.workers <= 64:
        raise ConfigError(f"--workers must be between 1 and 64, got {options.workers}.")
    if not 1 <= options.target_cpu_percent <= 100:
        raise ConfigError(f"--target-cpu must be a percentage between 1 and 100, got {options.target_cpu_percent}.")
    resources = options.resources
    for flag, value in (("--cpu", resources.cpu), ("--memory", resources.memory),
                        ("--cpu-limit", resources.cpu_limit), ("--memory-limit", resources.memory_limit)):
        if value is not None and not _QUANTITY_RE.match(value):
            raise ConfigError(f"{flag} {value!r} is not a Kubernetes quantity such as 500m, 2, 512Mi or 1Gi.")
    fields = options.monitor_schedule.split()
    if len(fields) != 5 or not all(_CRON_FIELD_RE.match(item) for item in fields):
        raise ConfigError(f"--monitor-schedule {options.monitor_schedule!r} must be a cron schedule of five fields, "
                          "such as '0 * * * *' (hourly).")
    if not options.project_dir.startswith("/"):
        raise ConfigError(f"--project-dir {options.project_dir!r} must be an absolute path inside the loop image.")
    if options.tracking_uri is not None:
        if not _TRACKING_URI_RE.match(options.tracking_uri):
            raise ConfigError(f"--tracking-uri {options.tracking_uri!r} must be a team server's address such as "
                              "http://shipyard:5000 (no credentials in it: the token comes from the Secret).")
        if options.bake:
            raise ConfigError("--tracking-uri and --bake exclude each other: a baked image carries its models; "
                              "give one of them.")
    for host in options.allowed_hosts:
        if not host.strip() or " " in host.strip():
            raise ConfigError(f"--allowed-host {host!r} must be one host name such as churn.example.com.")
    return options


def default_name(deployment: str) -> str:
    """A Kubernetes name from a deployment name of ``serving.yaml`` ("Churn_v2" -> "churn-v2")."""
    name = re.sub(r"[^a-z0-9-]+", "-", deployment.lower()).strip("-")
    return name[:MAX_NAME].rstrip("-")
