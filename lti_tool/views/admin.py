"""The tool administrator's console: platforms, deployments, registration, organisations,
regions, the tool's keys, and the delivery of grades to the LMS.

An admin acts for the organisation of their launch's deployment; the services decide what
that organisation may see and change (anything else is not found). Disabling, deleting and
rotating keys go through a confirmation page: its GET shows what will happen, its POST
(with the CSRF token) does it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask_babel import get_locale, gettext, lazy_gettext, ngettext
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from lti_tool.auth import (
    current_actor,
    current_launch,
    current_organisation_id,
    requires,
)
from lti_tool.db import get_session, reads_only, utcnow
from lti_tool.documents import csv_safe
from lti_tool.domain.calendar import day_start
from lti_tool.domain.texts import localized
from lti_tool.errors import (
    AdminLockout,
    DeploymentInUse,
    GrantReasonMissing,
    InvalidGrant,
    OrganisationNameTaken,
    OwnAccess,
    PlatformInUse,
    PlatformOwnedElsewhere,
    RegionNameTaken,
    SharedPlatform,
)
from lti_tool.lti.roles import DESIGNER_ROLE_CHOICES, Permission
from lti_tool.lti.services import lti_services
from lti_tool.lti.tool_configuration import tool_urls
from lti_tool.models import (
    AuditAction,
    AuditEvent,
    DeliveryStatus,
    GrantKind,
    Organisation,
    Status,
)
from lti_tool.schemas.admin import (
    INVITE_LIFETIMES,
    AuditQuery,
    DesignerRolesForm,
    GrantForm,
    InviteForm,
    ManualRegistrationForm,
    NameForm,
    OrganisationForm,
    ReassignForm,
    WithdrawForm,
    field_errors,
)
from lti_tool.services import (
    audit,
    grants,
    organisations,
    platforms,
    registration,
    result_reads,
    retention,
    score_delivery,
    worker_status,
)
from lti_tool.settings import LAUNCH_COUNT_DAYS

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.record_once
def _launch_count_days(state: BlueprintSetupState) -> None:
    """The window the console's launch counts cover: its tables' headings name it."""
    state.app.jinja_env.globals["launch_count_days"] = LAUNCH_COUNT_DAYS


#: Status of a page that shows a form again with what was wrong in it.
INVALID_FORM = 422


def _acting_deployment_pk() -> int:
    launch = current_launch()
    assert launch is not None  # @requires let the request in
    return launch.deployment_pk


def _to(endpoint: str, **values: Any) -> Any:
    """Redirect within the console, keeping the tab's launch token."""
    return redirect(url_for(endpoint, **values))


def _render(template: str, status: int = 200, **context: Any) -> Any:
    return render_template(template, launch=current_launch(), **context), status


# --- platforms and deployments ------------------------------------------------------------


@bp.route("/")
@reads_only
@requires(Permission.ADMIN)
def home() -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    return _render(
        "admin/home.html",
        organisation_id=organisation_id,
        platforms=platforms.platforms_of(session, organisation_id),
        deployments=platforms.deployments_of(session, organisation_id),
    )


@bp.route("/platforms/<int:platform_pk>")
@requires(Permission.ADMIN)
def platform(platform_pk: int) -> Any:
    found, impact = platforms.platform_with_impact_of(
        get_session(), current_organisation_id(), platform_pk, _acting_deployment_pk()
    )
    return _render(
        "admin/platform.html",
        platform=found,
        impact=impact,
        organisation_id=current_organisation_id(),
        role_choices=DESIGNER_ROLE_CHOICES,
        designer_roles=grants.designer_roles(found),
        shared_with=grants.others_on_platform(found, current_organisation_id()),
        shared_message=SharedPlatform.message,
    )


