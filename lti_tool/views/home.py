"""The public front page: what the tool is, and where to start."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from lti_tool.auth import public
from lti_tool.lti.services import lti_services

bp = Blueprint("home", __name__)


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
