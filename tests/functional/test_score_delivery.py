"""Scores reach the LMS gradebook (AGS): queued with the attempt, sent by the worker after
the commit, in order per person and line item, never lost and never sent twice.

Launches are real signed launches from the test LMS with Moodle's AGS claim; the
gradebook is a fake Moodle (tests/fakes/gradebook.py). Time is moved forward by passing
``now`` to ``deliver_due``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import signal
import threading
import time
from typing import Any

import pytest
import requests
from sqlalchemy import select, text

from lti_tool.db import get_session
from lti_tool.lti import ags
from lti_tool.lti import claims as c
from lti_tool.lti.services import lti_services
from lti_tool.models import DeliveryStatus, Launch, ScoreDelivery
from lti_tool.services import outbox, platforms
from lti_tool.services.score_delivery import (
    SCORES,
    DeliveryCounts,
    claim,
    claim_due,
    deliver_due,
    queue_score,
)
from tests.fakes.gradebook import FakeGradebook
from tests.fakes.lms import TestLms, csrf_token, parse_forms
from tests.functional.test_deployments import _Rows, admin_session, other_lms
from tests.functional.token_browsing import launch_id_of

LEARNER, MANAGER = "101", "103"  # the test LMS's people (their LMS user ids)
MOODLE_TIME = dt.datetime(2026, 11, 22, 10, 35, 46, 41000, tzinfo=dt.UTC)


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture
def gradebook(app: Any, lms: TestLms, mocked_http: Any) -> FakeGradebook:
    """The test LMS's gradebook, checking the tool's client assertions against its JWKS."""
    with app.app_context():
        jwks = lti_services().keyring.jwks()
    return FakeGradebook(
        lms.platform.issuer,
        mocked_http,
        lms.platform.token_url,
        client_id=lms.platform.client_id,
        tool_jwks=jwks,
    )


@pytest.fixture
def lineitem(gradebook: FakeGradebook) -> str:
    """The line item Moodle made for the activity (its "accept grades" ticked)."""
    return gradebook.add_line_item("INFOSEC modul 1 – ekstern e-læring", 100, resource_link_id="1")


def launch(app: Any, lms: TestLms, persona: str = "learner", **change: Any) -> str:
    """A real launch with these claims changed; the id of the Launch row it made."""
    response = lms.signed_launch(TestLms.browser(app), persona, change=change)
    assert lms.landed(response), response.get_data(as_text=True)
    return launch_id_of(app, response)


def ags_launch(app: Any, lms: TestLms, claim: dict[str, Any], persona: str = "learner") -> str:
    return launch(app, lms, persona, **{c.AGS_ENDPOINT: claim})


def queue(
    app: Any,
    launch_id: str,
    score_given: float = 85,
    *,
    score_maximum: float = 100,
    comment: str | None = "Bestått",
    line_item: dict[str, Any] | None = None,
    submitted_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> int | None:
    """Queue a score as submitting an attempt does, and commit (the caller's one commit)."""
    with app.app_context():
        session = get_session()
        found = session.get(Launch, launch_id)
        delivery = queue_score(
            session,
            organisation_id=found.deployment.organisation_id,
            attempt_id=None,
            launch=found,
            score_given=score_given,
            score_maximum=score_maximum,
            comment=comment,
            line_item=line_item,
            submitted_at=submitted_at,
            now=now,
        )
        session.commit()
        return delivery.id if delivery else None


def deliver(app: Any, now: dt.datetime | None = None, **kwargs: Any) -> DeliveryCounts:
    with app.app_context():
        return deliver_due(app.extensions["db_sessionmaker"], lti_services(), now, **kwargs)


def row(app: Any, delivery_id: int) -> ScoreDelivery:
    with app.app_context():
        found = get_session().get(ScoreDelivery, delivery_id)
        assert found is not None
        return found


def rows(app: Any) -> list[ScoreDelivery]:
    with app.app_context():
        return list(get_session().scalars(select(ScoreDelivery).order_by(ScoreDelivery.id)))


def counts(**given: int) -> DeliveryCounts:
    return DeliveryCounts(**given)


# --- queueing --------------------------------------------------------------------------------


def test_the_score_is_the_ags_document_and_reaches_the_launchs_line_item(
    app, lms, gradebook, lineitem
):
    launch_id = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    delivery_id = queue(
        app, launch_id, 85, comment="Bestått INFOSEC modul 1 (85/100)", now=MOODLE_TIME
    )

    queued = row(app, delivery_id)
    assert queued.status == DeliveryStatus.PENDING
    assert queued.lineitem_url == lineitem
    assert gradebook.received == []  # nothing is sent before the worker runs

    assert deliver(app) == counts(delivered=1)

    expected = {
        "userId": LEARNER,
        "scoreGiven": 85,
        "scoreMaximum": 100,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": "2026-11-22T10:35:46.041+00:00",
        "comment": "Bestått INFOSEC modul 1 (85/100)",
    }
    assert gradebook.scores[lineitem][LEARNER] == [expected]
    ((url, _),) = gradebook.received
    assert url == gradebook.base + "/lineitems/2/lineitem/scores?type_id=1"
    delivered = row(app, delivery_id)
    assert delivered.status == DeliveryStatus.DELIVERED
    assert delivered.delivered_at is not None
    assert (delivered.tries, delivered.last_status, delivered.last_error) == (1, 200, None)


def test_an_empty_comment_is_left_out(app, lms, gradebook, lineitem):
    launch_id = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    queue(app, launch_id, 3.5, score_maximum=10, comment="")
    deliver(app)
    (score,) = gradebook.scores[lineitem][LEARNER]
    assert "comment" not in score
    assert (score["scoreGiven"], score["scoreMaximum"]) == (3.5, 10)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", score["timestamp"])


def test_canvas_gets_the_submission_time(app, lms, gradebook, lineitem):
    canvas = {
        "product_family_code": "canvas",
        "guid": "canvas-guid",
        "name": "Canvas",
        "version": "cloud",
    }
    launch_id = launch(
        app,
        lms,
        **{c.AGS_ENDPOINT: gradebook.endpoint_claim(lineitem), c.TOOL_PLATFORM: canvas},
    )
    submitted = dt.datetime(2026, 11, 22, 9, 0, 0, 120000, tzinfo=dt.UTC)
    queue(
        app, launch_id, 7, score_maximum=10, comment=None, submitted_at=submitted, now=MOODLE_TIME
    )
    deliver(app)

    assert gradebook.scores[lineitem][LEARNER] == [
        {
            "userId": LEARNER,
            "scoreGiven": 7,
            "scoreMaximum": 10,
            "activityProgress": "Completed",
            "gradingProgress": "FullyGraded",
            "timestamp": "2026-11-22T10:35:46.041+00:00",
            "https://canvas.instructure.com/lti/submission": {
                "submittedAt": "2026-11-22T09:00:00.120+00:00"
            },
        }
    ]


def test_moodle_gets_no_canvas_extension(app, lms, gradebook, lineitem):
    launch_id = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    queue(app, launch_id, submitted_at=MOODLE_TIME)
    deliver(app)
    (score,) = gradebook.scores[lineitem][LEARNER]
    assert "https://canvas.instructure.com/lti/submission" not in score


@pytest.mark.parametrize(
    "claim",
    [
        None,  # "accept grades" not ticked: Moodle sends no AGS claim
        {"scope": [ags.SCOPE_LINEITEM, ags.SCOPE_RESULT_READONLY], "lineitem": "x"},  # no score
        {"scope": [ags.SCOPE_SCORE]},  # nowhere to send it
    ],
)
def test_nothing_is_queued_when_the_lms_takes_no_grades(app, lms, gradebook, claim):
    launch_id = launch(app, lms) if claim is None else ags_launch(app, lms, claim)
    assert queue(app, launch_id) is None
    assert rows(app) == []
    assert deliver(app) == counts()
    assert gradebook.token_calls == 0


def test_no_line_item_and_no_right_to_create_one_queues_nothing(app, lms, gradebook):
    claim = gradebook.endpoint_claim(scopes=[ags.SCOPE_SCORE, ags.SCOPE_LINEITEM_READONLY])
    launch_id = ags_launch(app, lms, claim)
    assert queue(app, launch_id, line_item={"resourceId": "m-1", "label": "Kartlegging"}) is None
    assert rows(app) == []


def test_queue_only_flushes_the_callers_transaction(app, lms, gradebook, lineitem):
    launch_id = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    with app.app_context():
        session = get_session()
        found = session.get(Launch, launch_id)
        queue_score(
            session,
            organisation_id=found.deployment.organisation_id,
            attempt_id=None,
            launch=found,
            score_given=1,
            score_maximum=2,
            comment=None,
            line_item=None,
            submitted_at=None,
        )
        session.rollback()  # the attempt's transaction failed: no score either
    assert rows(app) == []


# --- tokens ----------------------------------------------------------------------------------


def test_the_token_is_reused_across_deliveries_and_renewed_after_a_401(
    app, lms, gradebook, lineitem
):
    learner = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    manager = ags_launch(app, lms, gradebook.endpoint_claim(lineitem), persona="manager")
    queue(app, learner, 10)
    queue(app, manager, 20)
    assert deliver(app) == counts(delivered=2)
    queue(app, learner, 30)
    assert deliver(app) == counts(delivered=1)
    assert gradebook.token_calls == 1
    assert gradebook.token_scopes == [[ags.SCOPE_SCORE]]

    gradebook.expire_tokens()
    queue(app, learner, 40)
    assert deliver(app) == counts(delivered=1)

    assert gradebook.token_calls == 2
    assert [s for _, _, s in gradebook.calls("POST", "/scores")] == [200, 200, 200, 401, 200]
    assert gradebook.given(LEARNER, lineitem) == [10, 30, 40]


# --- outages, refusals, retries -------------------------------------------------------------


def test_an_hour_long_outage_delays_but_loses_nothing_and_keeps_the_order(
    app, lms, gradebook, lineitem, caplog
):
    learner = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    manager = ags_launch(app, lms, gradebook.endpoint_claim(lineitem), persona="manager")
    start = dt.datetime.now(dt.UTC)
    for n, (who, given) in enumerate(
        [(learner, 10), (manager, 50), (learner, 20), (learner, 30), (manager, 60)]
    ):
        queue(app, who, given, now=start + dt.timedelta(seconds=n))

    # The LMS is down for an hour: unavailable, then not even answering.
    now = start
    while now < start + dt.timedelta(hours=1):
        gradebook.down = (
            503 if now < start + dt.timedelta(minutes=30) else requests.ConnectionError()
        )
        done = deliver(app, now)
        assert done.delivered == done.failed == 0
        now += dt.timedelta(minutes=2)
    assert gradebook.received == []
    waiting = rows(app)
    assert {r.status for r in waiting} == {DeliveryStatus.PENDING}
    # Only the oldest score of each person was tried; the newer ones waited their turn.
    assert [r.tries > 0 for r in waiting] == [True, True, False, False, False]
    assert {r.last_status for r in waiting if r.tries} <= {503, None}  # None: no answer
    assert all(r.last_error for r in waiting if r.tries)
    # each failed try is a warning: where operations watch, long before a score fails
    tries = [
        r for r in caplog.records if "failed (" in r.getMessage() and "next try" in r.getMessage()
    ]
    assert tries and {r.levelname for r in tries} == {"WARNING"}

    # The LMS is back; within the longest backoff every score is delivered.
    gradebook.down = None
    delivered = 0
    while now < start + dt.timedelta(hours=3) and delivered < 5:
        delivered += deliver(app, now).delivered
        now += dt.timedelta(minutes=5)

    assert delivered == 5
    assert gradebook.given(LEARNER, lineitem) == [10, 20, 30]
    assert gradebook.given(MANAGER, lineitem) == [50, 60]
    assert len(gradebook.received) == 5  # each exactly once
    assert {r.status for r in rows(app)} == {DeliveryStatus.DELIVERED}
    assert deliver(app, now + dt.timedelta(days=1)) == counts()


def test_backoff_grows_with_full_jitter_up_to_the_cap(make_app, lms, gradebook, lineitem):
    app = make_app(SCORE_RETRY_BASE_SECONDS=10, SCORE_RETRY_MAX_SECONDS=40)
    launch_id = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    delivery_id = queue(app, launch_id)
    gradebook.down = 503
    now = dt.datetime.now(dt.UTC)
    for tries, ceiling in [(1, 10), (2, 20), (3, 40), (4, 40), (5, 40)]:
        assert deliver(app, now) == counts(retrying=1)
        waiting = row(app, delivery_id)
        assert waiting.tries == tries
        assert waiting.last_status == 503
        delay = (waiting.next_attempt_at - now).total_seconds()
        assert 0 <= delay <= ceiling
        assert deliver(app, now) == counts()  # not due again before its time
        now = waiting.next_attempt_at


def test_retries_stop_after_the_retry_window(make_app, lms, gradebook, lineitem):
    app = make_app(SCORE_RETRY_FOR_HOURS=2)
    launch_id = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    start = dt.datetime.now(dt.UTC)
    delivery_id = queue(app, launch_id, now=start)
    gradebook.down = 503

    assert deliver(app, start) == counts(retrying=1)
    assert deliver(app, start + dt.timedelta(hours=1, minutes=59)) == counts(retrying=1)
    assert deliver(app, start + dt.timedelta(hours=2, minutes=1)) == counts(failed=1)

    given_up = row(app, delivery_id)
    assert given_up.status == DeliveryStatus.FAILED
    assert given_up.last_status == 503
    assert deliver(app, start + dt.timedelta(days=10)) == counts()  # failed: left alone


def test_a_refused_score_fails_at_once_and_the_admin_sees_and_retries_it(
    app, lms, gradebook, lineitem, caplog
):
    launch_id = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    delivery_id = queue(app, launch_id, 85)
    gradebook.refuse_with(400, '{"error": "scoreGiven must not exceed the grade item maximum"}')

    with caplog.at_level(logging.WARNING):
        assert deliver(app) == counts(failed=1)
    assert "must not exceed the grade item maximum" in caplog.text
    failed = row(app, delivery_id)
    assert (failed.status, failed.last_status, failed.tries) == (DeliveryStatus.FAILED, 400, 1)
    assert "must not exceed the grade item maximum" in failed.last_error
    assert deliver(app, dt.datetime.now(dt.UTC) + dt.timedelta(days=1)) == counts()

    admin = admin_session(lms, app)
    page = admin.get("/admin/deliveries").get_data(as_text=True)
    assert re.search(r"Failed</dt>\s*<dd>1</dd>", page)
    (shown,) = [r for r in table_rows(page, "Scores the learning platform did not take")]
    assert shown["Status code"] == "400"
    assert "must not exceed the grade item maximum" in shown["Error"]
    assert "Demo Ansatt" in shown["Person"]
    assert shown["Score"] == "85/100"

    token = csrf_token(page)
    # The teacher fixes the grade item; the admin sends the score again.
    gradebook.refuse_with(None)
    retried = submit(admin, page, f"/admin/deliveries/{delivery_id}/retry")
    assert retried.status_code == 302
    again = row(app, delivery_id)
    assert (again.status, again.tries) == (DeliveryStatus.PENDING, 1)  # tries kept
    page = admin.get(retried.headers["Location"]).get_data(as_text=True)
    assert "The score is queued and will be sent again shortly." in page

    assert deliver(app) == counts(delivered=1)
    assert row(app, delivery_id).tries == 2
    assert gradebook.given(LEARNER, lineitem) == [85]
    # Delivered: retrying it does nothing, and it is never sent again.
    again = admin.post(f"/admin/deliveries/{delivery_id}/retry", data={"csrf_token": token})
    page = admin.get(again.headers["Location"]).get_data(as_text=True)
    assert "The score has not failed: it is queued or delivered already." in page
    assert row(app, delivery_id).status == DeliveryStatus.DELIVERED
    assert deliver(app) == counts()
    assert len(gradebook.received) == 1


def test_retry_all_failed_skips_scores_a_newer_one_replaced(app, lms, gradebook, lineitem):
    learner = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    manager = ags_launch(app, lms, gradebook.endpoint_claim(lineitem), persona="manager")
    gradebook.refuse_with(400)
    old = queue(app, learner, 10)
    other = queue(app, manager, 50)
    assert deliver(app) == counts(failed=2)
    gradebook.refuse_with(None)
    newer = queue(app, learner, 20)  # an older failed score does not hold a newer one back
    assert deliver(app) == counts(delivered=1)

    admin = admin_session(lms, app)
    page = admin.get("/admin/deliveries").get_data(as_text=True)
    failed = table_rows(page, "Scores the learning platform did not take")
    assert [r["Action"] for r in failed] == [
        "Retry the score of Demo Enhetsleder",
        "Replaced by a newer score",
    ]
    assert not has_form(page, f"/admin/deliveries/{old}/retry")
    refused = admin.post(f"/admin/deliveries/{old}/retry", data={"csrf_token": csrf_token(page)})
    assert "a newer score for the same person" in admin.get(refused.headers["Location"]).get_data(
        as_text=True
    )

    response = submit(admin, page, "/admin/deliveries/retry-failed")
    assert "1 failed score is queued" in admin.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert row(app, old).status == DeliveryStatus.FAILED
    assert row(app, other).status == DeliveryStatus.PENDING
    assert deliver(app) == counts(delivered=1)
    assert gradebook.given(LEARNER, lineitem) == [20]  # never the stale 10 after the 20
    assert gradebook.given(MANAGER, lineitem) == [50]
    assert row(app, newer).status == DeliveryStatus.DELIVERED


# --- two workers ----------------------------------------------------------------------------


def test_a_claim_is_taken_by_one_worker_only(app, lms, gradebook, lineitem):
    launch_id = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    delivery_id = queue(app, launch_id)
    now = dt.datetime.now(dt.UTC)
    lease = now + dt.timedelta(minutes=5)
    factory = app.extensions["db_sessionmaker"]
    with factory() as first, factory() as second:
        assert claim(first, delivery_id, now, lease) is True
        first.commit()
        assert claim(second, delivery_id, now, lease) is False
        second.commit()
    # The claimer died before sending: after its lease another worker takes the row over.
    assert deliver(app, now + dt.timedelta(minutes=4)) == counts()
    assert deliver(app, now + dt.timedelta(minutes=6)) == counts(delivered=1)
    assert len(gradebook.received) == 1


def test_workers_claiming_at_once_skip_each_others_rows(app, lms, gradebook, lineitem):
    """A row another worker is claiming (locked, not yet committed) is passed over, not
    waited for: PostgreSQL's SKIP LOCKED. (SQLite has one writer at a time.)"""
    learner = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    manager = ags_launch(app, lms, gradebook.endpoint_claim(lineitem), persona="manager")
    taken = queue(app, learner, 10)
    free = queue(app, manager, 50)
    factory = app.extensions["db_sessionmaker"]
    with factory() as first, factory() as second:
        if first.get_bind().dialect.name != "postgresql":
            pytest.skip("SKIP LOCKED is PostgreSQL's")
        first.execute(select(ScoreDelivery).where(ScoreDelivery.id == taken).with_for_update())
        second.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting would fail the test
        now = dt.datetime.now(dt.UTC)
        lease = now + dt.timedelta(minutes=5)

        assert claim_due(second, now, lease, limit=10) == [free]
        second.commit()
        first.rollback()
    # The learner's is free again; the manager's is leased to the second worker.
    assert deliver(app) == counts(delivered=1)
    assert gradebook.given(LEARNER, lineitem) == [10]


def claimed_at_once(
    app: Any, box: outbox.Claimable, now: dt.datetime
) -> tuple[list[int], list[int]]:
    """Two workers claiming an outbox's due rows at once: the first takes one, and before
    it commits the second asks for up to ten (a wait for the first's row would fail). Each
    one's ids, committed. PostgreSQL only: SQLite runs one writer at a time."""
    if app.extensions["db_engine"].dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's")
    factory = app.extensions["db_sessionmaker"]
    lease = now + dt.timedelta(minutes=5)
    with factory() as first, factory() as second:
        second.execute(text("SET LOCAL lock_timeout = '2s'"))
        mine = outbox.claim_due(first, box, now, lease, limit=1)
        theirs = outbox.claim_due(second, box, now, lease, limit=10)
        first.commit()
        second.commit()
    return mine, theirs


def test_workers_claiming_scores_at_once_take_different_ones(app, lms, gradebook, lineitem):
    learner = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    manager = ags_launch(app, lms, gradebook.endpoint_claim(lineitem), persona="manager")
    first, second = queue(app, learner, 10), queue(app, manager, 50)
    assert claimed_at_once(app, SCORES, dt.datetime.now(dt.UTC)) == ([first], [second])


class _InterleavingClient(ags.AgsClient):
    """Runs a second worker's pass while this worker is in the middle of its first post."""

    def __init__(self, app: Any, second: ags.AgsClient) -> None:
        services = lti_services()
        super().__init__(services.cache, services.keyring, 5)
        self.app = app
        self.second = second
        self.second_pass: DeliveryCounts | None = None

    def post_score(self, *args: Any, **kwargs: Any) -> int:
        if self.second_pass is None:
            self.second_pass = deliver_due(
                self.app.extensions["db_sessionmaker"], lti_services(), client=self.second
            )
        return super().post_score(*args, **kwargs)


def test_two_workers_never_send_the_same_score(app, lms, gradebook, lineitem):
    learner = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    manager = ags_launch(app, lms, gradebook.endpoint_claim(lineitem), persona="manager")
    queue(app, learner, 10)
    queue(app, learner, 20)
    queue(app, manager, 50)

    with app.app_context():
        services = lti_services()
        first = _InterleavingClient(app, ags.AgsClient(services.cache, services.keyring, 5))
        first_pass = deliver_due(app.extensions["db_sessionmaker"], services, client=first)

    # While the first worker sent the learner's 10, the second found nothing to take: the
    # first had claimed both due scores (the 10 and the manager's 50), and the 20 waits
    # for the 10. The first sent the 20 in its next claim.
    assert first.second_pass == counts()
    assert first_pass == counts(delivered=3)
    assert gradebook.given(LEARNER, lineitem) == [10, 20]
    assert gradebook.given(MANAGER, lineitem) == [50]
    assert len(gradebook.received) == 3


# --- line items found or created ------------------------------------------------------------


def test_the_line_item_is_found_by_resource_id(app, lms, gradebook):
    gradebook.add_line_item("INFOSEC modul 1", 100)
    existing = gradebook.add_line_item("Kartlegging", 10, resource_id="mapping-7", tag="mapping")
    launch_id = ags_launch(app, lms, gradebook.endpoint_claim())  # no lineitem of its own
    spec = {"resourceId": "mapping-7", "label": "Kartlegging", "tag": "mapping"}
    delivery_id = queue(app, launch_id, 8, score_maximum=10, line_item=spec)

    assert deliver(app) == counts(delivered=1)

    assert gradebook.given(LEARNER, existing) == [8]
    assert gradebook.created == []
    assert row(app, delivery_id).lineitem_url == existing
    assert gradebook.token_scopes == [[ags.SCOPE_LINEITEM, ags.SCOPE_SCORE]]


def test_a_missing_line_item_is_created_once(app, lms, gradebook):
    learner = ags_launch(app, lms, gradebook.endpoint_claim())
    manager = ags_launch(app, lms, gradebook.endpoint_claim(), persona="manager")
    spec = {"resourceId": "mapping-7", "label": "Kartlegging", "tag": "mapping"}
    first = queue(app, learner, 8, score_maximum=10, line_item=spec)
    second = queue(app, manager, 9, score_maximum=10, line_item=spec)

    assert deliver(app) == counts(delivered=2)

    assert gradebook.created == [
        {"scoreMaximum": 10, "label": "Kartlegging", "resourceId": "mapping-7", "tag": "mapping"}
    ]
    created = gradebook.base + "/lineitems/2/lineitem?type_id=1"
    assert gradebook.given(LEARNER, created) == [8]
    assert gradebook.given(MANAGER, created) == [9]
    assert row(app, first).lineitem_url == row(app, second).lineitem_url == created
    assert len(gradebook.calls("GET")) == 1  # the second score knew the line item already


# --- the worker command ---------------------------------------------------------------------


def test_worker_once_makes_one_pass_and_prints_what_it_did(app, lms, gradebook, lineitem, cli):
    learner = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    manager = ags_launch(app, lms, gradebook.endpoint_claim(lineitem), persona="manager")
    queue(app, learner, 10)
    queue(app, learner, 20)
    queue(app, manager, 50)

    result = cli("worker", "--once")

    assert result.output.strip() == "delivered=3 retrying=0 failed=0"
    assert gradebook.given(LEARNER, lineitem) == [10, 20]
    assert cli("worker", "--once").output.strip() == "delivered=0 retrying=0 failed=0"


def test_worker_once_counts_failures(app, lms, gradebook, lineitem, cli):
    learner = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    manager = ags_launch(app, lms, gradebook.endpoint_claim(lineitem), persona="manager")
    queue(app, learner)
    gradebook.refuse_with(422)
    assert cli("worker", "--once").output.strip() == "delivered=0 retrying=0 failed=1"
    queue(app, manager)
    gradebook.refuse_with(None)
    gradebook.down = 503
    assert cli("worker", "--once").output.strip() == "delivered=0 retrying=1 failed=0"


def test_worker_runs_until_sigterm(make_app, lms, gradebook, lineitem, caplog):
    app = make_app(SCORE_WORKER_POLL_SECONDS=1)
    learner = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    queue(app, learner, 10)
    queue(app, learner, 20)
    before = signal.getsignal(signal.SIGTERM)
    finished = threading.Event()

    def stop_once_delivered() -> None:
        """SIGTERM once both scores arrived (a busy machine may take several polls)."""
        deadline = time.monotonic() + 30
        while not finished.is_set() and time.monotonic() < deadline:
            if gradebook.given(LEARNER, lineitem) == [10, 20]:
                break
            time.sleep(0.05)
        if not finished.is_set():
            os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_once_delivered)
    stopper.start()
    try:
        with caplog.at_level(logging.INFO, logger="lti_tool.cli"):
            result = app.test_cli_runner().invoke(args=["worker"])
    finally:
        finished.set()
        stopper.join(5)
    assert result.exit_code == 0, result.output
    # what it did, as a log line (JSON in production), not a line of its own on stdout
    assert "worker: stopped (delivered=2 retrying=0 failed=0)" in caplog.text
    assert result.output == ""
    assert gradebook.given(LEARNER, lineitem) == [10, 20]
    assert signal.getsignal(signal.SIGTERM) is before  # the worker's handler is gone again