@bp.route("/platforms/<int:platform_pk>/designer-roles", methods=["POST"])
@requires(Permission.ADMIN)
def set_designer_roles(platform_pk: int) -> Any:
    """Choose which LMS roles count as designer in this platform's launches (from the next
    launch on)."""
    try:
        form = DesignerRolesForm().load({"roles": request.form.getlist("roles")})
    except ValidationError:
        return platform(platform_pk)[0], INVALID_FORM
    grants.set_designer_roles(get_session(), current_actor(), platform_pk, form["roles"])
    flash(gettext("Saved. It applies from each person's next launch."), "success")
    return _to("admin.platform", platform_pk=platform_pk)


@bp.route("/platforms/<int:platform_pk>/enable", methods=["POST"])
@requires(Permission.ADMIN)
def enable_platform(platform_pk: int) -> Any:
    found = platforms.set_platform_status_of(
        get_session(),
        current_organisation_id(),
        platform_pk,
        Status.ACTIVE,
        _acting_deployment_pk(),
    )
    flash(gettext("The platform %(name)s is enabled.", name=found.name or found.issuer), "success")
    return _to("admin.platform", platform_pk=platform_pk)


@bp.route("/platforms/<int:platform_pk>/disable")
@requires(Permission.ADMIN)
def confirm_disable_platform(platform_pk: int) -> Any:
    found, impact = platforms.platform_with_impact_of(
        get_session(), current_organisation_id(), platform_pk, _acting_deployment_pk()
    )
    refusal = OwnAccess.message if impact.signed_in_through else None
    return _render(
        "admin/confirm_platform_disable.html", platform=found, impact=impact, refusal=refusal
    )


@bp.route("/platforms/<int:platform_pk>/disable", methods=["POST"])
@requires(Permission.ADMIN)
def disable_platform(platform_pk: int) -> Any:
    found = platforms.set_platform_status_of(
        get_session(),
        current_organisation_id(),
        platform_pk,
        Status.DISABLED,
        _acting_deployment_pk(),
    )
    flash(
        gettext(
            "The platform %(name)s is disabled: launches from it are refused.",
            name=found.name or found.issuer,
        ),
        "success",
    )
    return _to("admin.platform", platform_pk=platform_pk)


@bp.route("/platforms/<int:platform_pk>/delete")
@requires(Permission.ADMIN)
def confirm_delete_platform(platform_pk: int) -> Any:
    found, impact = platforms.platform_with_impact_of(
        get_session(), current_organisation_id(), platform_pk, _acting_deployment_pk()
    )
    refusal = (
        OwnAccess.message
        if impact.signed_in_through
        else PlatformInUse.message
        if impact.in_use
        else None
    )
    return _render(
        "admin/confirm_platform_delete.html", platform=found, impact=impact, refusal=refusal
    )


@bp.route("/platforms/<int:platform_pk>/delete", methods=["POST"])
@requires(Permission.ADMIN)
def delete_platform(platform_pk: int) -> Any:
    found = platforms.delete_platform_of(
        get_session(), current_organisation_id(), platform_pk, _acting_deployment_pk()
    )
    flash(gettext("The platform %(name)s is deleted.", name=found.name or found.issuer), "success")
    return _to("admin.home")


@bp.route("/deployments/<int:deployment_pk>")
@requires(Permission.ADMIN)
def deployment(deployment_pk: int) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    found, impact = platforms.deployment_with_impact_of(
        session, organisation_id, deployment_pk, _acting_deployment_pk()
    )
    return _render(
        "admin/deployment.html",
        deployment=found,
        impact=impact,
        organisation_id=organisation_id,
        organisation_options=[
            (o.id, o.name) for o in platforms.organisations_in_reach(session, organisation_id)
        ],
    )


@bp.route("/deployments/<int:deployment_pk>/approve", methods=["POST"])
@requires(Permission.ADMIN)
def approve_deployment(deployment_pk: int) -> Any:
    deployment = platforms.approve_deployment_of(
        get_session(), current_organisation_id(), deployment_pk
    )
    flash(gettext("Deployment %(id)s is approved.", id=deployment.deployment_id), "success")
    return redirect(url_for("admin.home"))


