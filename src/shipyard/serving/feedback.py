"""The feedback core: labels for logged predictions, joined on ``(request_id, row)``; no HTTP here.

A label must never outlive its prediction: before feedback is stored, the predictions it names that are
still only in this worker's memory go to disk (:mod:`.durability`), and feedback is acknowledged once it is
on disk itself. A request id this worker does not remember is looked up in the log, where other workers'
predictions arrive within a flush interval.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..errors import MalformedRequestError, NotFoundError, ValidationError
from ..predlog.readers import logged_rows
from ..predlog.schema import FeedbackEntry
from .fleet import LiveDeployment
from .rewards import count_rewards
from .state import ServerState


async def record_feedback(state: ServerState, deployment: LiveDeployment, body: Any) -> dict[str, Any]:
    """Store labels for logged predictions; unknown request ids, and rows beyond the rows a request had, are
    reported back (``unknown``, ``unknown_rows``) and neither stored nor counted as accepted."""
    items = body if isinstance(body, list) else [body]
    entries: list[FeedbackEntry] = []
    for index, item in enumerate(items):
        where = f"[{index}]" if isinstance(body, list) else ""
        if not isinstance(item, dict) or "request_id" not in item or "label" not in item:
            raise MalformedRequestError(f"Feedback{where} must be an object with 'request_id' and 'label'.",
                                        field="request_id")
        request_id, label, row = item["request_id"], item["label"], item.get("row", 0)
        if isinstance(row, float) and row.is_integer():  # as in an integer column: 3.0 is row 3
            row = int(row)
        if not isinstance(request_id, str | int) or isinstance(request_id, bool) or not str(request_id):
            raise ValidationError(f"Feedback{where}: 'request_id' must be a string.", field="request_id")
        if label is None or isinstance(label, dict | list):
            raise ValidationError(f"Feedback{where}: 'label' must be a number, text or true/false.", field="label")
        if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < 2**31:  # the log's row is int32
            raise ValidationError(f"Feedback{where}: 'row' must be a row index (0 or more).", field="row")
        entries.append(FeedbackEntry(str(request_id), row, label, time.time_ns() // 1_000_000))
    if not entries:
        raise ValidationError("The feedback list is empty.", field="request_id")
    rows = await _logged_rows(state, deployment.name, {entry.request_id for entry in entries})
    unknown = sorted({entry.request_id for entry in entries if entry.request_id not in rows})
    beyond = sorted({(entry.request_id, entry.row) for entry in entries
                     if entry.request_id in rows and entry.row >= rows[entry.request_id]})
    accepted = [entry for entry in entries if entry.row < rows.get(entry.request_id, 0)]
    if accepted:  # a label must never outlive its prediction: that goes to disk first (see .durability)
        await state.commits.before_feedback(deployment.name, (entry.request_id for entry in accepted))
        await asyncio.wrap_future(state.feedback.append_durable(deployment.name, accepted[0].timestamp_ms,
                                                                accepted))
    if not accepted:
        if unknown:
            raise NotFoundError(f"No prediction of deployment {deployment.name!r} has request_id "
                                f"{', '.join(unknown[:5])}; feedback must name a logged request.")
        request_id, row = beyond[0]
        raise NotFoundError(f"Request {request_id!r} of deployment {deployment.name!r} had {rows[request_id]} "
                            f"row(s), so it has no row {row}; 'row' is the record's index in its request.")
    answer: dict[str, Any] = {"accepted": len(accepted), "unknown": unknown,
                              "unknown_rows": [{"request_id": request_id, "row": row} for request_id, row in beyond]}
    if deployment.spec.thompson:  # the posteriors learn from the label now (a repeated label adds nothing)
        answer["rewards_counted"] = await asyncio.to_thread(count_rewards, state, deployment, accepted)
    return answer


async def _logged_rows(state: ServerState, deployment: str, ids: set[str]) -> dict[str, int]:
    """How many rows each known request of ``ids`` had: this worker's recent ids, then the log."""
    recent: dict[str, int] = state.recent.get(deployment) or {}
    rows = {request_id: recent[request_id] for request_id in ids if request_id in recent}
    missing = ids - rows.keys()
    deadline = time.monotonic() + state.config.flush_interval_s * 2 + 0.5  # other workers flush within that
    while missing:
        found = await asyncio.to_thread(logged_rows, state.predictions_root, deployment, missing)
        rows.update(found)
        missing -= found.keys()
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    return rows
