"""The iCalendar files of sessions, read back with the ``icalendar`` library."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar

from lti_tool.domain.calendar import TIME_ZONE, CalendarEvent, calendar_file

OSLO = ZoneInfo(TIME_ZONE)
NOW = dt.datetime(2027, 1, 10, 8, 0, tzinfo=dt.UTC)


def _event(**changes: object) -> CalendarEvent:
    values: dict[str, object] = {
        "uid": "5b0d6c1e-0000-4000-8000-000000000001",
        "sequence": 3,
        "summary": "Førstehjelp – oppfrisking",
        "starts_at": dt.datetime(2027, 3, 28, 7, 0, tzinfo=dt.UTC),  # the day clocks go forward
        "ends_at": dt.datetime(2027, 3, 28, 10, 0, tzinfo=dt.UTC),
        "location": "Rådhuset, sal 2; 3. etasje",
        "description": "Ta med\nlegitimasjon, takk",
    }
    values.update(changes)
    return CalendarEvent(**values)  # type: ignore[arg-type]


def _read(data: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(data)


def test_an_event_keeps_its_uid_sequence_and_text_escaped():
    calendar = _read(calendar_file([_event()], zone=TIME_ZONE, now=NOW))
    (event,) = calendar.walk("VEVENT")
    assert str(event["UID"]) == "5b0d6c1e-0000-4000-8000-000000000001"
    assert event["SEQUENCE"] == 3
    assert str(event["SUMMARY"]) == "Førstehjelp – oppfrisking"
    assert str(event["LOCATION"]) == "Rådhuset, sal 2; 3. etasje"
    assert str(event["DESCRIPTION"]) == "Ta med\nlegitimasjon, takk"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert event.decoded("DTSTAMP") == NOW
    assert calendar["PRODID"] and calendar["METHOD"] == "PUBLISH"


def test_times_are_written_in_oslo_time_across_the_clock_change():
    calendar = _read(calendar_file([_event()], zone=TIME_ZONE, now=NOW))
    (event,) = calendar.walk("VEVENT")
    start = event.decoded("DTSTART")
    assert start == dt.datetime(2027, 3, 28, 9, 0, tzinfo=OSLO)  # CEST from 02:00 that day
    assert start.utcoffset() == dt.timedelta(hours=2)
    assert event["DTSTART"].params["TZID"] == TIME_ZONE
    (zone,) = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == TIME_ZONE
    assert {str(c["TZNAME"]) for c in zone.walk() if c.name in ("STANDARD", "DAYLIGHT")} == {
        "CET",
        "CEST",
    }


def test_cancelled_and_waitlisted_events_say_so():
    data = calendar_file(
        [
            _event(uid="a", cancelled=True),
            _event(uid="b", tentative=True),
            _event(uid="c", cancelled=True, tentative=True),
        ],
        zone=TIME_ZONE,
        now=NOW,
        name="Kurs: Kari",
    )
    calendar = _read(data)
    statuses = {str(e["UID"]): str(e["STATUS"]) for e in calendar.walk("VEVENT")}
    assert statuses == {"a": "CANCELLED", "b": "TENTATIVE", "c": "CANCELLED"}
    assert str(calendar["X-WR-CALNAME"]) == "Kurs: Kari"


def test_an_empty_feed_is_a_valid_calendar():
    calendar = _read(calendar_file([], zone=TIME_ZONE, now=NOW, name="Kurs"))
    assert calendar.walk("VEVENT") == [] and calendar.walk("VTIMEZONE") == []
    assert calendar["VERSION"] == "2.0"
