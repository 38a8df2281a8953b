"""Certification from end to end, as the issue checks it: a learner meets a certification's
rules in a fresh organisation and gets exactly one certificate; its PDF text and QR link
are read back; its VC-JWT verifies against the tool's JWKS with an independent verifier
(joserfc); a tampered copy, an expired one and a revoked one each show as such."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
from typing import Any

import pytest
import segno
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lti_tool import clock
from lti_tool.credentials import status_list
from lti_tool.db import get_session
from lti_tool.models import AuditEvent, Certificate
from tests.conftest import TOOL_BASE_URL
from tests.fakes.lms import TestLms, csrf_token, parse_forms
from tests.fakes.mappings import designer_browser, post_form
from tests.functional.test_mapping_flow import NURSE_RIGHT, build_mapping
from tests.unit.test_certificate_pdf import qr_read_back

#: The certification trail's events in the audit log.
CERTIFICATE_EVENTS = AuditEvent.object_type == "certificate"
MONTH = dt.timedelta(days=30)


def _location_id(response: Any, pattern: str) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)
    found = re.search(pattern, response.headers["Location"])
    assert found, response.headers["Location"]
    return int(found.group(1))


def build_certification(app: Any, lms: TestLms, care: dict[str, Any]) -> dict[str, Any]:
    """Medication handling, as the issue describes it: the mapping passed (the e-learning's
    test), legemidler shown at level 2, and a supervised practical test at work; valid four
    years; renewal 90 days ahead by retaking the mapping OR attending a refresher."""
    mapping_id = build_mapping(app, lms, care)
    designer = designer_browser(app, lms)
    courses = {}
    for code, title, kind in (
        ("praksis", "Praktisk prøve i legemiddelhåndtering", "practical"),
        ("oppfrisking", "Oppfriskingskurs legemidler", "classroom"),
    ):
        response = post_form(
            designer, "/designer/courses", "/designer/courses", code=code, title_nb=title, kind=kind
        )
        assert response.status_code == 302, response.get_data(as_text=True)
    page = designer.get("/designer/courses").get_data(as_text=True)
    for code in ("praksis", "oppfrisking"):
        courses[code] = int(
            re.search(rf"/designer/courses/(\d+)[^>]*><code>{code}<", page).group(1)
        )
    response = post_form(
        designer,
        "/designer/certifications",
        "/designer/certifications",
        code="legemiddel",
        title_nb="Legemiddelhåndtering",
        title_en="Medication handling",
        description_nb="Kompetanse i sikker legemiddelhåndtering.",
        achievement_type="Certificate",
        validity_months="48",
        renewal_window_days="90",
        minimum_active_days="",
    )
    certification_id = _location_id(response, r"/designer/certifications/(\d+)")
    base = f"/designer/certifications/{certification_id}"
    legemidler = care["competences"]["legemidler"]
    for kind, fields in (
        (
            "earn",
            {
                "operator": "all",
                "target_1": f"mapping:{mapping_id}",
                "target_2": f"competence:{legemidler}",
                "level_2": "2",
                "target_3": f"course:{courses['praksis']}",
            },
        ),
        ("renew", {"operator": "all", "target_1": f"mapping:{mapping_id}"}),
        ("renew", {"operator": "any", "target_1": f"course:{courses['oppfrisking']}"}),
    ):
        response = post_form(
            designer, f"{base}/paths/{kind}/new", f"{base}/paths/{kind}/new", **fields
        )
        assert response.status_code == 302, response.get_data(as_text=True)
    response = post_form(designer, base, f"{base}/status/published")
    assert response.status_code == 302, response.get_data(as_text=True)
    return {"id": certification_id, "mapping_id": mapping_id, "courses": courses}


def record_attendance(
    app: Any, lms: TestLms, course_id: int, *person_ids: int, on: str = ""
) -> Any:
    manager = TestLms.browser(app)  # of the whole organisation: its admin
    assert lms.landed(lms.launch(manager, "admin", locale="en"))
    return post_form(
        manager,
        f"/designer/courses/{course_id}",
        f"/designer/courses/{course_id}/attendance",
        attended_on=on or clock.now().date().isoformat(),
        person_ids=[str(p) for p in person_ids],
    )


def person_id(app: Any, sub: str) -> int:
    from lti_tool.models import Person

    with app.app_context():
        return get_session().scalar(select(Person.id).where(Person.sub == sub))


def certificates_in_db(app: Any) -> list[Certificate]:
    with app.app_context():
        return list(get_session().scalars(select(Certificate).order_by(Certificate.id)))


def learner_browser(app: Any, lms: TestLms, persona: str = "learner") -> Any:
    browser = TestLms.browser(app)
    assert lms.landed(lms.launch(browser, persona, locale="en"))
    return browser


def jwks(browser: Any) -> KeySet:
    return KeySet.import_key_set(browser.get("/lti/jwks.json").get_json())


def verify_upload(browser: Any, text: str) -> dict[str, Any]:
    response = browser.post("/verify?format=json", data={"credential": text})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _tamper(token: str, change: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    change(claims)
    raw = json.dumps(claims, ensure_ascii=False).encode()
    return ".".join([header, base64.urlsafe_b64encode(raw).rstrip(b"=").decode(), signature])


def test_meeting_the_rules_issues_one_certificate_that_verifies_everywhere(app, lms, care):
    built = build_certification(app, lms, care)
    # the learner passes the mapping: one of three conditions met, no certificate yet
    _take_mapping(app, lms, built, "learner", NURSE_RIGHT)
    assert certificates_in_db(app) == []
    browser = learner_browser(app, lms)
    progress = browser.get("/certificates/").get_data(as_text=True)
    assert "Way to earn 1" in progress
    assert progress.count("Done") == 2 and "Not yet" in progress

    # the supervised practical test is recorded by the manager: the rules are met at once
    learner_id = person_id(app, "101")
    response = record_attendance(app, lms, built["courses"]["praksis"], learner_id)
    assert response.status_code == 302, response.get_data(as_text=True)
    issued = certificates_in_db(app)
    assert len(issued) == 1
    certificate = issued[0]
    assert certificate.cycle == 1 and certificate.method == "automatic"
    assert certificate.expires_at - certificate.issued_at > dt.timedelta(days=4 * 365)
    # recording it again, or another evidence change, issues nothing more
    record_attendance(app, lms, built["courses"]["praksis"], learner_id)
    _take_mapping(app, lms, built, "learner", NURSE_RIGHT)
    assert len(certificates_in_db(app)) == 1
    with app.app_context():
        events = (
            get_session()
            .scalars(
                select(AuditEvent)
                .where(CERTIFICATE_EVENTS)
                .options(selectinload(AuditEvent.people))
            )
            .all()
        )
        assert [(e.action, e.actor_person_id, e.actor_label) for e in events] == [
            ("issue", None, "system")
        ]
        assert events[0].object_id == str(certificate.id)
        assert [p.person_id for p in events[0].people] == [learner_id]

    # the start page shows it green
    home = browser.get("/learner/").get_data(as_text=True)
    assert 'class="status status-valid">Valid<' in home
    assert "Legemiddelhåndtering" in home or "Medication handling" in home

    # the PDF: text read back, QR code and link lead to the verification page
    pdf = browser.get(f"/certificates/{certificate.id}/certificate.pdf?lang=en")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.data))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    verify_url = f"{TOOL_BASE_URL}/verify/{certificate.code}"
    for expected in (
        "Demo Ansatt",
        "Legemiddelhåndtering",
        "Testkommune",
        certificate.code,
        verify_url,
        "This is to certify that",
        "Valid until",
    ):
        assert expected in text, (expected, text)
    assert "ansatt@demokommune.example" not in text
    # in the learner's language: bokmål and nynorsk too
    for lang, words in (
        ("nb", ("Kursbevis", "Det bekreftes med dette at", "Kontrollkode", "Gyldig til")),
        ("nn", ("Kursbevis", "Med dette blir det stadfesta at", "Kontrollkode")),
    ):
        translated = browser.get(f"/certificates/{certificate.id}/certificate.pdf?lang={lang}")
        pages = PdfReader(io.BytesIO(translated.data)).pages
        words_found = " ".join(" ".join(page.extract_text() for page in pages).split())
        assert all(word in words_found for word in words), (lang, words_found)
    uris = {
        annotation.get_object()["/A"]["/URI"]
        for page in reader.pages
        for annotation in page.get("/Annots") or []
    }
    assert uris == {verify_url}
    assert _qr_matrix(reader) == [list(r) for r in segno.make_qr(verify_url, error="m").matrix]

    # the link works for anyone, without a launch, and shows the minimum
    anyone = TestLms.browser(app)
    page = anyone.get(verify_url.removeprefix(TOOL_BASE_URL) + "?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "This certificate is genuine and valid." in html and "Demo Ansatt" in html
    assert "ansatt@" not in html
    as_json = anyone.get(f"/verify/{certificate.code}", headers={"Accept": "application/json"})
    body = as_json.get_json()
    assert body["status"] == "valid" and body["holder"] == "Demo Ansatt"
    assert "ansatt@" not in json.dumps(body)
    assert set(body) == {
        "status",
        "code",
        "holder",
        "achievement",
        "achievement_type",
        "issuer",
        "issued_at",
        "valid_until",
        "revoked_at",
        "renewed",
        "credential_id",
    }
    # typed by hand, in lower case without dashes
    typed = anyone.get("/verify?code=" + certificate.code.replace("-", " ").lower())
    assert typed.status_code == 302 and typed.headers["Location"].endswith(certificate.code)

    # the Open Badges credential: verified by joserfc against the tool's JWKS
    token = browser.get(f"/certificates/{certificate.id}/credential.jwt").get_data(as_text=True)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    assert header["kid"].startswith(f"{TOOL_BASE_URL}/ob/keys/")
    decoded = jose_jwt.decode(token, jwks(anyone), algorithms=["RS256"])
    claims = decoded.claims
    assert claims["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
    assert claims["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert claims["issuer"]["type"] == ["Profile"] and claims["issuer"]["name"] == "Testkommune"
    assert claims["iss"] == claims["issuer"]["id"] and claims["jti"] == claims["id"]
    subject = claims["credentialSubject"]
    assert claims["sub"] == subject["id"] and subject["id"].startswith("urn:uuid:")
    assert subject["identifier"][0]["identityHash"] == "Demo Ansatt"
    achievement = subject["achievement"]
    assert achievement["achievementType"] == "Certificate"
    assert achievement["criteria"]["narrative"]
    # in the holder's language at issue (English, from the launch)
    assert [a["targetName"] for a in achievement["alignment"]] == ["Legemiddelhåndtering (en)"]
    assert achievement["alignment"][0]["targetType"] == "CFItem"
    assert claims["validFrom"] and claims["validUntil"] and claims["exp"] > claims["nbf"]
    assert claims["credentialStatus"]["type"] == "BitstringStatusListEntry"
    assert "ansatt@" not in json.dumps(claims)
    # the bare key the kid names, and the issuer profile, resolve
    assert anyone.get(header["kid"].removeprefix(TOOL_BASE_URL)).get_json()["kid"] == header["kid"]
    profile = anyone.get(claims["issuer"]["id"].removeprefix(TOOL_BASE_URL)).get_json()
    assert profile["name"] == "Testkommune"
    achievement_doc = anyone.get(achievement["id"].removeprefix(TOOL_BASE_URL)).get_json()
    assert achievement_doc["achievementType"] == "Certificate"
    # the JSON download is exactly what was signed
    as_file = browser.get(f"/certificates/{certificate.id}/credential.json").get_json()
    assert as_file == {
        k: v for k, v in claims.items() if k not in ("iss", "jti", "sub", "nbf", "exp")
    }
    # the same token twice: signed once
    again = browser.get(f"/certificates/{certificate.id}/credential.jwt").get_data(as_text=True)
    assert again == token

    # brought back: genuine, then tampered (as .jwt and as .json)
    assert verify_upload(anyone, token)["status"] == "valid"
    assert verify_upload(anyone, json.dumps(as_file))["status"] == "valid"

    def rename(c: dict) -> None:
        c["credentialSubject"]["identifier"][0]["identityHash"] = "Someone Else"

    assert verify_upload(anyone, _tamper(token, rename))["status"] == "tampered"
    altered = json.loads(json.dumps(as_file))
    altered["validUntil"] = "2099-01-01T00:00:00Z"
    assert verify_upload(anyone, json.dumps(altered))["status"] == "tampered"
    assert verify_upload(anyone, "not a credential")["status"] == "tampered"
    page = anyone.post("/verify?lang=en", data={"credential": _tamper(token, rename)})
    assert "This credential has been changed after it was issued" in page.get_data(as_text=True)


def _take_mapping(app: Any, lms: TestLms, built: dict[str, Any], persona: str, answers: Any) -> Any:
    """Launch a link that names the certification's mapping, answer every item, submit."""
    browser = TestLms.browser(app)
    response = lms.signed_launch(browser, persona, change=_custom_mapping())
    return _answer_all(browser, TestLms.landing_path(response), answers)


