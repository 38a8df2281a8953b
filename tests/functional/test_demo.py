"""The demo LMS at /demo, end to end: a real platform inside the app, off in production.

The browser is the test client on http://localhost (its default host), which is the
BASE_URL; the tool fetches the demo platform's JWKS over HTTP, and its score worker calls
the demo's token and AGS endpoints over HTTP, each answered here by the same app through
``responses``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import responses
from sqlalchemy import func, select

from lti_tool.db import get_session
from lti_tool.domain.items import MULTIPLE_CHOICE, NUMERIC, SELF_ASSESSMENT
from lti_tool.lti import ags
from lti_tool.lti import claims as c
from lti_tool.lti.demo_platform import PERSONAS
from lti_tool.lti.keys import generate_private_pem
from lti_tool.lti.services import lti_services
from lti_tool.models import (
    Attempt,
    DeliveryStatus,
    Item,
    Mapping,
    MappingStatus,
    PermissionGrant,
    ScoreDelivery,
    Selection,
    Status,
)
from lti_tool.services import demo, mappings
from lti_tool.services.demo import DEMO_CLIENT_ID, DEMO_DEPLOYMENT_ID
from lti_tool.services.platforms import find_platform
from tests.fakes.lms import TestLms, csrf_token, parse_forms

BASE_URL = "http://localhost"
DEMO_ISSUER = BASE_URL + "/demo"
LANDING = {
    "learner": "/learner/",
    "learner2": "/learner/",
    "learner3": "/learner/",
    "designer": "/designer/",
    "manager": "/manager/",
    "admin": "/admin/",
}


@pytest.fixture
def demo_app(make_app, settings_overrides, mocked_http):
    app = make_app(BASE_URL=BASE_URL)
    app.jwks_fetches = 0  # type: ignore[attr-defined]

    def serve_jwks(request: Any) -> tuple[int, dict[str, str], bytes]:
        app.jwks_fetches += 1  # type: ignore[attr-defined]
        response = app.test_client().get(urlsplit(request.url).path)
        return response.status_code, {"Content-Type": response.content_type}, response.data

    mocked_http.add_callback(responses.GET, DEMO_ISSUER + "/jwks.json", callback=serve_jwks)
    yield app
    from tests.conftest import _clean

    _clean(app)


def _path(response) -> str:
    """The local path and query of a redirect on the demo's own host."""
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost"), response.headers["Location"]
    return location.path + ("?" + location.query if location.query else "")


