"""Cron schedules as standard cron reads them, turned into APScheduler triggers.

APScheduler 3's ``CronTrigger.from_crontab`` numbers days of the week from Monday = 0 and always ANDs
day-of-month with day-of-week, so ``0 2 * * 1-5`` ran Tuesday to Saturday. A loop's schedule has to mean what
it means to croniter, which is what Airflow reads the exported DAG's schedule with (Airflow 3.3 uses croniter
7.0), so that both fire at the same times:

- five fields, minute hour day-of-month month day-of-week, in UTC; lists ``1,15``, ranges ``1-5``, steps
  ``*/15`` and ``1-5/2`` and ``10/25`` (from 10 to the end of the field); month names ``jan``-``dec`` and
  day names ``sun``-``sat`` in any case; 0 and 7 are both Sunday; a range may wrap past the end of the
  field (``sat-sun``, ``22-2``) but then takes no step;
- the aliases ``@hourly``, ``@daily``, ``@midnight``, ``@weekly``, ``@monthly``, ``@yearly``, ``@annually``;
- when both day-of-month and day-of-week are restricted, a day matches if EITHER matches (``0 0 1,15 * 1``:
  the 1st, the 15th and every Monday). As in croniter, a field counts as unrestricted when it is ``*``, or
  when it covers every value and the other field contains a ``*`` (so ``*/2`` in day-of-month is restricted;
  Vixie cron, unlike croniter, reads a field starting with ``*`` as unrestricted here).

APScheduler cannot express the OR rule in one ``CronTrigger``, so such a schedule becomes an ``OrTrigger`` of
two: one for the days of the month, one for the days of the week. Fields are handed to APScheduler as explicit
lists of numbers (day names for the weekday), so none of its own parsing rules apply.

What croniter accepts but standard cron does not (``L``, ``W``, ``#``, ``?``, ``H``, a sixth field) is refused,
as are two croniter quirks that would surprise anyone: a range with equal ends (``5-5`` is every minute to
croniter) and a wrapping range with a step. So is a schedule that can never fire (``0 0 30 2 *``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
           "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_LONGEST_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February 29 comes in leap years
_NUMBER = re.compile(r"^\d+$")
_USAGE = ("use five fields (minute hour day-of-month month day-of-week, e.g. '0 2 * * 1-5'), an alias such as "
          "'@daily', or 'every 6h'.")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int  # the highest value written (7 for day-of-week); values are kept in low..stored_high
    names: tuple[str, ...] = ()
    first_named: int = 0  # the number names[0] stands for
    what: str = "a number"

    @property
    def stored_high(self) -> int:
        return 6 if self.name == "day-of-week" else self.high


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1, "a month (jan-dec or 1-12)"),
    _Field("day-of-week", 0, 7, _DAYS, 0, "a day of the week (sun-sat, or 0-7 with 0 and 7 for Sunday)"),
)


class _Bad(ValueError):
    """What is wrong with one field; becomes part of the ConfigError that names the loop and the line."""


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron schedule: the values each field allows, and whether the two day fields are ORed.

    ``weekdays`` counts from Sunday = 0 to Saturday = 6.
    """

    fields: str  # the five fields, aliases expanded: what the Airflow export writes
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_or_weekdays: bool  # both day fields restricted: a day matches if either matches

    def trigger(self) -> Any:
        """The APScheduler trigger (UTC) that fires exactly when this schedule does."""
        from apscheduler.triggers.combining import OrTrigger
        from apscheduler.triggers.cron import CronTrigger

        def cron(days: frozenset[int] | None, weekdays: frozenset[int] | None) -> CronTrigger:
            return CronTrigger(minute=_listed(self.minutes, 60), hour=_listed(self.hours, 24),
                               day=_listed(days, 31), month=_listed(self.months, 12),
                               day_of_week="*" if weekdays is None or len(weekdays) == 7 else ",".join(
                                   _DAYS[day] for day in sorted(weekdays)), timezone="UTC")

        if self.days_or_weekdays:
            return OrTrigger([cron(self.days, None), cron(None, self.weekdays)])
        return cron(self.days, self.weekdays)


