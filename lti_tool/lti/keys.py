"""The tool's own RSA keys: files in KEYS_DIR, published in the JWKS, newest signs.

A key file is named ``<created UTC, YYYYmmddTHHMMSSZ>_<kid>.pem`` so that its age and
order need no database. After a rotation the previous key stays published for the grace
period (platforms cache our JWKS), counted from when the newer key replaced it.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

FILENAME_TIME = "%Y%m%dT%H%M%SZ"
KEY_SIZE = 2048


class NoToolKey(RuntimeError):
    """The tool has no signing key yet: ``flask --app lti_tool keys rotate`` creates one."""


@dataclasses.dataclass(frozen=True)
class ToolKey:
    kid: str
    created_at: dt.datetime
    path: Path

    def private_pem(self) -> str:
        return self.path.read_text()

    def private_key(self) -> rsa.RSAPrivateKey:
        return _load_private_key(str(self.path), self.path.stat().st_mtime_ns)

    def public_jwk(self) -> dict[str, Any]:
        return rsa_public_jwk(self.private_key().public_key(), self.kid)


@functools.lru_cache(maxsize=64)
def _load_private_key(path: str, mtime_ns: int) -> rsa.RSAPrivateKey:
    """Read a key file once per version of it."""
    return load_private_pem(Path(path).read_bytes())


@functools.lru_cache(maxsize=64)
def load_private_pem(pem: bytes) -> rsa.RSAPrivateKey:
    """Loading checks the RSA key, which takes tens of milliseconds: do it once per key
    (the key object is immutable and safe to share between threads)."""
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _b64uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def rsa_public_jwk(public_key: rsa.RSAPublicKey, kid: str) -> dict[str, Any]:
    numbers = public_key.public_numbers()
    return {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": kid,
        "n": _b64uint(numbers.n),
        "e": _b64uint(numbers.e),
    }


def generate_private_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private_file(path: Path, pem: bytes) -> None:
    """Create the file with mode 0600 from the start: never world-readable, not even briefly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


@dataclasses.dataclass(frozen=True)
class KeyState:
    """A key as the admin console shows it."""

    key: ToolKey
    signing: bool
    published: bool
    published_until: dt.datetime | None
    """When a replaced key leaves the JWKS; None for the newest (published until replaced)."""


class KeyRing:
    def __init__(self, keys_dir: str | Path, grace_days: int) -> None:
        self.keys_dir = Path(keys_dir)
        self.grace = dt.timedelta(days=grace_days)

    def all_keys(self) -> list[ToolKey]:
        """Every key file, oldest first."""
        keys = []
        if self.keys_dir.is_dir():
            for path in self.keys_dir.glob("*.pem"):
                stamp, _, kid = path.stem.partition("_")
                try:
                    created = dt.datetime.strptime(stamp, FILENAME_TIME).replace(tzinfo=dt.UTC)
                except ValueError:
                    continue
                if kid:
                    keys.append(ToolKey(kid=kid, created_at=created, path=path))
        return sorted(keys, key=lambda k: (k.created_at, k.kid))

    def published_keys(self, now: dt.datetime | None = None) -> list[ToolKey]:
        """The newest key, plus older ones still inside their grace period."""
        now = now or dt.datetime.now(dt.UTC)
        keys = self.all_keys()
        published = []
        successors: list[ToolKey | None] = [*keys[1:], None] if keys else []
        for key, successor in zip(keys, successors, strict=True):
            if successor is None or now - successor.created_at < self.grace:
                published.append(key)
        return published

    def states(self, now: dt.datetime | None = None) -> list[KeyState]:
        """Every key, newest first, with whether it signs and until when it is published."""
        published = {k.kid for k in self.published_keys(now)}
        keys = self.all_keys()
        successors: list[ToolKey | None] = [*keys[1:], None] if keys else []
        states = [
            KeyState(
                key=key,
                signing=successor is None,
                published=key.kid in published,
                published_until=successor.created_at + self.grace if successor else None,
            )
            for key, successor in zip(keys, successors, strict=True)
        ]
        return states[::-1]

    def signing_key(self) -> ToolKey:
        keys = self.all_keys()
        if not keys:
            raise NoToolKey(
                f"No tool key in {self.keys_dir}: run `flask --app lti_tool keys rotate`."
            )
        return keys[-1]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.published_keys()]}

    def rotate(self, now: dt.datetime | None = None) -> ToolKey:
        """Create a new newest key; the previous one keeps being published for the grace."""
        now = now or dt.datetime.now(dt.UTC)
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.keys_dir.chmod(0o700)  # also when the folder came from a checkout as 0755
        newest = self.all_keys()[-1:]
        if newest and newest[0].created_at >= now.replace(microsecond=0):
            now = newest[0].created_at + dt.timedelta(seconds=1)
        kid = secrets.token_hex(8)
        path = self.keys_dir / f"{now.strftime(FILENAME_TIME)}_{kid}.pem"
        write_private_file(path, generate_private_pem())
        return ToolKey(kid=kid, created_at=now.replace(microsecond=0), path=path)

    def prune(self, now: dt.datetime | None = None) -> list[ToolKey]:
        """Delete keys past their grace period; returns what was removed."""
        published = {k.kid for k in self.published_keys(now)}
        removed = [k for k in self.all_keys() if k.kid not in published]
        for key in removed:
            key.path.unlink()
        return removed