def _setup(client) -> None:
    page = client.get("/demo/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/demo/setup" in html  # not registered yet: the set-up form is offered
    response = client.post("/demo/setup", data={"csrf_token": csrf_token(html)})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _path(response) == "/demo/"
    after = client.get("/demo/").get_data(as_text=True)
    assert "/demo/setup" not in after
    for persona in PERSONAS:
        assert f"/demo/launch/{persona}" in after


def _launch(client, persona: str, **query: str):
    """Click a persona button on the course page; follow the browser's redirects and
    auto-posted forms to the tool's answer to the launch."""
    started = client.get(f"/demo/launch/{persona}", query_string=query)
    assert started.status_code == 302
    login_path = _path(started)
    assert login_path.startswith("/lti/login?")

    login = client.get(login_path)
    assert login.status_code == 302, login.get_data(as_text=True)
    if _path(login).startswith("/lti/login/check?"):  # the cookie check, in a new browser
        login = client.get(_path(login))
        assert login.status_code == 302, login.get_data(as_text=True)
    auth_path = _path(login)
    assert auth_path.startswith("/demo/auth?")

    auth = client.get(auth_path)
    assert auth.status_code == 200, auth.get_data(as_text=True)
    (form,) = parse_forms(auth.get_data(as_text=True))
    assert form["action"] == BASE_URL + "/lti/launch"
    assert form["method"] == "post"
    assert set(form["fields"]) == {"id_token", "state"}
    return client.post(urlsplit(form["action"]).path, data=form["fields"])


def test_the_demo_lms_answers_each_login_once(demo_app):
    """Like Moodle's auth.php: a login's message hint is good for one authorization."""
    client = demo_app.test_client()
    _setup(client)
    login = client.get(_path(client.get("/demo/launch/learner")))
    if _path(login).startswith("/lti/login/check?"):  # not if the set-up kept a cookie
        login = client.get(_path(login))
    auth_path = _path(login)
    assert client.get(auth_path).status_code == 200

    again = client.get(auth_path)

    assert again.status_code == 400
    assert "<code>demo_auth_refused</code>" in again.get_data(as_text=True)


def test_setup_registers_the_demo_platform(demo_app):
    _setup(demo_app.test_client())
    with demo_app.app_context():
        platform = find_platform(get_session(), DEMO_ISSUER, DEMO_CLIENT_ID)
        assert platform is not None
        assert platform.status == Status.ACTIVE
        assert platform.jwks_url == DEMO_ISSUER + "/jwks.json"
        assert [(d.deployment_id, d.status) for d in platform.deployments] == [
            (DEMO_DEPLOYMENT_ID, Status.ACTIVE)
        ]
    # Setting up again (here with the command) changes nothing.
    result = demo_app.test_cli_runner().invoke(args=["demo", "setup"])
    assert result.exit_code == 0, result.output
    assert DEMO_ISSUER in result.output
    with demo_app.app_context():
        platform = find_platform(get_session(), DEMO_ISSUER, DEMO_CLIENT_ID)
        assert len(platform.deployments) == 1


def test_setup_needs_a_csrf_token(demo_app):
    client = demo_app.test_client()
    assert client.post("/demo/setup").status_code == 400
    with demo_app.app_context():
        assert find_platform(get_session(), DEMO_ISSUER, DEMO_CLIENT_ID) is None


def test_demo_jwks_is_the_platform_keyset(demo_app):
    body = demo_app.test_client().get("/demo/jwks.json").get_json()
    (jwk,) = body["keys"]
    assert jwk["kid"].startswith("demo-")
    assert jwk["kty"] == "RSA" and "d" not in jwk


@pytest.mark.parametrize("persona", list(LANDING))
def test_each_persona_launches_from_the_demo_lms(demo_app, persona):
    setup_client = demo_app.test_client()
    _setup(setup_client)
    client = demo_app.test_client()  # the person's own browser
    launched = _launch(client, persona)
    assert launched.status_code == 200, launched.get_data(as_text=True)  # the start page
    assert TestLms.landing_path(launched) == LANDING[persona]
    html = launched.get_data(as_text=True)
    assert PERSONAS[persona].family_name in html
    again = client.get(LANDING[persona])  # its address, got again
    assert again.status_code == 200
    assert PERSONAS[persona].family_name in again.get_data(as_text=True)
    assert demo_app.jwks_fetches >= 1  # the signature was checked with the fetched keys


def test_the_platform_keys_are_fetched_once_and_cached(demo_app):
    _setup(demo_app.test_client())
    for persona in ("learner", "designer"):
        launched = _launch(demo_app.test_client(), persona)
        assert TestLms.landing_path(launched) == LANDING[persona]
    assert demo_app.jwks_fetches == 1


def test_the_demo_can_launch_in_another_language(demo_app):
    _setup(demo_app.test_client())
    client = demo_app.test_client()
    launched = _launch(client, "learner", locale="en")
    assert TestLms.landing_path(launched) == "/learner/"
    assert '<html lang="en">' in launched.get_data(as_text=True)
    with client.session_transaction() as session:
        assert session.get("locale") == "en"


def test_deep_linking_from_the_demo_lms(demo_app):
    _setup(demo_app.test_client())
    client = demo_app.test_client()
    page = _launch(client, "designer", deep_linking="1")
    assert page.status_code == 200, page.get_data(as_text=True)
    assert TestLms.landing_path(page) == "/designer/deep-link"
    (choose,) = [f for f in parse_forms(page.get_data(as_text=True)) if f["method"] == "post"]
    submitted = client.post(choose["action"], data=choose["fields"])
    assert submitted.status_code == 200, submitted.get_data(as_text=True)

    (back,) = parse_forms(submitted.get_data(as_text=True))
    assert back["action"] == DEMO_ISSUER + "/deep-link-return"
    assert set(back["fields"]) == {"JWT"}
    returned = client.post(urlsplit(back["action"]).path, data=back["fields"])
    assert returned.status_code == 200, returned.get_data(as_text=True)
    html = returned.get_data(as_text=True)
    # One item, the tool's launch URL, as the LMS would add it to the course.
    items = re.findall(r"<li>(.*?) — <code>(.*?)</code></li>", html)
    assert items == [("Læringsløp", BASE_URL + "/lti/launch")]


def test_deep_link_return_refuses_a_forged_response(demo_app):
    client = demo_app.test_client()
    response = client.post("/demo/deep-link-return", data={"JWT": "not.a.jwt"})
    assert response.status_code == 400
    assert "demo_auth_refused" in response.get_data(as_text=True)


def test_demo_auth_refuses_a_request_it_did_not_expect(demo_app):
    response = demo_app.test_client().get(
        "/demo/auth", query_string={"scope": "openid", "response_type": "code"}
    )
    assert response.status_code == 400


def test_unknown_persona_is_404(demo_app):
    assert demo_app.test_client().get("/demo/launch/superuser").status_code == 404


def test_demo_on_another_host_redirects_to_the_base_url(demo_app):
    client = demo_app.test_client()
    response = client.get("/demo/", base_url="http://127.0.0.1")
    assert response.status_code == 302
    assert response.headers["Location"] == BASE_URL + "/demo/"


@pytest.fixture
def production_app(make_app):
    return make_app(APP_ENV="production", SECRET_KEY="p" * 40, BASE_URL="https://lti.example.no")


def test_every_demo_url_is_404_in_production(make_app, production_app):
    paths = {
        (method, rule.rule.replace("<persona>", "learner"))
        for rule in make_app(BASE_URL=BASE_URL).url_map.iter_rules()
        if rule.rule.startswith("/demo")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert ("GET", "/demo/") in paths and ("POST", "/demo/setup") in paths
    client = production_app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "lti.example.no"})
    for method, path in sorted(paths):
        status = client.open(path, method=method).status_code
        assert status == 404, f"{method} {path} answered {status} in production"
    # ... and the front page does not link to it.
    assert "/demo" not in client.get("/").get_data(as_text=True)


