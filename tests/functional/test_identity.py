"""People as the LMS names them: one person per (platform, sub), untrusted text escaped."""

from __future__ import annotations

from sqlalchemy import func, select

from lti_tool.db import get_session
from lti_tool.models import Launch, Person
from tests.fakes.lms import TestLms


def _landing(client, response):
    """The start page answering the launch."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert TestLms.landing_path(response) == "/learner/"
    return TestLms.landing_html(client, response)


def test_names_from_the_lms_are_escaped(app, lms):
    client = TestLms.browser(app)
    evil = '<script>alert("x")</script>'
    html = _landing(
        client,
        lms.signed_launch(client, "learner", change={"name": evil, "email": '"><img src=x>'}),
    )
    assert evil not in html
    assert "&lt;script&gt;alert(" in html


def test_one_person_per_platform_and_sub_updated_on_each_launch(app, lms):
    first = TestLms.browser(app)
    _landing(first, lms.signed_launch(first, "learner", change={"name": "Old Name"}))
    second = TestLms.browser(app)
    html = _landing(second, lms.signed_launch(second, "learner", change={"name": "New Name"}))
    assert "New Name" in html
    with app.app_context():
        session = get_session()
        assert session.scalar(select(func.count()).select_from(Person)) == 1
        assert session.scalar(select(func.count()).select_from(Launch)) == 2
        person = session.scalar(select(Person))
        assert person.name == "New Name"
        assert person.email == "ansatt@demokommune.example"


def test_anonymous_launch_without_name_or_email_still_works(app, lms):
    """Canvas's default privacy level sends neither name nor email."""
    client = TestLms.browser(app)
    html = _landing(
        client,
        lms.signed_launch(client, "learner", remove=("name", "given_name", "family_name", "email")),
    )
    assert lms.platform.launch_claims("learner", nonce="x")["sub"] in html


def test_same_sub_on_two_platforms_is_two_people(app, lms, platform_pem, mocked_http):
    from lti_tool.lti.demo_platform import DemoPlatform
    from lti_tool.services import platforms

    other = DemoPlatform(
        issuer="https://canvas.example",
        client_id="10000000000001",
        deployment_id="canvas-dep",
        private_pem=platform_pem,
        kid="canvas-key",
        tool_launch_url=lms.platform.tool_launch_url,
        tool_login_url=lms.platform.tool_login_url,
    )
    with app.app_context():
        platforms.register_platform(
            get_session(),
            issuer=other.issuer,
            client_id=other.client_id,
            auth_login_url=other.auth_url,
            auth_token_url=other.token_url,
            jwks_url=other.jwks_url,
            organisation_name="Annen kommune",
            deployment_ids=[other.deployment_id],
        )
        get_session().commit()
    canvas = TestLms(other, mocked_http)
    for test_lms in (lms, canvas):
        client = TestLms.browser(app)
        _landing(client, test_lms.launch(client, "learner"))
    with app.app_context():
        people = get_session().scalars(select(Person).order_by(Person.id)).all()
        assert [p.sub for p in people] == ["101", "101"]
        assert people[0].platform_id != people[1].platform_id
        assert people[0].organisation_id != people[1].organisation_id