def _custom_mapping() -> dict[str, Any]:
    from lti_tool.lti import claims as c

    return {c.CUSTOM: {"mapping": "sykepleier-kartlegging"}}


def _answer_all(browser: Any, location: str, answers: Any, *, submit: bool = True) -> Any:
    """Start (or continue) the mapping at ``location``, answer every item and submit; with
    ``submit=False``, return the review page's submit form instead."""
    from tests.functional.test_mapping_flow import answer, option_values

    start = browser.get(location).get_data(as_text=True)
    form = next(f for f in parse_forms(start) if "/attempts" in (f["action"] or ""))
    response = browser.post(form["action"], data=form["fields"])
    location = response.headers["Location"]
    while "/items/" in location:
        html = browser.get(location).get_data(as_text=True)
        stem = next(s for s in answers if s in html)
        value = answers[stem]
        if isinstance(value, str) and not value.replace(",", "").isdigit():
            value = option_values(browser, location)[value]
        elif isinstance(value, list):
            options = option_values(browser, location)
            value = [options[v] for v in value]
        location = answer(browser, location, value).headers["Location"]
    review = browser.get(location).get_data(as_text=True)
    submit_form = next(f for f in parse_forms(review) if "/submit" in (f["action"] or ""))
    if not submit:
        return submit_form
    done = browser.post(submit_form["action"], data=submit_form["fields"])
    assert done.status_code == 302, done.get_data(as_text=True)
    return done