def test_demo_setup_command_refuses_in_production(production_app):
    result = production_app.test_cli_runner().invoke(args=["demo", "setup"])
    assert result.exit_code != 0
    assert "off in production" in result.output


def test_the_demo_learner_sees_the_example_requirements_of_their_job_roles(demo_app):
    """The demo LMS sends job_role=sykepleier,alle-ansatte; setup loaded the examples."""
    client = demo_app.test_client()
    _setup(client)
    launched = _launch(client, "learner")
    assert TestLms.landing_path(launched) == "/learner/"
    page = launched.get_data(as_text=True)
    assert "Sykepleier" in page
    assert "dobbeltkontroll" in page.lower()  # from the medication-handling profile
    assert "personvern" in page.lower()  # from the all-staff information-security profile


def test_the_demo_unit_manager_sees_the_demo_units_employees(demo_app):
    """An LMS role alone makes a manager of no unit; setup granted the demo manager the demo
    unit, where the demo LMS places the learners."""
    client = demo_app.test_client()
    _setup(client)
    for persona in ("learner", "learner2"):
        _launch(demo_app.test_client(), persona)
    landing = TestLms.landing_path(_launch(client, "manager", lang="en"))
    assert landing == "/manager/"
    page = client.get(landing + "?lang=en").get_data(as_text=True)
    assert "Demo-enheten (demo-enheten)" in page
    assert "Demo Ansatt" in page and "Kari Nilsen" in page
    with demo_app.app_context():  # set up again: the same one grant
        demo.set_up_demo(get_session(), lti_services())
        get_session().commit()
        assert get_session().scalar(select(func.count()).select_from(PermissionGrant)) == 1


# --- the example skills mappings ------------------------------------------------------------

INFOSEC = "informasjonssikkerhet-alle"
MEDICATION = "legemiddelhandtering-sykepleier"
LANGUAGES = {"nb", "nn", "en"}
LINEITEMS = DEMO_ISSUER + "/mod/lti/services.php/2/lineitems?type_id=1"


def _demo_org(app) -> int:
    with app.app_context():
        platform = find_platform(get_session(), DEMO_ISSUER, DEMO_CLIENT_ID)
        assert platform is not None
        return platform.organisation_id


def _bank(app) -> tuple[int, int]:
    with app.app_context():
        session = get_session()
        org = _demo_org(app)
        items = session.scalar(select(func.count(Item.id)).where(Item.organisation_id == org))
        found = session.scalar(select(func.count(Mapping.id)).where(Mapping.organisation_id == org))
        return items or 0, found or 0