@bp.route("/deployments/<int:deployment_pk>/enable", methods=["POST"])
@requires(Permission.ADMIN)
def enable_deployment(deployment_pk: int) -> Any:
    found = platforms.set_deployment_status_of(
        get_session(),
        current_organisation_id(),
        deployment_pk,
        Status.ACTIVE,
        _acting_deployment_pk(),
    )
    flash(gettext("Deployment %(id)s is enabled.", id=found.deployment_id), "success")
    return _to("admin.deployment", deployment_pk=deployment_pk)


@bp.route("/deployments/<int:deployment_pk>/disable")
@requires(Permission.ADMIN)
def confirm_disable_deployment(deployment_pk: int) -> Any:
    found, impact = platforms.deployment_with_impact_of(
        get_session(), current_organisation_id(), deployment_pk, _acting_deployment_pk()
    )
    refusal = OwnAccess.message if impact.signed_in_through else None
    return _render(
        "admin/confirm_deployment_disable.html", deployment=found, impact=impact, refusal=refusal
    )


@bp.route("/deployments/<int:deployment_pk>/disable", methods=["POST"])
@requires(Permission.ADMIN)
def disable_deployment(deployment_pk: int) -> Any:
    found = platforms.set_deployment_status_of(
        get_session(),
        current_organisation_id(),
        deployment_pk,
        Status.DISABLED,
        _acting_deployment_pk(),
    )
    flash(
        gettext(
            "Deployment %(id)s is disabled: launches into it are refused.", id=found.deployment_id
        ),
        "success",
    )
    return _to("admin.deployment", deployment_pk=deployment_pk)


@bp.route("/deployments/<int:deployment_pk>/delete")
@requires(Permission.ADMIN)
def confirm_delete_deployment(deployment_pk: int) -> Any:
    found, impact = platforms.deployment_with_impact_of(
        get_session(), current_organisation_id(), deployment_pk, _acting_deployment_pk()
    )
    refusal = (
        OwnAccess.message
        if impact.signed_in_through
        else DeploymentInUse.message
        if impact.in_use
        else None
    )
    return _render(
        "admin/confirm_deployment_delete.html", deployment=found, impact=impact, refusal=refusal
    )


@bp.route("/deployments/<int:deployment_pk>/delete", methods=["POST"])
@requires(Permission.ADMIN)
def delete_deployment(deployment_pk: int) -> Any:
    found = platforms.delete_deployment_of(
        get_session(), current_organisation_id(), deployment_pk, _acting_deployment_pk()
    )
    flash(gettext("Deployment %(id)s is deleted.", id=found.deployment_id), "success")
    return _to("admin.home")


@bp.route("/deployments/<int:deployment_pk>/organisation", methods=["POST"])
@requires(Permission.ADMIN)
def reassign_deployment(deployment_pk: int) -> Any:
    try:
        form = ReassignForm().load(request.form)
    except ValidationError:
        flash(gettext("Choose the organisation to move the deployment to."), "error")
        return _to("admin.deployment", deployment_pk=deployment_pk)
    found = platforms.reassign_deployment_of(
        get_session(), current_organisation_id(), deployment_pk, form["organisation_id"]
    )
    flash(
        gettext(
            "Deployment %(id)s now belongs to %(organisation)s.",
            id=found.deployment_id,
            organisation=found.organisation.name,
        ),
        "success",
    )
    return _to("admin.deployment", deployment_pk=deployment_pk)


# --- registration -------------------------------------------------------------------------


def _registration_page(
    errors: Mapping[str, list[str]] | None = None,
    values: Mapping[str, str] | None = None,
    status: int = 200,
) -> Any:
    return _render(
        "admin/registration.html",
        status,
        tool=tool_urls(lti_services().settings.base_url),
        lifetimes=INVITE_LIFETIMES,
        errors=errors or {},
        values=values or {},
    )


@bp.route("/registration")
@requires(Permission.ADMIN)
def registration_page() -> Any:
    return _registration_page()


