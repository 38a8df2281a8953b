"""The activity catalogue's forms (an activity, what it develops, a session, a
cancellation) and its API answers.

Times on the forms are the wall-clock time of the tool's time zone (``datetime-local``
fields, ``BABEL_DEFAULT_TIMEZONE``: Europe/Oslo), stored and answered in UTC. A time the
clocks skip (the spring change) is refused rather than guessed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import get_timezone, gettext
from marshmallow import Schema, ValidationError, fields, missing, post_load, validates_schema

from lti_tool.db import MAX_INT
from lti_tool.domain.texts import ACTIVITY_LANGUAGES, LANGUAGES
from lti_tool.models import CourseKind
from lti_tool.schemas.admin import CHOOSE, FILL_IN, Choice, HttpUrl, Text, _Form
from lti_tool.schemas.api import PageQuery, Texts
from lti_tool.schemas.designer import _TextsForm, _with_texts
from lti_tool.schemas.items import Number
from lti_tool.services.catalogue import (
    MAX_CAPACITY,
    MAX_DURATION_MINUTES,
    MAX_PLACE_LENGTH,
    MAX_REASON_LENGTH,
    ActivityInput,
    SessionInput,
)
from lti_tool.services.frameworks import MAX_CODE_LENGTH

#: How a ``datetime-local`` field writes a time.
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def _zone() -> ZoneInfo:
    """The tool's time zone (Babel may hand a pytz zone, which ``replace`` gets wrong)."""
    return ZoneInfo(str(get_timezone()))


def local_input(moment: dt.datetime | None) -> str:
    """A UTC time as a ``datetime-local`` field shows it, in the tool's time zone."""
    if moment is None:
        return ""
    return moment.astimezone(_zone()).strftime(LOCAL_FORMAT)


class FormDateTime(fields.Field):
    """A wall-clock time from a ``datetime-local`` field, as UTC; empty is None when not
    required."""

    def __init__(self, *, required: bool = True, **kwargs: Any) -> None:
        super().__init__(
            required=required,
            load_default=missing if required else None,
            error_messages={"required": FILL_IN, "null": FILL_IN},
            **kwargs,
        )

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.datetime | None:
        text = str(value or "").strip()
        if not text:
            if self.required:
                raise ValidationError(str(FILL_IN))
            return None
        try:
            wall = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(gettext("Enter a date and time like 2026-03-31 09:00.")) from None
        if wall.tzinfo is not None or not 2000 <= wall.year <= 2200:
            raise ValidationError(gettext("Enter a date and time like 2026-03-31 09:00."))
        zone = _zone()
        moment = wall.replace(tzinfo=zone).astimezone(dt.UTC)
        if moment.astimezone(zone).replace(tzinfo=None) != wall:
            raise ValidationError(
                gettext("The clocks skip that time on that day: choose another time.")
            )
        return moment


# --- an activity ------------------------------------------------------------------------------