def parse_cron(expression: str, where: str) -> CronSchedule:
    """Parse a standard five-field cron expression or alias.

    Raises:
        ConfigError: naming ``where`` (file, line, loop), the cron field and what is wrong with it.
    """
    text = " ".join(expression.split())
    if text.startswith("@"):
        if text.lower() not in ALIASES:
            raise _refused(expression, where, f"{text!r} is not a schedule alias (use "
                           f"{', '.join(list(ALIASES)[:-1])} or {list(ALIASES)[-1]})")
        text = ALIASES[text.lower()]
    parts = text.split()
    if len(parts) != len(_FIELDS):
        raise _refused(expression, where, f"{len(_FIELDS)} fields are needed (minute hour day-of-month month "
                       f"day-of-week), it has {len(parts)}")
    values = []
    for field, part in zip(_FIELDS, parts, strict=True):
        try:
            values.append(frozenset(_field_values(field, part)))
        except _Bad as exc:
            raise _refused(expression, where, f"the {field.name} field {part!r}: {exc}") from None
    minutes, hours, days, months, weekdays = values
    day_text, weekday_text = parts[2], parts[4]
    # croniter's rule for "restricted", so that Shipyard and Airflow agree on every schedule.
    days_free = day_text == "*" or (len(days) == 31 and "*" in weekday_text)
    weekdays_free = weekday_text == "*" or (len(weekdays) == 7 and "*" in day_text)
    either = not days_free and not weekdays_free
    if not any(day <= _LONGEST_MONTH[month - 1] for day in days for month in months):
        if not either:
            raise _refused(expression, where, f"it never fires: no month it names has day {min(days)}")
        # "0 0 31 4,6 1": the 31st never comes, Mondays do (croniter drops the side that cannot match).
        days, either = frozenset(range(1, 32)), False
    return CronSchedule(text, minutes, hours, days, months, weekdays, either)


def _field_values(field: _Field, text: str) -> set[int]:
    found: set[int] = set()
    items = text.split(",")
    for item in items:
        if item == "*" or item.startswith("*/"):
            if len(items) > 1:
                raise _Bad("'*' cannot be part of a list")
            low, high, step = field.low, field.stored_high, _step(item[2:]) if item != "*" else 1
            found.update(range(low, high + 1, step))
            continue
        body, _, step_text = item.partition("/")
        step = _step(step_text) if "/" in item else 1
        start_text, dash, end_text = body.partition("-")
        start = _number(field, start_text)
        if not dash:
            if "/" in item:  # "10/25": from 10 to the end of the field
                found.update(range(_stored(field, start), field.stored_high + 1, step))
            else:
                found.add(_stored(field, start))
            continue
        end = _number(field, end_text)
        if _stored(field, start) == _stored(field, end) and (start, end) != (0, 7):  # 0-7: the whole week
            raise _Bad(f"a range whose ends are equal; write {start_text}")
        if start < end:  # day-of-week counts up to 7 first (5-7/2: Friday, Sunday), as cron does
            found.update(_stored(field, value) for value in range(start, end + 1, step))
        elif "/" in item:
            raise _Bad(f"a range that wraps around cannot take a step; list the values instead of {item!r}")
        else:  # wraps past the end of the field: sat-sun, 22-2, nov-feb
            found.update(_stored(field, value) for value in range(start, field.high + 1))
            found.update(range(field.low, end + 1))
    return found


def _step(text: str) -> int:
    if not _NUMBER.match(text) or int(text) < 1:
        raise _Bad("the step must be 1 or more")
    return int(text)


def _number(field: _Field, text: str) -> int:
    """The number as written (names converted; 7 stays 7)."""
    if _NUMBER.match(text):
        number = int(text)
        if not field.low <= number <= field.high:
            raise _Bad(f"{number} is outside {field.low}-{field.high}")
        return number
    if text.lower() in field.names:
        return field.names.index(text.lower()) + field.first_named
    raise _Bad(f"{text!r} is not {field.what}")


def _stored(field: _Field, number: int) -> int:
    """The number as stored (Sunday is 0 whether written 0, 7 or sun)."""
    return 0 if field.name == "day-of-week" and number == 7 else number


def _listed(values: frozenset[int] | None, size: int) -> str:
    return "*" if values is None or len(values) == size else ",".join(str(value) for value in sorted(values))


def _refused(expression: str, where: str, detail: str) -> ConfigError:
    return ConfigError(f"{where}: {expression!r} is not a valid cron expression: {detail}; {_USAGE}")
