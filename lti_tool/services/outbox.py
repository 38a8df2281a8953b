"""How far behind the worker is: each outbox's waiting rows and the oldest one's age.

Read by /readyz and /metrics. A growing depth or age means the worker is down, or a
platform or the mail server has been refusing for a while (the admin console's deliveries
page says which).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.models import DeliveryStatus, ResultRead, ScoreDelivery
from lti_tool.models.catalogue import MailStatus, SessionNotice


@dataclasses.dataclass(frozen=True)
class OutboxState:
    depth: int
    oldest_age_seconds: float | None
    """None when the outbox is empty."""


#: Each outbox: its table's creation time and what counts as waiting.
_OUTBOXES = {
    "scores": (ScoreDelivery.created_at, ScoreDelivery.status == DeliveryStatus.PENDING),
    "notices": (SessionNotice.created_at, SessionNotice.mail_status == MailStatus.PENDING),
    # a request goes once read: every row waits
    "result_reads": (ResultRead.created_at, None),
}


def outbox_states(session: Session, now: dt.datetime) -> dict[str, OutboxState]:
    """Scores to send, notices to email and results to read: how many, and how old the
    oldest (scores that failed for good are not waiting: an admin sees them)."""
    states = {}
    for name, (created_at, waiting) in _OUTBOXES.items():
        query = select(func.count(), func.min(created_at))
        if waiting is not None:
            query = query.where(waiting)
        depth, oldest = session.execute(query).one()
        age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else None
        states[name] = OutboxState(depth, age)
    return states
