"""The demo LMS: its platform object and its registration with the tool."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from lti_tool.lti.demo_platform import DemoPlatform, load_or_create_key
from lti_tool.lti.services import LtiServices
from lti_tool.models import Platform
from lti_tool.services import framework_io, platforms
from lti_tool.services.framework_io import LoadedExamples

DEMO_CLIENT_ID = "laeringslop-demo"
DEMO_DEPLOYMENT_ID = "demo-deployment"
DEMO_ORGANISATION = "Demokommune"
#: The job roles the demo LMS sends as the custom parameter `job_role` (the example
#: content defines them), so each demo person sees real requirements.
DEMO_JOB_ROLES = {
    "learner": {"job_role": "sykepleier,alle-ansatte"},
    "designer": {"job_role": "alle-ansatte"},
    "manager": {"job_role": "alle-ansatte"},
}


def demo_platform(lti: LtiServices) -> DemoPlatform:
    settings = lti.settings
    pem, kid = load_or_create_key(Path(settings.INSTANCE_PATH) / "demo_platform_key.pem")
    return DemoPlatform(
        issuer=settings.base_url + "/demo",
        client_id=DEMO_CLIENT_ID,
        deployment_id=DEMO_DEPLOYMENT_ID,
        private_pem=pem,
        kid=kid,
        tool_launch_url=lti.launch_url,
        tool_login_url=lti.login_url,
        custom_by_persona=DEMO_JOB_ROLES,
    )


def find_demo_registration(session: Session, platform: DemoPlatform) -> Platform | None:
    return platforms.find_platform(session, platform.issuer, platform.client_id)


def register_demo_platform(session: Session, platform: DemoPlatform) -> Platform:
    """Register the demo LMS like an administrator would (idempotent)."""
    return platforms.register_platform(
        session,
        issuer=platform.issuer,
        client_id=platform.client_id,
        auth_login_url=platform.auth_url,
        auth_token_url=platform.token_url,
        jwks_url=platform.jwks_url,
        organisation_name=DEMO_ORGANISATION,
        deployment_ids=[platform.deployment_id],
        name="Demo LMS",
    )


def set_up_demo(session: Session, lti: LtiServices) -> tuple[Platform, LoadedExamples]:
    """Everything the demo needs, idempotent: the tool's first key, the demo LMS's
    registration, and the example frameworks and job roles in the demo organisation."""
    if not lti.keyring.all_keys():
        lti.keyring.rotate()
    platform = register_demo_platform(session, demo_platform(lti))
    loaded = framework_io.load_examples(session, platform.organisation_id)
    return platform, loaded