class _ActivityBase(_TextsForm):
    @validates_schema
    def _choices(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("kind") not in {k.value for k in CourseKind}:
            raise ValidationError(str(CHOOSE), "kind")
        if data.get("language") and data["language"] not in ACTIVITY_LANGUAGES:
            raise ValidationError(str(CHOOSE), "language")

    @post_load
    def _gather(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """The texts gathered (as every texts form), then the activity made of them."""
        data = super()._gather(data, **kwargs)
        duration = data.get("duration_minutes")
        data["activity"] = ActivityInput(
            code=data["code"],
            title=data["title"],
            kind=CourseKind(data["kind"]),
            description=data.get("description", {}),
            lms_url=data.get("lms_url") or None,
            duration_minutes=int(duration) if duration is not None else None,
            language=data.get("language") or None,
            archived=data.get("archived", False),
        )
        return data


ActivityForm = _with_texts(
    "ActivityForm",
    _ActivityBase,
    code=Text(MAX_CODE_LENGTH),
    kind=Text(20),
    lms_url=HttpUrl(required=False),
    duration_minutes=Number(whole=True, minimum=1, maximum=MAX_DURATION_MINUTES),
    language=Text(10, required=False),
    archived=fields.Boolean(load_default=False),
)


class DevelopsField(fields.Field):
    """A ``<competence id>:<level>`` picked from the grouped select."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[int, int]:
        competence, _, level = str(value or "").partition(":")
        try:
            found = int(competence), int(level)
        except ValueError:
            raise ValidationError(str(CHOOSE)) from None
        if not all(0 < n <= MAX_INT for n in found):
            raise ValidationError(str(CHOOSE))
        return found


class CourseCompetenceForm(_Form):
    develops = DevelopsField(required=True, error_messages={"required": CHOOSE})


# --- a session --------------------------------------------------------------------------------


class SessionForm(_Form):
    starts_at = FormDateTime()
    ends_at = FormDateTime()
    place = Text(MAX_PLACE_LENGTH, required=False)
    video_url = HttpUrl(required=False)
    capacity = Number(whole=True, minimum=1, maximum=MAX_CAPACITY)
    waitlist = fields.Boolean(load_default=False)
    instructor_id = Choice(allow_empty=True)
    signup_deadline = FormDateTime(required=False)

    @validates_schema
    def _seats(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("capacity") is None:
            raise ValidationError(str(FILL_IN), "capacity")

    @post_load
    def _session(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["session"] = SessionInput(
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            capacity=int(data["capacity"]),
            place=data.get("place", ""),
            video_url=data.get("video_url") or None,
            waitlist=data["waitlist"],
            instructor_id=data.get("instructor_id"),
            signup_deadline=data.get("signup_deadline"),
        )
        return data


class CancelSessionForm(_Form):
    reason = Text(MAX_REASON_LENGTH, required=False)


def session_values(found: Any) -> dict[str, Any]:
    """A session as its form shows it."""
    return {
        "starts_at": local_input(found.starts_at),
        "ends_at": local_input(found.ends_at),
        "place": found.place,
        "video_url": found.video_url or "",
        "capacity": found.capacity,
        "waitlist": found.waitlist,
        "instructor_id": found.instructor_id or "",
        "signup_deadline": local_input(found.signup_deadline),
    }


def activity_values(course: Any) -> dict[str, Any]:
    """An activity as its form shows it."""
    values: dict[str, Any] = {
        "code": course.code,
        "kind": course.kind.value,
        "lms_url": course.lms_url or "",
        "duration_minutes": course.duration_minutes or "",
        "language": course.language or "",
        "archived": course.archived,
    }
    for lang in LANGUAGES:
        values[f"title_{lang}"] = course.title.get(lang, "")
        values[f"description_{lang}"] = (course.description or {}).get(lang, "")
    return values


# --- the API's answers ------------------------------------------------------------------------


class CatalogueQuery(PageQuery):
    """``GET /api/v1/courses``: paging, one kind only, and whether archived ones come too."""

    include_archived = fields.Boolean(load_default=False)
    kind = fields.Enum(CourseKind, by_value=True, load_default=None)


class DevelopsOut(Schema):
    competence_id = fields.Integer()
    code = fields.String(attribute="competence.code")
    identifier = fields.String(
        attribute="competence.identifier",
        metadata={"description": "The same in every version of the framework."},
    )
    framework_version_id = fields.Integer(attribute="competence.version_id")
    level = fields.Integer(metadata={"description": "The level the activity develops it to."})


class SessionOut(Schema):
    id = fields.Integer(attribute="session.id")
    uid = fields.String(attribute="session.uid", metadata={"description": "iCalendar UID."})
    sequence = fields.Integer(attribute="session.sequence")
    starts_at = fields.DateTime(attribute="session.starts_at")
    ends_at = fields.DateTime(attribute="session.ends_at")
    place = fields.String(attribute="session.place")
    video_url = fields.String(attribute="session.video_url", allow_none=True)
    capacity = fields.Integer(attribute="session.capacity")
    waitlist = fields.Boolean(
        attribute="session.waitlist", metadata={"description": "Whether people may queue."}
    )
    instructor_id = fields.Integer(attribute="session.instructor_id", allow_none=True)
    instructor = fields.Function(
        lambda view: view.session.instructor.display_name if view.session.instructor else None,
        metadata={"description": "The instructor's name; null: none given."},
    )
    signup_deadline = fields.DateTime(attribute="session.signup_deadline", allow_none=True)
    cancelled_at = fields.DateTime(attribute="session.cancelled_at", allow_none=True)
    cancel_reason = fields.String(attribute="session.cancel_reason")
    booked = fields.Integer(metadata={"description": "Seats taken."})
    waitlisted = fields.Integer(metadata={"description": "People on the waitlist."})


class CourseOut(Schema):
    id = fields.Integer(attribute="course.id")
    code = fields.String(attribute="course.code")
    title = Texts(attribute="course.title")
    description = Texts(attribute="course.description")
    kind = fields.Enum(CourseKind, by_value=True, attribute="course.kind")
    lms_url = fields.String(
        attribute="course.lms_url",
        allow_none=True,
        metadata={"description": "E-learning: the LMS course or activity."},
    )
    placed_context_id = fields.String(
        attribute="course.placed_context_id",
        allow_none=True,
        metadata={"description": "E-learning placed by deep linking: the LMS course's context."},
    )
    placed_context_title = fields.String(attribute="course.placed_context_title", allow_none=True)
    duration_minutes = fields.Integer(attribute="course.duration_minutes", allow_none=True)
    language = fields.String(attribute="course.language", allow_none=True)
    archived = fields.Boolean(attribute="course.archived")
    develops = fields.List(fields.Nested(DevelopsOut), attribute="course.competences")
    sessions = fields.List(fields.Nested(SessionOut))
