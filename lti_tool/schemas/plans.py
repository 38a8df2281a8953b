"""The learning plan's forms (the person's answers, "I have done this", a manager's items,
due dates and confirmations) and its API answer (``GET /api/v1/people/<id>/plan``)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext
from marshmallow import Schema, ValidationError, fields, pre_load, validates_schema

from lti_tool.domain import plan as rules
from lti_tool.schemas.admin import CHOOSE, Choice, Text, Word, _Form
from lti_tool.schemas.certifications import FormDate
from lti_tool.services.plans import MAX_REASON_LENGTH

#: An entry's key (``services.plans.entry_key``) is two numbers and a dash.
MAX_KEY_LENGTH = 50


def _blank_is_missing(data: Any) -> Any:
    """A form's empty optional fields are not sent (``<input type=date>`` left empty)."""
    if not hasattr(data, "items"):
        return data
    return {k: v for k, v in data.items() if v not in ("", None)}


class _PlanForm(_Form):
    entry = Text(MAX_KEY_LENGTH)


class AnswerForm(_PlanForm):
    """Accept, postpone (until a day) or decline (with a reason) an entry."""

    answer = Word(rules.ANSWERS)
    until = FormDate(load_default=None)
    reason = Text(MAX_REASON_LENGTH, required=False)

    @pre_load
    def _blanks(self, data: Any, **kwargs: Any) -> Any:
        return _blank_is_missing(data)

    @validates_schema
    def _needed(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("answer") == rules.POSTPONED and data.get("until") is None:
            raise ValidationError(gettext("Enter a date."), "until")
        if data.get("answer") == rules.DECLINED and not data.get("reason"):
            raise ValidationError(gettext("Say why you decline: your manager sees it."), "reason")


class DoneForm(_PlanForm):
    """ "I have done this"."""


class DueForm(_PlanForm):
    """A manager's due date for an entry (empty: none)."""

    due_on = FormDate(load_default=None)

    @pre_load
    def _blanks(self, data: Any, **kwargs: Any) -> Any:
        return _blank_is_missing(data)


class AddItemForm(_Form):
    """A manager adds an activity or a competence, with a due date if they like."""

    course_id = Choice(allow_empty=True)
    competence_id = Choice(allow_empty=True)
    due_on = FormDate(load_default=None)

    @pre_load
    def _blanks(self, data: Any, **kwargs: Any) -> Any:
        return _blank_is_missing(data)

    @validates_schema
    def _one(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data.get("course_id") is None) == (data.get("competence_id") is None):
            raise ValidationError(gettext("Choose an activity or a competence."), "course_id")


class ConfirmForm(_Form):
    """A manager confirms that the person completed an activity."""

    course_id = Choice()


class ConfirmPeopleForm(_Form):
    """An instructor confirms that these people completed the activity."""

    person_ids = fields.List(Choice(), required=True, error_messages={"required": CHOOSE})


# --- the API's answer --------------------------------------------------------------------------


class PlanBookingOut(Schema):
    status = fields.String(
        metadata={
            "enum": ["booked", "waitlisted", "cancelled"],
            "description": "booked: holds a seat; waitlisted: waits for one; cancelled: "
            "cancelled by the person (or the session was).",
        }
    )
    waitlist_position = fields.Integer(
        allow_none=True,
        metadata={
            "description": "Place on the waitlist (1: the next to get a seat); "
            "null unless waitlisted."
        },
    )


class PlanSessionOut(Schema):
    id = fields.Integer()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    place = fields.String()
    video_url = fields.String(allow_none=True)
    seats_left = fields.Integer()
    waitlist = fields.Boolean()
    signup_deadline = fields.AwareDateTime(allow_none=True)
    booking = fields.Nested(
        PlanBookingOut,
        attribute="own_booking",
        allow_none=True,
        metadata={"description": "The person's own booking of the session; null: none."},
    )


class PlanActivityOut(Schema):
    id = fields.Integer(attribute="course_id")
    code = fields.String()
    title = fields.String()
    kind = fields.String(metadata={"enum": ["classroom", "elearning", "practical"]})
    level = fields.Integer(
        metadata={"description": "The level it develops the competence to (0: not given)."}
    )
    lms_url = fields.String(allow_none=True)
    duration_minutes = fields.Integer(allow_none=True)
    language = fields.String(allow_none=True)


class PlanEntryOut(Schema):
    key = fields.String(metadata={"description": "<activity id>-<competence id>, 0 for none."})
    activity = fields.Nested(PlanActivityOut, attribute="course", allow_none=True)
    state = fields.String(
        metadata={
            "enum": list((rules.SUGGESTED, *rules.ANSWERS, rules.DONE)),
            "description": "As shown now: done when the requirement is met.",
        }
    )
    stored_state = fields.String(
        allow_none=True, metadata={"description": "What was answered; null: not yet."}
    )
    source = fields.String(metadata={"enum": ["suggested", "manager"]})
    due_on = fields.Date(allow_none=True)
    postponed_until = fields.Date(allow_none=True)
    decline_reason = fields.String(allow_none=True)
    added_by = fields.String(allow_none=True)
    sessions = fields.List(fields.Nested(PlanSessionOut))


class HeldByOut(Schema):
    source = fields.String(
        metadata={"description": "Where the evidence held came from (domain.evidence_sources)."}
    )
    confidence = fields.String(metadata={"enum": ["low", "medium", "high"]})
    recorded_at = fields.AwareDateTime()
    activity = fields.String(attribute="course", allow_none=True)


class PlanLineOut(Schema):
    competence_id = fields.Integer(attribute="gap.competence_id")
    code = fields.String(attribute="gap.code")
    title = fields.String(attribute="gap.title")
    framework = fields.String(attribute="gap.framework")
    status = fields.String(
        attribute="gap.status",
        metadata={"enum": ["met", "gap", "expiring", "expired", "never_assessed"]},
    )
    required_level = fields.Integer(attribute="gap.required_level")
    required_label = fields.String(attribute="gap.required_label")
    current_level = fields.Integer(attribute="gap.held_level", allow_none=True)
    current_label = fields.String(attribute="gap.held_label", allow_none=True)
    expires_at = fields.AwareDateTime(attribute="gap.expires_at", allow_none=True)
    mandatory = fields.Boolean(attribute="gap.mandatory")
    job_roles = fields.List(fields.String(), attribute="gap.job_roles")
    held_by = fields.Nested(HeldByOut, allow_none=True)
    items = fields.List(fields.Nested(PlanEntryOut), attribute="entries")


class ProgressOut(Schema):
    met = fields.Integer(
        attribute="held", metadata={"description": "Requirements held today (met or expiring)."}
    )
    total = fields.Integer()
    percent = fields.Integer()


class PlanOut(Schema):
    person_id = fields.Integer()
    name = fields.String(attribute="analysis.name")
    job_roles = fields.List(fields.String(), attribute="analysis.job_roles")
    progress = fields.Nested(ProgressOut)
    lines = fields.List(fields.Nested(PlanLineOut))
    other_items = fields.List(fields.Nested(PlanEntryOut), attribute="extra")