@bp.route("/registration", methods=["POST"])
@requires(Permission.ADMIN)
def register_platform() -> Any:
    """Register a platform by hand, with the values its LMS shows for the tool."""
    try:
        form = ManualRegistrationForm().load(request.form)
    except ValidationError as exc:
        return _registration_page(field_errors(exc), request.form, INVALID_FORM)
    try:
        registered = platforms.register_platform_of(
            get_session(), current_organisation_id(), **form
        )
    except PlatformOwnedElsewhere as exc:
        return _registration_page({"client_id": [str(exc.message)]}, request.form, INVALID_FORM)
    flash(
        ngettext(
            "The platform %(name)s is registered with %(num)d deployment.",
            "The platform %(name)s is registered with %(num)d deployments.",
            len(registered.deployments),
            name=registered.name,
        ),
        "success",
    )
    return _to("admin.platform", platform_pk=registered.id)


@bp.route("/registration/url", methods=["POST"])
@requires(Permission.ADMIN)
def registration_url() -> Any:
    """A one-time Dynamic Registration URL for the admin's organisation, shown this once."""
    try:
        form = InviteForm().load(request.form)
    except ValidationError as exc:
        return _registration_page(field_errors(exc), request.form, INVALID_FORM)
    invite, secret = registration.create_registration_invite_of(
        get_session(), current_organisation_id(), form["expires_in"]
    )
    page, status = _render(
        "admin/registration_url.html",
        invite=invite,
        url=registration.registration_url(lti_services().settings.base_url, secret),
    )
    return page, status, {"Cache-Control": "no-store"}


# --- organisations and regions -------------------------------------------------------------


def _organisations_page(
    errors: Mapping[str, list[str]] | None = None,
    values: Mapping[str, str] | None = None,
    status: int = 200,
) -> Any:
    organisation_id = current_organisation_id()
    return _render(
        "admin/organisations.html",
        status,
        organisation_id=organisation_id,
        organisations=platforms.organisations_in_reach(get_session(), organisation_id),
        errors=errors or {},
        values=values or {},
    )


@bp.route("/organisations")
@requires(Permission.ADMIN)
def organisations_page() -> Any:
    return _organisations_page()


@bp.route("/organisations", methods=["POST"])
@requires(Permission.ADMIN)
def create_organisation() -> Any:
    try:
        form = NameForm().load(request.form)
        created = platforms.create_organisation(
            get_session(), form["name"], steward_id=current_organisation_id()
        )
    except ValidationError as exc:
        return _organisations_page(field_errors(exc), request.form, INVALID_FORM)
    except OrganisationNameTaken as exc:
        return _organisations_page({"name": [str(exc.message)]}, request.form, INVALID_FORM)
    flash(gettext("The organisation %(name)s is created.", name=created.name), "success")
    return _to("admin.organisations_page")


def organisation_page(
    organisation_pk: int,
    errors: Mapping[str, list[str]] | None = None,
    values: Mapping[str, str] | None = None,
    status: int = 200,
) -> Any:
    session = get_session()
    return _render(
        "admin/organisation.html",
        status,
        organisation=platforms.organisation_in_reach(
            session, current_organisation_id(), organisation_pk
        ),
        region_options=[
            ("", gettext("No region")),
            *((r.id, r.name) for r in organisations.regions_of(session, current_organisation_id())),
        ],
        errors=errors or {},
        values=values or {},
        own=organisation_pk == current_organisation_id(),
    )


@bp.route("/organisations/<int:organisation_pk>")
@requires(Permission.ADMIN)
def organisation(organisation_pk: int) -> Any:
    return organisation_page(organisation_pk)


@bp.route("/organisations/<int:organisation_pk>", methods=["POST"])
@requires(Permission.ADMIN)
def update_organisation(organisation_pk: int) -> Any:
    """Rename an organisation in the admin's reach and put it in a region, or in none."""
    try:
        form = OrganisationForm().load(request.form)
        updated = organisations.update_organisation_of(
            get_session(),
            current_organisation_id(),
            organisation_pk,
            form["name"],
            form["region_id"],
            form["expiring_days"],
        )
    except ValidationError as exc:
        return organisation_page(organisation_pk, field_errors(exc), request.form, INVALID_FORM)
    except OrganisationNameTaken as exc:
        return organisation_page(
            organisation_pk, {"name": [str(exc.message)]}, request.form, INVALID_FORM
        )
    flash(gettext("The organisation %(name)s is saved.", name=updated.name), "success")
    return _to("admin.organisations_page")


