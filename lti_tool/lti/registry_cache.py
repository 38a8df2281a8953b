"""The platform registry as launches read it, kept per process for a short time.

Every login and launch looks up its platform (issuer, client_id) and its deployment (with
the deployment's organisation, which the start page answering the launch names): rows
the registry almost never answers differently. This cache keeps each row's
column values (never an ORM object: those belong to one session, and one thread) and
attaches a fresh copy to the request's session, so relationships between them resolve
from the identity map without SQL.

A change to a platform or deployment is seen at once: every commit that changed one bumps
a generation (in Redis, shared by every process and host; without Redis, in this process
only), and an entry cached under another generation is read again. The generation is read
*before* the database, and bumped *after* the commit, so a process can never keep values
older than the generation it holds. Entries also expire after ``max_age`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis
from flask import g, has_request_context
from sqlalchemy import Column, event, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from lti_tool.db import attach_row
from lti_tool.models import Deployment, Organisation, Platform
from lti_tool.models.platform import Status

M = TypeVar("M", Platform, Deployment, Organisation)
log = logging.getLogger(__name__)

GENERATION_KEY = "lti_tool:registry-generation"
_NOT_READ = object()
#: The models whose changes make cached entries stale.
WATCHED = (Platform, Deployment, Organisation)


def _values(row: Any) -> dict[str, Any]:
    """The row's own columns (not the expressions mapped beside them: launch counts)."""
    mapper = inspect(type(row))
    return {
        attr.key: getattr(row, attr.key)
        for attr in mapper.column_attrs
        if isinstance(attr.expression, Column) and attr.expression.table is mapper.local_table
    }


def attach(session: Session, model: type[M], values: dict[str, Any]) -> M:
    """The row as a persistent object of ``session``, without SQL: the one already in the
    session, else a new object from the cached values."""
    return attach_row(session, model, values, refresh=False)


