"""The tool's key ring: files in KEYS_DIR, rotation, grace period, pruning."""

from __future__ import annotations

import datetime as dt
import stat

import jwt
import pytest

from lti_tool.lti.keys import KeyRing, NoToolKey

GRACE_DAYS = 7
T0 = dt.datetime(2026, 1, 10, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def ring(tmp_path):
    return KeyRing(tmp_path / "keys", GRACE_DAYS)


def test_no_key_yet_is_a_clear_error(ring):
    assert ring.all_keys() == []
    assert ring.jwks() == {"keys": []}
    with pytest.raises(NoToolKey, match="keys rotate"):
        ring.signing_key()


def test_rotate_creates_a_private_file_only_the_owner_can_read(ring):
    key = ring.rotate(now=T0)
    assert key.path.parent == ring.keys_dir
    assert key.path.name.startswith("20260110T120000Z_")
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ring.keys_dir.stat().st_mode) & 0o077 == 0
    assert "PRIVATE KEY" in key.private_pem()
    assert [k.kid for k in ring.all_keys()] == [key.kid]


def test_jwks_publishes_the_public_half_with_its_kid(ring):
    key = ring.rotate()
    jwks = ring.jwks()
    assert list(jwks) == ["keys"]
    (jwk,) = jwks["keys"]
    assert jwk["kid"] == key.kid
    assert jwk["kty"] == "RSA"
    assert jwk["alg"] == "RS256"
    assert jwk["use"] == "sig"
    assert jwk["n"] and jwk["e"] == "AQAB"  # 65537
    assert "d" not in jwk and "p" not in jwk and "q" not in jwk  # nothing private
    public = jwt.PyJWK.from_dict(jwk).key
    assert public.public_numbers() == key.private_key().public_key().public_numbers()


def test_second_rotation_publishes_both_and_the_newest_signs(ring):
    old = ring.rotate(now=T0)
    new = ring.rotate(now=T0 + dt.timedelta(days=1))
    assert ring.signing_key().kid == new.kid
    now = T0 + dt.timedelta(days=2)
    assert [k.kid for k in ring.published_keys(now)] == [old.kid, new.kid]


def test_jwks_lists_both_keys_after_a_rotation_now(ring):
    old = ring.rotate()
    new = ring.rotate()
    assert [k["kid"] for k in ring.jwks()["keys"]] == [old.kid, new.kid]
    assert ring.signing_key().kid == new.kid


def test_rotations_in_the_same_second_keep_their_order(ring):
    first = ring.rotate(now=T0)
    second = ring.rotate(now=T0)
    assert second.created_at > first.created_at
    assert ring.signing_key().kid == second.kid


def test_after_the_grace_period_the_old_key_is_withdrawn_and_pruned(ring):
    old = ring.rotate(now=T0)
    new = ring.rotate(now=T0 + dt.timedelta(days=1))
    # The grace counts from when the newer key replaced the old one, not from its creation.
    inside = T0 + dt.timedelta(days=1 + GRACE_DAYS) - dt.timedelta(seconds=1)
    assert [k.kid for k in ring.published_keys(inside)] == [old.kid, new.kid]
    assert ring.prune(now=inside) == []
    assert old.path.exists()

    after = T0 + dt.timedelta(days=1 + GRACE_DAYS, seconds=1)
    assert [k.kid for k in ring.published_keys(after)] == [new.kid]
    removed = ring.prune(now=after)
    assert [k.kid for k in removed] == [old.kid]
    assert not old.path.exists()
    assert new.path.exists()
    assert [k.kid for k in ring.all_keys()] == [new.kid]
    assert ring.signing_key().kid == new.kid


def test_the_newest_key_is_never_withdrawn(ring):
    only = ring.rotate(now=T0)
    far = T0 + dt.timedelta(days=10 * GRACE_DAYS)
    assert [k.kid for k in ring.published_keys(far)] == [only.kid]
    assert ring.prune(now=far) == []
    assert only.path.exists()


def test_unrelated_files_in_the_keys_dir_are_ignored(ring):
    key = ring.rotate()
    (ring.keys_dir / "README.pem").write_text("not a key")
    (ring.keys_dir / "notes.txt").write_text("x")
    assert [k.kid for k in ring.all_keys()] == [key.kid]


def test_a_credential_key_made_on_first_need_is_said_in_the_log(ring, caplog):
    """``keys rotate`` makes the credential key with the first tool key; one the web has
    to make (never made, or its folder lost) must be backed up: the log says so, once."""
    from lti_tool.services.credentials import signing_key

    made = signing_key(ring)
    (line,) = [r for r in caplog.records if r.name == "lti_tool.services.credentials"]
    assert line.levelname == "WARNING" and made.kid in line.getMessage()
    assert "back it up" in line.getMessage()
    assert signing_key(ring) == made and len(caplog.records) == 1
