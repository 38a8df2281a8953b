"""The LTI layer's collaborators, built once per app from the settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import redis
from flask import Flask, current_app

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
from lti_tool.settings import Settings, SettingsError

#: Credential keys stay published as long as anything they signed may be checked: in
#: effect for ever (a hundred years), since a plain course certificate never expires.
CREDENTIAL_KEY_DAYS = 36500


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
    redis: redis.Redis | None = None

    @property
    def launch_url(self) -> str:
        return self.settings.base_url + "/lti/launch"

    @property
    def login_url(self) -> str:
        return self.settings.base_url + "/lti/login"


def build_services(settings: Settings) -> LtiServices:
    client: redis.Redis | None = None
    state_store: StateStore
    cache: Cache
    if settings.REDIS_URL:
        try:
            client = redis.Redis.from_url(
                settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5
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
    )


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["lti"] = build_services(settings)


def lti_services() -> LtiServices:
    services: LtiServices = current_app.extensions["lti"]
    return services
