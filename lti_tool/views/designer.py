"""The course designer's pages, and content selection for Deep Linking."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from lti_tool.auth import current_launch, requires
from lti_tool.errors import ToolError
from lti_tool.lti import claims as c
from lti_tool.lti.deep_linking import build_response
from lti_tool.lti.roles import Permission
from lti_tool.lti.services import lti_services
from lti_tool.lti.tool_config import ToolRegistration

bp = Blueprint("designer", __name__, url_prefix="/designer")


class NotADeepLinkingLaunch(ToolError):
    code = "not_deep_linking"


@bp.route("/")
@requires(Permission.DESIGNER, Permission.ADMIN)
def home() -> Any:
    return render_template("designer/home.html", launch=current_launch())


def _deep_linking_launch() -> Any:
    launch = current_launch()
    assert launch is not None
    if launch.message_type != c.DEEP_LINKING_REQUEST:
        raise NotADeepLinkingLaunch("deep-link page outside a deep-linking launch")
    return launch


@bp.route("/deep-link")
@requires(Permission.DESIGNER, Permission.ADMIN)
def deep_link() -> Any:
    """Choose what to place in the course (the LMS's "add activity / external tool")."""
    launch = _deep_linking_launch()
    return render_template("designer/deep_link.html", launch=launch)


@bp.route("/deep-link", methods=["POST"])
@requires(Permission.DESIGNER, Permission.ADMIN)
def deep_link_submit() -> Any:
    launch = _deep_linking_launch()
    lti = lti_services()
    registration = ToolRegistration(launch.deployment.platform, lti.keyring)
    items = [{"url": lti.launch_url, "title": "Læringsløp"}]
    return_url, token = build_response(registration, launch.claims, items)
    return render_template("lti/autopost.html", action=return_url, fields={"JWT": token})
