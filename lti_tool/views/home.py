"""The public front page: what the tool is, and where to start."""

from __future__ import annotations

import datetime
from typing import Any

from flask import Blueprint, render_template

from lti_tool.auth import public
from lti_tool.lti.services import lti_services

bp = Blueprint("home", __name__)

#: When the accessibility statement was last reviewed against the pages; change it with
#: the text.
STATEMENT_REVIEWED = datetime.date(2026, 12, 5)


@bp.route("/")
@public
def index() -> Any:
    lti = lti_services()
    return render_template(
        "home/index.html",
        demo_enabled=lti.settings.demo_enabled,
        login_url=lti.login_url,
        launch_url=lti.launch_url,
        jwks_url=lti.settings.base_url + "/lti/jwks.json",
    )


@bp.route("/accessibility")
@public
def accessibility() -> Any:
    """The accessibility statement (tilgjengelighetserklæring) the regulation asks for."""
    contact = lti_services().settings.ACCESSIBILITY_CONTACT
    return render_template(
        "home/accessibility.html",
        contact=contact,
        contact_is_email="@" in contact and not contact.startswith("https://"),
        reviewed=STATEMENT_REVIEWED,
    )
