"""When a session takes sign-ups, and where a new booking goes."""

from __future__ import annotations

import datetime as dt

import pytest

from lti_tool.domain.bookings import Place, Signup, may_cancel, place_for, signup

STARTS = dt.datetime(2027, 6, 1, 7, 0, tzinfo=dt.UTC)
DEADLINE = dt.datetime(2027, 5, 25, 14, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("now", "deadline", "cancelled", "archived", "expected"),
    [
        (DEADLINE - dt.timedelta(seconds=1), DEADLINE, False, False, Signup.OPEN),
        (DEADLINE, DEADLINE, False, False, Signup.CLOSED),
        (STARTS - dt.timedelta(minutes=1), None, False, False, Signup.OPEN),
        (STARTS, None, False, False, Signup.CLOSED),
        (DEADLINE - dt.timedelta(days=1), DEADLINE, True, False, Signup.CANCELLED),
        (DEADLINE - dt.timedelta(days=1), DEADLINE, False, True, Signup.WITHDRAWN),
    ],
)
def test_signup_is_open_until_the_deadline_or_the_start(
    now, deadline, cancelled, archived, expected
):
    found = signup(
        starts_at=STARTS,
        signup_deadline=deadline,
        cancelled=cancelled,
        archived=archived,
        now=now,
    )
    assert found == expected


@pytest.mark.parametrize(
    ("booked", "capacity", "waitlist", "expected"),
    [
        (0, 1, False, Place.SEAT),
        (4, 5, True, Place.SEAT),
        (5, 5, True, Place.WAITLIST),
        (5, 5, False, Place.FULL),
        (6, 5, True, Place.WAITLIST),  # seats reduced below those booked never happens
    ],
)
def test_a_new_booking_gets_a_seat_then_the_waitlist(booked, capacity, waitlist, expected):
    assert place_for(booked, capacity, waitlist) == expected


def test_a_booking_can_be_cancelled_until_the_start():
    assert may_cancel(STARTS, STARTS - dt.timedelta(seconds=1))
    assert not may_cancel(STARTS, STARTS)
