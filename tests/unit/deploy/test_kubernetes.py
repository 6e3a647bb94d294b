"""``shipyard.deploy``: every rendered manifest is valid for a current Kubernetes, and says what the server needs.

Probes, drain timing and security are read from the objects and compared with the server's own settings
(``shipyard.serving.server.GRACEFUL_SECONDS``, the image's user and port), so a change on either side that
breaks the other fails here.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import kubernetes_validate
import pytest

from shipyard.deploy.kubernetes import render
from shipyard.deploy.options import RenderOptions, Resources, check_options, default_name
from shipyard.deploy.pod import (
    LOOP_TRACKING_TOKEN_KEY,
    PRE_STOP_SECONDS,
    SECRET_KEYS,
    SERVE_TOKEN_ENV,
    STORE_DIR,
    TMP_DIR,
    TRACKING_TOKEN_KEY,
)
from shipyard.errors import CheckFailedError, ConfigError
from shipyard.serving.dockerfile import BAKED_STORE, IMAGE_PORT, IMAGE_USER_ID
from shipyard.serving.server import GRACEFUL_SECONDS
from shipyard.serving.spec import parse_config
from tests.unit.deploy._manifests import validate

SERVING_YAML = """\
# served by the churn team
deployments:
  churn:
    variants:
      - {name: champion, model: "models:/churn@champion", weight: 90}
      - {name: challenger, model: "models:/churn@challenger", weight: 10}
  churn_eu: {model: "models:/churn-eu@champion"}
log_dir: s3://predictions/churn
"""
OPTIONS = RenderOptions(name="churn", image="registry.example.com/churn:1", replicas=3)
FLAGS = {"kserve": (False, True), "service_monitor": (False, True), "bake": (False, True)}


def _render(text: str = SERVING_YAML, monitoring: str | None = None, **flags: Any) -> list[dict[str, Any]]:
    import yaml

    return render(parse_config(yaml.safe_load(text)), text, replace(OPTIONS, **flags),
                  monitoring_yaml=monitoring).manifests


def _by_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in manifests if item["kind"] == kind]


def _serving_pod(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """The serving pod spec, from the Deployment or the InferenceService's predictor."""
    for item in manifests:
        if item["kind"] == "InferenceService":
            return dict(item["spec"]["predictor"])
        if item["kind"] == "Deployment" and item["metadata"]["labels"]["app.kubernetes.io/component"] == "serving":
            return dict(item["spec"]["template"]["spec"])
    raise AssertionError("no serving pod rendered")


