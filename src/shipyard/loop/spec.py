"""Loops in ``shipyard.yaml``: when a cycle runs (schedule, monitoring triggers) and what it does (steps).

```yaml
loops:
  churn-retrain:
    schedule: "0 2 * * *"                # standard cron (UTC; see cron.py), "@daily", or "every 6h"
    triggers:
      - monitor: {deployment: churn, check: drift, level: alert}
      - monitor: {deployment: churn, check: quality, metric: roc_auc, below: 0.75}
      # before any label: the accuracy estimated from the logged scores, its whole 90% interval under 0.78
      - monitor: {deployment: churn, check: estimated_quality, metric: accuracy, below: 0.78}
    cooldown: 12h
    min_new_labels: 500
    steps:
      - repro: [prepare, train, evaluate]
      - register: {stage: train, artifact: logreg, name: churn, alias: challenger}
      - promote: {name: churn, candidate: challenger, alias: champion, data: data/holdout.parquet,
                  target: churn, metric: roc_auc, min_delta: 0.005}
      # or, instead of moving the alias at once, a canary judged on live traffic (models/rollouts.py):
      # - rollout: {name: churn, candidate: challenger, steps: [5, 25, 50, 100], max_labels: 6000,
      #             interval: 1m, timeout: 24h}
    on_failure: {notify: "http://127.0.0.1:9000/hook", retries: 2, retry_delay: 5m}
```

Everything is checked when the file is read, with the loop, the key and the line named: cron syntax,
stages the pipeline does not have, a promote of a model nobody registers, unknown keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, ValidationError
from ..models.uri import parse_model_uri
from ..pipeline.spec import PIPELINE_FILE, Pipeline
from ..store.yaml_file import line_of, load_yaml
from ..tracking.artifact_paths import check_artifact_path
from .cron import parse_cron

_LOOP_KEYS = {"schedule", "triggers", "cooldown", "min_new_labels", "steps", "on_failure", "desc"}
_STEP_KEYS = {"repro": None, "register": {"stage", "artifact", "model", "name", "alias", "description"},
              "promote": {"name", "candidate", "alias", "data", "target", "metric", "min_delta"},
              "rollout": {"name", "candidate", "alias", "steps", "max_labels", "min_requests", "alpha", "interval",
                          "timeout", "log_dir", "shadow"}}
_TRIGGER_KEYS = {"deployment", "check", "level", "metric", "below", "window"}
_CHECKS = {"drift", "missing", "new_categories", "out_of_range", "prediction_drift", "confused", "volume", "latency",
           "quality", "estimated_quality", "concept_drift", "any"}
_BELOW_CHECKS = ("quality", "estimated_quality", "any")  # the checks a 'below' line applies to ("any": quality)
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_EVERY_RE = re.compile(r"^\s*every\s+(.+)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class Step:
    kind: str  # repro | register | promote | rollout
    args: dict[str, Any]

    def describe(self) -> str:
        if self.kind == "repro":
            return f"repro {' '.join(self.args['stages']) or '(all stages)'}"
        if self.kind == "register":
            source = self.args.get("model") or f"{self.args['stage']}/{self.args['artifact']}"
            return f"register {source} as {self.args['name']}" + (f"@{self.args['alias']}" if self.args.get(
                "alias") else "")
        if self.kind == "rollout":
            return f"rollout {self.args['name']}@{self.args['candidate']} to {self.args['alias']}"
        return f"promote {self.args['name']}@{self.args['candidate']} to {self.args['alias']}"


@dataclass(frozen=True)
class Trigger:
    deployment: str
    check: str
    level: str = "alert"
    metric: str | None = None
    below: float | None = None
    window: str = "1h"

    def describe(self) -> str:
        if self.below is not None:
            if self.check == "estimated_quality":
                return f"{self.deployment}: estimated {self.metric or 'accuracy'} below {self.below:g}"
            return f"{self.deployment}: {self.metric or self.check} below {self.below:g}"
        return f"{self.deployment}: {self.check} {self.level}"


@dataclass(frozen=True)
class Loop:
    name: str
    steps: tuple[Step, ...]
    schedule: str | None = None
    triggers: tuple[Trigger, ...] = ()
    cooldown_s: float = 0.0
    min_new_labels: int = 0
    notify: str | None = None
    retries: int = 0
    retry_delay_s: float = 60.0
    desc: str | None = None
    stages: tuple[str, ...] = field(default_factory=tuple)

    def interval_seconds(self) -> float | None:
        """Seconds between runs for an ``every ...`` schedule; ``None`` for cron."""
        match = _EVERY_RE.match(self.schedule or "")
        return parse_duration(match.group(1), f"loop '{self.name}' schedule") if match else None


def load_loops(pipeline: Pipeline) -> dict[str, Loop]:
    """The ``loops:`` of a pipeline file, validated (stages against the pipeline's own)."""
    node = (pipeline.raw or {}).get("loops") or {}
    if not isinstance(node, dict):
        raise ConfigError(f"{PIPELINE_FILE} line {line_of(pipeline.raw, 'loops')}: 'loops' must be a mapping of "
                          "loop names to loops.")
    loops = {str(name): _loop(str(name), spec, line_of(node, str(name)), pipeline) for name, spec in node.items()}
    served = _served_deployments(pipeline)
    if served is not None:
        for name, loop in loops.items():
            for index, trigger in enumerate(loop.triggers):
                if trigger.deployment not in served:
                    raise ConfigError(
                        f"{PIPELINE_FILE} line {line_of(node, name)}, loop '{name}', triggers[{index}]: deployment "
                        f"{trigger.deployment!r} is not in serving.yaml (it defines: {', '.join(sorted(served))}); "
                        "fix the name or add the deployment.")
    return loops


def _served_deployments(pipeline: Pipeline) -> set[str] | None:
    """Deployment names of the project's serving.yaml, or None without one (then names cannot be checked)."""
    path = pipeline.root / "serving.yaml"
    if not path.is_file():
        return None
    try:
        data = load_yaml(path)  # the reader `shipyard serve` uses: what it refuses, this refuses
    except ConfigError as exc:
        raise ConfigError(f"serving.yaml cannot be read to check loop triggers: {exc.message}") from None
    deployments = data.get("deployments") if isinstance(data, dict) else None
    return {str(name) for name in deployments} if isinstance(deployments, dict) else set()


def get_loop(pipeline: Pipeline, name: str) -> Loop:
    loops = load_loops(pipeline)
    if name not in loops:
        known = ", ".join(sorted(loops)) or "none"
        raise ConfigError(f"{PIPELINE_FILE} has no loop named {name!r} (it has: {known}).")
    return loops[name]


def parse_duration(text: Any, where: str) -> float:
    """Seconds from ``30s``, ``5m``, ``12h``, ``7d`` (or a number of seconds)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    match = _DURATION_RE.match(str(text))
    if not match:
        raise ConfigError(f"{where}: {text!r} is not a duration; use e.g. 30s, 5m, 12h or 7d.")
    return float(match.group(1)) * _UNITS[match.group(2)]


def schedule_trigger(loop: Loop) -> Any:
    """The APScheduler trigger of a loop's schedule (``None`` when it has none)."""
    from apscheduler.triggers.interval import IntervalTrigger

    if loop.schedule is None:
        return None
    seconds = loop.interval_seconds()
    if seconds is not None:
        return IntervalTrigger(seconds=seconds, timezone="UTC")
    return parse_cron(loop.schedule, f"loop '{loop.name}', schedule").trigger()


def _loop(name: str, spec: Any, line: int | None, pipeline: Pipeline) -> Loop:
    where = f"{PIPELINE_FILE} line {line}, loop '{name}'"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: a loop is a mapping with 'steps' and a 'schedule' and/or 'triggers'.")
    unknown = sorted(set(spec) - _LOOP_KEYS)
    if unknown:
        raise ConfigError(f"{PIPELINE_FILE} line {line_of(spec, unknown[0])}, loop '{name}': unknown key "
                          f"'{unknown[0]}'; a loop takes {', '.join(sorted(_LOOP_KEYS))}.")
    steps_node = spec.get("steps")
    if not isinstance(steps_node, list) or not steps_node:
        raise ConfigError(f"{where}: 'steps' must be a non-empty list (repro, register, promote, rollout).")
    steps = tuple(_step(item, f"{where}, steps[{index}]", pipeline) for index, item in enumerate(steps_node))
    _check_promotes(steps, where)
    schedule = spec.get("schedule")
    if schedule is not None:
        schedule = str(schedule)
        _check_schedule(schedule, f"{PIPELINE_FILE} line {line_of(spec, 'schedule')}, loop '{name}', schedule")
    triggers_node = spec.get("triggers") or []
    if not isinstance(triggers_node, list):
        raise ConfigError(f"{where}: 'triggers' must be a list of {{monitor: {{...}}}}.")
    triggers = tuple(_trigger(item, f"{where}, triggers[{index}]") for index, item in enumerate(triggers_node))
    # Neither schedule nor triggers is fine: such a loop runs only when asked (`shipyard loop run`, Airflow).
    failure = spec.get("on_failure") or {}
    if not isinstance(failure, dict) or set(failure) - {"notify", "retries", "retry_delay"}:
        raise ConfigError(f"{where}: 'on_failure' takes notify (a URL), retries and retry_delay.")
    notify = failure.get("notify")
    if notify is not None and not str(notify).startswith(("http://", "https://")):
        raise ConfigError(f"{where}: on_failure.notify must be an http(s) URL, got {notify!r}.")
    retries = failure.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"{where}: on_failure.retries must be a whole number 0 or more, got {retries!r}.")
    labels = spec.get("min_new_labels", 0)
    if isinstance(labels, bool) or not isinstance(labels, int) or labels < 0:
        raise ConfigError(f"{where}: min_new_labels must be a whole number 0 or more, got {labels!r}.")
    stages = tuple(stage for step in steps if step.kind == "repro" for stage in step.args["stages"])
    return Loop(name, steps, schedule, triggers, parse_duration(spec.get("cooldown", 0), f"{where}, cooldown"),
                labels, None if notify is None else str(notify), retries,
                parse_duration(failure.get("retry_delay", 60), f"{where}, on_failure.retry_delay"),
                spec.get("desc"), stages)