def test_setup_loads_the_example_mappings_exactly_once(demo_app):
    _setup(demo_app.test_client())
    first = _bank(demo_app)
    result = demo_app.test_cli_runner().invoke(args=["demo", "setup"])
    assert result.exit_code == 0, result.output
    assert _bank(demo_app) == first == (33, 2)

    with demo_app.app_context():
        session = get_session()
        org = _demo_org(demo_app)
        infosec = mappings.mapping_of_code(session, org, INFOSEC)
        assert infosec is not None
        assert infosec.status == MappingStatus.PUBLISHED
        assert infosec.job_role is not None and infosec.job_role.code == "alle-ansatte"
        assert infosec.selection == Selection.FIXED and infosec.pass_percentage == 80
        asked = [mi.item for mi in infosec.items]
        measured = {mc.competence.code for mc in infosec.competences}
        assert measured == {f"IS-0{n}" for n in range(1, 7)}
        statements = {
            ic.competence.code for i in asked if i.kind == SELF_ASSESSMENT for ic in i.competences
        }
        assert statements == measured  # a self-assessment statement per competence
        assert not mappings.unmeasured(session, infosec)

        medication = mappings.mapping_of_code(session, org, MEDICATION)
        assert medication is not None
        assert medication.status == MappingStatus.PUBLISHED
        assert medication.job_role is not None and medication.job_role.code == "sykepleier"
        assert medication.selection == Selection.RANDOM
        assert (medication.items_per_competence, medication.time_limit_minutes) == (2, 30)
        counts = mappings.bank_counts(
            session, org, [mc.competence_id for mc in medication.competences]
        )
        assert len(counts) == 6 and min(counts.values()) > 2  # something to draw from

        items = session.scalars(select(Item).where(Item.organisation_id == org)).all()
        knowledge = [i for i in items if i.kind != SELF_ASSESSMENT]
        assert len(knowledge) >= 12
        assert {i.kind for i in knowledge} == {
            "single_choice",
            "multiple_choice",
            "true_false",
            "numeric",
        }
        for item in items:
            assert set(item.stem) == LANGUAGES, item.code
            for option in item.options:
                assert set(option.feedback) == LANGUAGES, item.code
                if item.kind != NUMERIC:
                    assert set(option.text) == LANGUAGES, item.code
        dose = next(i for i in items if i.code == "LM-02-K1")
        assert dose.settings == {"unit": "ml"}
        assert (dose.options[0].value, dose.options[0].fraction) == (0.75, 1.0)

        # A mapping the organisation deleted comes back; the items it has are not made twice.
        session.delete(medication)
        session.commit()
    result = demo_app.test_cli_runner().invoke(args=["demo", "setup"])
    assert result.exit_code == 0, result.output
    assert _bank(demo_app) == (33, 2)


# --- deep linking places a mapping in the course ---------------------------------------------


def _deep_link(app, client, choice: str) -> str:
    """The designer adds an activity: deep linking from the course page to the tool's
    picker, the chosen item, the signed response back to the LMS. Returns its page."""
    page = _launch(client, "designer", deep_linking="1")
    assert TestLms.landing_path(page) == "/designer/deep-link", page.get_data(as_text=True)
    (choose,) = [f for f in parse_forms(page.get_data(as_text=True)) if f["method"] == "post"]
    submitted = client.post(choose["action"], data={**choose["fields"], "item": choice})
    assert submitted.status_code == 200, submitted.get_data(as_text=True)
    (back,) = parse_forms(submitted.get_data(as_text=True))
    assert back["action"] == DEMO_ISSUER + "/deep-link-return"
    returned = client.post(urlsplit(back["action"]).path + "?lang=en", data=back["fields"])
    assert returned.status_code == 200, returned.get_data(as_text=True)
    return returned.get_data(as_text=True)


def _place_infosec(app) -> str:
    client = app.test_client()
    _setup(client)
    with app.app_context():
        mapping = mappings.mapping_of_code(get_session(), _demo_org(app), INFOSEC)
        assert mapping is not None
        choice, title = f"mapping:{mapping.id}", mapping.title["nb"]
    html = _deep_link(app, client, choice)
    assert title in html and "with a gradebook column" in html
    return title


def test_a_designer_places_a_mapping_in_the_demo_course(demo_app, make_app):
    title = _place_infosec(demo_app)

    page = demo_app.test_client().get("/demo/?lang=en").get_data(as_text=True)
    assert f"<legend>{title}</legend>" in page
    assert f"<code>{INFOSEC}</code>" in page
    assert "Gradebook column: " + title in page
    for learner in ("learner", "learner2", "learner3"):
        assert f'name="link" value="2" formaction="/demo/launch/{learner}"' in page

    with demo_app.app_context():
        lti = lti_services()
        course = demo.load_course(lti)
        link = course.links["2"]
        assert link.custom == {"mapping": INFOSEC}
        assert (
            link.lineitem == DEMO_ISSUER + "/mod/lti/services.php/2/lineitems/1/lineitem?type_id=1"
        )
        assert course.line_items[1] == {
            "label": title,
            "scoreMaximum": 100,
            "resourceId": f"mapping:{INFOSEC}",
            "tag": "laeringslop-mapping",
            "resourceLinkId": "2",
        }
        # The placed link's launch carries its custom parameter and its gradebook column;
        # the course's hand-made link takes no grades.
        platform = demo.demo_platform(lti)
        placed = platform.launch_claims("learner", nonce="n", link="2")
        assert placed[c.CUSTOM]["mapping"] == INFOSEC
        assert placed[c.AGS_ENDPOINT]["lineitem"] == link.lineitem
        assert placed[c.AGS_ENDPOINT]["lineitems"] == LINEITEMS
        assert placed[c.RESOURCE_LINK]["id"] == "2"
        hand_made = platform.launch_claims("learner", nonce="n")
        assert c.AGS_ENDPOINT not in hand_made
        assert hand_made[c.RESOURCE_LINK]["id"] == "1"

    # The course is kept in the instance folder: another process sees the same.
    other = make_app(BASE_URL=BASE_URL)
    assert f"<legend>{title}</legend>" in other.test_client().get("/demo/").get_data(as_text=True)


