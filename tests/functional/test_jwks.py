"""The tool's public keyset at /lti/jwks.json, and `flask keys` commands."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from lti_tool.lti.services import lti_services


@pytest.fixture
def fresh_app(make_app, tmp_path):
    """An app with its own, empty keys folder (the session's keys stay untouched)."""
    return make_app(KEYS_DIR=str(tmp_path / "keys"))


def _jwks(app):
    response = app.test_client().get("/lti/jwks.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def _tool_keys(app):
    """The JWKS's tool keys: the credential keys beside them are named by their URL."""
    return [k for k in _jwks(app)["keys"] if not k["kid"].startswith("http")]


def test_jwks_is_one_keys_list_of_public_keys(app):
    body = _jwks(app)
    assert list(body) == ["keys"]
    assert isinstance(body["keys"], list)
    assert body["keys"], "the session key ring has a key"
    for jwk in body["keys"]:
        assert not isinstance(jwk.get("keys"), list), "JWKS nested twice"
        assert {"kid", "kty", "alg", "use", "n", "e"} <= set(jwk)
        assert jwk["kty"] == "RSA" and jwk["alg"] == "RS256" and jwk["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk), "private key material"


def test_jwks_may_be_cached_briefly(app):
    response = app.test_client().get("/lti/jwks.json")
    assert response.cache_control.public
    assert 0 < response.cache_control.max_age <= 3600


def test_jwks_without_any_key_is_empty_not_an_error(fresh_app):
    assert _jwks(fresh_app) == {"keys": []}
    result = fresh_app.test_cli_runner().invoke(args=["keys", "list"])
    assert result.exit_code == 0, result.output
    assert "keys rotate" in result.output


def test_keys_rotate_publishes_both_kids(fresh_app):
    runner = fresh_app.test_cli_runner()
    first = runner.invoke(args=["keys", "rotate"])
    assert first.exit_code == 0, first.output
    with fresh_app.app_context():
        (old,) = lti_services().keyring.all_keys()
    assert old.kid in first.output
    assert [k["kid"] for k in _tool_keys(fresh_app)] == [old.kid]

    second = runner.invoke(args=["keys", "rotate"])
    assert second.exit_code == 0, second.output
    with fresh_app.app_context():
        keyring = lti_services().keyring
        new = keyring.signing_key()
    assert new.kid != old.kid
    assert new.kid in second.output
    assert [k["kid"] for k in _tool_keys(fresh_app)] == [old.kid, new.kid]

    listed = runner.invoke(args=["keys", "list"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("published") == 2
    # the first rotate also made the credential key, which the second left alone
    with fresh_app.app_context():
        (credential,) = lti_services().credential_keys.all_keys()
    assert credential.kid in first.output and credential.kid not in second.output
    assert credential.path.parent == Path(fresh_app.config["SETTINGS"].KEYS_DIR) / "credentials"
    assert f"{credential.kid}\t" in listed.output and listed.output.count("credential") == 1
    assert credential.kid in {k["kid"].rsplit("/", 1)[-1] for k in _jwks(fresh_app)["keys"]}
    # Both keys are inside the grace period: prune keeps them.
    pruned = runner.invoke(args=["keys", "prune"])
    assert pruned.exit_code == 0, pruned.output
    assert "Removed 0 key(s)" in pruned.output
    assert len(_tool_keys(fresh_app)) == 2


def test_a_jwt_signed_with_the_signing_key_verifies_with_the_published_key(fresh_app):
    runner = fresh_app.test_cli_runner()
    for _ in range(2):
        assert runner.invoke(args=["keys", "rotate"]).exit_code == 0
    with fresh_app.app_context():
        signing = lti_services().keyring.signing_key()
    now = int(time.time())
    token = jwt.encode(
        {"iss": "client", "aud": "https://moodle.example", "iat": now, "exp": now + 60},
        signing.private_pem(),
        algorithm="RS256",
        headers={"kid": signing.kid},
    )
    kid = jwt.get_unverified_header(token)["kid"]
    published = {k["kid"]: k for k in _tool_keys(fresh_app)}
    public = jwt.PyJWK.from_dict(published[kid])
    claims = jwt.decode(token, public.key, algorithms=["RS256"], audience="https://moodle.example")
    assert claims["iss"] == "client"
    # And the other published key does not verify it: the kid really picks the key.
    (other,) = [k for k in published if k != kid]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token,
            jwt.PyJWK.from_dict(published[other]).key,
            algorithms=["RS256"],
            audience="https://moodle.example",
        )