def _step(item: Any, where: str, pipeline: Pipeline) -> Step:
    if not isinstance(item, dict) or len(item) != 1:
        raise ConfigError(f"{where}: a step is one of repro: [stages], register: {{...}}, promote: {{...}}, "
                          "rollout: {...}.")
    kind, args = next(iter(item.items()))
    if kind not in _STEP_KEYS:
        raise ConfigError(f"{where}: unknown step '{kind}'; steps are {', '.join(_STEP_KEYS)}.")
    if kind == "repro":
        stages = [args] if isinstance(args, str) else (args or [])
        if not isinstance(stages, list) or not all(isinstance(stage, str) for stage in stages):
            raise ConfigError(f"{where}: repro takes a list of stage names (empty: every stage).")
        missing = [stage for stage in stages if stage not in pipeline.stages]
        if missing:
            raise ConfigError(f"{where}: repro names stage '{missing[0]}', which {PIPELINE_FILE} does not have "
                              f"(it has: {', '.join(pipeline.stages) or 'none'}).")
        return Step("repro", {"stages": list(stages)})
    if not isinstance(args, dict):
        raise ConfigError(f"{where}: {kind} takes a mapping of settings.")
    unknown = sorted(set(args) - _STEP_KEYS[kind])  # type: ignore[operator]
    if unknown:
        raise ConfigError(f"{where}: {kind} has unknown key '{unknown[0]}'; it takes "
                          f"{', '.join(sorted(_STEP_KEYS[kind]))}.")  # type: ignore[arg-type]
    if not isinstance(args.get("name"), str):
        raise ConfigError(f"{where}: {kind} needs 'name', the registered model name.")
    if kind == "register":
        if "model" in args:
            try:
                parse_model_uri(str(args["model"]))
            except ValidationError as exc:
                raise ConfigError(f"{where}: register.model: {exc}") from None
        elif args.get("stage") not in pipeline.stages or not isinstance(args.get("artifact"), str):
            raise ConfigError(f"{where}: register needs 'model' (a runs:/ URI) or 'stage' (a stage of the pipeline) "
                              "and 'artifact' (the model path that stage's run logged).")
        if "model" not in args:
            try:
                check_artifact_path(args["artifact"])
            except ValidationError as exc:
                raise ConfigError(f"{where}: register.artifact: {exc}") from None
        return Step("register", dict(args))
    if kind == "rollout":
        return _rollout_step(args, where)
    for key in ("candidate", "data", "target"):
        if key not in args:
            raise ConfigError(f"{where}: promote needs '{key}'.")
    delta = args.get("min_delta", 0.0)
    if isinstance(delta, bool) or not isinstance(delta, int | float) or delta < 0:
        raise ConfigError(f"{where}: promote.min_delta must be a number 0 or more, got {delta!r}.")
    return Step("promote", {"alias": "champion", "metric": "roc_auc", "min_delta": 0.0, **args})