def test_a_learner_opens_the_placed_mapping(demo_app):
    _place_infosec(demo_app)
    client = demo_app.test_client()
    launched = _launch(client, "learner2", link="2")
    assert TestLms.landing_path(launched) == f"/mappings/{INFOSEC}"
    assert "Nilsen" in launched.get_data(as_text=True)


def test_launching_a_link_the_course_does_not_have_is_404(demo_app):
    _setup(demo_app.test_client())
    response = demo_app.test_client().get("/demo/launch/learner", query_string={"link": "9"})
    assert response.status_code == 404


# --- the platform's token endpoint -----------------------------------------------------------


def _assertion(app, **changes: Any) -> str:
    """A client assertion as the tool's AGS client signs it, with ``changes`` applied."""
    with app.app_context():
        key = lti_services().keyring.signing_key()
        now = int(time.time())
        claims = {
            "iss": DEMO_CLIENT_ID,
            "sub": DEMO_CLIENT_ID,
            "aud": DEMO_ISSUER + "/token",
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
        }
        signing_key: Any = changes.pop("key", key.private_pem())
        claims.update(changes)
        for name, value in list(claims.items()):
            if value is None:
                del claims[name]
        return jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": key.kid})


def _token_form(assertion: str, scope: str = ags.SCOPE_SCORE + " " + ags.SCOPE_LINEITEM) -> dict:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        "scope": scope,
    }


def _access_token(app, scope: str = ags.SCOPE_SCORE + " " + ags.SCOPE_LINEITEM) -> str:
    response = app.test_client().post("/demo/token", data=_token_form(_assertion(app), scope))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["access_token"]


def test_the_token_endpoint_accepts_the_tools_client_assertion(demo_app):
    _setup(demo_app.test_client())
    with demo_app.app_context():
        client = ags.AgsClient.from_services(lti_services())
        auth = ags.PlatformAuth(1, DEMO_CLIENT_ID, DEMO_ISSUER + "/token")
        assertion = client.client_assertion(auth)  # exactly what the score worker sends
    response = demo_app.test_client().post("/demo/token", data=_token_form(assertion))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert re.fullmatch(r"[0-9a-f]{32}", body["access_token"])
    assert body["scope"].split() == [ags.SCOPE_SCORE, ags.SCOPE_LINEITEM]
    assert response.headers["Cache-Control"] == "no-store"
    with demo_app.app_context():  # kept only as a hash
        stored = json.dumps(demo.load_course(lti_services()).to_json())
        assert body["access_token"] not in stored


