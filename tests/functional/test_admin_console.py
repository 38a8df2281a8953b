"""The admin console, driven over HTTP with real launches: platforms and deployments
(enable, disable, delete, move), keys, registration, organisations and regions.

The admin of the test LMS acts for Testkommune, which owns the test LMS's platform.
"""

from __future__ import annotations

import re
import secrets
import shutil
import threading
from typing import Any
from urllib.parse import urlsplit

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import insert, select

from lti_tool.db import get_session
from lti_tool.lti.services import lti_services
from lti_tool.models import (
    Launch,
    Organisation,
    Person,
    Platform,
    Region,
    RegistrationInvite,
    Status,
)
from lti_tool.services import platforms
from tests.fakes.lms import TestLms, csrf_token, parse_forms
from tests.functional.test_deployments import (
    _Rows,
    admin_session,
    deployment,
    deployment_row,
    find_deployment,
    launch_into,
    other_lms,
)
from tests.functional.token_browsing import CookielessTab

SECOND = "kurs-2"  # a second active deployment of the test LMS, for Testkommune


# --- helpers --------------------------------------------------------------------------------


def get_page(browser: Any, url: str) -> str:
    response = browser.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def form_for(page: str, path: str, method: str = "post") -> dict[str, Any]:
    """The page's form whose action is that path (whatever its query string)."""
    for form in parse_forms(page):
        if (form["action"] or "").split("?")[0] == path and form["method"] == method:
            return form
    raise AssertionError(f"no {method} form for {path}")


def has_form(page: str, path: str, method: str = "post") -> bool:
    try:
        form_for(page, path, method)
    except AssertionError:
        return False
    return True


def submit(browser: Any, page: str, path: str, **fields: str) -> Any:
    """Post the page's form for that path with its own fields (the CSRF token) and more."""
    form = form_for(page, path)
    return browser.post(form["action"], data={**form["fields"], **fields})


def follow(browser: Any, response: Any) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)
    return get_page(browser, response.headers["Location"])


def add_platform(
    app: Any,
    lms: TestLms,
    organisation: str = "Testkommune",
    deployments: tuple[str, ...] = (),
) -> int:
    p = lms.platform
    with app.app_context():
        platform = platforms.register_platform(
            get_session(),
            issuer=p.issuer,
            client_id=p.client_id,
            auth_login_url=p.auth_url,
            auth_token_url=p.token_url,
            jwks_url=p.jwks_url,
            organisation_name=organisation,
            deployment_ids=deployments or (p.deployment_id,),
        )
        get_session().commit()
        return platform.id


def admin_token(browser: Any) -> str:
    """A CSRF token of this browser's console (from a page with a form)."""
    return csrf_token(get_page(browser, "/admin/organisations"))


def platforms_pk(app: Any, lms: TestLms) -> int:
    with app.app_context():
        p = lms.platform
        return platforms.find_platform(get_session(), p.issuer, p.client_id).id


def table_rows(page: str) -> list[list[str]]:
    """Each table row of a page as its cells' text."""
    parser = _Rows()
    parser.feed(page)
    return parser.rows


def platform_row(app: Any, pk: int) -> Platform | None:
    with app.app_context():
        return get_session().get(Platform, pk)


def organisation_named(app: Any, name: str) -> Organisation | None:
    with app.app_context():
        return get_session().scalar(select(Organisation).where(Organisation.name == name))


def forged_csrf_token(app: Any, client: Any) -> str:
    """What flask-wtf's csrf_token() would put in a form of this browser's session."""
    with client.session_transaction() as session:
        raw = session.setdefault("csrf_token", secrets.token_hex(20))
    return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(raw)


@pytest.fixture
def second(app: Any, lms: TestLms) -> int:
    """A second active deployment of the test LMS for Testkommune; its primary key."""
    add_platform(app, lms, deployments=(SECOND,))
    return find_deployment(app, lms.platform.issuer, SECOND).id


@pytest.fixture
def admin(app: Any, lms: TestLms) -> Any:
    return admin_session(lms, app)


@pytest.fixture
def own_platform(app: Any, lms: TestLms) -> int:
    with app.app_context():
        found = platforms.find_platform(get_session(), lms.platform.issuer, lms.platform.client_id)
        return found.id


@pytest.fixture
def spare_lms(app: Any, platform_pem: bytes, mocked_http: Any) -> TestLms:
    """Another LMS Testkommune registered, that the admin is not signed in through."""
    spare = other_lms(platform_pem, mocked_http, "https://moodle2.example", "spare-1", "s-1")
    add_platform(app, spare)
    return spare


@pytest.fixture
def other_organisation(app: Any, platform_pem: bytes, mocked_http: Any) -> TestLms:
    """A Canvas registered for Annenkommune, with an active deployment."""
    other = other_lms(
        platform_pem, mocked_http, "https://canvas.example", "client-456", "other-dep-1"
    )
    add_platform(app, other, "Annenkommune")
    return other


