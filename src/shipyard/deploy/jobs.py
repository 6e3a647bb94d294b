"""The work around the server: ``shipyard monitor check`` on a schedule, and the loop scheduler.

A CronJob per deployment of ``serving.yaml`` runs ``shipyard monitor check``; its exit code 3 (an alert)
fails the Job at once (a pod failure policy, no retry), so the cluster's own alerting on failed Jobs is the
page. ``shipyard scheduler`` runs the retraining loops of the project's ``shipyard.yaml``: one replica,
replaced rather than rolled (``Recreate``), and the loop's lock makes a second one harmless anyway. The
project is in the loop image at ``--project-dir``; an init container copies it to a writable volume because
stages write outputs and the root file system is read-only.
"""

from __future__ import annotations

from ..serving.spec import ServingConfig
from .options import RenderOptions, default_name
from .pod import (
    CONFIG_DIR,
    LOOP_TRACKING_TOKEN_KEY,
    MONITORING_YAML,
    WORK_DIR,
    Manifest,
    config_mount,
    container_security,
    job_env,
    labels,
    metadata,
    pod_spec,
    selector,
    volumes,
    writable_mounts,
)

MONITOR = "monitor"
SCHEDULER = "scheduler"
CHECK_ALERT_EXIT = 3  # `shipyard monitor check`: an alert (errors.CheckFailedError)
SCHEDULER_GRACE_SECONDS = 120  # a stage interrupted by SIGTERM records the cycle as interrupted
_JOB_RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}
_LOOP_RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "8Gi"}}


def monitor_command(deployment: str, options: RenderOptions, *, with_thresholds: bool,
                    log_dir: str | None) -> list[str]:
    """``shipyard monitor check`` on the log the servers write: ``serving.yaml``'s shared ``log_dir`` when set."""
    command = ["shipyard", "monitor", "check", "--deployment", deployment, "--since", options.monitor_since]
    if log_dir:
        command += ["--log-dir", log_dir]
    if with_thresholds:
        command += ["--config", f"{CONFIG_DIR}/{MONITORING_YAML}"]
    if options.monitor_notify:
        command += ["--notify", options.monitor_notify]
    return command


def monitor_cron_jobs(config: ServingConfig, options: RenderOptions, *, with_thresholds: bool) -> list[Manifest]:
    """One CronJob per deployment; with ``--tracking-uri`` it reads the model's facts through the team server (the
    Secret's ``tracking-token``: a reader's is enough) and holds no store."""
    with_store = options.tracking_uri is None
    jobs = []
    for item in config.deployments:
        name = f"{options.name}-{MONITOR}-{default_name(item.name)}"[:52].rstrip("-")  # CronJob names: 52 at most
        container = {
            "name": "monitor-check",
            "image": options.image,
            "imagePullPolicy": "IfNotPresent",
            "command": monitor_command(item.name, options, with_thresholds=with_thresholds,
                                       log_dir=config.log_dir),
            "env": job_env(options),
            "resources": _JOB_RESOURCES,
            "securityContext": container_security(),
            "volumeMounts": [config_mount(), *writable_mounts(store=with_store)],
        }
        pod = {"metadata": {"labels": labels(options, MONITOR)},
               "spec": pod_spec(options, [container], pod_volumes=volumes(options, store=with_store),
                                restart_policy="Never")}
        jobs.append({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": metadata(options, name, MONITOR),
            "spec": {
                "schedule": options.monitor_schedule,
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 5,
                "jobTemplate": {
                    "metadata": {"labels": labels(options, MONITOR)},
                    "spec": {
                        "backoffLimit": 1,  # a crashed pod may run again; an alert may not (podFailurePolicy)
                        "activeDeadlineSeconds": 1800,
                        "ttlSecondsAfterFinished": 86400,
                        "podFailurePolicy": {"rules": [{
                            "action": "FailJob",
                            "onExitCodes": {"containerName": "monitor-check", "operator": "In",
                                            "values": [CHECK_ALERT_EXIT]},
                        }]},
                        "template": pod,
                    },
                },
            },
        })
    return jobs


def scheduler_deployment(options: RenderOptions) -> Manifest:
    """``shipyard scheduler``; with ``--tracking-uri`` its cycles log, register and promote through the team server
    with the Secret's ``loop-tracking-token`` and it holds no store (the data cache stays in the project copy)."""
    with_store = options.tracking_uri is None
    image = options.loop_image or options.image
    project = f"{WORK_DIR}/project"
    copy_project = {
        "name": "copy-project",
        "image": image,
        "command": ["cp", "-a", f"{options.project_dir}/.", f"{project}/"],
        "securityContext": container_security(),
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "volumeMounts": [{"name": "work", "mountPath": project}],
    }
    container = {
        "name": "scheduler",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["shipyard", "scheduler"],
        "workingDir": project,
        "env": job_env(options, token_key=LOOP_TRACKING_TOKEN_KEY),
        "resources": _LOOP_RESOURCES,
        "securityContext": container_security(),
        "volumeMounts": [*writable_mounts(store=with_store), {"name": "work", "mountPath": project}],
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": metadata(options, f"{options.name}-{SCHEDULER}", SCHEDULER),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector(options, SCHEDULER)},
            "template": {
                "metadata": {"labels": labels(options, SCHEDULER)},
                "spec": pod_spec(options, [container], init_containers=[copy_project],
                                 grace_seconds=SCHEDULER_GRACE_SECONDS,
                                 pod_volumes=volumes(options, config=False, store=with_store,
                                                     extra=({"name": "work", "emptyDir": {"sizeLimit": "20Gi"}},))),
            },
        },
    }