def _qr_matrix(reader: PdfReader) -> list[list[int]]:
    """The QR code drawn on the first page, rebuilt from its rectangles."""
    dark, _module = qr_read_back(reader.pages[0])
    size = max(max(r, c) for r, c in dark) + 1
    return [[int((row, col) in dark) for col in range(size)] for row in range(size)]


def earn(app: Any, lms: TestLms, care: dict[str, Any], persona: str = "learner") -> Any:
    """Build the certification and let ``persona`` meet it; returns (built, certificate)."""
    built = build_certification(app, lms, care)
    _take_mapping(app, lms, built, persona, NURSE_RIGHT)
    sub = {"learner": "101", "learner2": "104", "learner3": "105"}[persona]
    record_attendance(app, lms, built["courses"]["praksis"], person_id(app, sub))
    (certificate,) = certificates_in_db(app)
    return built, certificate


def admin_browser(app: Any, lms: TestLms) -> Any:
    browser = TestLms.browser(app)
    assert lms.landed(lms.launch(browser, "admin", locale="en"))
    return browser


def test_an_expired_certificate_shows_expired_and_its_credential_too(app, lms, care, monkeypatch):
    _built, certificate = earn(app, lms, care)
    browser = learner_browser(app, lms)
    token = browser.get(f"/certificates/{certificate.id}/credential.jwt").get_data(as_text=True)
    anyone = TestLms.browser(app)

    # amber when it expires within the warning days (90), red when it has expired
    monkeypatch.setattr(clock, "now", lambda: certificate.expires_at - dt.timedelta(days=120))
    assert "status-valid" in learner_browser(app, lms).get("/learner/").get_data(as_text=True)
    monkeypatch.setattr(clock, "now", lambda: certificate.expires_at - dt.timedelta(days=20))
    home = learner_browser(app, lms).get("/learner/").get_data(as_text=True)
    assert 'class="status status-expiring">Expires soon<' in home
    manager = learner_browser(app, lms, "admin")  # of the whole organisation
    listed = manager.get("/manager/certificates?days=30").get_data(as_text=True)
    assert "Demo Ansatt" in listed and "Expires soon" in listed
    quiet = manager.get("/manager/certificates?days=10").get_data(as_text=True)
    assert "No certificate expires in this period." in quiet
    bad = manager.get("/manager/certificates?days=zero")
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.get_data(as_text=True)

    monkeypatch.setattr(clock, "now", lambda: certificate.expires_at + dt.timedelta(days=1))
    home = learner_browser(app, lms).get("/learner/").get_data(as_text=True)
    assert 'class="status status-expired">Expired<' in home
    body = anyone.get(f"/verify/{certificate.code}?format=json").get_json()
    assert body["status"] == "expired"
    assert verify_upload(anyone, token)["status"] == "expired"
    page = anyone.get(f"/verify/{certificate.code}?lang=en").get_data(as_text=True)
    assert "This certificate is genuine, but it has expired." in page
    # joserfc agrees it has expired (exp is in the past for a verifier at that time)
    claims = jose_jwt.decode(token, jwks(anyone), algorithms=["RS256"]).claims
    assert claims["exp"] < (certificate.expires_at + dt.timedelta(days=1)).timestamp()