# --- overview and pages ----------------------------------------------------------------------


def test_overview_lists_platforms_and_deployments(app, lms, admin, second):
    page = get_page(admin, "/admin/")

    first = deployment_row(page, lms.platform.deployment_id)
    assert first["Organisation"] == "Testkommune"
    assert first["Status"] == "Active"
    assert first["Launches, last 30 days"] == "1"
    # in Norwegian time, the zone named
    assert re.fullmatch(
        r"\d\d?/\d\d?/\d\d, \d\d?:\d\d\W?[AP]M \(Europe/Oslo\)", first["Last launch"]
    )
    assert deployment_row(page, SECOND)["Last launch"] == "never"
    assert "Platforms" in page and lms.platform.issuer in page
    assert re.search(
        r"<h1>Administration</h1>.*<h2>Deployments</h2>.*<h2>Platforms</h2>", page, re.S
    )
    assert 'aria-current="page"' in page


def test_platform_and_deployment_pages(app, lms, admin, own_platform, second):
    page = get_page(admin, f"/admin/platforms/{own_platform}")
    assert lms.platform.client_id in page and lms.platform.jwks_url in page
    assert deployment_row(page, SECOND) is not None
    assert has_form(page, f"/admin/platforms/{own_platform}/disable", "get")
    assert has_form(page, f"/admin/platforms/{own_platform}/delete", "get")

    page = get_page(admin, f"/admin/deployments/{second}")
    assert f"<h1>Deployment {SECOND}</h1>" in page
    assert has_form(page, f"/admin/deployments/{second}/disable", "get")
    assert has_form(page, f"/admin/deployments/{second}/organisation")
    assert '<label for="move-organisation_id">' in page


# --- deployments: disable, enable, delete, move ------------------------------------------------


def test_disabling_a_deployment_refuses_its_launches_until_enabled(app, lms, admin, second):
    assert lms.landing_path(launch_into(lms, TestLms.browser(app), SECOND)) == "/learner/"
    confirm_url = f"/admin/deployments/{second}/disable"
    page = get_page(admin, f"/admin/deployments/{second}")
    confirm = admin.get(
        form_for(page, confirm_url, "get")["action"],
        query_string=form_for(page, confirm_url, "get")["fields"],
    )
    assert confirm.status_code == 200
    confirm_page = confirm.get_data(as_text=True)
    assert f"Disable deployment {SECOND}?" in confirm_page
    assert find_deployment(app, lms.platform.issuer, SECOND).status == Status.ACTIVE  # GET only

    done = follow(admin, submit(admin, confirm_page, confirm_url))

    assert f"Deployment {SECOND} is disabled" in done
    assert find_deployment(app, lms.platform.issuer, SECOND).status == Status.DISABLED
    refused = launch_into(lms, TestLms.browser(app), SECOND)
    assert refused.status_code == 403
    assert "deployment_disabled" in refused.get_data(as_text=True)

    enabled = follow(admin, submit(admin, done, f"/admin/deployments/{second}/enable"))

    assert f"Deployment {SECOND} is enabled." in enabled
    assert find_deployment(app, lms.platform.issuer, SECOND).status == Status.ACTIVE
    assert lms.landing_path(launch_into(lms, TestLms.browser(app), SECOND)) == "/learner/"


def test_disabling_needs_the_csrf_token(app, lms, admin, second):
    assert admin.post(f"/admin/deployments/{second}/disable").status_code == 400
    assert find_deployment(app, lms.platform.issuer, SECOND).status == Status.ACTIVE


def test_admin_cannot_disable_the_deployment_they_are_signed_in_through(app, lms, admin):
    own = find_deployment(app, lms.platform.issuer, lms.platform.deployment_id).id
    page = get_page(admin, f"/admin/deployments/{own}/disable")
    assert "lock you out" in page
    assert not has_form(page, f"/admin/deployments/{own}/disable")

    refused = admin.post(
        f"/admin/deployments/{own}/disable", data={"csrf_token": admin_token(admin)}
    )

    assert refused.status_code == 409
    assert "own_access" in refused.get_data(as_text=True)
    assert find_deployment(app, lms.platform.issuer, lms.platform.deployment_id).status == (
        Status.ACTIVE
    )
    assert admin.get("/admin/").status_code == 200


def test_a_pending_deployment_is_approved_from_its_page(app, lms, admin):
    launch_into(lms, TestLms.browser(app), "cloned-9")
    pending = find_deployment(app, lms.platform.issuer, "cloned-9")
    page = get_page(admin, f"/admin/deployments/{pending.id}")
    assert "Awaiting approval" in page

    submit(admin, page, f"/admin/deployments/{pending.id}/approve")

    assert find_deployment(app, lms.platform.issuer, "cloned-9").status == Status.ACTIVE


