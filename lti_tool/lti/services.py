"""The LTI layer's collaborators, built once per app from the settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from flask import Flask, current_app
from redis import Redis

from lti_tool.lti.keys import KeyRing
from lti_tool.lti.platform_keys import PlatformKeys
from lti_tool.lti.registry_cache import RegistryCache
from lti_tool.lti.state import (
    Cache,
    DatabaseStateStore,
    MemoryCache,
    RedisCache,
    RedisStateStore,
    StateStore,
)
from lti_tool.redis_pool import FailFastPool
from lti_tool.settings import Settings, SettingsError

#: Credential keys stay published as long as anything they signed may be checked: in
#: effect for ever (a hundred years), since a plain course certificate never expires.
CREDENTIAL_KEY_DAYS = 36500

#: How long a command may wait on Redis: 5 s for what a person waits on (a login's
#: state, a rate limit), 1 s for the status operations read (``status_redis``).
REDIS_SECONDS = 5
STATUS_REDIS_SECONDS = 1
#: After Redis failed a command, the tool's own connections refuse the next ones at once
#: for this long, then a quick PING says whether they may go again (``redis_pool``): while
#: Redis hangs, one request a process waits a second every 3 s, not every request 5 s;
#: once it answers again, commands go within 3 s.
REDIS_RETRY_SECONDS = 3


@dataclasses.dataclass
class LtiServices:
    settings: Settings
    state_store: StateStore
    cache: Cache
    platform_keys: PlatformKeys
    keyring: KeyRing
    credential_keys: KeyRing
    """Keys that sign certificates' credentials: never pruned (see services.credentials)."""
    registry: RegistryCache
    """Platforms and deployments as logins and launches read them (per process)."""
    redis: Redis | None = None
    """Redis for what requests and workers keep there, on a ``redis_pool.FailFastPool``."""
    status_redis: Redis | None = None
    """The same Redis, for what operations read of it (``/readyz``, ``/metrics``) and the
    workers' heartbeat, on connections of its own that wait ``STATUS_REDIS_SECONDS``: a
    Redis that accepts and never answers fails a probe or a scrape in a second, and
    holds a worker's pass a second, not the 5 s a request may wait."""

    @property
    def launch_url(self) -> str:
        return self.settings.base_url + "/lti/launch"

    @property
    def login_url(self) -> str:
        return self.settings.base_url + "/lti/login"


def build_services(settings: Settings) -> LtiServices:
    client: Redis | None = None
    status_client: Redis | None = None
    state_store: StateStore
    cache: Cache
    if settings.REDIS_URL:
        try:
            client = Redis(
                connection_pool=FailFastPool.from_url(
                    settings.REDIS_URL,
                    retry_seconds=REDIS_RETRY_SECONDS,
                    socket_timeout=REDIS_SECONDS,
                    socket_connect_timeout=REDIS_SECONDS,
                )
            )
            client.auto_close_connection_pool = True  # as Redis.from_url: close() closes it
            status_client = Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=STATUS_REDIS_SECONDS,
                socket_connect_timeout=STATUS_REDIS_SECONDS,
            )
        except ValueError as exc:
            raise SettingsError(
                f"REDIS_URL cannot be used ({exc}). Use redis://host:6379/0."
            ) from exc
        state_store, cache = RedisStateStore(client), RedisCache(client)
    else:
        state_store, cache = DatabaseStateStore(), MemoryCache()
    return LtiServices(
        settings=settings,
        state_store=state_store,
        cache=cache,
        platform_keys=PlatformKeys(
            cache, settings.JWKS_CACHE_SECONDS, settings.HTTP_TIMEOUT_SECONDS
        ),
        keyring=KeyRing(settings.KEYS_DIR, settings.KEY_GRACE_DAYS),
        credential_keys=KeyRing(Path(settings.KEYS_DIR) / "credentials", CREDENTIAL_KEY_DAYS),
        registry=RegistryCache(client, settings.REGISTRY_CACHE_SECONDS),
        redis=client,
        status_redis=status_client,
    )


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["lti"] = build_services(settings)


def lti_services() -> LtiServices:
    services: LtiServices = current_app.extensions["lti"]
    return services