def _pods(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pods = []
    for item in manifests:
        if item["kind"] == "Deployment":
            pods.append(item["spec"]["template"]["spec"])
        elif item["kind"] == "CronJob":
            pods.append(item["spec"]["jobTemplate"]["spec"]["template"]["spec"])
        elif item["kind"] == "InferenceService":
            pods.append(item["spec"]["predictor"])
    return pods


@pytest.mark.parametrize("flags", [dict(zip(FLAGS, values, strict=True))
                                   for values in itertools.product(*FLAGS.values())],
                         ids=lambda flags: "+".join(name for name, on in flags.items() if on) or "default")
def test_every_manifest_is_valid_for_a_current_kubernetes(flags: dict[str, bool]) -> None:
    manifests = _render(monitoring="drift:\n  psi_alert: 0.3\n", **flags)
    checked = {f"{item['kind']}/{item['metadata']['name']}": validate(item) for item in manifests}
    kinds = {item["kind"] for item in manifests}
    assert {"ConfigMap", "CronJob", "Deployment"} <= kinds
    if flags["kserve"]:
        assert {"InferenceService"} <= kinds and not kinds & {"Service", "HorizontalPodAutoscaler"}
    else:
        assert {"Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    assert ("ServiceMonitor" in kinds or "PodMonitor" in kinds) == flags["service_monitor"]
    assert "Secret" not in kinds  # referred to, never written
    assert len(checked) == len(manifests)  # no two objects of one kind share a name


def test_every_optional_flag_still_renders_valid_objects() -> None:
    manifests = _render(namespace="ml", workers=4, max_replicas=12, secret="churn-creds", allowed_hosts=(
        "churn.example.com",), resources=Resources("2", "4Gi", "4", "6Gi"), monitor_schedule="*/15 * * * *",
        monitor_since="1h", monitor_notify="https://hooks.example.com/ml", loop_image="registry.example.com/loop:7",
        project_dir="/srv/project", target_cpu_percent=55, bake=True)
    for item in manifests:
        validate(item)
        assert item["metadata"]["namespace"] == "ml"
    container = _serving_pod(manifests)["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"},
                                      "limits": {"memory": "6Gi", "cpu": "4"}}
    assert container["command"][-2:] == ["--workers", "4"]
    assert container["env"][-1]["value"].endswith(" churn.example.com")
    assert {item["valueFrom"]["secretKeyRef"]["name"] for item in container["env"] if "valueFrom" in item
            and "secretKeyRef" in item["valueFrom"]} == {"churn-creds"}


def test_the_validation_is_strict_an_unknown_or_misplaced_field_fails() -> None:
    deployment = _by_kind(_render(), "Deployment")[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["readonlyRootFilesystem"] = True  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    isvc = _by_kind(_render(kserve=True), "InferenceService")[0]
    isvc["spec"]["predictor"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(isvc)


@pytest.mark.parametrize("kserve", [False, True], ids=["deployment", "kserve"])
def test_probes_are_the_servers_health_routes_on_its_port(kserve: bool) -> None:
    container = _serving_pod(_render(kserve=kserve))["containers"][0]
    assert container["ports"][0]["containerPort"] == IMAGE_PORT
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": IMAGE_PORT}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": IMAGE_PORT}
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120  # models load before the port opens
    assert container["command"][:4] == ["shipyard", "serve", "--config", "/etc/shipyard/serving.yaml"]
    assert container["command"][container["command"].index("--port") + 1] == str(IMAGE_PORT)


def test_the_health_routes_the_probes_name_exist_in_the_server() -> None:
    from fastapi import FastAPI

    from shipyard.serving import handlers

    app = FastAPI()
    handlers.install(app)
    paths = {getattr(route, "path", None) for route in app.routes}
    container = _serving_pod(_render())["containers"][0]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in paths


@pytest.mark.parametrize("kserve", [False, True], ids=["deployment", "kserve"])
def test_the_grace_period_covers_the_pause_the_drain_and_the_last_flush(kserve: bool) -> None:
    pod = _serving_pod(_render(kserve=kserve))
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop == ["sleep", str(PRE_STOP_SECONDS)]
    assert PRE_STOP_SECONDS >= 1  # the endpoint leaves the Service before the server stops accepting
    # the kubelet counts the grace from the start of preStop; then the server drains for up to GRACEFUL_SECONDS
    assert pod["terminationGracePeriodSeconds"] > PRE_STOP_SECONDS + GRACEFUL_SECONDS


@pytest.mark.parametrize("flags", [{}, {"kserve": True}, {"bake": True}], ids=["deployment", "kserve", "bake"])
def test_every_pod_is_non_root_read_only_and_without_a_service_account_token(flags: dict[str, bool]) -> None:
    for pod in _pods(_render(**flags)):
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == IMAGE_USER_ID  # the user shipyard dockerfile creates
        empty_dirs = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"] == {"drop": ["ALL"]}
            writable = {mount["mountPath"] for mount in container["volumeMounts"] if mount["name"] in empty_dirs}
            if container["name"] not in ("copy-store", "copy-project"):
                assert {TMP_DIR, STORE_DIR} <= writable, container["name"]
            assert "limits" in container["resources"] and "memory" in container["resources"]["limits"]


def test_secrets_are_referred_to_by_key_and_never_written() -> None:
    manifests = _render(bake=False)
    text = repr(manifests)
    container = _serving_pod(manifests)["containers"][0]
    env = {item["name"]: item for item in container["env"]}
    for key, (variable, required) in SECRET_KEYS.items():
        reference = env[variable]["valueFrom"]["secretKeyRef"]
        assert reference["name"] == "churn-secrets" and reference["key"] == key
        assert reference.get("optional", False) is not required
        assert "value" not in env[variable]
    assert "SHIPYARD_STORE" in env and env["SHIPYARD_STORE"]["value"] == STORE_DIR
    assert "password" not in text.lower()


def test_a_token_written_in_serving_yaml_is_refused_rather_than_put_in_a_config_map() -> None:
    with pytest.raises(ConfigError, match="token") as caught:
        _render(SERVING_YAML + "token: s3cret\n")
    assert "s3cret" not in caught.value.message


def test_a_local_log_dir_is_refused_and_no_log_dir_is_a_note() -> None:
    import yaml

    with pytest.raises(ConfigError, match="log_dir"):
        _render(SERVING_YAML.replace("s3://predictions/churn", "logs/predictions"))
    text = SERVING_YAML.replace("log_dir: s3://predictions/churn\n", "")
    rendered = render(parse_config(yaml.safe_load(text)), text, OPTIONS)
    assert rendered.notes and "emptyDir" in rendered.notes[0]


def test_models_come_from_the_store_at_start_unless_baked() -> None:
    env = {item["name"] for item in _serving_pod(_render())["containers"][0]["env"]}
    assert {"SHIPYARD_DATABASE_URI", "SHIPYARD_OBJECTS_URI"} <= env
    assert "initContainers" not in _serving_pod(_render())
    baked = _serving_pod(_render(bake=True))
    env = {item["name"] for item in baked["containers"][0]["env"]}
    assert not {"SHIPYARD_DATABASE_URI", "SHIPYARD_OBJECTS_URI"} & env
    copy = baked["initContainers"][0]
    assert copy["image"] == OPTIONS.image
    assert copy["command"] == ["cp", "-a", f"{BAKED_STORE}/.", f"{STORE_DIR}/"]  # where shipyard dockerfile puts it


def test_the_config_map_holds_serving_yaml_as_written_and_a_change_rolls_the_pods() -> None:
    manifests = _render()
    config_map = _by_kind(manifests, "ConfigMap")[0]
    assert config_map["data"] == {"serving.yaml": SERVING_YAML}
    other = _render(SERVING_YAML.replace("weight: 90", "weight: 80"))
    digests = [_by_kind(items, "Deployment")[0]["spec"]["template"]["metadata"]["annotations"]
               ["shipyard.dev/config-sha256"] for items in (manifests, other)]
    assert digests[0] != digests[1]


def test_service_autoscaler_and_disruption_budget_select_the_serving_pods_only() -> None:
    manifests = _render()
    deployment = _by_kind(manifests, "Deployment")[0]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] == 3
    service = _by_kind(manifests, "Service")[0]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == deployment["spec"]["template"]["spec"]["containers"][0][
        "ports"][0]["name"]
    hpa = _by_kind(manifests, "HorizontalPodAutoscaler")[0]["spec"]
    assert hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 9)
    pdb = _by_kind(manifests, "PodDisruptionBudget")[0]["spec"]
    assert pdb["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    scheduler = _by_kind(manifests, "Deployment")[1]
    assert not service["spec"]["selector"].items() <= scheduler["spec"]["template"]["metadata"]["labels"].items()
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == str(IMAGE_PORT)


def test_a_monitoring_alert_fails_its_job_at_once() -> None:
    jobs = _by_kind(_render(monitoring="drift:\n  psi_alert: 0.3\n"), "CronJob")
    assert [job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][4] for job in jobs] \
        == ["churn", "churn_eu"]  # one per deployment of serving.yaml
    for job in jobs:
        spec = job["spec"]["jobTemplate"]["spec"]
        container = spec["template"]["spec"]["containers"][0]
        assert container["command"][:4] == ["shipyard", "monitor", "check", "--deployment"]
        log_dir = container["command"].index("--log-dir")
        assert container["command"][log_dir + 1] == "s3://predictions/churn"  # the log the servers write
        assert container["command"][-2:] == ["--config", "/etc/shipyard/monitoring.yaml"]
        assert spec["template"]["spec"]["restartPolicy"] == "Never"
        rule = spec["podFailurePolicy"]["rules"][0]
        assert rule["action"] == "FailJob"
        assert rule["onExitCodes"] == {"containerName": container["name"], "operator": "In",
                                       "values": [CheckFailedError.exit_code]}
        assert job["spec"]["concurrencyPolicy"] == "Forbid"