def test_worker_once_without_the_database_logs_and_fails_each_part(make_app, caplog):
    """Cron's pass with the database away: each part logged as it failed (one JSON line
    each in production, its traceback inside), the others still tried, and exit 1, not a
    traceback of the first on the terminal."""
    app = make_app(DATABASE_URL="sqlite:////nonexistent/dir/x.db")
    with caplog.at_level(logging.ERROR):
        result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), result.exception  # not a traceback
    assert "closing overdue attempts; recording coverage figures" in result.output
    assert "sending scores" in result.output
    failed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("worker --once")]
    assert "worker --once: sending scores failed" in failed
    assert all(r.exc_info for r in caplog.records if r.getMessage() in failed)


# --- the admin page -------------------------------------------------------------------------


def table_rows(page: str, caption: str) -> list[dict[str, str]]:
    """The rows of the table with this caption, by column heading."""
    section = page.split(f"<caption>{caption}</caption>", 1)[1].split("</table>", 1)[0]
    parser = _Rows()
    parser.feed(section)
    heading, *body = parser.rows
    return [dict(zip(heading, r, strict=True)) for r in body]


def submit(browser: Any, page: str, path: str) -> Any:
    """Post the page's form for that path, with its own fields (the CSRF token)."""
    for found in parse_forms(page):
        if (found["action"] or "").split("?")[0] == path and found["method"] == "post":
            return browser.post(found["action"], data=found["fields"])
    raise AssertionError(f"no form for {path}")