def _rollout_step(args: dict[str, Any], where: str) -> Step:
    """A canary rollout instead of an instant alias move: its settings checked as ``shipyard rollout start``'s."""
    from ..models.rollouts import DEFAULT_STEPS, parse_steps

    if "candidate" not in args:
        raise ConfigError(f"{where}: rollout needs 'candidate' (an alias such as challenger, or a version).")
    try:
        steps = parse_steps(args.get("steps", list(DEFAULT_STEPS)))
    except ValidationError as exc:
        raise ConfigError(f"{where}: rollout.steps: {exc.message.replace('--steps ', '')}") from None
    settings: dict[str, Any] = {"alias": "champion", "interval_s": 60.0, "timeout_s": None, **args,
                                "steps": list(steps)}
    for key in ("max_labels", "min_requests"):
        value = args.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{where}: rollout.{key} must be a whole number 1 or more, got {value!r}.")
    alpha = args.get("alpha", 0.01)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 0.5:
        raise ConfigError(f"{where}: rollout.alpha must be a number between 0 and 0.5, got {alpha!r}.")
    if "interval" in args:
        settings["interval_s"] = parse_duration(args["interval"], f"{where}, rollout.interval")
    if "timeout" in args:
        settings["timeout_s"] = parse_duration(args["timeout"], f"{where}, rollout.timeout")
    return Step("rollout", settings)


