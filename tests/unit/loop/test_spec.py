"""Loops in ``shipyard.yaml``: what a valid loop becomes, and every mistake refused with the loop, key and line."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shipyard.errors import ConfigError
from shipyard.loop.spec import Loop, get_loop, load_loops, parse_duration, schedule_trigger
from shipyard.pipeline.spec import load_pipeline

STAGES = """\
name: churn
stages:
  prepare:
    cmd: python prepare.py
    outs: [data/holdout.parquet]
  train:
    cmd: python train.py
    deps: [data/holdout.parquet]
  evaluate:
    cmd: python evaluate.py
loops:
"""

VALID = """\
  churn-retrain:
    schedule: "0 2 * * *"
    triggers:
      - monitor: {deployment: churn, check: drift, level: alert}
      - monitor: {deployment: churn, check: quality, metric: roc_auc, below: 0.75, window: 6h}
    cooldown: 12h
    min_new_labels: 500
    steps:
      - repro: [prepare, train, evaluate]
      - register: {stage: train, artifact: logreg, name: churn, alias: challenger}
      - promote: {name: churn, candidate: challenger, alias: champion,
                  data: data/holdout.parquet, target: churn, metric: roc_auc, min_delta: 0.005}
    on_failure: {notify: "http://127.0.0.1:9000/hook", retries: 2, retry_delay: 5m}