def test_deleting_a_deployment_never_launched_through(app, lms, admin):
    launch_into(lms, TestLms.browser(app), "cloned-9")  # recorded pending, not launched
    pending = find_deployment(app, lms.platform.issuer, "cloned-9")
    url = f"/admin/deployments/{pending.id}/delete"
    page = get_page(admin, url)
    assert "Delete deployment cloned-9?" in page
    assert find_deployment(app, lms.platform.issuer, "cloned-9") is not None  # GET only

    done = follow(admin, submit(admin, page, url))

    assert "Deployment cloned-9 is deleted." in done
    assert find_deployment(app, lms.platform.issuer, "cloned-9") is None
    assert deployment_row(done, "cloned-9") is None


def test_deleting_a_used_deployment_is_refused(app, lms, admin, second):
    assert lms.landing_path(launch_into(lms, TestLms.browser(app), SECOND)) == "/learner/"
    url = f"/admin/deployments/{second}/delete"
    page = get_page(admin, url)
    assert "Disable it instead" in page
    assert not has_form(page, url)
    assert has_form(page, f"/admin/deployments/{second}/disable", "get")

    refused = admin.post(url, data={"csrf_token": admin_token(admin)})

    assert refused.status_code == 409
    assert "deployment_in_use" in refused.get_data(as_text=True)
    assert find_deployment(app, lms.platform.issuer, SECOND) is not None


def create_organisation(admin: Any, name: str) -> str:
    """The organisation made through the console's form: the page it lands on."""
    page = submit(admin, get_page(admin, "/admin/organisations"), "/admin/organisations", name=name)
    return str(follow(admin, page))


def test_moving_a_deployment_changes_whom_its_next_launch_acts_for(app, lms, admin, second):
    created = create_organisation(admin, "Flesberg kommune")
    assert "The organisation Flesberg kommune is created." in created
    flesberg = organisation_named(app, "Flesberg kommune")
    page = get_page(admin, f"/admin/deployments/{second}")
    assert f'<option value="{flesberg.id}">Flesberg kommune</option>' in page

    moved = follow(
        admin,
        submit(
            admin, page, f"/admin/deployments/{second}/organisation",
            organisation_id=str(flesberg.id),
        ),
    )  # fmt: skip

    assert f"Deployment {SECOND} now belongs to Flesberg kommune." in moved
    assert find_deployment(app, lms.platform.issuer, SECOND).organisation_id == flesberg.id
    # The admin still manages it: it is on Testkommune's platform.
    assert deployment_row(get_page(admin, "/admin/"), SECOND)["Organisation"] == (
        "Flesberg kommune"
    )
    # An admin launched through it now acts for Flesberg: sees it, not Testkommune's platform.
    flesberg_admin = TestLms.browser(app)
    with deployment(lms, SECOND):
        launched = lms.launch(flesberg_admin, "admin", locale="en")
    assert lms.landed(launched)
    overview = lms.landing_html(flesberg_admin, launched)
    assert "Flesberg kommune" in overview
    assert deployment_row(overview, SECOND) is not None
    assert deployment_row(overview, lms.platform.deployment_id) is None
    assert "No platforms." in overview


def test_a_deployment_people_launched_through_stays_with_its_organisation(app, lms, admin, second):
    """Its people belong to the organisation they launched for, with their data: moved,
    a learner's pages would be closed to them through it (they got "not found")."""
    learner = TestLms.browser(app)
    with deployment(lms, SECOND):
        assert lms.landed(lms.launch(learner, "learner", locale="en"))
    create_organisation(admin, "Flesberg kommune")
    flesberg = organisation_named(app, "Flesberg kommune")
    page = get_page(admin, f"/admin/deployments/{second}")
    assert not has_form(page, f"/admin/deployments/{second}/organisation")
    assert "People have launched the tool through this deployment" in page

    refused = admin.post(
        f"/admin/deployments/{second}/organisation",
        data={"csrf_token": admin_token(admin), "organisation_id": str(flesberg.id)},
    )
    assert refused.status_code == 409
    assert "The deployment cannot be moved" in refused.get_data(as_text=True)
    testkommune = organisation_named(app, "Testkommune")
    assert find_deployment(app, lms.platform.issuer, SECOND).organisation_id == testkommune.id
    with deployment(lms, SECOND):  # the learner still opens their pages through it
        again = lms.launch(learner, "learner", locale="en")
    assert lms.landed(again) and lms.landing_page(learner, again).status_code == 200


