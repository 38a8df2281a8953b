"""Launches the tool must refuse, and the lenient edges it must still accept.

Every test logs in for real first (so the state, nonce and state cookie are genuine), then
answers with an id_token built to show one fault. A refusal must give its own 4xx status,
print its error code on the page, and write one "LTI refused" line to the log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWK
from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.lti import claims as c
from lti_tool.lti.keys import rsa_public_jwk
from lti_tool.models import CourseRoster, Launch, Person
from tests.conftest import PLATFORM_ISSUER
from tests.fakes.lms import TestLms, parse_forms

LEEWAY = 5  # LTI_LEEWAY_SECONDS in the test settings


# --- helpers ----------------------------------------------------------------------------


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage().startswith("LTI refused: ")
    ]


def assert_refused(response: Any, status: int, code: str, caplog: pytest.LogCaptureFixture) -> None:
    page = response.get_data(as_text=True)
    assert response.status_code == status, page
    assert f"<code>{code}</code>" in page
    logged = refusals(caplog)
    assert len(logged) == 1, logged
    assert logged[0].startswith(f"LTI refused: {code} ({status})"), logged


def assert_signed_in(response: Any, landing: str = "/learner/") -> None:
    """The launch was accepted: its start page (``landing``) answers it."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert TestLms.landing_path(response) == landing


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def login_and_post(lms: Any, client: Any, build_token: Any) -> Any:
    """Log in for real, then post a hand-built id_token carrying the login's nonce."""
    login = lms.login(client)
    claims = lms.platform.launch_claims("learner", nonce=login.auth_query["nonce"])
    token = build_token(claims)
    return lms.post_launch(client, {"id_token": token, "state": login.auth_query["state"]})


def cli(app: Any, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# --- signature and keys -----------------------------------------------------------------


def test_signature_by_another_key_is_refused(lms, client, caplog):
    response = lms.signed_launch(client, key=new_rsa_key())  # the platform's kid, wrong key
    assert_refused(response, 401, "invalid_token", caplog)


def test_unknown_kid_is_refused_after_one_refetch(lms, client, caplog):
    assert_signed_in(lms.launch(client))
    assert lms.jwks_calls == 1
    caplog.clear()

    response = lms.signed_launch(client, headers={"kid": "platform-key-unknown"})
    assert_refused(response, 401, "unknown_key", caplog)
    assert lms.jwks_calls == 2  # the cached keyset lacked the kid: fetched again, once

    caplog.clear()
    response = lms.signed_launch(client, headers={"kid": "platform-key-unknown-2"})
    assert_refused(response, 401, "unknown_key", caplog)
    assert lms.jwks_calls == 2  # no second refetch within the cooldown


def test_rotated_platform_key_is_found_by_refetching(lms, client):
    assert_signed_in(lms.launch(client))
    assert lms.jwks_calls == 1
    rotated = new_rsa_key()
    lms.jwks_body = {"keys": [rsa_public_jwk(rotated.public_key(), "platform-key-2")]}

    response = lms.signed_launch(client, key=rotated, headers={"kid": "platform-key-2"})
    assert_signed_in(response)
    assert lms.jwks_calls == 2


def test_jwks_is_fetched_once_for_two_launches(lms, client):
    assert_signed_in(lms.launch(client))
    assert_signed_in(lms.launch(client, "designer"), "/designer/")
    assert lms.jwks_calls == 1


def test_alg_none_is_refused(lms, client, caplog):
    def unsigned(claims: dict[str, Any]) -> str:
        header = {"alg": "none", "typ": "JWT", "kid": lms.platform.kid}
        return f"{b64json(header)}.{b64json(claims)}."

    response = login_and_post(lms, client, unsigned)
    assert_refused(response, 401, "invalid_token", caplog)


def test_hs256_with_the_platform_public_key_as_secret_is_refused(lms, client, caplog):
    # The key confusion attack: anyone can read the platform's public key from its JWKS.
    public_pem = PyJWK.from_dict(lms.jwks_body["keys"][0]).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def hmac_signed(claims: dict[str, Any]) -> str:
        header = {"alg": "HS256", "typ": "JWT", "kid": lms.platform.kid}
        signing_input = f"{b64json(header)}.{b64json(claims)}"
        mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(mac)}"

    response = login_and_post(lms, client, hmac_signed)
    assert_refused(response, 401, "invalid_token", caplog)
    assert "HS256" in refusals(caplog)[0]