def test_one_scheduler_replaced_never_rolled_in_a_writable_copy_of_the_project() -> None:
    scheduler = _by_kind(_render(), "Deployment")[1]
    assert scheduler["metadata"]["name"] == "churn-scheduler"
    assert scheduler["spec"]["replicas"] == 1 and scheduler["spec"]["strategy"] == {"type": "Recreate"}
    pod = scheduler["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["shipyard", "scheduler"]
    copy = pod["initContainers"][-1]
    assert copy["command"] == ["cp", "-a", "/app/project/.", f"{container['workingDir']}/"]


def test_kserve_runs_shipyard_as_the_predictor_container_in_raw_deployment_mode() -> None:
    manifests = _render(kserve=True, service_monitor=True)
    isvc = _by_kind(manifests, "InferenceService")[0]
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    predictor = isvc["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (3, 9)
    container = predictor["containers"][0]
    hosts = {item["name"]: item.get("value") for item in container["env"]}["SHIPYARD_ALLOWED_HOSTS"].split()
    assert "churn-predictor.$(POD_NAMESPACE).svc.cluster.local" in hosts
    monitor = _by_kind(manifests, "PodMonitor")[0]
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == container["ports"][0]["name"]


@pytest.mark.parametrize(("change", "flag"), [
    ({"replicas": 0}, "--replicas"), ({"replicas": 5, "max_replicas": 4}, "--max-replicas"),
    ({"name": "Churn_EU"}, "--name"), ({"namespace": "a b"}, "--namespace"), ({"image": "bad image"}, "--image"),
    ({"resources": Resources(cpu="lots")}, "--cpu"), ({"resources": Resources(memory="1GB")}, "--memory"),
    ({"monitor_schedule": "hourly"}, "--monitor-schedule"), ({"workers": 0}, "--workers"),
    ({"project_dir": "project"}, "--project-dir"),
])
def test_bad_flags_are_named(change: dict[str, Any], flag: str) -> None:
    with pytest.raises(ConfigError, match=flag):
        check_options(replace(OPTIONS, **change))


def test_default_names_are_kubernetes_names() -> None:
    assert default_name("Churn_EU.v2") == "churn-eu-v2"
    assert check_options(replace(OPTIONS, name=default_name("x" * 90))).name == "x" * 40


def test_with_a_tracking_uri_serving_pods_reach_the_team_server_and_hold_no_store() -> None:
    uri = "http://shipyard.ml.svc:5000"
    for kserve in (False, True):
        manifests = _render(tracking_uri=uri, kserve=kserve)
        for manifest in manifests:
            validate(manifest)
        pod = _serving_pod(manifests)
        container = pod["containers"][0]
        env = {item["name"]: item for item in container["env"]}
        assert env["SHIPYARD_TRACKING_URI"] == {"name": "SHIPYARD_TRACKING_URI", "value": uri}
        assert env["SHIPYARD_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "churn-secrets",
                                                                      "key": TRACKING_TOKEN_KEY}
        assert env[SERVE_TOKEN_ENV]["valueFrom"]["secretKeyRef"] == {"name": "churn-secrets", "key": "token"}
        assert all("value" not in env[name] for name in ("SHIPYARD_TOKEN", SERVE_TOKEN_ENV))
        assert not {"SHIPYARD_STORE", "SHIPYARD_DATABASE_URI", "SHIPYARD_OBJECTS_URI"} & set(env)
        assert "store" not in {volume["name"] for volume in pod["volumes"]}
        assert STORE_DIR not in {mount["mountPath"] for mount in container["volumeMounts"]}
        assert {mount["mountPath"] for mount in container["volumeMounts"]} == {"/etc/shipyard", TMP_DIR}
    default = _serving_pod(_render())  # without the flag: the store, as before
    assert "SHIPYARD_TRACKING_URI" not in {item["name"] for item in default["containers"][0]["env"]}
    assert "store" in {volume["name"] for volume in default["volumes"]}


def test_with_a_tracking_uri_the_monitoring_jobs_and_the_scheduler_hold_no_store_either() -> None:
    uri = "http://shipyard.ml.svc:5000"
    manifests = _render(tracking_uri=uri)
    scheduler = _by_kind(manifests, "Deployment")[1]["spec"]["template"]["spec"]
    pods = [(job["spec"]["jobTemplate"]["spec"]["template"]["spec"], TRACKING_TOKEN_KEY)
            for job in _by_kind(manifests, "CronJob")] + [(scheduler, LOOP_TRACKING_TOKEN_KEY)]
    assert len(pods) == 3
    for pod, token_key in pods:
        container = pod["containers"][0]
        env = {item["name"]: item for item in container["env"]}
        assert env["SHIPYARD_TRACKING_URI"]["value"] == uri
        assert env["SHIPYARD_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "churn-secrets", "key": token_key}
        assert not {"SHIPYARD_STORE", "SHIPYARD_DATABASE_URI", "SHIPYARD_OBJECTS_URI", SERVE_TOKEN_ENV} & set(env)
        assert "store" not in {volume["name"] for volume in pod["volumes"]}
        assert STORE_DIR not in {mount["mountPath"] for mount in container["volumeMounts"]}
    rendered_keys = {item["valueFrom"]["secretKeyRef"]["key"] for manifest in manifests
                     for item in _containers_env(manifest) if "secretKeyRef" in item.get("valueFrom", {})}
    assert not {"database-uri", "objects-uri"} & rendered_keys  # the Secret needs no database with a team server
    default = _by_kind(_render(), "CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "SHIPYARD_DATABASE_URI" in {item["name"] for item in default["containers"][0]["env"]}


def _containers_env(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "containers" in node:
                for container in [*node["containers"], *node.get("initContainers", [])]:
                    found.extend(container.get("env", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(manifest)
    return found


def test_a_tracking_uri_needs_a_shared_log_dir_a_server_address_and_no_bake() -> None:
    import yaml

    text = SERVING_YAML.replace("log_dir: s3://predictions/churn\n", "")
    with pytest.raises(ConfigError, match="log_dir"):
        render(parse_config(yaml.safe_load(text)), text, replace(OPTIONS, tracking_uri="http://shipyard:5000"))
    with pytest.raises(ConfigError, match="--tracking-uri"):
        check_options(replace(OPTIONS, tracking_uri="shipyard:5000"))
    with pytest.raises(ConfigError, match="--tracking-uri"):
        check_options(replace(OPTIONS, tracking_uri="http://alice:secret@shipyard:5000"))
    with pytest.raises(ConfigError, match="--bake"):
        check_options(replace(OPTIONS, tracking_uri="http://shipyard:5000", bake=True))