@pytest.mark.parametrize("launch_ends", ["commits", "rolls back"])
def test_a_move_waits_for_a_first_launch_under_way_through_the_deployment(
    app, lms, admin, second, launch_ends
):
    """A launch's row holds KEY SHARE on its deployment's row until it commits (the
    foreign key's check), which the move's own UPDATE does not wait for: the move takes
    the row FOR UPDATE first, so it waits, then counts the launch that committed (and is
    refused) or moves a deployment still unused."""
    if app.extensions["db_engine"].dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    create_organisation(admin, "Flesberg kommune")
    flesberg = organisation_named(app, "Flesberg kommune")
    path = f"/admin/deployments/{second}/organisation"
    form = form_for(get_page(admin, f"/admin/deployments/{second}"), path)
    answers: list[Any] = []

    def move() -> None:
        data = {**form["fields"], "organisation_id": str(flesberg.id)}
        answers.append(admin.post(form["action"], data=data))

    with app.extensions["db_engine"].connect() as launching:
        launching.execute(
            insert(Launch).values(
                id="launch-under-way",
                person_id=launching.scalar(select(Person.id).limit(1)),
                deployment_pk=second,
                message_type="LtiResourceLinkRequest",
                permissions=[],
                claims={},
            )
        )
        mover = threading.Thread(target=move)
        mover.start()
        mover.join(0.5)
        assert mover.is_alive()  # waiting for the launch's transaction
        if launch_ends == "commits":
            launching.commit()
        else:
            launching.rollback()
        mover.join(10)
    assert not mover.is_alive()

    (answer,) = answers
    owner = find_deployment(app, lms.platform.issuer, SECOND).organisation_id
    if launch_ends == "commits":
        assert answer.status_code == 409
        assert "The deployment cannot be moved" in answer.get_data(as_text=True)
        assert owner == organisation_named(app, "Testkommune").id
    else:
        assert answer.status_code == 302, answer.get_data(as_text=True)
        assert owner == flesberg.id


def test_moving_a_deployment_to_an_organisation_out_of_reach_is_not_found(
    app, lms, admin, second, other_organisation
):
    annen = organisation_named(app, "Annenkommune")
    page = get_page(admin, f"/admin/deployments/{second}")
    assert "Annenkommune" not in page  # not offered

    refused = submit(
        admin, page, f"/admin/deployments/{second}/organisation", organisation_id=str(annen.id)
    )

    assert refused.status_code == 404
    testkommune = organisation_named(app, "Testkommune")
    assert find_deployment(app, lms.platform.issuer, SECOND).organisation_id == testkommune.id


# --- platforms: disable, enable, delete -------------------------------------------------------


def test_disabling_a_platform_refuses_its_launches_until_enabled(app, admin, spare_lms):
    spare = platforms_pk(app, spare_lms)
    assert spare_lms.landed(spare_lms.launch(TestLms.browser(app)))
    url = f"/admin/platforms/{spare}/disable"
    page = get_page(admin, url)
    assert "Disable the platform moodle2.example?" in page
    assert platform_row(app, spare).status == Status.ACTIVE  # GET only

    done = follow(admin, submit(admin, page, url))

    assert "is disabled" in done
    assert platform_row(app, spare).status == Status.DISABLED
    refused = spare_lms.login(TestLms.browser(app)).response
    assert refused.status_code == 403
    assert "platform_disabled" in refused.get_data(as_text=True)

    follow(admin, submit(admin, done, f"/admin/platforms/{spare}/enable"))

    assert platform_row(app, spare).status == Status.ACTIVE
    assert spare_lms.landed(spare_lms.launch(TestLms.browser(app)))


def test_admin_cannot_disable_the_platform_they_are_signed_in_through(app, admin, own_platform):
    page = get_page(admin, f"/admin/platforms/{own_platform}/disable")
    assert "lock you out" in page

    refused = admin.post(
        f"/admin/platforms/{own_platform}/disable", data={"csrf_token": admin_token(admin)}
    )

    assert refused.status_code == 409
    assert platform_row(app, own_platform).status == Status.ACTIVE


def test_deleting_an_unused_platform_removes_it_and_its_deployments(app, admin, spare_lms):
    spare = platforms_pk(app, spare_lms)
    url = f"/admin/platforms/{spare}/delete"
    page = get_page(admin, url)
    assert "removes the platform and its 1 deployment" in page
    assert platform_row(app, spare) is not None  # GET only

    done = follow(admin, submit(admin, page, url))

    assert "The platform moodle2.example is deleted." in done
    assert platform_row(app, spare) is None
    assert find_deployment(app, spare_lms.platform.issuer, "s-1") is None
    refused = spare_lms.login(TestLms.browser(app))
    assert refused.response.status_code == 403  # unknown platform now
    assert "unknown_platform" in refused.response.get_data(as_text=True)