@pytest.mark.parametrize(
    ("header", "body"),
    [
        ({"alg": "RS256", "kid": "platform-key-1"}, [1, 2]),
        (["RS256"], {"nonce": "x"}),
        ({"alg": "RS256", "kid": "platform-key-1"}, None),
    ],
    ids=["body-not-object", "header-not-object", "body-null"],
)
def test_id_token_that_is_not_a_jwt_object_is_refused(lms, client, caplog, header, body):
    login = lms.login(client)
    token = f"{b64json(header)}.{b64json(body)}.{b64url(b'sig')}"
    response = lms.post_launch(client, {"id_token": token, "state": login.auth_query["state"]})
    assert_refused(response, 401, "invalid_token", caplog)


# --- time -------------------------------------------------------------------------------


def test_expired_token_is_refused(lms, client, caplog):
    now = int(time.time())
    response = lms.signed_launch(client, change={"iat": now - 70, "exp": now - 2 * LEEWAY})
    assert_refused(response, 401, "expired_token", caplog)


def test_token_issued_in_the_future_is_refused(lms, client, caplog):
    now = int(time.time())
    response = lms.signed_launch(client, change={"iat": now + 2 * LEEWAY, "exp": now + 70})
    assert_refused(response, 401, "token_not_yet_valid", caplog)


def test_clock_skew_within_leeway_is_accepted(lms, client, caplog):
    now = int(time.time())
    ahead = lms.signed_launch(client, change={"iat": now + 3, "exp": now + 63})
    assert_signed_in(ahead)
    behind = lms.signed_launch(client, change={"iat": now - 63, "exp": now - 3})
    assert_signed_in(behind)
    assert refusals(caplog) == []


# --- who the token is from and for ------------------------------------------------------


def test_wrong_audience_is_refused(lms, client, caplog):
    response = lms.signed_launch(client, change={"aud": "another-tool"})
    assert_refused(response, 401, "wrong_audience", caplog)


def test_wrong_issuer_is_refused(lms, client, caplog):
    response = lms.signed_launch(client, change={"iss": "https://evil.example"})
    assert_refused(response, 401, "wrong_issuer", caplog)


def test_login_from_unknown_issuer_is_refused(lms, client, caplog):
    params = lms.platform.login_params()
    params["iss"] = "https://unknown-lms.example"
    login = lms.login_with(client, params)
    assert_refused(login.response, 403, "unknown_platform", caplog)


def test_login_with_unknown_client_id_is_refused(lms, client, caplog):
    params = lms.platform.login_params()
    params["client_id"] = "client-999"
    login = lms.login_with(client, params)
    assert_refused(login.response, 403, "unknown_platform", caplog)


def test_login_from_unknown_issuer_without_client_id_is_refused(lms, client, caplog):
    params = lms.platform.login_params()
    params["iss"] = "https://unknown-lms.example"
    del params["client_id"]
    login = lms.login_with(client, params)
    assert_refused(login.response, 403, "unknown_platform", caplog)


@pytest.mark.parametrize(
    ("name", "taken", "padding"),
    [
        ("login_hint", "y" * 1500, "x" * 4096),
        ("lti_message_hint", "y" * 1500, "x" * 4096),
        ("login_hint", "\u3000" * 10, "\u3000" * 700),
    ],
)
def test_a_login_too_long_is_refused_and_keeps_nothing(
    lms, app, caplog, monkeypatch, name, taken, padding
):
    """A held login and a state wait in Redis (or the database) for minutes: what one
    login may keep there is bounded, as it is kept (a wide space is six bytes there).
    Moodle's fields take about 200 bytes, Canvas's about 1.5 kB (its message hint is a
    JWT)."""
    store = app.extensions["lti"].state_store
    kept: list[str] = []
    save_state = store.save_state

    def counted(state: str, data: Any, ttl: int) -> None:
        kept.append(state)
        save_state(state, data, ttl)

    monkeypatch.setattr(store, "save_state", counted)
    client = app.test_client()
    params = lms.platform.login_params()
    longest_taken = params[name] = (params.get(name) or "") + taken
    assert lms.login_with(client, params).response.status_code == 302
    assert kept  # the longest accepted login was kept

    kept.clear()
    params[name] = longest_taken + padding
    refused = client.post("/lti/login", data={**params, "lang": "nb"})
    assert_refused(refused, 400, "login_parameter_too_long", caplog)
    page = refused.get_data(as_text=True)
    assert "har et felt som er for langt" in page
    assert "be LMS-administratoren" in page  # what to do: opening it again will not help
    assert "Gå tilbake til kurset" not in page
    assert kept == []  # no login held, no state
    held = [h for h in refused.headers.getlist("Set-Cookie") if h.startswith("lti1p3_")]
    assert not held


