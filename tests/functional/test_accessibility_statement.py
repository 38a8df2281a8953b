"""The accessibility statement the universal-design regulation asks for: public, in every
language, linked from every page, with the operator's contact when one is set."""

from __future__ import annotations

import pytest

from lti_tool.settings import SettingsError


@pytest.mark.parametrize(
    ("lang", "title", "authority"),
    [
        ("nb", "Tilgjengelighetserklæring", "kan du melde fra til Tilsynet for universell"),
        ("nn", "Tilgjengelegheitserklæring", "kan du melde frå til Tilsynet for universell"),
        ("en", "Accessibility statement", "Authority for Universal Design of ICT"),
    ],
)
def test_the_statement_is_public_in_every_language(client, lang, title, authority):
    response = client.get(f"/accessibility?lang={lang}")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    assert f"<h1>{title}</h1>" in html
    assert authority in html
    assert 'href="https://www.uutilsynet.no/"' in html
    assert "WCAG 2.1" in html and "PDF" in html  # what is met and what is known not to be


def test_without_a_contact_the_statement_points_to_the_municipality(client):
    html = client.get("/accessibility?lang=en").get_data(as_text=True)

    assert "Tell the municipality that runs your learning platform" in html
    assert "mailto:" not in html


@pytest.mark.parametrize(
    ("contact", "link"),
    [
        ("uu@kommune.example", 'href="mailto:uu@kommune.example"'),
        ("https://kommune.example/uu", 'href="https://kommune.example/uu"'),
    ],
)
def test_the_operators_contact_is_shown(make_app, contact, link):
    app = make_app(ACCESSIBILITY_CONTACT=contact)

    html = app.test_client().get("/accessibility?lang=en").get_data(as_text=True)

    assert link in html
    assert "Tell us what did not work" in html


@pytest.mark.parametrize("contact", ["javascript:alert(1)", "http://kommune.example/uu", "uu"])
def test_a_contact_that_is_neither_an_email_nor_https_is_refused_at_start(make_app, contact):
    with pytest.raises(SettingsError, match="ACCESSIBILITY_CONTACT"):
        make_app(ACCESSIBILITY_CONTACT=contact)


def test_every_page_links_to_the_statement(lms, client):
    landing = lms.landing_page(client, lms.launch(client, "learner"))

    assert landing.status_code == 200
    assert 'href="/accessibility"' in landing.get_data(as_text=True)
    assert 'href="/accessibility"' in client.get("/").get_data(as_text=True)
