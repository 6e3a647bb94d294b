"""``shipyard k8s render``: Kubernetes (or KServe) manifests for a ``serving.yaml``."""

from __future__ import annotations

from pathlib import Path

import typer

from . import _output

app = typer.Typer(help="Kubernetes: manifests for serving, monitoring and the retraining loop.",
                  no_args_is_help=True)


@app.command("render")
def render_command(
    config: Path = typer.Option(..., "--config", "-c", help="The serving.yaml to serve (it goes into a ConfigMap)."),
    output: Path = typer.Option(Path("k8s"), "--output", "-o", help="Folder to write the manifests into (replaced "
                                "whole on each run)."),
    image: str | None = typer.Option(None, "--image", help="The image `shipyard dockerfile --no-bake` built (with "
                                     "--bake: `shipyard dockerfile`); default NAME-server, the tag it suggests."),
    name: str | None = typer.Option(None, "--name", help="Name of the Kubernetes objects (default: the first "
                                    "deployment of serving.yaml)."),
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Namespace written into every object "
                                         "(default: none, kubectl's current one)."),
    replicas: int = typer.Option(2, "--replicas", help="Serving pods (the autoscaler's minimum)."),
    max_replicas: int | None = typer.Option(None, "--max-replicas", help="The autoscaler's maximum (default 3x "
                                            "--replicas)."),
    target_cpu: int = typer.Option(70, "--target-cpu", help="CPU use (percent of the request) the autoscaler keeps."),
    workers: int = typer.Option(1, "--workers", help="`shipyard serve --workers` in each pod."),
    cpu: str = typer.Option("500m", "--cpu", help="CPU request of a serving pod."),
    memory: str = typer.Option("1Gi", "--memory", help="Memory request (and limit) of a serving pod."),
    cpu_limit: str | None = typer.Option(None, "--cpu-limit", help="CPU limit (default none: no throttling)."),
    memory_limit: str | None = typer.Option(None, "--memory-limit", help="Memory limit (default: --memory)."),
    secret: str | None = typer.Option(None, "--secret", help="The Secret the pods read (default NAME-secrets; its "
                                      "keys are in docs/kubernetes.md)."),
    allowed_host: list[str] = typer.Option([], "--allowed-host", metavar="NAME", help="A Host name clients use "
                                           "besides the Service's (an Ingress host; repeatable)."),
    kserve: bool = typer.Option(False, "--kserve", help="A KServe InferenceService with Shipyard as its predictor "
                                "instead of Deployment, Service, autoscaler and disruption budget."),
    service_monitor: bool = typer.Option(False, "--service-monitor", help="Also a Prometheus Operator "
                                         "ServiceMonitor (PodMonitor with --kserve)."),
    bake: bool = typer.Option(False, "--bake", help="The image carries its models (`shipyard dockerfile`), for "
                              "clusters that cannot reach the store; default: read them from the store at start."),
    monitoring_config: Path | None = typer.Option(None, "--monitoring-config", help="monitoring.yaml with the "
                                                  "thresholds the monitoring CronJobs use."),
    monitor_schedule: str = typer.Option("0 * * * *", "--monitor-schedule", help="When `shipyard monitor check` "
                                         "runs (cron, UTC)."),
    monitor_since: str = typer.Option("24h", "--monitor-since", help="The window each check reads."),
    monitor_notify: str | None = typer.Option(None, "--monitor-notify", help="Webhook URL the checks POST alerts "
                                              "to."),
    loop_image: str | None = typer.Option(None, "--loop-image", help="Image holding the project for `shipyard "
                                          "scheduler` (default: --image)."),
    project_dir: str = typer.Option("/app/project", "--project-dir", help="Where the loop image keeps the project "
                                    "(shipyard.yaml)."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="The team server the serving pods read "
                                            "their models, alias moves and rollouts from (http://shipyard:5000), "
                                            "with the Secret's key tracking-token; they then hold no store."),
) -> None:
    """Write Kubernetes manifests that serve serving.yaml: Deployment, Service, autoscaler, disruption budget,
    ConfigMap, monitoring CronJobs and the loop scheduler (or a KServe InferenceService with --kserve).

    Secrets are referred to, never written: create NAME-secrets with the keys token, database-uri and
    objects-uri (and the S3 credentials) before applying.

    Example: shipyard k8s render --config serving.yaml --image registry.example.com/churn:1 --replicas 3 -o k8s/
    """
    from ..deploy.kubernetes import render
    from ..deploy.options import RenderOptions, Resources, default_name
    from ..deploy.pod import SECRET_KEYS, TRACKING_TOKEN_KEY
    from ..deploy.writer import write_manifests
    from ..errors import ConfigError
    from ..serving.spec import load_config
    from ..store.text import read_text

    settings = load_config(config)
    chosen = name or default_name(settings.deployments[0].name)
    options = RenderOptions(
        name=chosen, image=image or f"{chosen}-server", replicas=replicas, max_replicas=max_replicas,
        workers=workers, resources=Resources(cpu, memory, cpu_limit, memory_limit), namespace=namespace,
        secret=secret, kserve=kserve, service_monitor=service_monitor, bake=bake,
        allowed_hosts=tuple(allowed_host), monitor_schedule=monitor_schedule, monitor_since=monitor_since,
        monitor_notify=monitor_notify, loop_image=loop_image, project_dir=project_dir, target_cpu_percent=target_cpu,
        tracking_uri=tracking_uri)
    monitoring_text = None
    if monitoring_config is not None:
        from ..monitoring.config import load_thresholds

        if not monitoring_config.is_file():
            raise ConfigError(f"{monitoring_config}: no such file; give --monitoring-config a monitoring.yaml.")
        load_thresholds(monitoring_config)  # checked here, not in the first CronJob an hour from now
        monitoring_text = read_text(monitoring_config)
    rendered = render(settings, read_text(config), options, source=str(config), monitoring_yaml=monitoring_text)
    files = write_manifests(rendered.manifests, output)
    for note in rendered.notes:
        _output.err_console.print(f"Note: {_output.escape(note)}", style="yellow", soft_wrap=True)
    kinds = ", ".join(f"{manifest['kind']} {manifest['metadata']['name']}" for manifest in rendered.manifests)
    _output.console.print(f"Wrote {len(files)} manifests to {_output.escape(str(output))}/: {_output.escape(kinds)}.",
                          soft_wrap=True)
    keys = [key for key, (_, required) in SECRET_KEYS.items()
            if required and not (bake and key in ("database-uri", "objects-uri"))]
    keys += [TRACKING_TOKEN_KEY] if tracking_uri else []
    _output.console.print(f"Before applying, create the Secret {_output.escape(options.secret_name)} with the keys "
                          f"{', '.join(keys)} (docs/kubernetes.md).", soft_wrap=True)