@pytest.mark.parametrize("kid", [["x"], {"k": 1}, 7])
def test_a_kid_that_is_not_a_string_is_refused_not_crashed(lms, client, caplog, kid):
    """Looked up before the signature is checked (the token need not be signed)."""
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    response = login_and_post(
        lms, client, lambda claims: f"{b64json(header)}.{b64json(claims)}.{b64url(b'sig')}"
    )
    assert_refused(response, 401, "unknown_key", caplog)


@pytest.mark.parametrize("store", ["the configured state store", "the database"])
def test_a_state_that_cannot_be_stored_is_refused_not_crashed(
    lms, make_app, caplog, monkeypatch, store
):
    """Looked up before the signature is checked, as the nonce: a state with NUL is
    refused at the boundary (as every parameter with NUL), a longer one than any the
    tool makes is not looked up (the database state store, without Redis, too)."""
    tool = make_app() if store == "the configured state store" else make_app(REDIS_URL="")
    looked_up: list[str] = []
    state_store = tool.extensions["lti"].state_store
    check_launch = state_store.check_launch

    def counted(state: str, *args: Any) -> Any:
        looked_up.append(state)
        return check_launch(state, *args)

    monkeypatch.setattr(state_store, "check_launch", counted)
    browser = tool.test_client()
    login = lms.login(browser)
    claims = lms.platform.launch_claims("learner", nonce=login.auth_query["nonce"])
    token = lms.platform.sign(claims)
    state = login.auth_query["state"]
    with_nul = lms.post_launch(browser, {"id_token": token, "state": state + "\x00"})
    assert with_nul.status_code == 422
    too_long = lms.post_launch(browser, {"id_token": token, "state": state + "x" * 255})
    assert_refused(too_long, 401, "state_mismatch", caplog)
    assert looked_up == []  # neither was looked up
    caplog.clear()
    unknown = lms.post_launch(browser, {"id_token": token, "state": "x" * len(state)})
    assert_refused(unknown, 401, "state_mismatch", caplog)
    assert len(looked_up) == 1  # one of usable length is


# --- nonce and state --------------------------------------------------------------------


def test_missing_nonce_is_refused(lms, client, caplog):
    response = lms.signed_launch(client, remove=("nonce",))
    assert_refused(response, 401, "missing_nonce", caplog)


def test_replayed_id_token_is_refused(lms, client, caplog):
    login = lms.login(client)
    form = lms.authorize(login)
    assert_signed_in(lms.post_launch(client, form))
    assert refusals(caplog) == []

    response = lms.post_launch(client, form)
    assert_refused(response, 401, "replayed_launch", caplog)


def test_state_from_elsewhere_is_refused(lms, client, caplog):
    login = lms.login(client)
    form = lms.authorize(login)
    form["state"] = "a-state-this-browser-never-received"
    response = lms.post_launch(client, form)
    assert_refused(response, 401, "state_mismatch", caplog)


def test_state_of_another_login_in_the_same_browser_is_refused(lms, client, caplog):
    first = lms.login(client)
    second = lms.login(client)
    form = lms.authorize(first)
    form["state"] = second.auth_query["state"]  # its cookie is present, its nonce differs
    response = lms.post_launch(client, form)
    assert_refused(response, 401, "state_mismatch", caplog)


@pytest.mark.parametrize("canvas_style", [False, True], ids=["moodle", "canvas"])
def test_missing_state_cookie_is_refused_without_sending_the_login_again(
    lms, client, app, caplog, canvas_style
):
    """The login went to the platform already; a platform that accepts it once (Moodle)
    would refuse it again, so the page offers no new login, only the way back."""
    login = lms.login(client, canvas_style=canvas_style)
    form = lms.authorize(login)
    cookieless = lms.browser(app)  # the browser dropped the tool's third-party cookie

    response = lms.post_launch(cookieless, form)
    assert_refused(response, 403, "state_cookie_lost", caplog)
    page = response.get_data(as_text=True)
    assert not parse_forms(page)
    assert "login_hint" not in page and "lti_message_hint" not in page