def test_deleting_a_used_platform_is_refused_disable_instead(app, admin, spare_lms):
    spare = platforms_pk(app, spare_lms)
    assert spare_lms.landed(spare_lms.launch(TestLms.browser(app)))
    url = f"/admin/platforms/{spare}/delete"
    page = get_page(admin, url)
    assert "1 person has used the tool" in page
    assert "Disable it instead" in page
    assert not has_form(page, url)
    assert has_form(page, f"/admin/platforms/{spare}/disable", "get")

    refused = admin.post(url, data={"csrf_token": admin_token(admin)})

    assert refused.status_code == 409
    assert "platform_in_use" in refused.get_data(as_text=True)
    assert platform_row(app, spare) is not None
    assert spare_lms.landed(spare_lms.launch(TestLms.browser(app)))


# --- scope: another organisation's admin ------------------------------------------------------


def test_another_organisations_admin_neither_sees_nor_touches(
    app, lms, second, own_platform, other_organisation
):
    stranger = admin_session(other_organisation, app)
    overview = get_page(stranger, "/admin/")
    assert deployment_row(overview, "other-dep-1") is not None
    assert lms.platform.issuer not in overview and SECOND not in overview
    assert "Testkommune" not in get_page(stranger, "/admin/organisations")
    token = csrf_token(get_page(stranger, "/admin/organisations"))
    testkommune = organisation_named(app, "Testkommune")

    pages = [
        f"/admin/platforms/{own_platform}",
        f"/admin/platforms/{own_platform}/disable",
        f"/admin/platforms/{own_platform}/delete",
        f"/admin/deployments/{second}",
        f"/admin/deployments/{second}/disable",
        f"/admin/deployments/{second}/delete",
        f"/admin/organisations/{testkommune.id}",
    ]
    for url in pages:
        assert stranger.get(url).status_code == 404, url
    actions = {
        f"/admin/platforms/{own_platform}/disable": {},
        f"/admin/platforms/{own_platform}/enable": {},
        f"/admin/platforms/{own_platform}/delete": {},
        f"/admin/deployments/{second}/approve": {},
        f"/admin/deployments/{second}/disable": {},
        f"/admin/deployments/{second}/enable": {},
        f"/admin/deployments/{second}/delete": {},
        f"/admin/deployments/{second}/organisation": {
            "organisation_id": str(organisation_named(app, "Annenkommune").id)
        },
        f"/admin/organisations/{testkommune.id}": {"name": "Stolen", "region_id": ""},
    }
    for url, data in actions.items():
        response = stranger.post(url, data={"csrf_token": token, **data})
        assert response.status_code == 404, url
        assert "<code>not_found</code>" in response.get_data(as_text=True)

    assert platform_row(app, own_platform).status == Status.ACTIVE
    moved = find_deployment(app, lms.platform.issuer, SECOND)
    assert (moved.status, moved.organisation_id) == (Status.ACTIVE, testkommune.id)
    assert organisation_named(app, "Testkommune") is not None
    assert lms.landing_path(launch_into(lms, TestLms.browser(app), SECOND)) == "/learner/"


def test_a_regional_platform_owner_manages_deployments_of_other_municipalities(
    app, lms, admin, other_organisation
):
    """Deployments on the owner's platform are managed by the owner, and by the
    organisation they belong to; the latter does not get the platform."""
    add_platform(app, lms, "Annenkommune", deployments=("annen-kurs",))
    annen_kurs = find_deployment(app, lms.platform.issuer, "annen-kurs")
    assert annen_kurs.organisation_id == organisation_named(app, "Annenkommune").id
    assert deployment_row(get_page(admin, "/admin/"), "annen-kurs") is not None
    assert get_page(admin, f"/admin/deployments/{annen_kurs.id}")

    stranger = admin_session(other_organisation, app)
    overview = get_page(stranger, "/admin/")
    assert deployment_row(overview, "annen-kurs") is not None
    assert get_page(stranger, f"/admin/deployments/{annen_kurs.id}")
    own_platform = platforms_pk(app, lms)
    assert stranger.get(f"/admin/platforms/{own_platform}").status_code == 404


# --- non-admins ---------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["learner", "designer", "manager"])
def test_non_admins_are_refused_every_admin_route(app, lms, second, own_platform, persona):
    organisation = organisation_named(app, "Testkommune")
    values = {
        "platform_pk": own_platform,
        "deployment_pk": second,
        "organisation_pk": organisation.id,
        "delivery_id": 1,
        "read_id": 1,
        "grant_id": 1,
    }
    client = TestLms.browser(app)
    assert lms.landed(lms.launch(client, persona))
    token = forged_csrf_token(app, client)
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin."):
            continue
        url = rule.build({k: v for k, v in values.items() if k in rule.arguments})[1]
        if "GET" in rule.methods:
            assert client.get(url).status_code == 403, url
        if "POST" in rule.methods:
            data = {"csrf_token": token, "name": "X", "organisation_id": str(organisation.id)}
            response = client.post(url, data=data)
            assert response.status_code == 403, url
            assert "<code>forbidden</code>" in response.get_data(as_text=True)
        checked += 1
    assert checked > 20
    deployment = find_deployment(app, lms.platform.issuer, SECOND)
    assert deployment.status == Status.ACTIVE
    assert platform_row(app, own_platform).status == Status.ACTIVE
    assert organisation_named(app, "X") is None