"""


def loops(tmp_path: Path, text: str) -> dict[str, Loop]:
    """Load ``text`` (one or more loops, indented as you like) as the ``loops:`` of a pipeline; line 12 is its first."""
    (tmp_path / "shipyard.yaml").write_text(STAGES + textwrap.indent(textwrap.dedent(text), "  "))
    return load_loops(load_pipeline(tmp_path))


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        loops(tmp_path, text)
    message = caught.value.message
    assert "\n" not in message
    return message


def test_the_issue_example_becomes_a_loop_with_every_setting(tmp_path: Path) -> None:
    (loop,) = loops(tmp_path, VALID).values()
    assert (loop.name, loop.schedule, loop.interval_seconds()) == ("churn-retrain", "0 2 * * *", None)
    assert [(t.deployment, t.check, t.level, t.metric, t.below, t.window) for t in loop.triggers] == [
        ("churn", "drift", "alert", None, None, "1h"), ("churn", "quality", "alert", "roc_auc", 0.75, "6h")]
    assert [trigger.describe() for trigger in loop.triggers] == ["churn: drift alert", "churn: roc_auc below 0.75"]
    assert (loop.cooldown_s, loop.min_new_labels) == (43_200.0, 500)
    assert (loop.notify, loop.retries, loop.retry_delay_s) == ("http://127.0.0.1:9000/hook", 2, 300.0)
    assert [step.kind for step in loop.steps] == ["repro", "register", "promote"]
    assert loop.stages == ("prepare", "train", "evaluate")
    assert [step.describe() for step in loop.steps] == [
        "repro prepare train evaluate", "register train/logreg as churn@challenger",
        "promote churn@challenger to champion"]
    assert loop.steps[2].args["min_delta"] == 0.005


def test_defaults_and_interval_schedules(tmp_path: Path) -> None:
    found = loops(tmp_path, """\
      hourly:
        schedule: every 6h
        steps:
          - repro: []
          - register: {model: "runs:/0123456789abcdef0123456789abcdef/model", name: churn, alias: challenger}
          - promote: {name: churn, candidate: challenger, data: holdout.parquet, target: churn}
    """)
    loop = found["hourly"]
    assert loop.interval_seconds() == 21_600.0
    assert (loop.cooldown_s, loop.min_new_labels, loop.notify, loop.retries, loop.retry_delay_s) == (
        0.0, 0, None, 0, 60.0)
    assert loop.steps[0].describe() == "repro (all stages)"
    promote = loop.steps[2].args
    assert (promote["alias"], promote["metric"], promote["min_delta"]) == ("champion", "roc_auc", 0.0)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30.0), ("5m", 300.0), ("12h", 43_200.0), ("7d", 604_800.0),
                                                ("1.5h", 5_400.0), (90, 90.0), (" 2 w ", 1_209_600.0)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text, "here") == seconds


@pytest.mark.parametrize("text", ["soon", "5 minutes", "-5m", "", "5y", True])
def test_bad_durations_name_the_place(text: object) -> None:
    with pytest.raises(ConfigError, match=r"^loop 'x', cooldown: .* is not a duration; use e\.g\. 30s"):
        parse_duration(text, "loop 'x', cooldown")


@pytest.mark.parametrize("schedule", ["61 * * * *", "0 2 * *", "0 2 * * * *", "every day at 2", "0 25 * * *"])
def test_an_invalid_schedule_names_the_loop_the_key_and_its_line(tmp_path: Path, schedule: str) -> None:
    message = refused(tmp_path, f"""\
      nightly:
        steps:
          - repro: [train]
        schedule: "{schedule}"
    """)
    assert message.startswith("shipyard.yaml line 15, loop 'nightly', schedule: "), message
    assert repr(schedule) in message or "'day at 2'" in message


def test_a_zero_interval_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, """\
      nightly:
        schedule: every 0s
        steps: [{repro: [train]}]
    """)
    assert message == "shipyard.yaml line 13, loop 'nightly', schedule: the interval must be positive."


def test_an_unknown_stage_names_the_step_and_the_stages_there_are(tmp_path: Path) -> None:
    message = refused(tmp_path, """\
      nightly:
        schedule: "0 2 * * *"
        steps:
          - repro: [prepare, trian]
    """)
    assert message == ("shipyard.yaml line 12, loop 'nightly', steps[0]: repro names stage 'trian', which "
                       "shipyard.yaml does not have (it has: prepare, train, evaluate).")


def test_a_register_from_an_unknown_stage_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, """\
      nightly:
        schedule: "0 2 * * *"
        steps:
          - register: {stage: fit, artifact: model, name: churn}
    """)
    assert message.startswith("shipyard.yaml line 12, loop 'nightly', steps[0]: register needs 'model'")


def test_an_unknown_loop_key_names_the_loop_the_key_and_its_line(tmp_path: Path) -> None:
    message = refused(tmp_path, """\
      nightly:
        schedule: "0 2 * * *"
        steps: [{repro: [train]}]
        retries: 3
    """)
    assert message == ("shipyard.yaml line 15, loop 'nightly': unknown key 'retries'; a loop takes cooldown, desc, "
                       "min_new_labels, on_failure, schedule, steps, triggers.")


@pytest.mark.parametrize(("step", "expected"), [
    ("{register: {stage: train, artifact: model, name: churn, alais: challenger}}",
     "steps[0]: register has unknown key 'alais'; it takes alias, artifact, description, model, name, stage."),
    ("{promote: {name: churn, candidate: 3, data: h.parquet, target: churn, metrc: f1}}",
     "steps[0]: promote has unknown key 'metrc'; it takes alias, candidate, data, metric, min_delta, name, target."),
    ("{register: {stage: train, artifact: ../model, name: churn}}",
     "steps[0]: register.artifact: The artifact path '../model' is refused: it has a '..' segment. An artifact "
     "path is a relative path of names joined by '/', such as 'plots/roc.png'."),
    ("{deploy: {name: churn}}", "steps[0]: unknown step 'deploy'; steps are repro, register, promote, rollout."),
    ("{promote: {name: churn, candidate: 3, target: churn}}", "steps[0]: promote needs 'data'."),
    ("{promote: {name: churn, candidate: 3, data: h.parquet, target: churn, min_delta: -1}}",
     "steps[0]: promote.min_delta must be a number 0 or more, got -1."),
])
def test_a_step_mistake_names_the_loop_the_step_and_the_key(tmp_path: Path, step: str, expected: str) -> None:
    message = refused(tmp_path, f"""\
      nightly:
        schedule: "0 2 * * *"
        steps: [{step}]
    """)
    assert message == f"shipyard.yaml line 12, loop 'nightly', {expected}"


def test_a_promote_of_an_alias_no_register_step_sets_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, """\
      nightly:
        schedule: "0 2 * * *"
        steps:
          - register: {stage: train, artifact: model, name: churn, alias: challenger}
          - promote: {name: churn, candidate: challenjer, data: h.parquet, target: churn}
    """)
    assert message == ("shipyard.yaml line 12, loop 'nightly': promote.candidate 'challenjer' is no alias a register "
                       "step of this loop sets for 'churn'; set 'alias: challenjer' on the register step.")


def test_a_promote_of_a_version_or_of_another_models_alias_is_accepted(tmp_path: Path) -> None:
    found = loops(tmp_path, """\
      nightly:
        schedule: "0 2 * * *"
        steps:
          - register: {stage: train, artifact: model, name: churn, alias: challenger}
          - promote: {name: churn, candidate: "7", data: h.parquet, target: churn}
          - promote: {name: upsell, candidate: staging, data: h.parquet, target: bought}
    """)
    assert [step.args["candidate"] for step in found["nightly"].steps[1:]] == ["7", "staging"]


@pytest.mark.parametrize(("monitor", "expected"), [
    ("{deployment: churn, check: drfit}", "check 'drfit' is not a monitoring check; use one of any, concept_drift, "
                                          "confused, drift, estimated_quality, latency, missing, new_categories, "
                                          "out_of_range, prediction_drift, quality, volume."),
    ("{deployment: churn, check: drift, below: 0.7}", "below applies to the quality or estimated_quality check, "
                                                      "not 'drift'."),
    ("{deployment: churn, check: drift, level: critical}", "level must be warn or alert, got 'critical'."),
    ("{deployment: churn, check: quality, below: high}", "below must be a number, got 'high'."),
    ("{deployment: churn, check: drift, window: soon}", "triggers[0], window: 'soon' is not a duration; use e.g. "
                                                        "30s, 5m, 12h or 7d."),
    ("{check: drift}", "the trigger needs 'deployment'."),
    ("{deployment: churn, check: drift, severity: alert}", "unknown key 'severity'; a monitor trigger takes below, "
                                                           "check, deployment, level, metric, window."),
])
def test_a_bad_trigger_names_the_loop_and_the_trigger(tmp_path: Path, monitor: str, expected: str) -> None:
    message = refused(tmp_path, f"""\
      watch:
        triggers: [{{monitor: {monitor}}}]
        steps: [{{repro: [train]}}]
    """)
    assert message.startswith("shipyard.yaml line 12, loop 'watch', triggers[0]")
    assert message.endswith(expected), message


@pytest.mark.parametrize("url", ["127.0.0.1:9000/hook", "ftp://example.com/hook", "hooks.example.com"])
def test_a_notify_target_that_is_no_http_url_is_refused(tmp_path: Path, url: str) -> None:
    message = refused(tmp_path, f"""\
      nightly:
        schedule: "0 2 * * *"
        steps: [{{repro: [train]}}]
        on_failure: {{notify: "{url}", retries: 1}}
    """)
    assert message == f"shipyard.yaml line 12, loop 'nightly': on_failure.notify must be an http(s) URL, got {url!r}."


@pytest.mark.parametrize(("failure", "expected"), [
    ("{retries: -1}", "on_failure.retries must be a whole number 0 or more, got -1."),
    ("{retries: two}", "on_failure.retries must be a whole number 0 or more, got 'two'."),
    ("{retry_delay: later}", "on_failure.retry_delay: 'later' is not a duration"),
    ("{email: ops@example.com}", "'on_failure' takes notify (a URL), retries and retry_delay."),
])
def test_bad_failure_settings_are_refused(tmp_path: Path, failure: str, expected: str) -> None:
    message = refused(tmp_path, f"""\
      nightly:
        schedule: "0 2 * * *"
        steps: [{{repro: [train]}}]
        on_failure: {failure}
    """)
    assert message.startswith("shipyard.yaml line 12, loop 'nightly'")
    assert expected in message, message


def test_a_loop_without_steps_is_refused_and_one_without_schedule_runs_on_demand(tmp_path: Path) -> None:
    assert refused(tmp_path, """\
      nightly:
        schedule: "0 2 * * *"
    """).endswith("'steps' must be a non-empty list (repro, register, promote, rollout).")
    on_demand = loops(tmp_path, """\
      nightly:
        steps: [{repro: [train]}]
    """)["nightly"]
    assert on_demand.schedule is None and on_demand.triggers == () and schedule_trigger(on_demand) is None


def test_an_unknown_loop_name_lists_the_loops_there_are(tmp_path: Path) -> None:
    loops(tmp_path, VALID)
    with pytest.raises(ConfigError) as caught:
        get_loop(load_pipeline(tmp_path), "churn-retrian")
    assert caught.value.message == "shipyard.yaml has no loop named 'churn-retrian' (it has: churn-retrain)."


def test_a_weekday_schedule_loaded_from_the_file_fires_on_monday_after_a_sunday(tmp_path: Path) -> None:
    (loop,) = loops(tmp_path, """\
      weekdays:
        schedule: "0 2 * * 1-5"
        steps: [{repro: [train]}]
    """).values()
    sunday = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert schedule_trigger(loop).get_next_fire_time(None, sunday) == datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("schedule", "detail"), [
    ("61 * * * *", "the minute field '61': 61 is outside 0-59"),
    ("0 24 * * *", "the hour field '24': 24 is outside 0-23"),
    ("0 0 0 * *", "the day-of-month field '0': 0 is outside 1-31"),
    ("0 0 * 13 *", "the month field '13': 13 is outside 1-12"),
    ("0 0 * * 8", "the day-of-week field '8': 8 is outside 0-7"),
    ("0 2 * * mon-fir", "the day-of-week field 'mon-fir': 'fir' is not a day of the week (sun-sat, or 0-7 with 0 "
                        "and 7 for Sunday)"),
    ("0 2 * jam *", "the month field 'jam': 'jam' is not a month (jan-dec or 1-12)"),
    ("0 2 * * sunday", "the day-of-week field 'sunday': 'sunday' is not a day of the week"),
    ("*/0 * * * *", "the minute field '*/0': the step must be 1 or more"),
    ("5-5 * * * *", "the minute field '5-5': a range whose ends are equal; write 5"),
    ("0 0 * * sat-tue/2", "the day-of-week field 'sat-tue/2': a range that wraps around cannot take a step"),
    ("*,5 * * * *", "the minute field '*,5': '*' cannot be part of a list"),
    ("0 0 L * *", "the day-of-month field 'L': 'L' is not a number"),
    ("0 0 ? * 1", "the day-of-month field '?': '?' is not a number"),
    ("0 0 * * 1#2", "the day-of-week field '1#2': '1#2' is not a day of the week"),
    ("0 0 30 2 *", "it never fires: no month it names has day 30"),
    ("0 0 31 4,6 *", "it never fires: no month it names has day 31"),
    ("0 2 * *", "5 fields are needed (minute hour day-of-month month day-of-week), it has 4"),
    ("0 0 2 * * *", "5 fields are needed (minute hour day-of-month month day-of-week), it has 6"),
    ("@reboot", "'@reboot' is not a schedule alias (use @hourly, @daily, @midnight, @weekly, @monthly, @yearly "
                "or @annually)"),
])
def test_a_bad_cron_expression_names_the_loop_the_line_and_the_cron_field(tmp_path: Path, schedule: str,
                                                                          detail: str) -> None:
    message = refused(tmp_path, f"""\
      nightly:
        steps:
          - repro: [train]
        schedule: "{schedule}"
    """)
    assert message.startswith(f"shipyard.yaml line 15, loop 'nightly', schedule: {schedule!r} is not a valid cron "
                              f"expression: {detail}"), message
    assert message.endswith("use five fields (minute hour day-of-month month day-of-week, e.g. '0 2 * * 1-5'), "
                            "an alias such as '@daily', or 'every 6h'."), message


@pytest.mark.parametrize("schedule", ["@daily", "@Weekly", "0 0 * * 7", "30 4 1,15 * mon-fri", "0 0 * * sat-sun"])
def test_standard_cron_forms_are_accepted(tmp_path: Path, schedule: str) -> None:
    (loop,) = loops(tmp_path, f"""\
      nightly:
        schedule: "{schedule}"
        steps: [{{repro: [train]}}]
    """).values()
    assert schedule_trigger(loop) is not None and loop.interval_seconds() is None


def test_a_rollout_step_instead_of_an_instant_alias_move(tmp_path: Path) -> None:
    loop = loops(tmp_path, """\
        canary:
          schedule: "@daily"
          steps:
            - register: {stage: train, artifact: logreg, name: churn, alias: challenger}
            - rollout: {name: churn, candidate: challenger, steps: [10, 50, 100], max_labels: 6000, interval: 1m,
                        timeout: 12h}
        """)["canary"]
    step = loop.steps[1]
    assert step.kind == "rollout" and step.describe() == "rollout churn@challenger to champion"
    assert step.args["steps"] == [10.0, 50.0, 100.0] and step.args["max_labels"] == 6000
    assert step.args["interval_s"] == 60.0 and step.args["timeout_s"] == 12 * 3600.0


@pytest.mark.parametrize(("step", "expected"), [
    ("{name: churn, steps: [5, 100]}", "rollout needs 'candidate'"),
    ("{name: churn, candidate: challenger, steps: [50, 20, 100]}", "rollout.steps: must rise"),
    ("{name: churn, candidate: challenger, max_labels: 0}", "rollout.max_labels must be a whole number"),
    ("{name: churn, candidate: challenger, interval: soon}", "'soon' is not a duration"),
    ("{name: churn, candidate: latest}", "rollout.candidate 'latest' is no alias a register step"),
    ("{name: churn, candidate: challenger, speed: 2}", "rollout has unknown key 'speed'"),
])
def test_rollout_step_mistakes_are_refused(tmp_path: Path, step: str, expected: str) -> None:
    message = refused(tmp_path, f"""\
        canary:
          schedule: "@daily"
          steps:
            - register: {{stage: train, artifact: logreg, name: churn, alias: challenger}}
            - rollout: {step}
        """)
    assert expected in message, message


def test_an_estimated_quality_trigger_fires_on_the_upper_bound_of_the_interval() -> None:
    from shipyard.loop.scheduler import fires
    from shipyard.loop.spec import Trigger
    from shipyard.monitoring.checks import CheckResult

    def estimate(value: float, high: float, statistic: str = "accuracy") -> CheckResult:
        return CheckResult("estimated_quality", "champion", "ok", statistic, value, None, "",
                           extra={"low": value - 0.03, "high": high, "realized": None})

    trigger = Trigger("churn", "estimated_quality", below=0.78)
    assert trigger.describe() == "churn: estimated accuracy below 0.78"
    assert fires(trigger, [estimate(0.74, 0.77)])
    assert not fires(trigger, [estimate(0.76, 0.79)])  # the point is under the line, the interval is not wholly
    assert not fires(trigger, [estimate(0.60, 0.65, "f1")])  # another metric
    f1 = Trigger("churn", "estimated_quality", metric="f1", below=0.7)
    assert fires(f1, [estimate(0.60, 0.65, "f1")]) and f1.describe() == "churn: estimated f1 below 0.7"
    realized = CheckResult("quality", "champion", "ok", "accuracy", 0.5, None, "")
    assert not fires(trigger, [realized])  # quality's realized values are not the estimate
    drift = Trigger("churn", "concept_drift", level="alert")
    assert fires(drift, [CheckResult("concept_drift", "champion", "alert", "outcome_shift", 0.001, 0.01, "")])