def _regions_page(
    errors: Mapping[str, list[str]] | None = None,
    values: Mapping[str, str] | None = None,
    status: int = 200,
) -> Any:
    return _render(
        "admin/regions.html",
        status,
        regions=organisations.regions_of(get_session(), current_organisation_id()),
        errors=errors or {},
        values=values or {},
    )


@bp.route("/regions")
@requires(Permission.ADMIN)
def regions_page() -> Any:
    return _regions_page()


@bp.route("/regions", methods=["POST"])
@requires(Permission.ADMIN)
def create_region() -> Any:
    try:
        form = NameForm().load(request.form)
        created = organisations.create_region(
            get_session(), form["name"], steward_id=current_organisation_id()
        )
    except ValidationError as exc:
        return _regions_page(field_errors(exc), request.form, INVALID_FORM)
    except RegionNameTaken as exc:
        return _regions_page({"name": [str(exc.message)]}, request.form, INVALID_FORM)
    flash(gettext("The region %(name)s is created.", name=created.name), "success")
    return _to("admin.regions_page")


# --- the tool's keys ------------------------------------------------------------------------


@bp.route("/keys")
@requires(Permission.ADMIN)
def keys() -> Any:
    keyring = lti_services().keyring
    return _render(
        "admin/keys.html",
        keys=keyring.states(),
        grace_days=keyring.grace.days,
        jwks_url=tool_urls(lti_services().settings.base_url)["jwks_url"],
        now=utcnow(),
    )


@bp.route("/keys/rotate")
@requires(Permission.ADMIN)
def confirm_rotate_keys() -> Any:
    keyring = lti_services().keyring
    return _render(
        "admin/confirm_keys_rotate.html", keys=keyring.states(), grace_days=keyring.grace.days
    )


def _own_or_tool_admin(actor: audit.Actor) -> Callable[[int], audit.Actor]:
    """Who acted, as each organisation's log names them: in other organisations than the
    admin's, "a tool administrator" (their person is not those organisations' to name)."""

    def actor_of(organisation_id: int) -> audit.Actor:
        if organisation_id == actor.organisation_id:
            return actor
        return audit.Actor(organisation_id, label=audit.TOOL_ADMIN)

    return actor_of


@bp.route("/keys/rotate", methods=["POST"])
@requires(Permission.ADMIN)
def rotate_keys() -> Any:
    """A new signing key; the previous one stays published for the grace period."""
    keyring = lti_services().keyring
    key = keyring.rotate()
    actor_of = _own_or_tool_admin(current_actor())
    audit.record_everywhere(get_session(), actor_of, AuditAction.ROTATE_KEY, "tool_key", key.kid)
    flash(
        ngettext(
            "The new key %(kid)s signs from now on. The previous key stays published for "
            "%(num)d day.",
            "The new key %(kid)s signs from now on. The previous key stays published for "
            "%(num)d days.",
            keyring.grace.days,
            kid=key.kid,
        ),
        "success",
    )
    return _to("admin.keys")


# --- grades sent to the LMS (AGS) -----------------------------------------------------------


