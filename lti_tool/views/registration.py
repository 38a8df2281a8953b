"""LTI Dynamic Registration: the URL an administrator enters in the LMS.

Public, but guarded by the one-time secret in the URL (see ``flask registration-url``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from lti_tool.auth import public
from lti_tool.db import get_session
from lti_tool.errors import RegistrationNotInvited
from lti_tool.lti.registration import parse_initiation
from lti_tool.lti.services import lti_services
from lti_tool.services import registration

bp = Blueprint("registration", __name__, url_prefix="/lti")


@bp.route("/register")
@public
def register_without_invite() -> Any:
    raise RegistrationNotInvited("registration URL without a secret")


@bp.route("/register/<secret>")
@public
def register(secret: str) -> Any:
    """The platform opens this with ``openid_configuration`` and ``registration_token``."""
    session = get_session()
    invite = registration.find_usable_invite(session, secret)
    initiation = parse_initiation(request.args)
    settings = lti_services().settings
    registered = registration.register_with_invite(
        session,
        invite,
        initiation,
        base_url=settings.base_url,
        timeout=settings.HTTP_TIMEOUT_SECONDS,
        allow_private_hosts=settings.registration_allows_private_hosts,
        allowed_hosts=settings.registration_allowed_hosts,
    )
    return render_template("registration/done.html", registered=registered)
