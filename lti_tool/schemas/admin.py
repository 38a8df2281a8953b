"""The admin console's forms: what each one may carry, with messages shown by the fields.

Messages are translated when a form is read (inside the request, in the reader's language).
Unknown fields (the CSRF token, the launch token) are left out.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask_babel import gettext, lazy_gettext
from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    missing,
    pre_load,
    validate,
    validates,
    validates_schema,
)

from lti_tool.db import MAX_INT
from lti_tool.domain.urls import MAX_URL_LENGTH
from lti_tool.lti.roles import DESIGNER_ROLE_CHOICES
from lti_tool.models import AuditAction, GrantKind
from lti_tool.schemas.checks import check_web_url, refuse_nul
from lti_tool.services.grants import MAX_REASON_LENGTH
from lti_tool.services.organisations import MAX_EXPIRING_DAYS, MAX_NAME_LENGTH
from lti_tool.services.registration import MAX_EXPIRES_IN_MINUTES

#: How long a registration URL may stay valid, in minutes: an hour, a day, a week.
INVITE_LIFETIMES = (60, 24 * 60, 7 * 24 * 60)
assert max(INVITE_LIFETIMES) <= MAX_EXPIRES_IN_MINUTES

#: Longest issuer, client id and deployment id the registry stores.
MAX_ID_LENGTH = 255


class _Form(Schema):
    class Meta:
        unknown = EXCLUDE


FILL_IN = lazy_gettext("Fill this in.")
CHOOSE = lazy_gettext("Choose one.")
CHOOSE_A_DATE = lazy_gettext("Enter a date.")


class Text(fields.Field):
    """Text from a form field, trimmed; required and at most ``max_length`` characters."""

    def __init__(self, max_length: int, *, required: bool = True, **kwargs: Any) -> None:
        super().__init__(
            required=required,
            load_default=missing if required else "",
            error_messages={"required": FILL_IN, "null": FILL_IN},
            **kwargs,
        )
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(gettext("Enter text."))
        refuse_nul(value)
        text = value.strip()
        if not text and self.required:
            raise ValidationError(str(FILL_IN))
        if len(text) > self.max_length:
            raise ValidationError(
                gettext("Use at most %(count)d characters.", count=self.max_length)
            )
        return text


class HttpUrl(Text):
    """An absolute http(s) address (``domain.urls``); empty when not required and blank."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(MAX_URL_LENGTH, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text or self.required:
            check_web_url(text)
        return text


