"""A loop's state through Shipyard's own API: its lock, its cycles, and the stage run a register step registers.

What ``shipyard loop run`` and ``shipyard scheduler`` call with a tracking URI set (the client is
:mod:`shipyard.loop.remote`), with the functions of :mod:`shipyard.loop.history` the local path calls. Taking the
lock and numbering the cycle is one transaction (a compare-and-set on the lock's row): a second scheduler gets a
409 and runs nothing. The holder names its own process (host, pid, start key) and sends heartbeats, so a killed
holder's lock is taken over as without a server. Taking the lock, recording steps and finishing are writer's work;
reading cycles is a reader's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from ...errors import ValidationError
from ...loop.backend import latest_stage_run
from ...loop.history import LOCK_TTL_S, Holder, acquisition, beat, cycles, release, save_steps
from .protocol import Call, field

STATUSES = ("succeeded", "failed", "interrupted", "running")


def start_cycle(call: Call) -> dict[str, Any]:
    """``{"trigger", "key", "ttl", "holder": {"token", "host", "pid", "process_start"}}``: take the loop's lock and
    record a running cycle (409 while another live process holds it); ``{"number", "steps"}``."""
    holder = field(call.body, "holder", dict, required=True)
    who = Holder(token=_text(holder, "token", "holder.token"), host=_text(holder, "host", "holder.host"),
                 pid=_pid(holder), process_start=field(holder, "process_start", str))
    ttl = field(call.body, "ttl", (int, float)) or LOCK_TTL_S
    if not 0 < ttl <= 86_400:
        raise ValidationError(f"The field 'ttl' must be seconds between 0 and a day, got {ttl}.", field="ttl")
    write = acquisition(_loop(call), who, field(call.body, "trigger", str, required=True),
                        key=field(call.body, "key", str), ttl=float(ttl))

    def work(conn: Connection) -> dict[str, Any]:
        number, steps = write(conn)
        return {"number": number, "steps": steps}

    return call.once(work)


def record_steps(call: Call) -> dict[str, Any]:
    """``{"steps": [...]}``: the cycle's step results so far (written as each step ends)."""
    steps = field(call.body, "steps", list, required=True)
    save_steps(call.settings.store, _loop(call), _number(call), steps)
    return {"recorded": len(steps)}


def finish_cycle(call: Call) -> dict[str, Any]:
    """``{"token", "status", "error"}``: record the outcome and release the lock that token holds."""
    status = field(call.body, "status", str, required=True)
    if status not in STATUSES:
        raise ValidationError(f"The field 'status' must be one of {', '.join(STATUSES)}, got {status[:40]!r}.",
                              field="status")
    release(call.settings.store, _loop(call), _number(call), _text(call.body, "token", "token"), status,
            field(call.body, "error", str))
    return {"status": status}


def heartbeat(call: Call) -> dict[str, Any]:
    beat(call.settings.store, _loop(call), _text(call.body, "token", "token"))
    return {}


def list_cycles(call: Call) -> dict[str, Any]:
    """``?limit=50``: the loop's latest cycles, newest first, every field as kept."""
    text = call.request.query_params.get("limit", "50")
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise ValidationError(f"The query parameter 'limit' must be 1 to 1000, got {text[:20]!r}.", field="limit")
    return {"cycles": [cycle.to_record() for cycle in cycles(call.settings.store, _loop(call), limit=int(text))]}


def stage_run(call: Call) -> dict[str, Any]:
    """``?pipeline=churn&stage=train``: the latest finished run of the stage (null when there is none)."""
    names = {}
    for name in ("pipeline", "stage"):
        value = call.request.query_params.get(name, "").strip()
        if not value or "'" in value or "`" in value:
            raise ValidationError(f"The query parameter {name!r} must be a {name} name (no quotes), got "
                                  f"{value[:40]!r}.", field=name)
        names[name] = value
    return {"run_id": latest_stage_run(call.settings.store, names["pipeline"], names["stage"])}


def _loop(call: Call) -> str:
    name = str(call.path["loop"]).strip()
    if not name:
        raise ValidationError("A loop name cannot be empty.", field="loop")
    return name


def _number(call: Call) -> int:
    text = str(call.path["number"])
    if not text.isdigit() or int(text) < 1:
        raise ValidationError(f"A cycle number is 1 or more, got {text[:20]!r}.", field="number")
    return int(text)


def _text(body: dict[str, Any], name: str, shown: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"The field {shown!r} must be a non-empty string.", field=shown)
    return value


def _pid(holder: dict[str, Any]) -> int:
    value = holder.get("pid")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError("The field 'holder.pid' must be a process id (a positive integer).", field="holder.pid")
    return value