# --- the LTI message --------------------------------------------------------------------


def test_missing_deployment_id_is_refused(lms, client, caplog):
    response = lms.signed_launch(client, remove=(c.DEPLOYMENT_ID,))
    assert_refused(response, 400, "missing_deployment", caplog)


def test_new_deployment_is_recorded_as_pending(lms, client, app, caplog):
    assert cli(app, "deployment", "list", "--pending").strip() == "No deployments."

    response = lms.signed_launch(client, change={c.DEPLOYMENT_ID: "cloned-course-7"})
    assert_refused(response, 403, "deployment_pending", caplog)

    pending = cli(app, "deployment", "list", "--pending").strip().splitlines()
    assert len(pending) == 1
    pk, status, issuer, client_id, deployment_id, _organisation = pending[0].split("\t")
    assert (status, issuer, client_id, deployment_id) == (
        "pending",
        PLATFORM_ISSUER,
        "client-123",
        "cloned-course-7",
    )

    cli(app, "deployment", "approve", pk)
    response = lms.signed_launch(client, change={c.DEPLOYMENT_ID: "cloned-course-7"})
    assert_signed_in(response)


def test_unsupported_message_type_is_refused(lms, client, caplog):
    response = lms.signed_launch(client, change={c.MESSAGE_TYPE: "LtiSubmissionReviewRequest"})
    assert_refused(response, 400, "unsupported_message_type", caplog)


def test_missing_version_claim_is_refused(lms, client, caplog):
    response = lms.signed_launch(client, remove=(c.VERSION,))
    assert_refused(response, 400, "invalid_lti_version", caplog)


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"sub": "10\x001"}, 400, "invalid_claims"),
        ({"sub": "1" * 256}, 400, "invalid_claims"),
        ({c.CONTEXT: {"id": "2\x00", "title": "Kurs"}}, 400, "invalid_claims"),
        ({c.CONTEXT: {"id": "2" * 256, "title": "Kurs"}}, 400, "invalid_claims"),
        ({c.DEPLOYMENT_ID: "1\x00"}, 400, "missing_deployment"),
        ({c.DEPLOYMENT_ID: "1" * 256}, 400, "missing_deployment"),
        ({"nonce": "n\x00once"}, 401, "missing_nonce"),  # looked up before the signature
        ({"nonce": "n" * 256}, 401, "missing_nonce"),
    ],
    ids=[
        "sub-nul",
        "sub-long",
        "context-nul",
        "context-long",
        "deployment-nul",
        "deployment-long",
        "nonce-nul",
        "nonce-long",
    ],
)
def test_an_identifier_the_tool_cannot_keep_is_refused_not_crashed(
    lms, client, caplog, change, status, code
):
    """Who and where must be stored as they came (PostgreSQL keeps no NUL, and the columns
    hold 255 characters); cleaned or cut, they could name someone or somewhere else."""
    response = lms.signed_launch(client, change=change)
    assert_refused(response, status, code, caplog)


def test_text_with_nul_is_cleaned_and_the_launch_lands(app, lms, client):
    """Names, titles and custom parameters with NUL characters (a 500 on PostgreSQL
    before): the person and course are kept without them."""
    change = {
        "name": "Demo\x00 Ansatt",
        "email": "ansatt@demokommune.example\x00",
        c.CONTEXT: {"id": "2", "label": "INFO\x00SEC", "title": "Informasjons\x00sikkerhet"},
        c.CUSTOM: {"unit": "hjemme\x00tjenesten", "job_role": "\x00"},
        c.ROLES: ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner\x00"],
    }
    assert_signed_in(lms.signed_launch(client, change=change))
    assert client.get("/learner/").status_code == 200
    with app.app_context():
        session = get_session()
        person = session.scalars(select(Person)).one()
        assert (person.name, person.email) == ("Demo Ansatt", "ansatt@demokommune.example")
        roster = session.scalars(select(CourseRoster)).one()
        assert (roster.label, roster.title) == ("INFOSEC", "Informasjonssikkerhet")
        claims = session.scalars(select(Launch.claims)).one()
        assert claims[c.ROLES] == ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]
        assert c.CUSTOM not in claims  # unit and job_role are read at the launch, not kept


# --- logins the tool must accept --------------------------------------------------------


def test_login_by_post_launches(lms, client):
    login = lms.login(client, method="POST")
    assert login.response.status_code == 302
    assert_signed_in(lms.post_launch(client, lms.authorize(login)))


