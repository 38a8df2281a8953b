"""Signed values (the session cookie, launch tokens), their signing objects made once.

itsdangerous makes a new signer, and derives its key again (one HMAC), for every value it
signs or checks, and making a serializer serialises an empty value to learn its kind;
Flask makes a serializer twice a request (to read the session cookie, and to sign it
again). Here each is made once per process and secret key: the same values, signed and
checked the same way, for about 30 µs less a request that carries the session cookie.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.signer import Signer
from itsdangerous.timed import TimestampSigner


class _KeptKeysSigner(TimestampSigner):
    """A signer deriving each secret key's signing key once, not once a signature."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived: dict[str | bytes | None, bytes] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        found = self._derived.get(secret_key)
        if found is None:
            found = self._derived[secret_key] = super().derive_key(secret_key)
        return found


class KeptSerializer(URLSafeTimedSerializer):
    """A ``URLSafeTimedSerializer`` using one signer, made once (its own salt only)."""

    default_signer = _KeptKeysSigner

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signer = super().make_signer(self.salt)

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        if salt is None or salt == self.salt:
            return self._signer
        return super().make_signer(salt)


#: A session's values the tool keeps (launch id, locale, CSRF secret, ``_permanent``).
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _scalars(value: Any) -> bool:
    return type(value) is dict and all(
        type(k) is str and type(v) in _SCALARS for k, v in value.items()
    )


class _SessionSerializer(KeptSerializer):
    """A session's payload (its JSON, compressed and encoded) read and made once for each
    content: a person's session is the same on every request, only signed again with a
    new time. Both depend on the content only (its types too: ``1`` is not ``True``), and
    a payload is read only once its signature is checked; a session holding anything but
    scalar values is read and made every time."""

    #: Sessions whose payload is kept, each way; then the memory starts again.
    KEPT = 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._made: dict[tuple[tuple[str, type, Any], ...], bytes] = {}
        self._read: dict[bytes, dict[str, Any]] = {}

    def dump_payload(self, obj: Any) -> bytes:
        if not _scalars(obj):
            return super().dump_payload(obj)
        content = tuple(sorted((k, type(v), v) for k, v in obj.items()))
        found = self._made.get(content)
        if found is None:
            if len(self._made) >= self.KEPT:
                self._made.clear()
            found = self._made[content] = super().dump_payload(obj)
        return found

    def load_payload(self, payload: bytes, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return super().load_payload(payload, *args, **kwargs)
        found = self._read.get(payload)
        if found is None:
            found = super().load_payload(payload)
            if not _scalars(found):
                return found
            if len(self._read) >= self.KEPT:
                self._read.clear()
            self._read[payload] = found
        return dict(found)  # the session is changed in place: never the kept one


def secret_keys(app: Flask) -> tuple[str, ...]:
    """The keys a signed value of the tool's may carry: the other ones
    (``SECRET_KEY_FALLBACKS``), accepted, then ``SECRET_KEY``, the one that signs
    (itsdangerous signs with the last and accepts any). Made once per app."""
    keys: tuple[str, ...] | None = app.extensions.get("secret_keys")
    if keys is None:
        keys = (*(app.config["SECRET_KEY_FALLBACKS"] or ()), str(app.secret_key or ""))
        app.extensions["secret_keys"] = keys
    return keys


class SerializerOfKeys:
    """The serializer of each set of secret keys asked for, made once (not per request):
    the current keys, and while a key changes each key alone (``auth`` asks which key
    signed a launch token). A few at most; made again only for a test's app."""

    #: More sets than that: a process making apps (the tests) starts again.
    KEPT = 8

    def __init__(self, kind: type[KeptSerializer] = KeptSerializer, **options: Any) -> None:
        self.kind = kind
        self.options = options
        self._made: dict[tuple[Any, ...], KeptSerializer] = {}

    def __call__(self, keys: tuple[Any, ...]) -> KeptSerializer:
        made = self._made.get(keys)
        if made is None:
            made = self.kind(list(keys), **self.options)
            if len(self._made) >= self.KEPT:
                self._made.clear()  # another thread reading meanwhile makes its own
            self._made[keys] = made
        return made


#: ``flask.g``'s mark of a request whose session changes are not to be kept.
SESSION_ROLLED_BACK = "session_rolled_back"


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, its serializer made once per secret key. The cookie
    is still signed again on every request (``SESSION_REFRESH_EACH_REQUEST``): a session
    lasts ``SESSION_HOURS`` after the person's last request, not after the launch."""

    def __init__(self) -> None:
        self._serializer = SerializerOfKeys(
            _SessionSerializer,
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={
                "key_derivation": self.key_derivation,
                "digest_method": self.digest_method,
            },
        )

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        """As Flask's, except after a request whose work was lost with the database
        (``errors.service_down_response``): its session changes go too, and the browser
        keeps the cookie it came with (a launch whose commit was lost signs no one in)."""
        if g.get(SESSION_ROLLED_BACK):
            return
        super().save_session(app, session, response)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        return self._serializer(secret_keys(app))