# --- keys ---------------------------------------------------------------------------------------


@pytest.fixture
def own_keys(app, tmp_path, monkeypatch):
    """The app's key ring in a folder of this test's own (the session's keys stay as they are)."""
    keyring = app.extensions["lti"].keyring
    folder = tmp_path / "keys"
    shutil.copytree(keyring.keys_dir, folder)
    monkeypatch.setattr(keyring, "keys_dir", folder)
    return keyring


def test_rotating_the_key_keeps_the_previous_one_published(app, admin, own_keys):
    (old,) = own_keys.all_keys()
    page = get_page(admin, "/admin/keys")
    assert old.kid in page and "Signs" in page
    confirm = get_page(admin, "/admin/keys/rotate")
    assert "Rotate the tool's key?" in confirm
    assert len(own_keys.all_keys()) == 1  # GET only

    done = follow(admin, submit(admin, confirm, "/admin/keys/rotate"))

    keys = own_keys.all_keys()
    assert len(keys) == 2
    new = keys[-1]
    assert f"The new key {new.kid} signs from now on." in done
    rows = {
        cells[0]: cells for cells in table_rows(done) if cells and cells[0] in (old.kid, new.kid)
    }
    assert rows[new.kid][3] == "Signs" and rows[new.kid][4] == "Yes"
    assert rows[old.kid][3] == "Replaced" and rows[old.kid][4].startswith("Yes, until")
    with app.app_context():
        assert lti_services().keyring.keys_dir == own_keys.keys_dir
    published = app.test_client().get("/lti/jwks.json").get_json()
    # the LTI keys; an Open Badges issuer key (a URL kid) is there once a test has issued
    lti_kids = [k["kid"] for k in published["keys"] if not k["kid"].startswith("https://")]
    assert lti_kids == [old.kid, new.kid]


def test_rotating_needs_a_post_with_the_csrf_token(admin, own_keys):
    assert admin.post("/admin/keys/rotate").status_code == 400
    assert len(own_keys.all_keys()) == 1


# --- registration -------------------------------------------------------------------------------


def test_new_registration_url_is_shown_once_and_opens_registration(app, admin):
    page = get_page(admin, "/admin/registration")
    response = submit(admin, page, "/admin/registration/url", expires_in="1440")

    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    shown = response.get_data(as_text=True)
    found = re.search(r'value="(https://tool\.example/lti/register/[^"]+)"', shown)
    assert found, shown
    url = found.group(1)
    assert "Testkommune" in shown
    with app.app_context():
        (invite,) = get_session().scalars(select(RegistrationInvite)).all()
        assert invite.organisation.name == "Testkommune"
        assert invite.secret_hash not in url
    assert url not in get_page(admin, "/admin/registration")  # shown only that once

    path = urlsplit(url).path
    opened = TestLms.browser(app).get(path)  # not opened by a platform: no openid_configuration
    assert opened.status_code == 400
    assert "registration_missing_parameter" in opened.get_data(as_text=True)
    assert TestLms.browser(app).get(path + "x").status_code == 403  # another secret: refused


def test_registration_url_lifetime_must_be_one_offered(app, admin):
    page = get_page(admin, "/admin/registration")
    response = submit(admin, page, "/admin/registration/url", expires_in="999999")
    assert response.status_code == 422
    assert 'id="invite-expires_in-error"' in response.get_data(as_text=True)
    with app.app_context():
        assert not get_session().scalars(select(RegistrationInvite)).all()


MANUAL = {
    "issuer": "https://moodle.flesberg.example",
    "client_id": "flesberg-1",
    "auth_login_url": "https://moodle.flesberg.example/mod/lti/auth.php",
    "auth_token_url": "https://moodle.flesberg.example/mod/lti/token.php",
    "jwks_url": "https://moodle.flesberg.example/mod/lti/certs.php",
    "deployment_ids": "3, 4\n5\n",
}