@bp.route("/deliveries")
@requires(Permission.ADMIN)
def deliveries() -> Any:
    """The organisation's scores on their way to the LMS gradebooks, and those refused;
    likewise the results read from them (placed e-learning) that wait or failed. And
    whether the tool's worker, which sends them, runs (with Redis, where the workers note
    their passes): an LMS administrator asked where a grade is may not see the tool's
    metrics."""
    session = get_session()
    organisation_id = current_organisation_id()
    pending = score_delivery.deliveries_of(session, organisation_id, DeliveryStatus.PENDING)
    failed = score_delivery.deliveries_of(session, organisation_id, DeliveryStatus.FAILED)
    people = score_delivery.people_of_deliveries(session, [*pending, *failed])
    reads_failed = result_reads.reads_of(session, organisation_id, failed=True)
    reads_retrying = result_reads.reads_of(session, organisation_id, failed=False)
    shown = {p.id for p in people.values()} | {
        r.person_id for r in [*reads_failed, *reads_retrying]
    }
    audit.record_view(session, current_actor(), "score_deliveries", sorted(shown))
    return _render(
        "admin/deliveries.html",
        reads_failed=reads_failed,
        reads_retrying=reads_retrying,
        localized=lambda text: localized(text, str(get_locale())),
        counts=score_delivery.delivery_counts(session, organisation_id),
        pending=pending,
        failed=failed,
        superseded=score_delivery.superseded_ids(session, organisation_id),
        names={delivery_id: p.display_name for delivery_id, p in people.items()},
        now=utcnow(),
        **_worker(),
    )


#: The parts of the workers' pass (``worker_status.WORKER_PARTS``), as the page names them.
WORKER_PART_NAMES = {
    "scores": lazy_gettext("sending scores"),
    "result_reads": lazy_gettext("reading results"),
    "notices": lazy_gettext("emailing notices"),
    "retention": lazy_gettext("applying the retention rules"),
    "figures": lazy_gettext("recording coverage figures"),
    "attempts": lazy_gettext("closing overdue attempts"),
}


def _worker() -> dict[str, Any]:
    """Whether the tool's worker runs, for the deliveries page (nothing without Redis)."""
    services = lti_services()
    status = worker_status.read_status(services.status_redis)
    return {
        "worker": status,
        "worker_stopped": status is not None
        and status.stopped(services.settings.SCORE_WORKER_POLL_SECONDS),
        "worker_failing": [str(WORKER_PART_NAMES[part]) for part in status.failing]
        if status is not None
        else [],
    }


@bp.route("/deliveries/<int:delivery_id>/retry", methods=["POST"])
@requires(Permission.ADMIN)
def retry_delivery(delivery_id: int) -> Any:
    outcome = score_delivery.retry_delivery(get_session(), current_organisation_id(), delivery_id)
    if outcome == score_delivery.RetryOutcome.QUEUED:
        flash(gettext("The score is queued and will be sent again shortly."), "success")
    elif outcome == score_delivery.RetryOutcome.SUPERSEDED:
        flash(
            gettext(
                "The score was not sent again: a newer score for the same person and grade "
                "item has reached the learning platform since."
            ),
            "error",
        )
    else:
        flash(gettext("The score has not failed: it is queued or delivered already."), "info")
    return _to("admin.deliveries")


@bp.route("/deliveries/reads/<int:read_id>/retry", methods=["POST"])
@requires(Permission.ADMIN)
def retry_result_read(read_id: int) -> Any:
    """Read a result the worker gave up on again (after the cause is mended in the LMS)."""
    if result_reads.retry_read(get_session(), current_organisation_id(), read_id):
        flash(gettext("The result will be read again shortly."), "success")
    else:
        flash(gettext("Reading the result has not failed: it is waiting or done."), "info")
    return _to("admin.deliveries", _anchor="reads")


@bp.route("/deliveries/retry-failed", methods=["POST"])
@requires(Permission.ADMIN)
def retry_failed_deliveries() -> Any:
    queued = score_delivery.retry_failed(get_session(), current_organisation_id())
    flash(
        ngettext(
            "%(num)d failed score is queued to be sent again.",
            "%(num)d failed scores are queued to be sent again.",
            queued,
        ),
        "success",
    )
    return _to("admin.deliveries")


# --- who may do what: permissions granted in the tool ----------------------------------------

#: The field a refusal of the grants service belongs to.
GRANT_FIELD_OF = {InvalidGrant: "kind", GrantReasonMissing: "reason"}


