"""Deep Linking 2.0: a designer places the tool in a course; the response is a signed JWT."""

from __future__ import annotations

import re
import time
from typing import Any

import jwt
import pytest

from lti_tool.db import get_session
from lti_tool.lti import claims as c
from lti_tool.models import Launch
from tests.conftest import TOOL_BASE_URL
from tests.fakes.lms import TestLms, csrf_token, parse_forms
from tests.functional.token_browsing import page_token

DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
DEEP_LINKING = "LtiDeepLinkingRequest"


def deep_linking_launch(lms: TestLms, client: Any, persona: str = "designer") -> Any:
    return lms.launch(client, persona, message_type=DEEP_LINKING)


def request_claims(app: Any, client: Any) -> dict[str, Any]:
    """The claims of the deep-linking request as the tool stored them for this browser."""
    with client.session_transaction() as session:
        launch_id = session["launch_id"]
    with app.app_context():
        return dict(get_session().get(Launch, launch_id).claims)


def submit_selection(client: Any) -> tuple[dict[str, Any], str]:
    """Open the deep-link page, post its form; return the auto-post form and its page."""
    page = client.get("/designer/deep-link")
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    form = next(f for f in parse_forms(html) if f["action"].startswith("/designer/deep-link"))
    response = client.post(form["action"], data=form["fields"])
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    autopost = next(f for f in parse_forms(body) if "JWT" in f["fields"])
    return autopost, body


#: A signed JWT anywhere in a page: a JSON header and payload, base64url-encoded.
SIGNED_JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")


def posts_a_response(html: str) -> bool:
    """Whether the page carries a signed response: the auto-post form's field named JWT,
    or a token shaped like one anywhere. Looking for the bare letters JWT would fail at
    random: a CSRF token may contain them."""
    has_form = any("JWT" in form["fields"] for form in parse_forms(html))
    return has_form or SIGNED_JWT.search(html) is not None


def verify_with_tool_jwks(client: Any, token: str, audience: str) -> dict[str, Any]:
    jwks = client.get("/lti/jwks.json")
    assert jwks.status_code == 200
    kid = jwt.get_unverified_header(token)["kid"]
    keys = {k["kid"]: k for k in jwks.get_json()["keys"]}
    assert kid in keys, "the response is signed with a key the tool does not publish"
    key = jwt.PyJWK.from_dict(keys[kid])
    return jwt.decode(
        token,
        key=key.key,
        algorithms=["RS256"],
        audience=audience,
        options={"require": ["iss", "aud", "exp", "iat", "nonce"]},
    )


def test_designer_deep_linking_launch_lands_on_the_selection_page(lms, client):
    response = deep_linking_launch(lms, client)

    assert TestLms.landing_path(response) == "/designer/deep-link"
    page = response
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    form = next(f for f in parse_forms(html) if f["action"].startswith("/designer/deep-link"))
    assert form["method"] == "post"
    assert form["fields"]["csrf_token"] == csrf_token(html)


def test_deep_linking_response_is_signed_and_complete(app, lms, client):
    assert TestLms.landed(deep_linking_launch(lms, client))
    sent = request_claims(app, client)
    settings = sent[c.DEEP_LINKING_SETTINGS]

    autopost, body = submit_selection(client)

    assert autopost["action"] == settings["deep_link_return_url"]
    assert autopost["action"] == lms.platform.issuer + "/deep-link-return"
    assert autopost["method"] == "post"
    assert 'document.getElementById("autopost").submit()' in body
    token = autopost["fields"]["JWT"]
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = verify_with_tool_jwks(client, token, audience=lms.platform.issuer)

    assert claims["iss"] == lms.platform.client_id
    assert claims["aud"] == [lms.platform.issuer]
    assert claims[c.MESSAGE_TYPE] == "LtiDeepLinkingResponse"
    assert claims[c.VERSION] == "1.3.0"
    assert claims[c.DEPLOYMENT_ID] == lms.platform.deployment_id
    assert claims["iat"] <= time.time() + 5 < claims["exp"]
    assert claims[DL + "data"] == settings["data"]
    assert settings["data"].startswith("demo-")
    items = claims[DL + "content_items"]
    assert len(items) == 1
    assert items[0]["type"] == "ltiResourceLink"
    assert items[0]["url"] == TOOL_BASE_URL + "/lti/launch"
    assert items[0]["title"]


def test_deep_linking_response_is_refused_by_another_key(app, lms, client):
    """The verification above is real: a JWT signed with another key does not verify."""
    assert TestLms.landed(deep_linking_launch(lms, client))
    autopost, _ = submit_selection(client)
    claims = jwt.decode(autopost["fields"]["JWT"], options={"verify_signature": False})
    kid = jwt.get_unverified_header(autopost["fields"]["JWT"])["kid"]
    forged = lms.platform.sign(claims, headers={"kid": kid})

    with pytest.raises(jwt.InvalidSignatureError):
        verify_with_tool_jwks(client, forged, audience=lms.platform.issuer)


