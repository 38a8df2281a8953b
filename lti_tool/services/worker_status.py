"""What the workers tell operations of their passes, through Redis (every host's workers
and web processes share it): when a worker last finished a pass, and which parts of the
pass failed at their latest try.

A pass has parts (``WORKER_PARTS``): the scores, the results to read, the booking notices,
retention, the monthly coverage figures, closing overdue attempts. The scores are its
heart: a pass is noted (``HEARTBEAT_KEY``) once its scores went, so a worker down shows
with nothing queued too (a quiet weekend). A part that fails (retention on a locked table,
the mail server refusing) does not stop the pass; it is noted as failing until it goes
again (or is not tried for ``FAILING_KEPT_SECONDS``), so it shows in ``/readyz`` and
``/metrics`` and not only in the log.

Every read and write is by Redis's clock (a key's time left), never a host's, and never
reads a value: a hand (or a bug) that put something in a key cannot break a probe.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from collections.abc import Mapping

import redis

log = logging.getLogger(__name__)

#: The parts of a worker's pass, by the name ``/readyz`` and ``/metrics`` give them, and
#: as the worker's log and ``worker --once`` say them.
WORKER_PARTS = {
    "scores": "sending scores",
    "result_reads": "reading results",
    "notices": "emailing notices",
    "retention": "applying the retention rules",
    "figures": "recording coverage figures",
    "attempts": "closing overdue attempts",
}

#: The heartbeat: where the workers note that one of them finished a pass (its time left
#: says when).
HEARTBEAT_KEY = "lti_tool:worker-last-pass"
#: Where a part that failed at its latest try is noted, ``{prefix}{part}``.
PART_FAILING_PREFIX = "lti_tool:worker-failing:"
#: How long the heartbeat is kept: a pass none noted for a day reads as none (infinitely
#: old).
KEPT_SECONDS = 86_400
#: A worker pass older than this, and the workers are taken to have stopped: they pass
#: every few seconds when idle (config/prometheus-alerts.yml's LaeringslopWorkerStopped).
STOPPED_AFTER_SECONDS = 300
#: How long a part's failure is kept: longer than retention's hour, so a retention that
#: keeps failing stays noted between its runs; a part no longer tried (the workers
#: stopped, SMTP_URL removed) is no longer shown failing two hours after its last try.
FAILING_KEPT_SECONDS = 7_200


@dataclasses.dataclass(frozen=True)
class WorkerStatus:
    last_pass_age_seconds: float | None
    """Seconds since a worker finished a pass; infinite when none has in a day; None when
    not known (a key someone left without a lifetime)."""
    failing: tuple[str, ...]
    """The parts that failed at their latest try, in ``WORKER_PARTS``'s order."""

    def stopped(self, poll_seconds: int) -> bool:
        """No worker has finished a pass for ``STOPPED_AFTER_SECONDS`` (or in a day), nor
        for three of its polls, when they are that long apart (``SCORE_WORKER_POLL_SECONDS``)."""
        age = self.last_pass_age_seconds
        return age is not None and age > max(STOPPED_AFTER_SECONDS, 3 * poll_seconds)

    @property
    def passed_ago(self) -> dt.timedelta | None:
        """Since a worker finished a pass, a second at least (a pass this very moment is
        not "in 0 seconds"); None when none has in a day, or not known."""
        age = self.last_pass_age_seconds
        return None if age is None or math.isinf(age) else dt.timedelta(seconds=max(age, 1))


def note_pass(client: redis.Redis | None, went: Mapping[str, bool]) -> None:
    """A worker finished a pass, having tried the parts in ``went`` (True: it went; False:
    it failed); a part not due (retention runs hourly) or not set up (notices without a
    mail server) is left out, and keeps what its latest try left. One round trip. Without
    Redis nothing is noted; Redis away, the pass is not noted, and the worker goes on."""
    if client is None:
        return
    pipeline = client.pipeline(transaction=False)
    for part, ok in went.items():
        if ok:
            pipeline.delete(PART_FAILING_PREFIX + part)
        else:
            pipeline.set(PART_FAILING_PREFIX + part, "1", ex=FAILING_KEPT_SECONDS)
    if went.get("scores"):
        pipeline.set(HEARTBEAT_KEY, "1", ex=KEPT_SECONDS)
    try:
        pipeline.execute()
    except redis.RedisError as exc:
        log.warning("worker: its pass not noted in Redis: %s", exc)


def read_status(client: redis.Redis | None) -> WorkerStatus | None:
    """The workers' status (one round trip); None when not known (no Redis: the workers
    have nowhere to note it; Redis away: logged)."""
    if client is None:
        return None
    pipeline = client.pipeline(transaction=False)
    pipeline.pttl(HEARTBEAT_KEY)
    for part in WORKER_PARTS:
        pipeline.exists(PART_FAILING_PREFIX + part)
    try:
        left, *failing = pipeline.execute()
    except redis.RedisError as exc:
        log.warning("the workers' status not read: %s", exc)
        return None
    return WorkerStatus(
        last_pass_age_seconds=_age(int(left)),
        failing=tuple(part for part, noted in zip(WORKER_PARTS, failing, strict=True) if noted),
    )


def _age(left_ms: int) -> float | None:
    if left_ms == -2:  # no such key
        return math.inf
    if left_ms < 0:  # a key without a lifetime: not the workers'
        return None
    return max(KEPT_SECONDS - left_ms / 1000, 0.0)