class RegistryCache:
    def __init__(self, client: redis.Redis | None, max_age: float) -> None:
        self.client = client
        self.max_age = max_age
        self._local_generation = 0
        self._entries: dict[tuple[Any, ...], tuple[Any, float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        #: The generation this process read last, and when (``time.monotonic``).
        self._last_read: tuple[Any, float] | None = None
        #: Bumped by ``invalidate``: a read begun before it is not kept as the last read.
        self._epoch = 0

    # --- the generation ---------------------------------------------------------------

    def generation(self) -> Any:
        """The registry's generation now; read it before the rows it is to vouch for."""
        if self.client is None:
            return self._local_generation
        epoch = self._epoch
        generation = self.client.get(GENERATION_KEY)
        with self._lock:
            if epoch == self._epoch:  # no change of this process's since: keep it
                self._last_read = (generation, time.monotonic())
        return self.noted(generation)

    def noted(self, generation: Any) -> Any:
        """Keep the generation a request read (``recent_generation``); returns it."""
        if has_request_context():
            g.registry_generation = generation
        return generation

    def recent_generation(self, max_age: float) -> Any:
        """For what may lag the registry by ``max_age`` seconds (the pages' framing
        policy, ``web_security``): the generation this request read already (its login or
        launch did, with its state), else the one this process read last if that is
        recent enough, else the one now. Under traffic every login reads it, so a page
        costs no Redis command of its own; a change made in this process is seen at once
        (``invalidate``). While Redis fails, the one this process read last: a page keeps
        its framing and does not wait on Redis."""
        if self.client is None:
            return self._local_generation
        if has_request_context():
            found = g.get("registry_generation", _NOT_READ)
            if found is not _NOT_READ:
                return found
        last = self._last_read
        if last is not None and time.monotonic() - last[1] < max_age:
            return last[0]
        try:  # while Redis fails, refused at once (redis_pool); once due, a page may try
            return self.generation()
        except redis.RedisError:
            return self._last_known()

    def _last_known(self) -> Any:
        """While Redis fails: the generation this process read last, however long ago
        (its entries are read again from the database after ``max_age`` all the same)."""
        last = self._last_read
        return last[0] if last is not None else _NOT_READ

    def generation_command(self, pipe: Any) -> None:
        """Queue the generation's read on a Redis pipeline (its answer: ``generation``)."""
        pipe.get(GENERATION_KEY)

    def invalidate(self) -> None:
        """After a commit that changed the registry: every process reads it again."""
        self._forget_reads()
        if has_request_context():
            g.pop("registry_generation", None)
        if self.client is not None:
            try:
                self.client.incr(GENERATION_KEY)
                # a read that began before the increment may hold the old generation
                self._forget_reads()
            except redis.RedisError:  # the change is committed: do not fail its request
                log.warning(
                    "registry changed but Redis is unreachable: other processes see the "
                    "change within %s seconds",
                    self.max_age,
                )

    def _forget_reads(self) -> None:
        with self._lock:
            self._local_generation += 1
            self._epoch += 1
            self._entries.clear()
            self._last_read = None

    # --- the rows ---------------------------------------------------------------------

    def _cached(
        self,
        key: tuple[Any, ...],
        generation: Any,
        load: Callable[[], Any],
    ) -> dict[str, Any] | None:
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] == generation and now - entry[1] < self.max_age:
            return entry[2]
        row = load()
        if row is None:
            return None
        values = row if isinstance(row, dict) else _values(row)
        with self._lock:
            self._entries[key] = (generation, now, values)
        return values

    def platform(
        self, session: Session, issuer: str, client_id: str, generation: Any
    ) -> Platform | None:
        """The platform registered as (issuer, client_id), whatever its status."""
        values = self._cached(
            ("platform", issuer, client_id),
            generation,
            lambda: session.scalar(
                select(Platform).where(Platform.issuer == issuer, Platform.client_id == client_id)
            ),
        )
        return attach(session, Platform, values) if values is not None else None

    def deployment(
        self, session: Session, platform: Platform, deployment_id: str, generation: Any
    ) -> Deployment | None:
        """The platform's deployment of this id, whatever its status; None when unknown."""
        values = self._cached(
            ("deployment", platform.id, deployment_id),
            generation,
            lambda: session.scalar(
                select(Deployment).where(
                    Deployment.platform_id == platform.id,
                    Deployment.deployment_id == deployment_id,
                )
            ),
        )
        if values is None:
            return None
        deployment = attach(session, Deployment, values)
        organisation = self._cached(
            ("organisation", values["organisation_id"]),
            generation,
            lambda: session.get(Organisation, values["organisation_id"]),
        )
        if organisation is not None:  # held by the deployment: the identity map is weak
            set_committed_value(
                deployment, "organisation", attach(session, Organisation, organisation)
            )
        return deployment

    def frame_origins(self, new_session: Callable[[], Session], generation: Any) -> tuple[str, ...]:
        """The origins of every platform not disabled (issuer, login and token URLs): the
        pages that may frame the tool. Read again when the registry changes, in a session
        of ``new_session`` (made only then)."""

        def load() -> dict[str, Any]:
            with new_session() as session:
                rows = session.execute(
                    select(Platform.issuer, Platform.auth_login_url, Platform.auth_token_url).where(
                        Platform.status != Status.DISABLED
                    )
                ).all()
            found = {origin(url) for row in rows for url in row}
            return {"origins": tuple(sorted(o for o in found if o))}

        values = self._cached(("frame-origins",), generation, load)
        return values["origins"] if values is not None else ()


def origin(url: str | None) -> str:
    """``scheme://host[:port]`` of an http(s) URL; empty for anything else."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}".lower()


# --- invalidation on every commit that changed the registry --------------------------

_CHANGED = "registry_changed"


@event.listens_for(Session, "after_flush")
def _note_registry_change(session: Session, _context: Any) -> None:
    changed = (*session.new, *session.deleted, *session.dirty)
    if any(isinstance(row, WATCHED) for row in changed):
        session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _invalidate_after_commit(session: Session) -> None:
    if not session.info.pop(_CHANGED, False):
        return
    from flask import current_app, has_app_context

    if has_app_context():
        lti = current_app.extensions.get("lti")
        if lti is not None:
            lti.registry.invalidate()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)
