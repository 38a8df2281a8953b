"""Who acts, for the audit log's record of set-up changes (``services.audit_changes``):
the launched person or API token of the request, the command line, or the system (the
worker, and requests no one is signed in to, such as dynamic registration)."""

from __future__ import annotations

import dataclasses

import click
from flask import Flask, has_request_context, request

from lti_tool.errors import NotSignedIn
from lti_tool.models import AuditAction
from lti_tool.services import audit
from lti_tool.services.audit import Actor
from lti_tool.services.audit_changes import Listener

#: Commands that are the system at work, not a person at the command line.
SYSTEM_COMMANDS = frozenset({"worker"})


def actor_of(organisation_id: int) -> Actor:
    """Who changed an object of ``organisation_id`` in this request or command."""
    if has_request_context():
        from lti_tool.auth import current_actor

        try:
            actor = current_actor()
        except NotSignedIn:
            return Actor(
                organisation_id, label=audit.SYSTEM, method=request.method, path=request.path
            )
        return dataclasses.replace(actor, organisation_id=organisation_id)
    command = click.get_current_context(silent=True)
    if command is not None and command.info_name not in SYSTEM_COMMANDS:
        return Actor.cli(organisation_id)
    return Actor.system(organisation_id)


def created() -> AuditAction:
    """What making something is in this request or command: an import (a file's content
    through an import route or command), or a creation."""
    from lti_tool.app_factory import IMPORT_ENDPOINTS

    if has_request_context():
        imported = request.endpoint in IMPORT_ENDPOINTS
    else:
        command = click.get_current_context(silent=True)
        imported = command is not None and "import" in (command.info_name or "")
    return AuditAction.IMPORT if imported else AuditAction.CREATE


def init_app(app: Flask) -> None:
    Listener(actor_of, created).install(app.extensions["db_sessionmaker"])