def test_manual_registration_shows_errors_by_the_fields(app, admin):
    page = get_page(admin, "/admin/registration")
    for name in ("issuer", "client_id", "auth_login_url", "jwks_url", "deployment_ids"):
        assert f'<label for="manual-{name}">' in page

    response = submit(
        admin,
        page,
        "/admin/registration",
        **{**MANUAL, "issuer": "moodle.flesberg.example", "client_id": "  ", "jwks_url": ""},
    )

    assert response.status_code == 422
    shown = response.get_data(as_text=True)
    assert 'role="alert"' in shown
    for name, message in [
        ("issuer", "Enter a full address that starts with https://"),
        ("client_id", "Fill this in."),
        ("jwks_url", "Fill this in."),
    ]:
        error = re.search(
            rf'<p class="field-error" id="manual-{name}-error">(.*?)</p>', shown, re.S
        )
        assert error and message in error.group(1), name
        field = re.search(rf'<input id="manual-{name}"[^>]*>', shown).group(0)
        assert 'aria-describedby="' in field and f"manual-{name}-error" in field
        assert 'aria-invalid="true"' in field
    ok = re.search(r'<input id="manual-auth_login_url"[^>]*>', shown).group(0)
    assert "aria-invalid" not in ok and MANUAL["auth_login_url"] in ok  # kept as typed
    with app.app_context():
        assert platforms.find_platform(get_session(), MANUAL["issuer"], "flesberg-1") is None


def test_manual_registration_registers_a_platform_for_the_admins_organisation(
    app, admin, platform_pem, mocked_http
):
    page = get_page(admin, "/admin/registration")

    done = follow(admin, submit(admin, page, "/admin/registration", **MANUAL))

    assert "is registered with 3 deployments." in done
    with app.app_context():
        platform = platforms.find_platform(get_session(), MANUAL["issuer"], "flesberg-1")
        assert platform.organisation.name == "Testkommune"
        assert platform.registered_via == "manual"
        assert [d.deployment_id for d in platform.deployments] == ["3", "4", "5"]
        assert {d.status for d in platform.deployments} == {Status.ACTIVE}
    for deployment_id in ("3", "4", "5"):
        assert deployment_row(done, deployment_id) is not None


def test_manual_registration_of_another_organisations_platform_is_refused(
    app, admin, other_organisation
):
    p = other_organisation.platform
    page = get_page(admin, "/admin/registration")

    response = submit(
        admin, page, "/admin/registration",
        issuer=p.issuer, client_id=p.client_id,
        auth_login_url="https://evil.example/auth", auth_token_url="https://evil.example/token",
        jwks_url="https://evil.example/jwks", deployment_ids="mine",
    )  # fmt: skip

    assert response.status_code == 422
    shown = response.get_data(as_text=True)
    error = re.search(r'id="manual-client_id-error">(.*?)</p>', shown, re.S)
    assert error and "already registered by another organisation" in error.group(1)
    with app.app_context():
        platform = platforms.find_platform(get_session(), p.issuer, p.client_id)
        assert platform.jwks_url == p.jwks_url
        assert [d.deployment_id for d in platform.deployments] == ["other-dep-1"]


# --- organisations and regions ------------------------------------------------------------------


def test_regions_and_organisations_from_the_console(app, admin):
    regions = get_page(admin, "/admin/regions")
    assert "No regions." in regions
    done = follow(admin, submit(admin, regions, "/admin/regions", name="Kongsbergregionen"))
    assert "The region Kongsbergregionen is created." in done

    duplicate = submit(admin, done, "/admin/regions", name=" Kongsbergregionen ")
    assert duplicate.status_code == 422
    assert "Another region already has this name." in duplicate.get_data(as_text=True)
    empty = submit(admin, done, "/admin/regions", name="   ")
    assert empty.status_code == 422
    assert 'id="region-name-error"' in empty.get_data(as_text=True)

    testkommune = organisation_named(app, "Testkommune")
    region = _region(app, "Kongsbergregionen")
    page = get_page(admin, f"/admin/organisations/{testkommune.id}")
    saved = follow(
        admin,
        submit(
            admin, page, f"/admin/organisations/{testkommune.id}",
            name="Testkommune og omegn", region_id=str(region.id),
        ),
    )  # fmt: skip
    assert "The organisation Testkommune og omegn is saved." in saved
    renamed = organisation_named(app, "Testkommune og omegn")
    assert renamed is not None and renamed.region_id == region.id
    members = table_rows(get_page(admin, "/admin/regions"))
    assert ["Kongsbergregionen", "Testkommune og omegn"] in members

    page = get_page(admin, f"/admin/organisations/{testkommune.id}")
    follow(
        admin,
        submit(
            admin, page, f"/admin/organisations/{testkommune.id}",
            name="Testkommune og omegn", region_id="",
        ),
    )  # fmt: skip
    assert organisation_named(app, "Testkommune og omegn").region_id is None