def _grants_page(
    errors: Mapping[str, list[str]] | None = None,
    values: Mapping[str, str] | None = None,
    status: int = 200,
    withdraw_errors: Mapping[int, list[str]] | None = None,
) -> Any:
    session, organisation_id = get_session(), current_organisation_id()
    organisation = session.get(Organisation, organisation_id)
    region = organisation.region if organisation else None
    found = grants.grants_of(session, organisation_id)
    audit.record_view(session, current_actor(), "grants", [g.person_id for g in found])
    return _render(
        "admin/grants.html",
        status,
        grants=found,
        person_options=[("", "")]
        + [
            (p.id, f"{p.display_name} ({p.email or p.sub})")
            for p in grants.people_of(session, organisation_id)
        ],
        unit_options=[("", gettext("None"))]
        + [(u.id, f"{u.name} ({u.code})") for u in grants.units_of(session, organisation_id)],
        region_options=[("", gettext("None: the organisation"))]
        + ([(region.id, region.name)] if region else []),
        errors=errors or {},
        values=values or {},
        withdraw_errors=withdraw_errors or {},
    )


@bp.route("/grants")
@requires(Permission.ADMIN)
def grants_page() -> Any:
    """Who holds which permission in the tool, and the audit of every grant and withdrawal."""
    return _grants_page()


@bp.route("/grants", methods=["POST"])
@requires(Permission.ADMIN)
def grant() -> Any:
    try:
        form = GrantForm().load(request.form)
        grants.grant(
            get_session(),
            current_organisation_id(),
            person_id=form["person_id"],
            kind=GrantKind(form["kind"]),
            unit_id=form["unit_id"],
            region_id=form["region_id"],
            reason=form["reason"],
            by=current_actor(),
            via="console",
        )
    except ValidationError as exc:
        return _grants_page(field_errors(exc), request.form, INVALID_FORM)
    except (InvalidGrant, GrantReasonMissing) as exc:
        field = GRANT_FIELD_OF[type(exc)]
        return _grants_page({field: [str(exc.message)]}, request.form, INVALID_FORM)
    flash(gettext("Granted. It applies at once."), "success")
    return _to("admin.grants_page")


@bp.route("/grants/<int:grant_id>/withdraw", methods=["POST"])
@requires(Permission.ADMIN)
def withdraw_grant(grant_id: int) -> Any:
    try:
        form = WithdrawForm().load(request.form)
    except ValidationError as exc:
        return _grants_page(
            status=INVALID_FORM, withdraw_errors={grant_id: field_errors(exc)["reason"]}
        )
    try:
        grants.withdraw(
            get_session(),
            current_organisation_id(),
            grant_id,
            reason=form["reason"],
            by=current_actor(),
            via="console",
        )
    except AdminLockout as exc:
        return _grants_page(status=exc.status, withdraw_errors={grant_id: [str(exc.message)]})
    flash(gettext("Withdrawn. It applies at once."), "success")
    return _to("admin.grants_page")


# --- the audit log: who saw or changed what -----------------------------------------------

AUDIT_PAGE_SIZE = 50
AUDIT_CSV_HEADER = (
    "occurred_at",
    "actor",
    "actor_person_id",
    "action",
    "object_type",
    "object_id",
    "people",
    "person_ids",
    "request_method",
    "request_path",
    "detail",
)


def _audit_filters() -> tuple[dict[str, Any], audit.Filters]:
    """The filters in the query string (``ValidationError`` when one is wrong). Dates are
    whole days in Norway, as the log shows its times."""
    query = AuditQuery().load(request.args.to_dict())

    def start_of(day: dt.date | None) -> dt.datetime | None:
        return day_start(day) if day else None

    until = query["until"]
    return query, audit.Filters(
        action=AuditAction(query["action"]) if query["action"] else None,
        actor_id=query["actor_id"],
        person_id=query["person_id"],
        object_type=query["object_type"],
        since=start_of(query["since"]),
        before=start_of(until + dt.timedelta(days=1) if until else None),
    )


def _chosen(query: Mapping[str, Any]) -> dict[str, str]:
    """The filters set, as kept in the audit event of reading the log."""
    return {k: str(v) for k, v in query.items() if v is not None and k != "page"}


