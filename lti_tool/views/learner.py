"""The employee's pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from lti_tool.auth import current_launch, requires
from lti_tool.lti.roles import Permission

bp = Blueprint("learner", __name__, url_prefix="/learner")


@bp.route("/")
@requires(Permission.LEARNER)
def home() -> Any:
    return render_template("learner/home.html", launch=current_launch())
