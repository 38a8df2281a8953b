"""Calendar files of classroom sessions, read back with the ``icalendar`` library: a
session's file (stable UID, SEQUENCE, Europe/Oslo times, cancelled when cancelled), and a
person's feed at a secret, renewable address (only its sha256 kept), public to whoever
holds it, rate-limited; who may fetch what, and another organisation seeing nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.models import CalendarFeed, CourseSession
from tests.fakes.lms import TestLms, parse_forms
from tests.fakes.mappings import post_form
from tests.functional.test_admin_console import add_platform
from tests.functional.test_bookings import _post, book, cancel, classroom, launched
from tests.functional.test_bookings import designer as designer
from tests.functional.test_catalogue_design import _session_fields
from tests.functional.test_deployments import other_lms

OSLO = ZoneInfo("Europe/Oslo")


def _session(app: Any, session_id: int) -> CourseSession:
    with app.app_context():
        found = get_session().get(CourseSession, session_id)
        assert found is not None
        return found


def _calendar(response: Any) -> icalendar.Calendar:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/calendar"
    return icalendar.Calendar.from_ical(response.get_data())


def _events(calendar: icalendar.Calendar) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def test_a_sessions_file_has_its_uid_sequence_and_oslo_times(app, lms, designer, care):
    ids = classroom(app, designer, care)
    learner = launched(app, lms)
    response = learner.get(f"/sessions/{ids['session']}/ics")
    assert 'filename="session-' in response.headers["Content-Disposition"]
    calendar = _calendar(response)
    assert calendar["METHOD"] == "PUBLISH" and calendar["VERSION"] == "2.0"
    (event,) = calendar.walk("VEVENT")
    made = _session(app, ids["session"])
    assert str(event["UID"]) == made.uid
    assert event["SEQUENCE"] == 0
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert start == dt.datetime(2027, 6, 1, 9, 0, tzinfo=OSLO)  # the hour it is held
    assert str(start.tzinfo) == "Europe/Oslo"
    assert end - start == dt.timedelta(hours=3)
    assert event["DTSTART"].params["TZID"] == "Europe/Oslo"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Oslo"]
    assert str(event["SUMMARY"]) == "hms-kurs"
    assert str(event["LOCATION"]) == "Rådhuset, møterom 2"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["URL"]) == f"https://tool.example/sessions/{ids['session']}"

    # a new time: same UID, SEQUENCE up; cancelled: STATUS:CANCELLED, SEQUENCE up again
    path = f"/designer/courses/{ids['course']}/sessions/{ids['session']}"
    fields = _session_fields(starts_at="2027-11-02T10:00", ends_at="2027-11-02T11:30")
    assert post_form(designer, path, path, **fields).status_code == 302
    (event,) = _calendar(learner.get(f"/sessions/{ids['session']}/ics")).walk("VEVENT")
    assert (str(event["UID"]), event["SEQUENCE"]) == (made.uid, 1)
    assert event.decoded("DTSTART") == dt.datetime(2027, 11, 2, 10, 0, tzinfo=OSLO)  # CET
    assert event.decoded("DTSTART").utcoffset() == dt.timedelta(hours=1)
    assert post_form(designer, path, f"{path}/cancel", reason="Ill").status_code == 302
    (event,) = _calendar(learner.get(f"/sessions/{ids['session']}/ics")).walk("VEVENT")
    assert (str(event["UID"]), event["SEQUENCE"], str(event["STATUS"])) == (
        made.uid,
        2,
        "CANCELLED",
    )
    assert "Reason: Ill" in str(event["DESCRIPTION"])


def test_a_sessions_file_is_for_people_of_its_organisation(
    app, lms, platform_pem, mocked_http, designer, care
):
    ids = classroom(app, designer, care)
    url = f"/sessions/{ids['session']}/ics"
    assert TestLms.browser(app).get(url).status_code == 401
    for persona in ("learner", "manager", "admin"):  # anyone launched in the organisation
        assert launched(app, lms, persona).get(url).status_code == 200
    other = other_lms(platform_pem, mocked_http, "https://canvas.example", "client-456", "dep-9")
    add_platform(app, other, "Annenkommune")
    stranger = TestLms.browser(app)
    assert other.landed(other.launch(stranger, "learner", locale="en"))
    assert stranger.get(url).status_code == 404


def _renew(browser: Any) -> tuple[str, str]:
    """Make or renew the feed's address; returns the address and its token."""
    response = _post(browser, "/learner/calendar")
    assert response.status_code == 200, response.get_data(as_text=True)
    found = re.search(
        r'value="(https://tool\.example(?:/lti-tool)?/calendar/([^"]+)\.ics)"',
        response.get_data(as_text=True),
    )
    assert found, response.get_data(as_text=True)
    assert "it is shown only this once" in response.get_data(as_text=True)
    return found.group(1), found.group(2)


