"""The tool administrator's pages: platforms, deployments awaiting approval, keys."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext

from lti_tool.auth import current_launch, current_organisation_id, launch_token, requires
from lti_tool.db import get_session, utcnow
from lti_tool.lti.roles import Permission
from lti_tool.lti.services import lti_services
from lti_tool.services import platforms

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@requires(Permission.ADMIN)
def home() -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    keyring = lti_services().keyring
    published = {k.kid for k in keyring.published_keys()}
    return render_template(
        "admin/home.html",
        launch=current_launch(),
        platforms=platforms.platforms_of(session, organisation_id),
        deployments=platforms.deployments_of(session, organisation_id),
        keys=[(k, k.kid in published) for k in reversed(keyring.all_keys())],
        now=utcnow(),
    )


@bp.route("/deployments/<int:deployment_pk>/approve", methods=["POST"])
@requires(Permission.ADMIN)
def approve_deployment(deployment_pk: int) -> Any:
    deployment = platforms.approve_deployment_of(
        get_session(), current_organisation_id(), deployment_pk
    )
    flash(gettext("Deployment %(id)s is approved.", id=deployment.deployment_id), "success")
    return redirect(url_for("admin.home", lt=launch_token()))
