"""The unit manager's pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from lti_tool.auth import current_launch, requires
from lti_tool.lti.roles import Permission

bp = Blueprint("manager", __name__, url_prefix="/manager")


@bp.route("/")
@requires(Permission.MANAGER, Permission.ADMIN)
def home() -> Any:
    return render_template("manager/home.html", launch=current_launch())