def test_an_organisation_name_in_use_is_refused_by_the_field(app, admin, other_organisation):
    page = get_page(admin, "/admin/organisations")
    duplicate = submit(admin, page, "/admin/organisations", name="Annenkommune")
    assert duplicate.status_code == 422
    shown = duplicate.get_data(as_text=True)
    assert re.search(
        r'id="organisation-name-error">.*Another organisation already has this name', shown, re.S
    )

    testkommune = organisation_named(app, "Testkommune")
    page = get_page(admin, f"/admin/organisations/{testkommune.id}")
    rename = submit(
        admin, page, f"/admin/organisations/{testkommune.id}", name="Annenkommune", region_id=""
    )
    assert rename.status_code == 422
    assert "Another organisation already has this name." in rename.get_data(as_text=True)
    assert organisation_named(app, "Testkommune") is not None


def test_an_admin_manages_the_organisations_of_deployments_on_their_platforms(
    app, lms, admin, other_organisation
):
    add_platform(app, lms, "Annenkommune", deployments=("annen-kurs",))
    annen = organisation_named(app, "Annenkommune")
    listed = get_page(admin, "/admin/organisations")
    assert "Annenkommune" in listed
    page = get_page(admin, f"/admin/organisations/{annen.id}")

    follow(
        admin,
        submit(admin, page, f"/admin/organisations/{annen.id}", name="Annen", region_id=""),
    )

    assert organisation_named(app, "Annen") is not None


def _region(app: Any, name: str) -> Region:
    with app.app_context():
        return get_session().scalar(select(Region).where(Region.name == name))


# --- without cookies -----------------------------------------------------------------------------


def test_confirmation_flow_works_without_cookies(app, lms, second):
    """Inside an iframe that drops cookies: the link and the GET form by POST navigation,
    the POST form with the launch token in its body; never the token in a URL."""
    admin = TestLms.cookieless_browser(app)
    launched = lms.storage_launch(admin, "admin")
    assert lms.landed(launched), launched.get_data(as_text=True)
    tab = CookielessTab(app, launched)
    manage = re.search(rf'href="(/admin/deployments/{second})"', tab.html).group(1)
    page = tab.navigate(manage).get_data(as_text=True)
    form = form_for(page, f"/admin/deployments/{second}/disable", "get")
    assert "lt" not in form["fields"]
    confirm = tab.navigate(form["action"])
    assert confirm.status_code == 200, confirm.get_data(as_text=True)

    done = tab.submit(form_for(tab.html, f"/admin/deployments/{second}/disable"))

    assert done.status_code == 200, done.get_data(as_text=True)  # the redirect, carried over
    assert tab.visited[-1][0].startswith("/admin/")
    assert find_deployment(app, lms.platform.issuer, SECOND).status == Status.DISABLED


# --- what an admin may not reach: organisations and regions of others --------------------


def test_an_organisation_made_on_the_command_line_is_out_of_an_admins_reach(
    app, lms, admin, second
):
    """The operator's new municipality is not something any LMS admin can move into."""
    result = app.test_cli_runner().invoke(args=["organisation", "add", "Bergen"])
    assert result.exit_code == 0, result.output
    bergen = organisation_named(app, "Bergen")
    assert bergen is not None
    assert "Bergen" not in get_page(admin, "/admin/organisations")
    page = get_page(admin, f"/admin/deployments/{second}")
    assert f'value="{bergen.id}"' not in page
    refused = submit(
        admin, page, f"/admin/deployments/{second}/organisation", organisation_id=str(bergen.id)
    )
    assert refused.status_code == 404


def test_regions_of_others_are_neither_listed_nor_joinable(app, lms, admin):
    for args in (["region", "add", "Vestlandet"], ["organisation", "add", "Annenkommune"]):
        assert app.test_cli_runner().invoke(args=args).exit_code == 0
    assert (
        app.test_cli_runner()
        .invoke(args=["organisation", "set-region", "Annenkommune", "--region", "Vestlandet"])
        .exit_code
        == 0
    )
    regions_page = get_page(admin, "/admin/regions")
    assert "Vestlandet" not in regions_page and "Annenkommune" not in regions_page
    own = organisation_named(app, "Testkommune")
    with app.app_context():
        vestlandet = get_session().scalar(select(Region).where(Region.name == "Vestlandet"))
        assert vestlandet is not None
        vestlandet_id = vestlandet.id
    page = get_page(admin, f"/admin/organisations/{own.id}")
    assert "Vestlandet" not in page
    refused = submit(
        admin, page, f"/admin/organisations/{own.id}", name="Testkommune",
        region_id=str(vestlandet_id),
    )  # fmt: skip
    assert refused.status_code == 404

    created = submit(admin, regions_page, "/admin/regions", name="Kongsbergregionen")
    assert created.status_code == 302
    page = get_page(admin, f"/admin/organisations/{own.id}")
    assert "Kongsbergregionen" in page