def test_the_personal_feed_lists_bookings_at_a_secret_renewable_address(app, lms, designer, care):
    first = classroom(app, designer, care)
    second = classroom(app, designer, care, code="brann-kurs", capacity="1")
    third = classroom(app, designer, care, code="hlr-kurs")
    learner = launched(app, lms)
    assert book(launched(app, lms, "learner2"), second["session"]).status_code == 302
    for ids in (first, second, third):
        assert book(learner, ids["session"]).status_code == 302  # the second: waitlist
    assert cancel(learner, third["session"]).status_code == 302
    mine = learner.get("/learner/bookings").get_data(as_text=True)
    assert "Make my calendar address" in mine

    _, token = _renew(learner)
    anyone = TestLms.browser(app)  # a calendar service: no launch, no cookie
    calendar = _calendar(anyone.get(f"/calendar/{token}.ics"))
    events = _events(calendar)
    uids = {
        key: _session(app, ids["session"]).uid
        for key, ids in (("first", first), ("second", second), ("third", third))
    }
    assert set(events) == set(uids.values())
    assert str(events[uids["first"]]["STATUS"]) == "CONFIRMED"
    assert str(events[uids["second"]]["STATUS"]) == "TENTATIVE"  # on the waitlist
    assert "You are on the waitlist." in str(events[uids["second"]]["DESCRIPTION"])
    assert str(events[uids["third"]]["STATUS"]) == "CANCELLED"  # cancelled by the person
    assert "Demo Ansatt" in str(calendar["X-WR-CALNAME"])
    with app.app_context():
        feed = get_session().scalar(select(CalendarFeed))
        assert feed is not None
        assert feed.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert feed.last_used_at is not None
        assert token not in repr(feed.__dict__)  # only its hash is kept
    page = learner.get("/learner/bookings").get_data(as_text=True)
    assert token not in page and "You have a calendar address" in page

    # the organiser cancels: the feed shows it cancelled, with a higher SEQUENCE
    path = f"/designer/courses/{first['course']}/sessions/{first['session']}"
    assert post_form(designer, path, f"{path}/cancel", reason="").status_code == 302
    event = _events(_calendar(anyone.get(f"/calendar/{token}.ics")))[uids["first"]]
    assert (str(event["STATUS"]), event["SEQUENCE"]) == ("CANCELLED", 1)

    # renewing: the old address stops working at once
    _, renewed = _renew(learner)
    assert renewed != token
    assert anyone.get(f"/calendar/{token}.ics").status_code == 404
    assert anyone.get(f"/calendar/{renewed}.ics").status_code == 200
    with app.app_context():
        assert len(get_session().scalars(select(CalendarFeed)).all()) == 1


def test_a_wrong_token_finds_nothing_and_each_feed_is_its_own(app, lms, designer, care):
    ids = classroom(app, designer, care)
    learner, other = launched(app, lms), launched(app, lms, "learner2")
    assert book(learner, ids["session"]).status_code == 302
    _, mine = _renew(learner)
    _, theirs = _renew(other)
    anyone = TestLms.browser(app)
    assert anyone.get("/calendar/not-a-token.ics").status_code == 404
    assert anyone.get(f"/calendar/{mine[:-1]}.ics").status_code == 404
    assert anyone.get(f"/calendar/{mine}").status_code == 404  # without .ics
    assert len(_events(_calendar(anyone.get(f"/calendar/{mine}.ics")))) == 1
    assert _events(_calendar(anyone.get(f"/calendar/{theirs}.ics"))) == {}


def test_the_feed_is_rate_limited_per_feed(make_app, lms, care):
    limited = make_app(CALENDAR_RATE_LIMIT="2 per minute")
    learner = launched(limited, lms)
    _, token = _renew(learner)
    _, other = _renew(launched(limited, lms, "learner2"))
    anyone = limited.test_client()
    answers = [anyone.get(f"/calendar/{token}.ics").status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    assert anyone.get(f"/calendar/{other}.ics").status_code == 200  # another feed counts apart


def test_another_organisations_person_cannot_book_into_this_feed(
    app, lms, platform_pem, mocked_http, designer, care
):
    """A feed lists only its own person's bookings of their own organisation's sessions."""
    ids = classroom(app, designer, care)
    other = other_lms(platform_pem, mocked_http, "https://canvas.example", "client-456", "dep-9")
    add_platform(app, other, "Annenkommune")
    stranger = TestLms.browser(app)
    assert other.landed(other.launch(stranger, "learner", locale="en"))
    assert book(stranger, ids["session"]).status_code == 404
    _, token = _renew(stranger)
    assert _events(_calendar(TestLms.browser(app).get(f"/calendar/{token}.ics"))) == {}


def test_behind_a_path_prefix_every_address_keeps_it_once(app, make_app, lms, designer, care):
    """The tool served at /lti-tool/ by a reverse proxy (``X-Forwarded-Prefix``, BASE_URL
    with the prefix): pages return to prefixed paths, and the calendars' addresses hold
    the prefix once."""
    ids = classroom(app, designer, care)
    learner = launched(app, lms)
    # the same tool (database, Redis, secret) as the proxy serves it
    learner.application = make_app(BASE_URL="https://tool.example/lti-tool", PROXY_FIX_HOPS=1)
    learner.environ_base.update(
        {"HTTP_X_FORWARDED_PREFIX": "/lti-tool", "HTTP_X_FORWARDED_FOR": "192.0.2.1"}
    )
    session_path = f"/sessions/{ids['session']}"
    activity = f"/learner/activities/{ids['course']}"
    page = learner.get(activity).get_data(as_text=True)
    (form,) = (f for f in parse_forms(page) if "/book" in (f["action"] or ""))
    assert form["action"].startswith(f"/lti-tool{session_path}/book")  # url_for keeps it
    # the proxy takes the prefix off before the tool sees the path
    booked = learner.post(form["action"].removeprefix("/lti-tool"), data=form["fields"])
    assert booked.status_code == 302, booked.get_data(as_text=True)
    assert booked.headers["Location"].split("?")[0] == f"/lti-tool{activity}"  # back there

    event = _calendar(learner.get(f"{session_path}/ics")).walk("VEVENT")[0]
    assert str(event["URL"]) == f"https://tool.example/lti-tool{session_path}"
    address, token = _renew(learner)
    assert address == f"https://tool.example/lti-tool/calendar/{token}.ics"
    anyone = TestLms.browser(learner.application)
    anyone.environ_base.update(learner.environ_base)
    (event,) = _calendar(anyone.get(f"/calendar/{token}.ics")).walk("VEVENT")
    assert str(event["URL"]) == f"https://tool.example/lti-tool{session_path}"
