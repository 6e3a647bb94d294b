"""Cron schedules mean what standard cron means: next fire times checked against croniter, the reference.

croniter is what Airflow reads schedules with, so a loop exported to Airflow fires when ``shipyard scheduler``
would fire it. For each expression of the table, the trigger the scheduler uses and croniter must agree on the
next fire time after every start point of a two-year walk (UTC, so no daylight-saving gaps): a start every
5 h 13 min, at 30 s past the minute so that "at or after" (APScheduler) and "strictly after" (croniter) ask
the same question. The walk crosses weekday boundaries, month ends and a leap day.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from croniter import CroniterBadDateError, croniter

from shipyard.errors import ConfigError
from shipyard.loop.spec import Loop, Step, schedule_trigger

START = datetime(2027, 1, 1, 0, 0, 30, tzinfo=UTC)
END = datetime(2029, 1, 1, tzinfo=UTC)  # 2028 is a leap year
STRIDE = timedelta(hours=5, minutes=13)  # 3,363 starts, every hour of the day and every weekday among them

EXPRESSIONS = [
    "0 2 * * 1-5",         # the issue: weekdays at 02:00 (APScheduler alone reads it as Tuesday to Saturday)
    "0 2 * * mon-fri",
    "0 2 * * MON-Fri",
    "30 4 * * Sun",
    "0 0 * * 0",
    "0 0 * * 7",            # Sunday too
    "0 0 * * 0,7",
    "15 10 * * 5-7",        # Friday to Sunday
    "0 12 * * 6,0",
    "0 12 * * sat,sun",
    "0 0 * * sat-sun",      # a range through the end of the week
    "0 0 * * fri-mon",
    "0 0 * * 0-7",
    "0 0 * * 1-7",
    "0 */6 * * */2",
    "0 3 * * 1-5/2",        # Monday, Wednesday, Friday
    "45 23 * * */3",
    "*/15 * * * *",
    "5-20/5 1,13 * * *",
    "10/25 * * * *",        # a start with a step: 10 and 35
    "0 22-2 * * *",         # hours through midnight
    "0 0 1 * *",
    "0 0 31 * *",           # only months that have a 31st
    "0 0 29 2 *",           # leap days only
    "0 9 * jan,jul *",
    "0 0 1 JAN-MAR/2 *",
    "0 0 1 */4 *",
    "0 0 1,15 * 1",         # both days restricted: the 1st, the 15th and every Monday
    "0 6 13 * 5",           # the 13th or a Friday
    "0 0 */2 * 1",          # croniter reads a stepped day-of-month as restricted (Vixie cron does not)
    "0 0 1-7 * 1",
    "0 0 1-31 * 1",         # a full day-of-month list still counts as restricted: every day
    "0 0 1-31 * */2",       # ... unless day-of-week has a '*': then only the weekdays
    "0 0 * * *",
    "30 8 10-20 * mon-fri",
    "@hourly",
    "@daily",
    "@midnight",
    "@weekly",
    "@monthly",
    "@yearly",
    "@annually",
    "@DAILY",
]


def trigger(expression: str):  # type: ignore[no-untyped-def]
    """The trigger ``shipyard scheduler`` adds for a loop with this schedule."""
    return schedule_trigger(Loop("nightly", (Step("repro", {"stages": []}),), schedule=expression))


def starts() -> list[datetime]:
    found, moment = [], START
    while moment < END:
        found.append(moment)
        moment += STRIDE
    return found


@pytest.mark.slow  # ~0.7 s of CPU per expression
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_next_fire_times_agree_with_croniter_over_two_years(expression: str) -> None:
    fires = trigger(expression)
    reference = croniter(expression, START)
    disagreements = []
    for start in starts():
        expected = reference.get_next(datetime, start_time=start)
        got = fires.get_next_fire_time(None, start)
        if got != expected:
            disagreements.append(f"after {start:%a %Y-%m-%d %H:%M:%S}: croniter {expected:%a %Y-%m-%d %H:%M}, "
                                 f"shipyard {got:%a %Y-%m-%d %H:%M}" if got and expected else f"{start}: {got}")
    assert not disagreements, f"{len(disagreements)} of {len(starts())} differ, e.g. {disagreements[:3]}"


def test_following_fire_times_agree_too() -> None:
    """The scheduler asks with the previous fire time: successive runs must follow croniter's sequence.

    Quick enough to run without the slow tests; "0 0 31 4,6 1" is here and not in the sweep because croniter
    takes ~4 ms for each of its answers.
    """
    for expression in ["0 2 * * 1-5", "0 2 * * MON-FRI", "0 0 * * 7", "0 0 1,15 * 1", "0 0 */2 * 1",
                       "0 0 1-31 * */2", "*/20 22-2 * * sat-sun", "0 0 31 4,6 1", "0 0 1 jan-mar/2 *", "@weekly"]:
        fires = trigger(expression)
        reference = croniter(expression, START)
        previous = None
        for _ in range(120):
            expected = reference.get_next(datetime)
            previous = fires.get_next_fire_time(previous, previous or START)
            assert previous == expected, expression


def test_the_issue_example_runs_on_monday_after_a_sunday() -> None:
    sunday = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    weekdays = trigger("0 2 * * 1-5")
    fires = []
    moment = sunday
    for _ in range(6):
        moment = weekdays.get_next_fire_time(None, moment + timedelta(seconds=1))
        fires.append(f"{moment:%a %H:%M}")
    assert fires == ["Mon 02:00", "Tue 02:00", "Wed 02:00", "Thu 02:00", "Fri 02:00", "Mon 02:00"]


_BOUNDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
_NAMES = [(), (), (), ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
          ("sun", "mon", "tue", "wed", "thu", "fri", "sat")]


def _random_field(rng: random.Random, index: int) -> str:
    low, high = _BOUNDS[index]

    def value() -> str:
        number = rng.randint(low, high)
        names = _NAMES[index]
        if names and number - (index == 3) < len(names) and rng.random() < 0.5:
            return rng.choice([str.lower, str.upper, str.title])(names[number - (index == 3)])
        return str(number)

    def item() -> str:
        shape = rng.choice(["value", "range", "range-step", "start-step", "wrap"])
        if shape == "value":
            return value()
        if shape == "start-step":
            return f"{value()}/{rng.randint(1, 8)}"
        first, second = sorted(rng.sample(range(low, high + 1), 2))
        if shape == "wrap" and not (index == 4 and (first, second) == (0, 7)):
            return f"{second}-{first}"
        return f"{first}-{second}" + (f"/{rng.randint(1, 8)}" if shape == "range-step" else "")

    roll = rng.random()
    if roll < 0.3:
        return "*"
    if roll < 0.4:
        return f"*/{rng.randint(1, 10)}"
    return ",".join(item() for _ in range(rng.choice([1, 1, 2, 3])))


def test_random_expressions_agree_with_croniter() -> None:
    """Seeded random expressions of every standard form: same next fire times, and the same ones never fire."""
    rng = random.Random(20261206)
    checked = never = 0
    for _ in range(400):
        expression = " ".join(_random_field(rng, index) for index in range(5))
        try:
            fires = trigger(expression)
        except ConfigError as exc:
            assert "it never fires" in exc.message, exc.message
            with pytest.raises(CroniterBadDateError):
                croniter(expression, START).get_next(datetime)
            never += 1
            continue
        reference = croniter(expression, START)
        for _ in range(12):
            start = START + timedelta(minutes=rng.randint(0, 2 * 366 * 24 * 60))  # still 30 s past the minute
            assert fires.get_next_fire_time(None, start) == reference.get_next(datetime, start_time=start), (
                expression, start)
        checked += 1
    assert checked > 300 and never < 20, (checked, never)


@pytest.mark.parametrize("expression", ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30-31 feb *"])
def test_a_schedule_that_never_fires_is_refused_where_croniter_finds_no_date(expression: str) -> None:
    with pytest.raises(CroniterBadDateError):
        croniter(expression, START).get_next(datetime)
    with pytest.raises(ConfigError, match="it never fires: no month it names has day 3"):
        trigger(expression)
