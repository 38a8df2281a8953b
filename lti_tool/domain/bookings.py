"""The rules of booking a classroom session: when sign-up is open, and whether a new
booking gets a seat or a place on the waitlist."""

from __future__ import annotations

import datetime as dt
import enum


class Signup(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    """The sign-up deadline has passed (or the session has started)."""
    CANCELLED = "cancelled"
    """The session is cancelled."""
    WITHDRAWN = "withdrawn"
    """The activity is archived: no longer offered."""


def signup(
    *,
    starts_at: dt.datetime,
    signup_deadline: dt.datetime | None,
    cancelled: bool,
    archived: bool,
    now: dt.datetime,
) -> Signup:
    """Whether a session takes new bookings now: until its deadline, else until it starts."""
    if cancelled:
        return Signup.CANCELLED
    if archived:
        return Signup.WITHDRAWN
    if now >= (signup_deadline or starts_at):
        return Signup.CLOSED
    return Signup.OPEN


class Place(enum.StrEnum):
    SEAT = "seat"
    WAITLIST = "waitlist"
    FULL = "full"
    """No seat and no waitlist: refused."""


def place_for(booked: int, capacity: int, waitlist: bool) -> Place:
    """Where a new booking goes when ``booked`` seats of ``capacity`` are taken."""
    if booked < capacity:
        return Place.SEAT
    return Place.WAITLIST if waitlist else Place.FULL


def may_cancel(starts_at: dt.datetime, now: dt.datetime) -> bool:
    """A booking can be cancelled until the session starts (then attendance counts)."""
    return now < starts_at
