"""What a plan entry says of the person's bookings of its sessions (``PlanEntry.booking``):
read by the plan's state label and badge."""

from __future__ import annotations

import datetime as dt

from lti_tool.models import BookingStatus, PlanItemSource
from lti_tool.services.plans import PlanEntry, SessionOption

START = dt.datetime(2027, 6, 1, 7, tzinfo=dt.UTC)


def option(booking: BookingStatus | None) -> SessionOption:
    return SessionOption(
        id=1,
        starts_at=START,
        ends_at=START + dt.timedelta(hours=2),
        place="Rådhuset",
        video_url=None,
        seats_left=0,
        waitlist=True,
        signup_deadline=None,
        booking=booking,
    )


def entry(state: str, *bookings: BookingStatus | None) -> PlanEntry:
    return PlanEntry(
        key="1-1",
        course=None,
        competence_id=1,
        state=state,
        source=PlanItemSource.SUGGESTED,
        item_id=None,
        stored_state=None,
        due_on=None,
        postponed_until=None,
        decline_reason=None,
        added_by=None,
        updated_at=None,
        sessions=tuple(option(b) for b in bookings),
    )


def test_a_seat_in_any_session_outranks_a_place_on_a_waitlist():
    booked, waitlisted = BookingStatus.BOOKED, BookingStatus.WAITLISTED
    assert entry("suggested", waitlisted, None, booked).booking == booked
    assert entry("suggested", None, waitlisted).booking == waitlisted
    assert entry("suggested", None, BookingStatus.CANCELLED).booking is None
    assert entry("suggested").booking is None


def test_only_a_suggestion_is_said_to_be_booked():
    for state in ("accepted", "postponed", "declined", "done"):
        assert entry(state, BookingStatus.BOOKED).booking is None
