"""Where OIDC login state and used nonces live: Redis when configured, else the database.

Never only in process memory: the login and the launch may reach different workers or
hosts. A nonce is consumed atomically (Redis ``SET NX`` / a primary-key insert), so a
replayed id_token fails even when two copies arrive at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import time
from typing import Any, Protocol

import redis
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from lti_tool.db import get_session, utcnow
from lti_tool.lti.registry_cache import RegistryCache
from lti_tool.models import LoginState, UsedNonce


class StateStore(Protocol):
    def save_state(self, state: str, data: dict[str, Any], ttl: int) -> None: ...

    def get_state(self, state: str) -> dict[str, Any] | None:
        """Read without consuming: used to explain a launch whose cookie was lost."""

    def take_state(self, state: str) -> dict[str, Any] | None:
        """Read and delete in one step; a second call for the same state gets None."""

    def use_nonce(self, nonce: str, ttl: int) -> bool:
        """Record the nonce as used; False when it had been used before."""

    def nonce_was_used(self, nonce: str) -> bool: ...

    def check_launch(
        self, state: str, nonce: str, registry: RegistryCache
    ) -> tuple[dict[str, Any] | None, bool, Any]:
        """A launch's first look, in one round trip where the store allows: the login of
        ``state`` (not consumed), whether ``nonce`` was used, the registry's generation."""

    def finish_launch(self, state: str, nonce: str, ttl: int) -> tuple[bool, bool]:
        """Use up the state and the nonce at once: whether each was still unused."""

    def ping(self) -> None: ...


class RedisStateStore:
    prefix = "lti_tool:"

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def save_state(self, state: str, data: dict[str, Any], ttl: int) -> None:
        self.client.set(f"{self.prefix}state:{state}", json.dumps(data), ex=ttl)

    def get_state(self, state: str) -> dict[str, Any] | None:
        raw = self.client.get(f"{self.prefix}state:{state}")
        return json.loads(raw) if raw else None

    def take_state(self, state: str) -> dict[str, Any] | None:
        raw = self.client.getdel(f"{self.prefix}state:{state}")
        return json.loads(raw) if raw else None

    def use_nonce(self, nonce: str, ttl: int) -> bool:
        return bool(self.client.set(f"{self.prefix}nonce:{nonce}", "1", nx=True, ex=ttl))

    def nonce_was_used(self, nonce: str) -> bool:
        return bool(self.client.exists(f"{self.prefix}nonce:{nonce}"))

    def check_launch(
        self, state: str, nonce: str, registry: RegistryCache
    ) -> tuple[dict[str, Any] | None, bool, Any]:
        pipe = self.client.pipeline(transaction=False)
        pipe.get(f"{self.prefix}state:{state}")
        pipe.exists(f"{self.prefix}nonce:{nonce}")
        registry.generation_command(pipe)
        raw, used, generation = pipe.execute()
        return (json.loads(raw) if raw else None), bool(used), registry.noted(generation)

    def finish_launch(self, state: str, nonce: str, ttl: int) -> tuple[bool, bool]:
        pipe = self.client.pipeline(transaction=True)  # MULTI/EXEC: both or neither
        pipe.getdel(f"{self.prefix}state:{state}")
        pipe.set(f"{self.prefix}nonce:{nonce}", "1", nx=True, ex=ttl)
        taken, fresh = pipe.execute()
        return taken is not None, bool(fresh)

    def ping(self) -> None:
        self.client.ping()


class DatabaseStateStore:
    """Rows in the request's transaction: a refused launch leaves its state usable."""

    #: One save in this many also sweeps expired rows, to keep the tables small.
    sweep_every = 50

    def save_state(self, state: str, data: dict[str, Any], ttl: int) -> None:
        session = get_session()
        now = utcnow()
        if random.randrange(self.sweep_every) == 0:  # noqa: S311 - not security relevant
            session.execute(delete(LoginState).where(LoginState.expires_at < now))
            session.execute(delete(UsedNonce).where(UsedNonce.expires_at < now))
        session.add(LoginState(state=state, data=data, expires_at=now + dt.timedelta(seconds=ttl)))
        session.flush()

    def get_state(self, state: str) -> dict[str, Any] | None:
        row = get_session().get(LoginState, state)
        if row is None or row.expires_at < utcnow():
            return None
        return row.data

    def take_state(self, state: str) -> dict[str, Any] | None:
        result = get_session().execute(
            delete(LoginState)
            .where(LoginState.state == state)
            .returning(LoginState.data, LoginState.expires_at)
        )
        row = result.first()
        if row is None or row.expires_at < utcnow():
            return None
        return dict(row.data)

    def use_nonce(self, nonce: str, ttl: int) -> bool:
        session = get_session()
        try:
            with session.begin_nested():
                session.add(UsedNonce(nonce=nonce, expires_at=utcnow() + dt.timedelta(seconds=ttl)))
        except IntegrityError:
            return False
        return True

    def nonce_was_used(self, nonce: str) -> bool:
        found = get_session().scalar(select(UsedNonce.nonce).where(UsedNonce.nonce == nonce))
        return found is not None

    def check_launch(
        self, state: str, nonce: str, registry: RegistryCache
    ) -> tuple[dict[str, Any] | None, bool, Any]:
        generation = registry.generation()
        return self.get_state(state), self.nonce_was_used(nonce), generation

    def finish_launch(self, state: str, nonce: str, ttl: int) -> tuple[bool, bool]:
        taken = self.take_state(state) is not None
        return taken, taken and self.use_nonce(nonce, ttl)

    def ping(self) -> None:
        get_session().execute(select(1))


class Cache(Protocol):
    """A plain cache (JWKS, tokens): losing it costs a refetch, never correctness."""

    def get(self, key: str) -> Any | None: ...

    def set(self, key: str, value: Any, ttl: int) -> None: ...

    def delete(self, key: str) -> None: ...


class RedisCache:
    """Shared by every process. While Redis fails (not answering, full, a replica after a
    failover) it misses and keeps nothing, as a cache may: the worker then asks the LMS
    for a token for each score, and the scores go."""

    prefix = "lti_tool:cache:"

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def get(self, key: str) -> Any | None:
        try:
            raw = self.client.get(self.prefix + key)
        except redis.RedisError:
            return None
        return json.loads(raw) if raw else None

    def set(self, key: str, value: Any, ttl: int) -> None:
        with contextlib.suppress(redis.RedisError):
            self.client.set(self.prefix + key, json.dumps(value), ex=ttl)

    def delete(self, key: str) -> None:
        with contextlib.suppress(redis.RedisError):
            self.client.delete(self.prefix + key)


class MemoryCache:
    """The embedded default: per process, bounded by expiry."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any | None:
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        return item[1]

    def set(self, key: str, value: Any, ttl: int) -> None:
        self._items[key] = (time.monotonic() + ttl, value)

    def delete(self, key: str) -> None:
        self._items.pop(key, None)