def test_canvas_style_login_launches(lms, client):
    login = lms.login(client, canvas_style=True)
    assert "lti_deployment_id" not in lms.platform.login_params(canvas_style=True)
    assert login.response.status_code == 302
    assert_signed_in(lms.post_launch(client, lms.authorize(login)))


def test_login_without_client_id_uses_the_only_registration(lms, client):
    params = lms.platform.login_params()
    del params["client_id"]
    login = lms.login_with(client, params)
    assert login.response.status_code == 302, login.response.get_data(as_text=True)
    assert login.auth_query["client_id"] == "client-123"
    assert_signed_in(lms.post_launch(client, lms.authorize(login)))


def test_login_without_client_id_is_refused_when_ambiguous(lms, client, app, caplog):
    cli(
        app,
        "platform", "add",
        "--issuer", PLATFORM_ISSUER,
        "--client-id", "client-456",
        "--auth-url", PLATFORM_ISSUER + "/auth",
        "--token-url", PLATFORM_ISSUER + "/token",
        "--jwks-url", PLATFORM_ISSUER + "/jwks.json",
        "--organisation", "Nabokommune",
    )  # fmt: skip
    params = lms.platform.login_params()
    del params["client_id"]
    login = lms.login_with(client, params)
    assert_refused(login.response, 400, "missing_parameter", caplog)


def test_unverifiable_token_with_odd_locale_is_refused_not_crashed(lms, client, caplog):
    # The error page's language is read from the token before it is verified.
    def unsigned(claims: dict[str, Any]) -> str:
        claims[c.LAUNCH_PRESENTATION] = {"locale": 5}
        return f"{b64json({'alg': 'none', 'kid': lms.platform.kid})}.{b64json(claims)}."

    response = login_and_post(lms, client, unsigned)
    assert_refused(response, 401, "invalid_token", caplog)


@pytest.mark.parametrize("presentation", [{"locale": 5}, "iframe"], ids=["locale", "claim"])
def test_malformed_launch_presentation_does_not_stop_a_launch(lms, client, presentation):
    response = lms.signed_launch(client, change={c.LAUNCH_PRESENTATION: presentation})
    assert_signed_in(response)


def test_token_alg_other_than_the_keys_declared_alg_is_refused(lms, client, caplog):
    """The platform's JWK says RS256: an RS512 token under that kid is not accepted."""
    response = lms.signed_launch(client, algorithm="RS512")
    assert_refused(response, 401, "unknown_key", caplog)


def test_without_cookie_a_forged_token_learns_nothing_about_the_login(lms, app, caplog):
    """The platform-storage page (with the login's hints) is only shown for a genuine
    id_token."""
    browser = lms.cookieless_browser(app)
    login = lms.login(browser, storage_target="_parent")
    claims = lms.platform.launch_claims("learner", nonce=login.auth_query["nonce"])
    forged = lms.platform.sign(claims, key=new_rsa_key())
    response = lms.post_launch(browser, {"id_token": forged, "state": login.auth_query["state"]})
    assert_refused(response, 401, "invalid_token", caplog)
    page = response.get_data(as_text=True)
    assert "login_hint" not in page and "lti_message_hint" not in page


def test_a_refused_token_does_not_use_up_the_login(lms, client, caplog):
    """Same on Redis and the database: the state is consumed only by a verified launch."""
    login = lms.login(client)
    claims = lms.platform.launch_claims("learner", nonce=login.auth_query["nonce"])
    wrong = lms.platform.sign({**claims, "aud": "someone-else"})
    refused = lms.post_launch(client, {"id_token": wrong, "state": login.auth_query["state"]})
    assert_refused(refused, 401, "wrong_audience", caplog)

    right = lms.platform.sign(claims)
    accepted = lms.post_launch(client, {"id_token": right, "state": login.auth_query["state"]})
    assert_signed_in(accepted)
    again = lms.post_launch(client, {"id_token": right, "state": login.auth_query["state"]})
    assert again.status_code == 401


def test_a_jwks_key_of_the_wrong_type_is_refused_not_crashed(lms, client, caplog):
    lms.jwks_body = {"keys": [{"kty": "oct", "kid": lms.platform.kid, "k": "c2VjcmV0"}]}
    response = lms.launch(client)
    assert_refused(response, 401, "unknown_key", caplog)
