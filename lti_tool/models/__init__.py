"""Every model, imported here so that Alembic and the app see the whole schema."""

from lti_tool.models.lti_state import LoginState, UsedNonce
from lti_tool.models.organisation import Organisation, Region
from lti_tool.models.person import Launch, Person
from lti_tool.models.platform import Deployment, Platform, Status
from lti_tool.models.registration import RegistrationInvite

__all__ = [
    "Deployment",
    "Launch",
    "LoginState",
    "Organisation",
    "Person",
    "Platform",
    "Region",
    "RegistrationInvite",
    "Status",
    "UsedNonce",
]