def has_form(page: str, path: str) -> bool:
    return any((f["action"] or "").split("?")[0] == path for f in parse_forms(page))


@pytest.fixture
def other_organisation(app, platform_pem, mocked_http) -> TestLms:
    other = other_lms(
        platform_pem, mocked_http, "https://canvas.example", "client-456", "other-dep-1"
    )
    with app.app_context():
        platforms.register_platform(
            get_session(),
            issuer=other.platform.issuer,
            client_id=other.platform.client_id,
            auth_login_url=other.platform.auth_url,
            auth_token_url=other.platform.token_url,
            jwks_url=other.platform.jwks_url,
            organisation_name="Annenkommune",
            deployment_ids=[other.platform.deployment_id],
        )
        get_session().commit()
    return other


def test_an_admin_sees_and_retries_only_their_organisations_scores(
    app, lms, gradebook, lineitem, other_organisation, mocked_http
):
    theirs_book = FakeGradebook(
        other_organisation.platform.issuer, mocked_http, other_organisation.platform.token_url
    )
    theirs_item = theirs_book.add_line_item("Annen aktivitet", 100)
    theirs_launch = ags_launch(app, other_organisation, theirs_book.endpoint_claim(theirs_item))
    ours_launch = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    gradebook.refuse_with(400, '{"error": "ours refused"}')
    theirs_book.refuse_with(400, '{"error": "theirs refused"}')
    ours = queue(app, ours_launch, 11)
    theirs = queue(app, theirs_launch, 99)
    assert deliver(app) == counts(failed=2)

    admin = admin_session(lms, app)
    page = admin.get("/admin/deliveries").get_data(as_text=True)
    assert "ours refused" in page
    assert "theirs refused" not in page
    assert "canvas.example" not in page
    assert len(table_rows(page, "Scores the learning platform did not take")) == 1
    assert re.search(r"Failed</dt>\s*<dd>1</dd>", page)

    token = csrf_token(page)
    refused = admin.post(f"/admin/deliveries/{theirs}/retry", data={"csrf_token": token})
    assert refused.status_code == 404
    admin.post("/admin/deliveries/retry-failed", data={"csrf_token": token})
    assert row(app, ours).status == DeliveryStatus.PENDING
    assert row(app, theirs).status == DeliveryStatus.FAILED

    stranger = admin_session(other_organisation, app)
    their_page = stranger.get("/admin/deliveries").get_data(as_text=True)
    assert "theirs refused" in their_page
    assert "ours refused" not in their_page