def _actor_name(event: AuditEvent, names: Mapping[int, str]) -> str:
    if event.actor_person_id is not None:
        return names.get(event.actor_person_id, f"#{event.actor_person_id}")
    if event.actor_label == audit.CLI:
        return gettext("the command line")
    if event.actor_label == audit.SYSTEM:
        return gettext("the system")
    if event.actor_label == audit.TOOL_ADMIN:
        return gettext("an administrator of another organisation")
    return event.actor_label or ""


def _audit_page(
    events: list[AuditEvent],
    total: int,
    page: int,
    names: Mapping[int, str],
    errors: Mapping[str, list[str]] | None = None,
    status: int = 200,
) -> Any:
    session, organisation_id = get_session(), current_organisation_id()
    args = {k: v for k, v in request.args.items() if k not in ("page", "lt")}
    return _render(
        "admin/audit.html",
        status,
        events=events,
        total=total,
        page=page,
        pages=max(1, -(-total // AUDIT_PAGE_SIZE)),
        args=args,
        names=names,
        actor_name=lambda e: _actor_name(e, names),
        outsiders_of=lambda e: (e.detail or {}).get(audit.OUTSIDERS) or [],
        actions=list(AuditAction),
        object_types=audit.object_types(session, organisation_id),
        audit_retention_months=retention.audit_retention_of(session, organisation_id),
        person_options=[("", gettext("Anyone"))]
        + [(p.id, p.display_name) for p in grants.people_of(session, organisation_id)],
        values=request.args,
        errors=errors or {},
    )


@bp.route("/audit")
@requires(Permission.ADMIN)
def audit_page() -> Any:
    """The organisation's audit log, newest first, with filters. Reading it is recorded."""
    session, organisation_id = get_session(), current_organisation_id()
    try:
        query, filters = _audit_filters()
    except ValidationError as exc:
        return _audit_page([], 0, 1, {}, field_errors(exc), INVALID_FORM)
    offset = (query["page"] - 1) * AUDIT_PAGE_SIZE
    events, total = audit.events_of(session, organisation_id, filters, offset, AUDIT_PAGE_SIZE)
    names = audit.names_of(session, organisation_id, events)
    shown = {p.person_id for e in events for p in e.people}
    audit.record_view(session, current_actor(), "audit", shown, detail=_chosen(query))
    return _audit_page(events, total, query["page"], names)


def _audit_rows(
    session: Session, organisation_id: int, filters: audit.Filters
) -> Iterator[list[Any]]:
    """The CSV rows of the events ``filters`` match, newest first."""
    for batch in audit.all_events(session, organisation_id, filters):
        names = audit.names_of(session, organisation_id, batch)
        for e in batch:
            people = [p.person_id for p in e.people]
            yield [
                e.occurred_at.isoformat(),
                _actor_name(e, names),
                e.actor_person_id,
                e.action.value,
                e.object_type,
                e.object_id,
                "; ".join(names.get(p, f"#{p}") for p in people),
                " ".join(map(str, people)),
                e.request_method,
                e.request_path,
                json.dumps(e.detail, ensure_ascii=False) if e.detail else "",
            ]


@bp.route("/audit.csv")
@requires(Permission.ADMIN)
def audit_csv() -> Any:
    """Every event the filters match, as a CSV file streamed a batch at a time; the export
    itself is recorded."""
    session, organisation_id = get_session(), current_organisation_id()
    try:
        query, filters = _audit_filters()
    except ValidationError as exc:
        return _audit_page([], 0, 1, {}, field_errors(exc), INVALID_FORM)
    concerned = [filters.person_id] if filters.person_id else []
    audit.record(
        session, current_actor(), AuditAction.EXPORT, "audit", None, concerned, _chosen(query)
    )

    def rows() -> Iterator[list[Any]]:
        try:
            yield from _audit_rows(session, organisation_id, filters)
        finally:  # the rows are read after the request's commit: give the connection back
            session.close()

    lines = stream_with_context(csv_safe.csv_lines(AUDIT_CSV_HEADER, rows()))
    return Response(
        lines,
        mimetype="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="audit.csv"',
            "Cache-Control": "private, no-store",
        },
    )