def test_a_revoked_certificate_shows_revoked_and_its_status_list_says_so(app, lms, care):
    _built, certificate = earn(app, lms, care)
    browser = learner_browser(app, lms)
    token = browser.get(f"/certificates/{certificate.id}/credential.jwt").get_data(as_text=True)
    anyone = TestLms.browser(app)
    status_url = jose_jwt.decode(token, jwks(anyone)).claims["credentialStatus"]
    index = int(status_url["statusListIndex"])

    def bit() -> bool:
        listed = anyone.get(status_url["statusListCredential"].removeprefix(TOOL_BASE_URL))
        assert listed.status_code == 200 and listed.mimetype == "application/vc+jwt"
        claims = jose_jwt.decode(listed.get_data(as_text=True), jwks(anyone)).claims
        assert claims["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
        subject = claims["credentialSubject"]
        assert subject["statusPurpose"] == "revocation"
        return status_list.is_set(subject["encodedList"], index)

    assert bit() is False
    admin = admin_browser(app, lms)
    page = f"/admin/certificates/{certificate.id}"
    # a reason is required
    refused = post_form(admin, page, f"{page}/revoke", reason="  ")
    assert refused.status_code == 422
    assert 'aria-invalid="true"' in refused.get_data(as_text=True)
    done = post_form(admin, page, f"{page}/revoke", reason="Prøven ble tatt av en annen")
    assert done.status_code == 302, done.get_data(as_text=True)
    audit = admin.get(page).get_data(as_text=True)
    assert "Prøven ble tatt av en annen" in audit and "Demo Administrator" in audit

    assert bit() is True
    assert anyone.get(f"/verify/{certificate.code}?format=json").get_json()["status"] == "revoked"
    assert verify_upload(anyone, token)["status"] == "revoked"
    assert "status-revoked" in learner_browser(app, lms).get("/learner/").get_data(as_text=True)
    # the PDF now says so too
    pdf = browser.get(f"/certificates/{certificate.id}/certificate.pdf?lang=en").data
    text = " ".join(PdfReader(io.BytesIO(pdf)).pages[0].extract_text().split())
    assert "Revoked" in text
    # revoked evidence does not reissue it: the same evidence issues nothing more
    record_attendance(app, lms, _built["courses"]["praksis"], person_id(app, "101"))
    assert len(certificates_in_db(app)) == 1
    # revoking twice is refused: no form, and a replayed post changes nothing
    assert f"{page}/revoke" not in admin.get(page).get_data(as_text=True)
    token = csrf_token(admin.get("/admin/keys/rotate").get_data(as_text=True))
    again = admin.post(f"{page}/revoke", data={"csrf_token": token, "reason": "Igjen, ved en feil"})
    assert again.status_code == 409
    assert "The certificate is revoked already." in again.get_data(as_text=True)


def test_renewal_inside_the_window_makes_a_new_certificate_linked_to_the_old(
    app, lms, care, monkeypatch
):
    built, first = earn(app, lms, care)
    # half a year before expiry the window (90 days) is not open: a retake renews nothing
    monkeypatch.setattr(clock, "now", lambda: first.expires_at - 6 * MONTH)
    _take_mapping(app, lms, built, "learner", NURSE_RIGHT)
    assert len(certificates_in_db(app)) == 1
    page = learner_browser(app, lms).get("/certificates/").get_data(as_text=True)
    assert "Renewal opens" in page

    # inside the window: the refresher course (the second renewal path) renews it
    inside = first.expires_at - dt.timedelta(days=30)
    monkeypatch.setattr(clock, "now", lambda: inside)
    page = learner_browser(app, lms).get("/certificates/").get_data(as_text=True)
    assert "Renewal is open" in page and "Way to renew 2" in page
    record_attendance(
        app,
        lms,
        built["courses"]["oppfrisking"],
        person_id(app, "101"),
        on=inside.date().isoformat(),
    )
    old, new = certificates_in_db(app)
    assert (new.cycle, new.previous_id, new.method) == (2, old.id, "renewal")
    assert new.expires_at.date() == (old.expires_at + dt.timedelta(days=4 * 365 + 1)).date()
    assert new.code != old.code
    with app.app_context():
        actions = get_session().scalars(
            select(AuditEvent.action).where(CERTIFICATE_EVENTS).order_by(AuditEvent.id)
        )
        assert list(actions) == ["issue", "renew"]
    # the old one is still genuine, and says a newer one replaced it
    old_state = TestLms.browser(app).get(f"/verify/{old.code}?format=json").get_json()
    assert old_state["status"] == "valid" and old_state["renewed"] is True
    # history: both are kept and listed
    mine = learner_browser(app, lms).get("/certificates/").get_data(as_text=True)
    assert "Earlier certificates" in mine

    # after the new one expires without renewal, only the earn paths count, with fresh
    # evidence: the old attendance and attempts do not reissue it
    later = new.expires_at + dt.timedelta(days=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    record_attendance(
        app,
        lms,
        built["courses"]["oppfrisking"],
        person_id(app, "101"),
        on=later.date().isoformat(),
    )
    assert len(certificates_in_db(app)) == 2
    _take_mapping(app, lms, built, "learner", NURSE_RIGHT)
    record_attendance(
        app, lms, built["courses"]["praksis"], person_id(app, "101"), on=later.date().isoformat()
    )
    third = certificates_in_db(app)[-1]
    assert (third.cycle, third.previous_id, third.method) == (3, new.id, "automatic")


def test_manual_issue_needs_a_reason_and_is_audited(app, lms, care):
    built = build_certification(app, lms, care)
    learner2 = TestLms.browser(app)
    assert lms.landed(lms.launch(learner2, "learner2", locale="en"))
    target = person_id(app, "104")
    manager = learner_browser(app, lms, "admin")  # of the whole organisation
    action = "/manager/certificates/issue"
    chosen = {"certification_id": str(built["id"])}
    refused = post_form(
        manager, "/manager/certificates", action, person_id=str(target), reason="", **chosen
    )
    assert refused.status_code == 302
    assert certificates_in_db(app) == []
    assert "Fill this in." in manager.get(refused.headers["Location"]).get_data(as_text=True)
    short = post_form(
        manager, "/manager/certificates", action, person_id=str(target), reason="ok", **chosen
    )
    assert "Give a reason (at least five characters)." in manager.get(
        short.headers["Location"]
    ).get_data(as_text=True)
    assert certificates_in_db(app) == []
    done = post_form(
        manager,
        "/manager/certificates",
        action,
        person_id=str(target),
        reason="Praktisk prøve dokumentert på papir",
        **chosen,
    )
    assert done.status_code == 302
    (certificate,) = certificates_in_db(app)
    assert certificate.method == "manual" and certificate.holder_name == "Kari Nilsen"
    with app.app_context():
        event = get_session().scalar(select(AuditEvent).where(CERTIFICATE_EVENTS))
        assert event.action == "issue" and event.object_id == str(certificate.id)
        assert event.detail["reason"] == "Praktisk prøve dokumentert på papir"
        assert event.detail["method"] == "manual"
        assert event.actor_person_id == person_id(app, "2")  # the admin
    # a second manual issue while it is valid is refused
    again = post_form(
        manager,
        "/manager/certificates",
        action,
        person_id=str(target),
        reason="Ved en feil igjen",
        **chosen,
    )
    assert again.status_code == 302 and len(certificates_in_db(app)) == 1
    designer = designer_browser(app, lms)
    page = designer.get(f"/designer/certifications/{built['id']}").get_data(as_text=True)
    assert "Praktisk prøve dokumentert på papir" in page and "Kari Nilsen" in page
    # a learner may not issue
    learner = learner_browser(app, lms)
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', learner.get("/learner/").get_data(as_text=True)
    )
    response = learner.post(
        action,
        data={
            "csrf_token": token.group(1) if token else "",
            "person_id": str(target),
            "reason": "Jeg vil ha det",
        },
    )
    assert response.status_code == 403


def test_certificates_are_their_holders_and_their_organisations_only(app, lms, care):
    _built, certificate = earn(app, lms, care)
    other = learner_browser(app, lms, "learner2")
    assert other.get(f"/certificates/{certificate.id}").status_code == 404
    assert other.get(f"/certificates/{certificate.id}/certificate.pdf").status_code == 404
    assert other.get(f"/certificates/{certificate.id}/credential.jwt").status_code == 404
    # learners, designers and managers cannot revoke or open the register
    for persona in ("learner", "designer", "manager"):
        browser = learner_browser(app, lms, persona)
        assert browser.get("/admin/certificates").status_code == 403
        assert browser.get(f"/admin/certificates/{certificate.id}").status_code == 403
    learner = learner_browser(app, lms)
    assert learner.get("/designer/certifications").status_code == 403
    assert learner.get("/designer/courses").status_code == 403
    assert learner.get("/manager/certificates").status_code == 403
    # no launch at all: the holder's pages are refused, verification is open
    stranger = TestLms.browser(app)
    assert stranger.get(f"/certificates/{certificate.id}").status_code in (401, 403)
    assert stranger.get(f"/verify/{certificate.code}").status_code == 200
    # another organisation's admin finds nothing
    with app.app_context():
        from lti_tool.models import Organisation

        session = get_session()
        other_org = Organisation(name="Nabokommune")
        session.add(other_org)
        session.commit()
        found = session.scalar(select(Certificate))
        found.organisation_id = other_org.id  # the certificate now belongs elsewhere
        session.commit()
    admin = admin_browser(app, lms)
    assert admin.get(f"/admin/certificates/{certificate.id}").status_code == 404
    register = admin.get(f"/admin/certificates?code={certificate.code}").get_data(as_text=True)
    assert "No certificate of your organisation has this code." in register
    assert certificate.holder_name not in register


def test_unknown_codes_and_empty_uploads_are_answered_clearly(app, lms):
    anyone = TestLms.browser(app)
    page = anyone.get("/verify/ABCD-EFGH-JKMN?lang=en")
    assert page.status_code == 404
    assert "No certificate has this code" in page.get_data(as_text=True)
    assert anyone.get("/verify/ABCD-EFGH-JKMN?format=json").get_json() == {"status": "unknown"}
    empty = anyone.post("/verify?lang=en", data={})
    assert empty.status_code == 422
    assert "Choose a credential file" in empty.get_data(as_text=True)
    assert anyone.get("/verify?lang=en").status_code == 200


def test_verification_is_rate_limited(make_app, lms):
    limited = make_app(VERIFY_RATE_LIMIT="3 per minute")
    anyone = limited.test_client()
    answers = [anyone.get("/verify/ABCD-EFGH-JKMN?format=json").status_code for _ in range(4)]
    assert answers == [404, 404, 404, 429]
    refused = anyone.get("/verify/ABCD-EFGH-JKMN?lang=en")
    assert refused.status_code == 429
    assert re.search(r"Try again in (1 minute|\d+ seconds)\.", refused.get_data(as_text=True))
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_the_verification_pages_share_one_limit(make_app, lms):
    """Looking a code up, typing one in and uploading a file count together: switching
    between them gives no one more tries."""
    limited = make_app(VERIFY_RATE_LIMIT="3 per minute")
    anyone = limited.test_client()
    answers = [
        anyone.get("/verify/ABCD-EFGH-JKMN?format=json").status_code,
        anyone.get("/verify?code=ABCD-EFGH-JKMN").status_code,
        anyone.post("/verify", data={}).status_code,
        anyone.get("/verify/ABCD-EFGH-JKMN?format=json").status_code,
    ]
    assert answers == [404, 302, 422, 429]
    elsewhere = {"REMOTE_ADDR": "10.0.0.9"}  # another address counts on its own
    assert anyone.get("/verify/ABCD-EFGH-JKMN", environ_base=elsewhere).status_code == 404


def test_a_certificate_is_issued_once_when_evidence_arrives_twice_at_once(app, lms, care):
    """Two transactions see the rules met at the same moment: the unique (certification,
    person, cycle) lets one insert; the other finds it and issues nothing."""
    import threading

    from lti_tool.services import certificates

    built, _certificate = None, None
    built = build_certification(app, lms, care)
    _take_mapping(app, lms, built, "learner", NURSE_RIGHT)
    learner = person_id(app, "101")
    with app.app_context():
        from lti_tool.models import Attendance

        session = get_session()
        session.add(
            Attendance(
                organisation_id=care["organisation_id"],
                course_id=built["courses"]["praksis"],
                person_id=learner,
                attended_on=clock.now().date(),
            )
        )
        session.commit()
    if app.extensions["db_engine"].dialect.name == "sqlite":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    first_inserted = threading.Event()
    release = threading.Event()
    results: dict[str, Any] = {}

    def evaluate(name: str, hold: bool) -> None:
        with app.app_context():
            session = app.extensions["db_sessionmaker"]()
            try:
                issued = certificates.evaluate_person(
                    session, care["organisation_id"], learner, clock.now()
                )
                if hold:
                    first_inserted.set()
                    release.wait(5)
                session.commit()
                results[name] = len(issued)
            finally:
                session.close()

    one = threading.Thread(target=evaluate, args=("one", True))
    one.start()
    assert first_inserted.wait(10)
    two = threading.Thread(target=evaluate, args=("two", False))
    two.start()
    two.join(0.5)  # blocked on the unique index until the first commits
    release.set()
    one.join(10)
    two.join(10)
    assert results == {"one": 1, "two": 0}
    assert len(certificates_in_db(app)) == 1


def test_submitting_the_last_missing_mapping_issues_at_once(app, lms, care):
    built = build_certification(app, lms, care)
    learner = learner_browser(app, lms)  # known to the tool from their first launch
    response = record_attendance(app, lms, built["courses"]["praksis"], person_id(app, "101"))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert certificates_in_db(app) == []
    _take_mapping(app, lms, built, "learner", NURSE_RIGHT)
    (certificate,) = certificates_in_db(app)
    assert certificate.method == "automatic"
    page = learner.get("/certificates/").get_data(as_text=True)
    assert "Certificates I hold" in page and certificate.code not in page
    assert f"/certificates/{certificate.id}" in page


def test_a_placed_certification_lands_on_its_page_and_scores_100_when_achieved(app, lms, care):
    from tests.fakes.gradebook import FakeGradebook
    from tests.functional.test_mapping_flow import deliver

    gradebook = FakeGradebook(
        lms.platform.issuer, lms.http, lms.platform.token_url, client_id=lms.platform.client_id
    )
    built = build_certification(app, lms, care)

    def column(line_item: dict[str, Any]) -> str:
        assert line_item["resourceId"] == "certification:legemiddel"
        assert line_item["scoreMaximum"] == 100
        return gradebook.add_line_item(
            line_item["label"],
            line_item["scoreMaximum"],
            resource_id=line_item["resourceId"],
            tag=line_item["tag"],
        )

    designer = designer_browser(app, lms)
    (link_id,), message = lms.deep_link(
        designer, [f"certification:{built['id']}"], lineitem_for=column
    )
    from lti_tool.lti import claims as c

    item = message[c.DEEP_LINKING_CONTENT_ITEMS][0]
    assert item["custom"] == {"certification": "legemiddel"}
    lineitem = lms.platform.links[link_id].lineitem

    learner = TestLms.browser(app)
    response = lms.launch(learner, "learner", link=link_id, locale="en")
    assert lms.landing_path(response) == "/certificates/certification/legemiddel"
    page = lms.landing_page(learner, response).get_data(as_text=True)
    assert "What it takes" in page and "Pass the skills mapping" in page

    _take_mapping(app, lms, built, "learner", NURSE_RIGHT)
    record_attendance(app, lms, built["courses"]["praksis"], person_id(app, "101"))
    assert len(certificates_in_db(app)) == 1
    deliver(app)
    assert gradebook.given("101", lineitem) == [100]


def test_revoked_evidence_never_reissues_even_with_a_course_only_rule(app, lms, care):
    """Attendance recorded before a revocation does not count after it, whatever its date."""
    designer = designer_browser(app, lms)
    post_form(
        designer,
        "/designer/courses",
        "/designer/courses",
        code="hms",
        title_nb="HMS-kurs",
        kind="classroom",
    )
    page = designer.get("/designer/courses").get_data(as_text=True)
    course_id = int(re.search(r"/designer/courses/(\d+)[^>]*><code>hms<", page).group(1))
    response = post_form(
        designer,
        "/designer/certifications",
        "/designer/certifications",
        code="hms-bevis",
        title_nb="HMS-kursbevis",
        achievement_type="Certificate",
    )
    certification_id = _location_id(response, r"/designer/certifications/(\d+)")
    base = f"/designer/certifications/{certification_id}"
    fields = {"operator": "any", "target_1": f"course:{course_id}"}
    assert (
        post_form(
            designer, f"{base}/paths/earn/new", f"{base}/paths/earn/new", **fields
        ).status_code
        == 302
    )
    assert post_form(designer, base, f"{base}/status/published").status_code == 302
    learner_browser(app, lms)
    tomorrow = (clock.now() + dt.timedelta(days=1)).date().isoformat()
    assert (
        record_attendance(app, lms, course_id, person_id(app, "101"), on=tomorrow).status_code
        == 302
    )
    (certificate,) = certificates_in_db(app)
    assert certificate.content["competences"] == []
    assert certificate.expires_at is None
    admin = admin_browser(app, lms)
    page = f"/admin/certificates/{certificate.id}"
    assert (
        post_form(admin, page, f"{page}/revoke", reason="Registrert på feil person").status_code
        == 302
    )
    # evaluated again (publishing evaluates everyone): the old attendance does not count
    assert post_form(designer, base, f"{base}/status/draft").status_code == 302
    assert post_form(designer, base, f"{base}/status/published").status_code == 302
    assert len(certificates_in_db(app)) == 1
    # attendance recorded after the revocation is new evidence and earns it again
    assert (
        record_attendance(app, lms, course_id, person_id(app, "101"), on=tomorrow).status_code
        == 302
    )
    assert len(certificates_in_db(app)) == 1, "the same attendance twice is one record"
    today = clock.now().date().isoformat()
    assert (
        record_attendance(app, lms, course_id, person_id(app, "101"), on=today).status_code == 302
    )
    old, new = certificates_in_db(app)
    assert (new.cycle, new.previous_id) == (2, old.id)


def test_scripts_may_post_a_credential_as_the_body(app, lms, care):
    _built, certificate = earn(app, lms, care)
    browser = learner_browser(app, lms)
    token = browser.get(f"/certificates/{certificate.id}/credential.jwt").get_data(as_text=True)
    as_json = browser.get(f"/certificates/{certificate.id}/credential.json").get_data(as_text=True)
    anyone = TestLms.browser(app)
    for body, mimetype in ((token, "application/vc+jwt"), (as_json, "application/json")):
        answer = anyone.post("/verify?format=json", data=body, content_type=mimetype)
        assert answer.status_code == 200 and answer.get_json()["status"] == "valid"
    nested = '{"a":' * 30_000 + "1" + "}" * 30_000
    answer = anyone.post("/verify?format=json", data={"credential_text": nested})
    assert answer.status_code == 200 and answer.get_json()["status"] == "tampered"