def _check_promotes(steps: tuple[Step, ...], where: str) -> None:
    """A promote (or rollout) must name a candidate that a register step of the loop provides, or an existing one."""
    registered = {(step.args["name"], step.args.get("alias")) for step in steps if step.kind == "register"}
    for step in steps:
        if step.kind not in ("promote", "rollout"):
            continue
        candidate = step.args["candidate"]
        names = {name for name, _ in registered}
        if isinstance(candidate, str) and step.args["name"] in names and (step.args["name"], candidate) not in \
                registered and not candidate.isdigit():
            raise ConfigError(f"{where}: {step.kind}.candidate '{candidate}' is no alias a register step of this loop "
                              f"sets for '{step.args['name']}'; set 'alias: {candidate}' on the register step.")


def _trigger(item: Any, where: str) -> Trigger:
    if not isinstance(item, dict) or set(item) != {"monitor"} or not isinstance(item["monitor"], dict):
        raise ConfigError(f"{where}: a trigger is {{monitor: {{deployment, check, level}}}}.")
    spec = item["monitor"]
    unknown = sorted(set(spec) - _TRIGGER_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}'; a monitor trigger takes "
                          f"{', '.join(sorted(_TRIGGER_KEYS))}.")
    if not isinstance(spec.get("deployment"), str):
        raise ConfigError(f"{where}: the trigger needs 'deployment'.")
    check = spec.get("check", "any")
    if check not in _CHECKS:
        raise ConfigError(f"{where}: check '{check}' is not a monitoring check; use one of "
                          f"{', '.join(sorted(_CHECKS))}.")
    level = spec.get("level", "alert")
    if level not in ("warn", "alert"):
        raise ConfigError(f"{where}: level must be warn or alert, got {level!r}.")
    below = spec.get("below")
    if below is not None and (isinstance(below, bool) or not isinstance(below, int | float)):
        raise ConfigError(f"{where}: below must be a number, got {below!r}.")
    if below is not None and check not in _BELOW_CHECKS:
        raise ConfigError(f"{where}: below applies to the quality or estimated_quality check, not {check!r}.")
    window = str(spec.get("window", "1h"))
    parse_duration(window, f"{where}, window")
    return Trigger(spec["deployment"], check, level, spec.get("metric"), None if below is None else float(below),
                   window)


def _check_schedule(schedule: str, where: str) -> None:
    match = _EVERY_RE.match(schedule)
    if match:
        if parse_duration(match.group(1), where) <= 0:
            raise ConfigError(f"{where}: the interval must be positive.")
        return
    parse_cron(schedule, where)