@pytest.mark.parametrize(
    ("changes", "form_changes", "status", "error"),
    [
        ({"aud": "https://elsewhere.example/token"}, {}, 401, "invalid_client"),
        ({"iss": "someone-else", "sub": "someone-else"}, {}, 401, "invalid_client"),
        ({"sub": "someone-else"}, {}, 401, "invalid_client"),
        ({"exp": int(time.time()) - 600}, {}, 401, "invalid_client"),
        ({"jti": None}, {}, 401, "invalid_client"),
        ({"key": generate_private_pem()}, {}, 401, "invalid_client"),  # not the tool's key
        ({}, {"client_assertion": "not.a.jwt"}, 401, "invalid_client"),
        ({}, {"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({}, {"client_assertion_type": "basic"}, 400, "invalid_request"),
        ({}, {"scope": "https://example.org/everything"}, 400, "invalid_scope"),
    ],
)
def test_the_token_endpoint_refuses_a_bad_request(demo_app, changes, form_changes, status, error):
    _setup(demo_app.test_client())
    form = {**_token_form(_assertion(demo_app, **changes)), **form_changes}
    response = demo_app.test_client().post("/demo/token", data=form)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"] == error
    with demo_app.app_context():
        assert demo.load_course(lti_services()).tokens == {}


# --- the platform's gradebook (AGS) ----------------------------------------------------------


def _score(user_id: str = "101", given: float = 85, when: str = "2026-11-22T10:35:46.041+00:00"):
    return {
        "userId": user_id,
        "scoreGiven": given,
        "scoreMaximum": 100,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": when,
        "comment": f"{INFOSEC}: {given:g} %",
    }


def _post_score(app, url: str, score: Any, token: str | None, content_type: str = ags.SCORE_TYPE):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    parts = urlsplit(url)
    return app.test_client().post(
        parts.path + "?" + parts.query,
        data=json.dumps(score),
        headers={**headers, "Content-Type": content_type, "Accept": "application/json"},
    )


def _new_column(app, token: str, label: str = "Kartlegging", resource_id: str = "quiz-2"):
    response = app.test_client().post(
        "/demo/mod/lti/services.php/2/lineitems?type_id=1",
        data=json.dumps(
            {"scoreMaximum": 10, "label": label, "resourceId": resource_id, "tag": "quiz"}
        ),
        headers={"Authorization": f"Bearer {token}", "Content-Type": ags.LINEITEM_TYPE},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.mimetype == ags.LINEITEM_TYPE
    return response.get_json()


def test_line_items_are_listed_found_and_created_like_moodle(demo_app):
    _setup(demo_app.test_client())
    token = _access_token(demo_app)
    created = _new_column(demo_app, token)
    assert created == {
        "id": DEMO_ISSUER + "/mod/lti/services.php/2/lineitems/1/lineitem?type_id=1",
        "label": "Kartlegging",
        "scoreMaximum": 10,
        "resourceId": "quiz-2",
        "tag": "quiz",
    }
    _new_column(demo_app, token, "Annen", "other")
    auth = {"Authorization": f"Bearer {token}", "Accept": ags.LINEITEM_CONTAINER_TYPE}
    client = demo_app.test_client()
    listed = client.get("/demo/mod/lti/services.php/2/lineitems?type_id=1", headers=auth)
    assert listed.status_code == 200 and listed.mimetype == ags.LINEITEM_CONTAINER_TYPE
    assert [i["label"] for i in listed.get_json()] == ["Kartlegging", "Annen"]
    filtered = client.get(
        "/demo/mod/lti/services.php/2/lineitems",
        query_string={"type_id": "1", "resource_id": "other"},
        headers=auth,
    )
    assert [i["resourceId"] for i in filtered.get_json()] == ["other"]
    one = client.get(urlsplit(created["id"]).path + "?type_id=1", headers=auth)
    assert one.status_code == 200 and one.get_json() == created
    missing = client.get(
        "/demo/mod/lti/services.php/2/lineitems/9/lineitem?type_id=1", headers=auth
    )
    assert missing.status_code == 404
    # Moodle needs the tool type; a column needs a label; a score-only token reads nothing.
    assert client.get("/demo/mod/lti/services.php/2/lineitems", headers=auth).status_code == 404
    bad = client.post(
        "/demo/mod/lti/services.php/2/lineitems?type_id=1",
        data=json.dumps({"scoreMaximum": 10}),
        headers={"Authorization": f"Bearer {token}", "Content-Type": ags.LINEITEM_TYPE},
    )
    assert bad.status_code == 400
    score_only = _access_token(demo_app, ags.SCOPE_SCORE)
    refused = client.get(
        "/demo/mod/lti/services.php/2/lineitems?type_id=1",
        headers={"Authorization": f"Bearer {score_only}"},
    )
    assert refused.status_code == 403


def test_the_tools_ags_client_finds_and_creates_columns_in_the_demo(demo_app, mocked_http):
    _setup(demo_app.test_client())
    _serve_platform_api(demo_app, mocked_http)
    with demo_app.app_context():
        client = ags.AgsClient.from_services(lti_services())
        auth = ags.PlatformAuth(1, DEMO_CLIENT_ID, DEMO_ISSUER + "/token")
        made = client.find_or_create_line_item(auth, LINEITEMS, "mapping:x", "X", 100)
        assert client.find_or_create_line_item(auth, LINEITEMS, "mapping:x", "X", 100) == made
        assert client.post_score(auth, made, _score()) == 200
        assert demo.load_course(lti_services()).scores[1]["101"]["scoreGiven"] == 85


def test_the_scores_endpoint_checks_the_token_and_the_content_type(demo_app):
    _setup(demo_app.test_client())
    column = _new_column(demo_app, _access_token(demo_app))["id"]
    scores = column.replace("/lineitem?", "/lineitem/scores?")
    token = _access_token(demo_app)

    missing = _post_score(demo_app, scores, _score(), None)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert _post_score(demo_app, scores, _score(), "not-a-token").status_code == 401
    wrong_type = _post_score(demo_app, scores, _score(), token, "application/json")
    assert wrong_type.status_code == 415
    for field in ("userId", "activityProgress", "gradingProgress", "timestamp"):
        incomplete = {k: v for k, v in _score().items() if k != field}
        answer = _post_score(demo_app, scores, incomplete, token)
        assert answer.status_code == 400 and field in answer.get_json()["error_description"]
    assert _post_score(demo_app, scores, _score(user_id="999"), token).status_code == 400
    no_item = scores.replace("/lineitems/1/", "/lineitems/7/")
    assert _post_score(demo_app, no_item, _score(), token).status_code == 404
    with demo_app.app_context():
        assert demo.load_course(lti_services()).scores == {}

    stored = _post_score(demo_app, scores, _score(given=85), token)
    assert stored.status_code == 200, stored.get_data(as_text=True)
    assert stored.mimetype == ags.SCORE_TYPE
    # An older score does not replace it; a newer one does.
    older = _post_score(demo_app, scores, _score(given=1, when="2026-11-22T09:00:00+00:00"), token)
    assert older.status_code == 409
    _post_score(
        demo_app, scores, _score(user_id="104", given=60, when="2026-11-23T08:00:00Z"), token
    )

    page = demo_app.test_client().get("/demo/gradebook")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<caption>" in html and '<th scope="col">Kartlegging' in html
    assert _cell(html, PERSONAS["learner"].name) == "8.5"  # 85/100, in a column out of 10
    assert _cell(html, PERSONAS["learner2"].name) == "6"
    assert _cell(html, PERSONAS["learner3"].name) is None


def _cell(html: str, name: str) -> str | None:
    """The grade in the person's row of the gradebook's first column."""
    row = re.search(
        rf'<th scope="row">{re.escape(name)}<br>.*?</th>\s*<td>\s*(.*?)\s*(<br>|</td>)', html, re.S
    )
    assert row, name
    return None if "visually-hidden" in row.group(1) else row.group(1)


# --- the whole story: place, take, submit, and the score in the LMS's gradebook ---------------


def _serve_platform_api(app, mocked_http) -> None:
    """The tool's HTTP calls to the demo's token and AGS endpoints, answered by the app."""

    def forward(request: Any) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(request.url)
        headers = {
            name: request.headers[name]
            for name in ("Authorization", "Content-Type", "Accept")
            if name in request.headers
        }
        body = request.body.encode() if isinstance(request.body, str) else request.body
        response = app.test_client().open(
            parts.path, method=request.method, query_string=parts.query, headers=headers, data=body
        )
        return response.status_code, {"Content-Type": response.content_type}, response.data

    api = re.compile(re.escape(DEMO_ISSUER) + r"/(token|mod/lti/services\.php/.*)$")
    for method in (responses.GET, responses.POST):
        mocked_http.add_callback(method, api, callback=forward)


def _right_answer(item: Item) -> list[str]:
    if item.kind == SELF_ASSESSMENT:
        return ["3"]
    if item.kind == NUMERIC:
        best = max(item.options, key=lambda o: o.fraction)
        return [f"{best.value:g}".replace(".", ",")]
    if item.kind == MULTIPLE_CHOICE:
        return [str(o.id) for o in item.options if o.fraction > 0]
    return [str(max(item.options, key=lambda o: o.fraction).id)]


def test_a_submitted_mapping_reaches_the_demo_gradebook(demo_app, mocked_http):
    title = _place_infosec(demo_app)
    _serve_platform_api(demo_app, mocked_http)

    client = demo_app.test_client()  # the learner's browser: the placed activity
    start_page = _launch(client, "learner", link="2")
    (start,) = [f for f in parse_forms(start_page.get_data(as_text=True)) if f["method"] == "post"]
    token = start["fields"]["csrf_token"]
    first = client.post(start["action"], data=start["fields"])
    assert first.status_code == 302, first.get_data(as_text=True)

    with demo_app.app_context():
        session = get_session()
        attempt = session.scalars(select(Attempt)).one()
        plan = [session.get(Item, entry["item"]) for entry in attempt.plan]
        answers = [_right_answer(item) for item in plan]
        attempt_id = attempt.id
    assert "lt=" not in _path(first)  # the browser's cookie carries the launch
    for position, answer in enumerate(answers, 1):
        saved = client.post(
            f"/mappings/attempts/{attempt_id}/items/{position}",
            data={"csrf_token": token, "answer": answer, "go": "next"},
        )
        assert saved.status_code == 302, saved.get_data(as_text=True)
    submitted = client.post(
        f"/mappings/attempts/{attempt_id}/submit",
        data={"csrf_token": token},
    )
    assert submitted.status_code == 302, submitted.get_data(as_text=True)

    with demo_app.app_context():
        (queued,) = get_session().scalars(select(ScoreDelivery)).all()
        assert queued.status == DeliveryStatus.PENDING
        assert queued.lineitem_url == demo.demo_platform(lti_services()).lineitem_url(1)

    # The score worker (as scripts/demo runs it) sends it to the demo LMS over HTTP.
    result = demo_app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "delivered=1" in result.output, result.output

    html = demo_app.test_client().get("/demo/gradebook").get_data(as_text=True)
    assert f'<th scope="col">{title}' in html
    assert _cell(html, PERSONAS["learner"].name) == "100"
    assert _cell(html, PERSONAS["learner2"].name) is None
    with demo_app.app_context():
        (score,) = demo.load_course(lti_services()).scores[1].values()
        assert score["userId"] == PERSONAS["learner"].sub
        assert score["activityProgress"] == "Completed"
        assert dt.datetime.fromisoformat(score["timestamp"]).tzinfo is not None


# --- the course's members (NRPS): the managers' roster page works in ./scripts/demo ---------


def test_a_manager_fetches_the_demo_courses_participants(demo_app, mocked_http):
    _setup(demo_app.test_client())
    _serve_platform_api(demo_app, mocked_http)
    for persona in ("learner", "learner2", "designer"):
        _launch(demo_app.test_client(), persona)
    client = demo_app.test_client()
    launched = _launch(client, "manager")
    assert TestLms.landing_path(launched) == "/manager/"
    listing = client.get("/manager/courses/?lang=en").get_data(as_text=True)
    roster = re.search(r'href="(/manager/courses/\d+/roster)[^"]*"', listing)
    assert roster, listing
    page = client.get(roster.group(1) + "?lang=en").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, page
    fetched = client.post(roster.group(1) + "/refresh?lang=en", data={"csrf_token": token.group(1)})
    assert fetched.status_code == 302
    html = client.get(roster.group(1) + "?lang=en").get_data(as_text=True)
    assert "6 participants fetched from the learning platform." in html
    # granted the demo unit, the manager sees its employees who have opened the tool: not
    # the course's designer (in no unit), nor those the tool does not know yet
    shown = {p.key for p in PERSONAS.values() if p.name in html}
    assert shown == {"learner", "learner2", "manager"}, shown
    # the token a call needs: without one, or with a score-only one, the answer is no
    url = "/demo/mod/lti/services.php/CourseSection/2/bindings/1/memberships"
    assert demo_app.test_client().get(url).status_code == 401
    score_only = _access_token(demo_app, ags.SCOPE_SCORE)
    refused = demo_app.test_client().get(url, headers={"Authorization": f"Bearer {score_only}"})
    assert refused.status_code == 403


def test_the_demo_has_a_classroom_course_with_sessions_to_book(demo_app):
    _setup(demo_app.test_client())
    client = demo_app.test_client()
    launched = _launch(client, "learner")
    assert TestLms.landing_path(launched) == "/learner/"
    home = launched.get_data(as_text=True)
    assert "/learner/activities" in home  # the way to the courses
    listing = client.get("/learner/activities?lang=en").get_data(as_text=True)
    found = re.search(r'href="(/learner/activities/\d+)[^"]*">Refresher course', listing)
    assert found, listing
    page = client.get(found.group(1) + "?lang=en").get_data(as_text=True)
    assert "12 of 12 seats free" in page and "2 of 2 seats free" in page
    session_id = re.search(r"/sessions/(\d+)/book", page).group(1)
    response = client.post(f"/sessions/{session_id}/book", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "You have a seat" in client.get(f"/sessions/{session_id}?lang=en").get_data(as_text=True)
    # setting up again adds no more sessions
    assert demo_app.test_cli_runner().invoke(args=["demo", "setup"]).exit_code == 0
    again = client.get(found.group(1) + "?lang=en").get_data(as_text=True)
    assert again.count('<tr id="session-') == 2


def test_the_demo_learners_plan_mixes_e_learning_and_a_classroom_course(demo_app):
    """The method's fourth step in the demo: the all-staff information security asks for
    what the demo's e-learning develops, the medication handling for the refresher course."""
    _setup(demo_app.test_client())
    client = demo_app.test_client()
    assert TestLms.landing_path(_launch(client, "learner")) == "/learner/"
    plan = client.get("/learner/plan?lang=en")
    assert plan.status_code == 200
    html = plan.get_data(as_text=True)
    assert "E-learning: Spotting scams" in html and "Refresher course" in html
    found = re.search(r'href="(/learner/activities/\d+)[^"]*">E-learning: Spotting scams', html)
    assert found, html
    page = client.get(found.group(1) + "?lang=en").get_data(as_text=True)
    assert "E-learning" in page and "30 min" in page
    assert 'href="http://localhost/demo"' in page  # opens the (demo) LMS
    # setting up again adds nothing
    assert demo_app.test_cli_runner().invoke(args=["demo", "setup"]).exit_code == 0
    listing = client.get("/learner/activities?lang=en").get_data(as_text=True)
    assert listing.count(">E-learning: Spotting scams") == 1