def test_deep_linking_response_omits_data_when_the_request_had_none(app, lms, client):
    login = lms.login(client, "designer", message_type=DEEP_LINKING)
    claims = lms.platform.launch_claims(
        "designer", nonce=login.auth_query["nonce"], message_type=DEEP_LINKING
    )
    del claims[c.DEEP_LINKING_SETTINGS]["data"]
    response = lms.post_launch(
        client, {"id_token": lms.platform.sign(claims), "state": login.auth_query["state"]}
    )
    assert TestLms.landed(response), response.get_data(as_text=True)

    autopost, _ = submit_selection(client)
    body = verify_with_tool_jwks(client, autopost["fields"]["JWT"], lms.platform.issuer)

    assert DL + "data" not in body


def test_learner_deep_linking_launch_is_refused_at_launch(lms, client):
    response = deep_linking_launch(lms, client, "learner")

    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "<code>deep_linking_forbidden</code>" in page
    assert not posts_a_response(page)
    assert client.get("/learner/").status_code == 401  # nobody was signed in


def test_learner_cannot_post_a_deep_linking_response(lms, make_app):
    """Refused by permission, not only by CSRF: this instance does not check CSRF."""
    no_csrf = make_app()
    no_csrf.config["WTF_CSRF_ENABLED"] = False
    learner = TestLms.browser(no_csrf)
    assert lms.landed(lms.launch(learner, "learner"))

    refused = learner.post("/designer/deep-link", data={"item": "home"})

    assert refused.status_code == 403
    assert not posts_a_response(refused.get_data(as_text=True))
    # The same instance answers a designer: the 403 above is about the learner.
    designer = TestLms.browser(no_csrf)
    assert TestLms.landed(deep_linking_launch(lms, designer))
    assert designer.post("/designer/deep-link", data={"item": "home"}).status_code == 200


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("mapping:99999999999999999999999", "Choose among the published mappings shown."),
        ("99999999999999999999999", "Choose among the published mappings shown."),
        ("mapping:2147483648", "Choose among the published mappings shown."),
        (
            "certification:99999999999999999999999",
            "Choose among the published certifications shown.",
        ),
        ("activity:99999999999999999999999", "Choose among the e-learning activities shown."),
        ("activity:-1", "Choose among the e-learning activities shown."),
    ],
)
def test_an_item_id_beyond_any_row_is_refused_as_unknown(lms, client, item, reason):
    """Past what an id column holds (a 500 on SQLite before): the item is unknown."""
    assert TestLms.landed(lms.launch(client, "designer", message_type=DEEP_LINKING, locale="en"))
    token = csrf_token(client.get("/designer/deep-link").get_data(as_text=True))

    answer = client.post("/designer/deep-link", data={"csrf_token": token, "item": item})

    assert answer.status_code == 422
    assert reason in answer.get_data(as_text=True)
    assert not posts_a_response(answer.get_data(as_text=True))


def test_deep_link_page_outside_a_deep_linking_launch(lms, client):
    assert lms.landed(lms.launch(client, "designer"))

    assert client.get("/designer/deep-link").status_code == 400


# --- without cookies: the launch token carries the sign-in, and the CSRF secret ---------


def _cookieless_deep_link_page(app: Any, lms: TestLms) -> tuple[Any, dict[str, Any]]:
    browser = TestLms.cookieless_browser(app)
    response = lms.storage_launch(browser, "designer", message_type=DEEP_LINKING)
    page = lms.landing_page(browser, response)
    assert page.status_code == 200, page.get_data(as_text=True)
    forms = parse_forms(page.get_data(as_text=True))
    form = next(f for f in forms if f["action"].startswith("/designer/deep-link"))
    form["fields"]["lt"] = page_token(page.get_data(as_text=True))  # as the page's script adds it
    return browser, form


def test_deep_linking_works_without_cookies(app, lms):
    browser, form = _cookieless_deep_link_page(app, lms)
    assert "lt=" not in form["action"]
    assert form["fields"]["lt"]

    response = browser.post(form["action"], data=form["fields"])

    assert response.status_code == 200, response.get_data(as_text=True)
    autopost = next(f for f in parse_forms(response.get_data(as_text=True)) if "JWT" in f["fields"])
    claims = verify_with_tool_jwks(browser, autopost["fields"]["JWT"], lms.platform.issuer)
    assert claims[c.MESSAGE_TYPE] == "LtiDeepLinkingResponse"
    assert claims[DL + "data"].startswith("demo-")


def test_cookieless_post_without_csrf_token_is_refused(app, lms):
    browser, form = _cookieless_deep_link_page(app, lms)

    response = browser.post(form["action"], data={"item": "home", "lt": form["fields"]["lt"]})

    assert response.status_code == 400
    assert not posts_a_response(response.get_data(as_text=True))


def test_cookieless_csrf_token_of_another_launch_is_refused(app, lms):
    _, first = _cookieless_deep_link_page(app, lms)
    browser, second = _cookieless_deep_link_page(app, lms)
    assert first["fields"]["csrf_token"] != second["fields"]["csrf_token"]

    response = browser.post(
        second["action"], data={**first["fields"], "lt": second["fields"]["lt"]}
    )

    assert response.status_code == 400
    assert not posts_a_response(response.get_data(as_text=True))