class IdList(fields.Field):
    """Ids separated by commas or new lines; blanks and repeats left out."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:
        if not isinstance(value, str):
            raise ValidationError(gettext("Enter text."))
        ids: list[str] = []
        for part in re.split(r"[,\n\r]+", value):
            item = part.strip()
            if len(item) > MAX_ID_LENGTH:
                raise ValidationError(
                    gettext("Each id may have at most %(count)d characters.", count=MAX_ID_LENGTH)
                )
            if item and item not in ids:
                ids.append(item)
        return ids


class Choice(fields.Field):
    """A number picked in a select; the empty option is None when ``allow_empty``."""

    def __init__(self, *, allow_empty: bool = False, **kwargs: Any) -> None:
        super().__init__(
            required=not allow_empty,
            load_default=None if allow_empty else missing,
            error_messages={"required": CHOOSE, "null": CHOOSE},
            **kwargs,
        )
        self.allow_empty = allow_empty

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int | None:
        if value in ("", None) and self.allow_empty:
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValidationError(str(CHOOSE)) from None
        if abs(number) > MAX_INT:  # no row has it; the database would refuse to look
            raise ValidationError(str(CHOOSE))
        return number


class ManualRegistrationForm(_Form):
    """A platform registered by hand, with the values its LMS shows for the tool."""

    name = Text(200, required=False)
    issuer = HttpUrl()
    client_id = Text(MAX_ID_LENGTH)
    auth_login_url = HttpUrl()
    auth_token_url = HttpUrl()
    jwks_url = HttpUrl()
    deployment_ids = IdList(load_default=list)


class InviteForm(_Form):
    expires_in = Choice()

    @validates("expires_in")
    def _one_of_the_offered(self, value: int, **kwargs: Any) -> None:
        if value not in INVITE_LIFETIMES:
            raise ValidationError(str(CHOOSE))


class NameForm(_Form):
    name = Text(MAX_NAME_LENGTH)


class OrganisationForm(_Form):
    name = Text(MAX_NAME_LENGTH)
    region_id = Choice(allow_empty=True)
    expiring_days = fields.Method(deserialize="_days", load_default=None)
    """The expiring window in days; empty: left as it is."""

    def _days(self, value: Any) -> int | None:
        """ASCII digits only: ``str.isdigit`` takes "²" (which ``int`` refuses) and "٣"."""
        text = str(value or "").strip()
        if not text:
            return None
        if not re.fullmatch(r"[0-9]{1,9}", text) or not 1 <= int(text) <= MAX_EXPIRING_DAYS:
            raise ValidationError(
                gettext("Enter a whole number of days from 1 to %(max)d.", max=MAX_EXPIRING_DAYS)
            )
        return int(text)


class ReassignForm(_Form):
    organisation_id = Choice()


class Word(fields.Field):
    """One of ``choices``, picked in a select or a radio group."""

    def __init__(self, choices: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(required=True, error_messages={"required": CHOOSE, "null": CHOOSE})
        self.choices = choices

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if value not in self.choices:
            raise ValidationError(str(CHOOSE))
        return str(value)


class GrantForm(_Form):
    """A permission granted to a person, with its scope and the reason for the audit."""

    person_id = Choice()
    kind = Word(tuple(k.value for k in GrantKind))
    unit_id = Choice(allow_empty=True)
    region_id = Choice(allow_empty=True)
    reason = Text(MAX_REASON_LENGTH)


class WithdrawForm(_Form):
    reason = Text(MAX_REASON_LENGTH)


class DesignerRolesForm(_Form):
    """The context roles that count as designer (checkboxes: pass ``getlist``)."""

    roles = fields.List(Word(DESIGNER_ROLE_CHOICES), load_default=list)


class AuditQuery(_Form):
    """The audit log's filters (a GET form: every field may be left empty) and its page."""

    action = fields.String(
        load_default=None, validate=validate.OneOf([a.value for a in AuditAction], error=CHOOSE)
    )
    actor_id = Choice(allow_empty=True)
    person_id = Choice(allow_empty=True)
    object_type = fields.String(
        load_default=None, validate=validate.Regexp(r"^[a-z_]{1,50}\Z", error=CHOOSE)
    )
    since = fields.Date(
        load_default=None,
        # the view reads a day from Norway's midnight, before the first day's in UTC
        validate=validate.Range(min=dt.date.min + dt.timedelta(days=1), error=CHOOSE_A_DATE),
        error_messages={"invalid": lazy_gettext("Enter a date.")},
    )
    until = fields.Date(
        load_default=None,
        # the view reads "until" as before the next day: the last day has none
        validate=validate.Range(max=dt.date.max - dt.timedelta(days=1), error=CHOOSE_A_DATE),
        error_messages={"invalid": lazy_gettext("Enter a date.")},
    )
    page = fields.Integer(
        load_default=1, validate=validate.Range(min=1, max=MAX_INT // 50, error=CHOOSE)
    )

    @pre_load
    def _empty_is_none(self, data: Any, **kwargs: Any) -> Any:
        return {k: v for k, v in data.items() if v != ""}

    @validates_schema
    def _in_order(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise ValidationError(
                gettext("The end date comes before the start date."), field_name="until"
            )


def field_errors(exc: ValidationError) -> dict[str, list[str]]:
    """A schema's errors as ``{field: [message, …]}`` for the templates."""
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return {
        name: [str(m) for m in (found if isinstance(found, list) else [found])]
        for name, found in messages.items()
    }