def test_the_admin_nav_links_the_page_and_an_empty_page_says_so(app, lms):
    admin = admin_session(lms, app)
    home = admin.get("/admin/").get_data(as_text=True)
    assert re.search(r'<a href="/admin/deliveries">Grades</a>', home)
    page = admin.get("/admin/deliveries").get_data(as_text=True)
    assert "No failed scores." in page
    assert "No scores are waiting to be sent." in page
    assert re.search(r"Delivered</dt>\s*<dd>0</dd>", page)


def test_pending_scores_show_their_next_try_and_last_error(app, lms, gradebook, lineitem):
    launch_id = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    queue(app, launch_id, 42)
    gradebook.down = 503
    assert deliver(app) == counts(retrying=1)
    admin = admin_session(lms, app)
    page = admin.get("/admin/deliveries").get_data(as_text=True)
    (shown,) = table_rows(page, "Scores waiting to be sent")
    assert shown["Tries"] == "1"
    assert shown["Score"] == "42/100"
    assert "HTTP 503" in shown["Last error"]
    assert shown["Next try"] in ("As soon as possible",) or re.fullmatch(
        r".+ \d\d?:\d\d\W?[AP]M \(Europe/Oslo\)", shown["Next try"]
    )


@pytest.mark.parametrize("persona", ["learner", "designer", "manager"])
def test_only_admins_see_or_retry_deliveries(app, lms, gradebook, lineitem, persona):
    launch_id = ags_launch(app, lms, gradebook.endpoint_claim(lineitem))
    gradebook.refuse_with(400)
    delivery_id = queue(app, launch_id)
    deliver(app)
    browser = TestLms.browser(app)
    lms.launch(browser, persona)
    assert browser.get("/admin/deliveries").status_code == 403
    token = _csrf_of(app, browser)
    for path in (f"/admin/deliveries/{delivery_id}/retry", "/admin/deliveries/retry-failed"):
        assert browser.post(path, data={"csrf_token": token}).status_code == 403
    assert row(app, delivery_id).status == DeliveryStatus.FAILED


def _csrf_of(app: Any, browser: Any) -> str:
    from tests.functional.test_access import _csrf_token

    return _csrf_token(app, browser)
