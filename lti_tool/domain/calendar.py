"""iCalendar (RFC 5545) files of classroom sessions: one session's file, and a person's
feed of the sessions they booked. Plain data in, bytes out (the ``icalendar`` library).

Each session is one event whose UID never changes (``CourseSession.uid``) and whose
SEQUENCE goes up with every change a calendar must show, so a calendar that has the event
replaces it rather than adding another. Times are written in the tool's time zone
(Europe/Oslo) with its VTIMEZONE, so a calendar anywhere shows the session at the hour it
is held.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import icalendar

#: The tool's time zone: sessions are held, shown and written in it.
TIME_ZONE = "Europe/Oslo"
PRODUCT_ID = "-//Laeringslop//Classroom sessions//EN"
#: Calendars ask a feed again about this often (a hint; most choose for themselves).
REFRESH_INTERVAL = dt.timedelta(hours=1)


def local_date(moment: dt.datetime) -> dt.date:
    """The day ``moment`` falls on in the tool's time zone: "today" for due dates,
    postponements and session days (the UTC date lags it around midnight)."""
    return moment.astimezone(ZoneInfo(TIME_ZONE)).date()


def day_start(day: dt.date) -> dt.datetime:
    """When ``day`` begins in the tool's time zone (its midnight), in UTC: a filter of
    whole days counts the days as ``local_date`` does."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=ZoneInfo(TIME_ZONE)).astimezone(dt.UTC)


@dataclasses.dataclass(frozen=True)
class CalendarEvent:
    """One session as a calendar shows it; times are aware (any zone)."""

    uid: str
    sequence: int
    summary: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    location: str = ""
    description: str = ""
    url: str | None = None
    """Where to see or book the session (the tool's page), or its video meeting."""
    cancelled: bool = False
    """STATUS:CANCELLED: the session is cancelled, or the person cancelled their booking."""
    tentative: bool = False
    """STATUS:TENTATIVE: the person is on the waitlist."""
    updated_at: dt.datetime | None = None


def calendar_file(
    events: Iterable[CalendarEvent],
    *,
    zone: str,
    now: dt.datetime,
    name: str | None = None,
) -> bytes:
    """The events as an iCalendar file (METHOD:PUBLISH: a file to add or subscribe to,
    not an invitation). ``name`` names a feed (X-WR-CALNAME)."""
    import icalendar  # here, not at import: the app starts without it (its workers sooner)

    tz = ZoneInfo(zone)
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    if name:
        calendar.add("x-wr-calname", name)
        calendar.add("x-wr-timezone", zone)
        calendar.add("refresh-interval", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", REFRESH_INTERVAL)
    shown = list(events)
    for event in shown:
        calendar.add_component(_event(event, tz, now))
    if shown:
        first = min(e.starts_at for e in shown).astimezone(tz).date()
        last = max(e.ends_at for e in shown).astimezone(tz).date()
        calendar.add_component(
            icalendar.Timezone.from_tzinfo(
                tz,
                tzid=zone,
                first_date=first - dt.timedelta(days=366),
                last_date=last + dt.timedelta(days=366),
            )
        )
    data: bytes = calendar.to_ical()
    return data


def _event(event: CalendarEvent, tz: ZoneInfo, now: dt.datetime) -> icalendar.Event:
    import icalendar

    found = icalendar.Event()
    found.add("uid", event.uid)
    found.add("sequence", event.sequence)
    found.add("dtstamp", now.astimezone(dt.UTC))
    if event.updated_at is not None:
        found.add("last-modified", event.updated_at.astimezone(dt.UTC))
    found.add("dtstart", event.starts_at.astimezone(tz))
    found.add("dtend", event.ends_at.astimezone(tz))
    found.add("summary", event.summary)
    if event.location:
        found.add("location", event.location)
    if event.description:
        found.add("description", event.description)
    if event.url:
        found.add("url", event.url)
    if event.cancelled:
        status = "CANCELLED"
    elif event.tentative:
        status = "TENTATIVE"
    else:
        status = "CONFIRMED"
    found.add("status", status)
    found.add("transp", "TRANSPARENT" if event.cancelled else "OPAQUE")
    return found
