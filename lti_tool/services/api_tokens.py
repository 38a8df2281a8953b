"""Per-organisation API tokens (flush only, never commit).

A token is shown once, when created; only its sha256 is kept. A token acts for its
organisation alone: with scope ``read`` it may only read, with ``write`` also change.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from lti_tool.db import utcnow
from lti_tool.errors import NotFound
from lti_tool.models import ApiToken, TokenScope

#: Every token starts so: recognisable in logs and by secret scanners.
PREFIX = "ll_"
MAX_NAME_LENGTH = 200


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, organisation_id: int, scope: TokenScope, name: str = ""
) -> tuple[ApiToken, str]:
    """A new token: the row, and the token itself (not stored; show it once)."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        organisation_id=organisation_id,
        name=name.strip()[:MAX_NAME_LENGTH],
        token_hash=hash_token(token),
        scope=TokenScope(scope),
    )
    session.add(row)
    session.flush()
    return row, token


def list_tokens(session: Session, organisation_id: int | None = None) -> Sequence[ApiToken]:
    """The organisation's tokens (every organisation's when None: the command line)."""
    query = select(ApiToken).options(selectinload(ApiToken.organisation)).order_by(ApiToken.id)
    if organisation_id is not None:
        query = query.where(ApiToken.organisation_id == organisation_id)
    return session.scalars(query).all()


def revoke_token(session: Session, token_id: int, organisation_id: int | None = None) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None or (organisation_id is not None and row.organisation_id != organisation_id):
        raise NotFound(f"no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.flush()
    return row


def authenticate(session: Session, token: str) -> ApiToken | None:
    """The live token with this value (its use recorded), or None."""
    if not token.startswith(PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    row.last_used_at = utcnow()
    session.flush()
    return row
