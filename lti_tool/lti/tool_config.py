"""pylti1p3's tool configuration, read from our platform registry in the database."""

from __future__ import annotations

from typing import Any

from pylti1p3.deployment import Deployment as PyltiDeployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy.orm import Session

from lti_tool.lti.keys import KeyRing
from lti_tool.models import Platform, Status
from lti_tool.services import platforms


class ToolRegistration(Registration):
    """A pylti1p3 registration that signs with our newest key and names it by our kid."""

    def __init__(self, platform: Platform, keyring: KeyRing) -> None:
        self.platform = platform
        self._keyring = keyring
        self.set_issuer(platform.issuer)
        self.set_client_id(platform.client_id)
        self.set_auth_login_url(platform.auth_login_url)
        self.set_auth_token_url(platform.auth_token_url)
        self.set_key_set_url(platform.jwks_url)
        if platform.auth_audience:
            self.set_auth_audience(platform.auth_audience)

    def get_tool_private_key(self) -> str:
        return self._keyring.signing_key().private_pem()

    def get_kid(self) -> str:
        return self._keyring.signing_key().kid


class DatabaseToolConf(ToolConfAbstract):
    """Every lookup by (issuer, client_id): Canvas uses one issuer for all its customers."""

    def __init__(self, session: Session, keyring: KeyRing) -> None:
        self.session = session
        self.keyring = keyring

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        raise LookupError("registrations are looked up by issuer and client_id")

    def find_platform(self, iss: str, client_id: str) -> Platform | None:
        return platforms.find_platform(self.session, iss, client_id)

    def find_registration_by_params(  # type: ignore[override]  # None when unknown
        self, iss: str, client_id: str, *args: Any, **kwargs: Any
    ) -> ToolRegistration | None:
        platform = self.find_platform(iss, client_id)
        if platform is None or platform.status != Status.ACTIVE:
            return None
        return ToolRegistration(platform, self.keyring)

    def find_deployment(self, iss: str, deployment_id: str) -> PyltiDeployment | None:
        return None

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> PyltiDeployment | None:
        platform = self.find_platform(iss, client_id)
        if platform is None:
            return None
        for deployment in platform.deployments:
            if deployment.deployment_id == deployment_id and deployment.status == Status.ACTIVE:
                return PyltiDeployment().set_deployment_id(deployment_id)
        return None
