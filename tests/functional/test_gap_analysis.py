"""A person's gap analysis (``services.gaps.gap_analysis``): every status of the matrix's
rule, the expiring window's boundary day and the organisation's setting, evidence that
conflicts or a later, lower result, a revoked certificate (evidence stays one rule), the
activities offered for a gap, and a cost that does not grow with the profile."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.domain.certification_rules import add_months
from lti_tool.domain.coverage import CellStatus
from lti_tool.errors import NotFound
from lti_tool.models import (
    Course,
    CourseCompetence,
    CourseKind,
    Evidence,
    Organisation,
)
from lti_tool.services import coverage, gaps, organisations
from lti_tool.services.evidence import record_evidence
from tests.fakes import content
from tests.fakes.lms import TestLms
from tests.functional.test_unit_matrix import add_evidence, add_person, new_version
from tests.statements import statements_run

NOW = dt.datetime(2027, 3, 15, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
MED_RENEWAL = 24  # the nurse's medicines requirement is renewed every 24 months


@pytest.fixture
def care_org(app: Any, lms: TestLms) -> dict[str, Any]:
    with app.app_context():
        return content.care_content()


def _nurse(care: dict[str, Any], name: str = "Anne Aas", *roles: str) -> int:
    role_ids = [care["roles"][r] for r in (roles or ("sykepleier",))]
    person = add_person(care["organisation_id"], name, care["units"]["hjemmetjenesten"], role_ids)
    get_session().flush()
    return person


def _analysis(care: dict[str, Any], person_id: int, **kwargs: Any) -> gaps.GapAnalysis:
    kwargs.setdefault("now", NOW)
    return gaps.gap_analysis(get_session(), care["organisation_id"], person_id, **kwargs)


def _by_code(analysis: gaps.GapAnalysis) -> dict[str, gaps.GapLine]:
    return {line.code: line for line in analysis.lines}


def _medicines_recorded_for_expiry(expires: dt.datetime) -> dt.datetime:
    """When medicines evidence must be recorded to run out (24-month renewal) at ``expires``."""
    return add_months(expires, -MED_RENEWAL)


# --- the statuses --------------------------------------------------------------------------


def test_each_status_with_levels_labels_roles_and_the_union_of_roles(app, care_org):
    care = care_org
    org = care["organisation_id"]
    med, privacy, office = (care["competences"][c] for c in ("legemidler", "personvern", "office"))
    with app.app_context():
        person = _nurse(care, "Anne Aas", "sykepleier", "helsefagarbeider")
        # medicines: held at 3, runs out in 20 days (the worker's 12 months are shortest)
        add_evidence(org, person, med, 3, add_months(NOW + 20 * DAY, -12))
        # privacy: shown, but its own validity ended yesterday
        add_evidence(org, person, privacy, 2, NOW - 30 * DAY, valid_until=NOW - DAY)
        # office (the worker's recommended level 1): assessed, no level reached
        add_evidence(org, person, office, 0, NOW - DAY)
        analysis = _analysis(care, person, locale="en")
        lines = _by_code(analysis)
        assert {code: line.status for code, line in lines.items()} == {
            "legemidler": CellStatus.EXPIRING,
            "personvern": CellStatus.EXPIRED,
            "office": CellStatus.GAP,
        }
        medicines = lines["legemidler"]
        assert (medicines.required_level, medicines.held_level) == (3, 3)  # 3 beats 2
        assert medicines.required_label == "Can guide others"
        assert medicines.renewal_months == 12  # the shortest of the two roles
        assert medicines.mandatory is True
        assert set(medicines.job_roles) == {"Sykepleier (en)", "Helsefagarbeider (en)"}
        assert medicines.expires_at == NOW + 20 * DAY
        assert medicines.title == "Legemiddelhåndtering (en)"
        assert lines["office"].held_level == 0 and lines["office"].held_label is None
        assert lines["office"].mandatory is False
        # mandatory first (expired, then expiring), the recommended gap after them
        assert [line.code for line in analysis.lines] == ["personvern", "legemidler", "office"]
        assert analysis.expiring_days == 30  # the organisation's default window
        assert analysis.coverage == pytest.approx(33.3)
        assert analysis.counts == {
            CellStatus.EXPIRING: 1,
            CellStatus.EXPIRED: 1,
            CellStatus.GAP: 1,
        }
        assert [line.code for line in analysis.gaps] == ["personvern", "legemidler", "office"]


def test_mandatory_and_the_soonest_expiry_come_first_and_met_lines_last(app, care_org):
    """Issue 14: a recommended gap waits behind mandatory requirements about to run out,
    and those that run out sooner come first."""
    care = care_org
    org = care["organisation_id"]
    med, privacy, office = (care["competences"][c] for c in ("legemidler", "personvern", "office"))
    with app.app_context():
        person = _nurse(care, "Anne Aas", "sykepleier", "helsefagarbeider")
        add_evidence(org, person, office, 0, NOW - DAY)  # recommended gap
        add_evidence(org, person, med, 3, add_months(NOW + 25 * DAY, -12))  # in 25 days
        add_evidence(org, person, privacy, 2, add_months(NOW + 3 * DAY, -12))  # in 3 days
        analysis = _analysis(care, person)
        assert [(line.code, line.status) for line in analysis.lines] == [
            ("personvern", CellStatus.EXPIRING),
            ("legemidler", CellStatus.EXPIRING),
            ("office", CellStatus.GAP),
        ]
        # the one that ran out first is swapped: medicines now expires sooner
        add_evidence(org, person, privacy, 2, add_months(NOW + 28 * DAY, -12))
        assert [line.code for line in _analysis(care, person).lines] == [
            "legemidler",
            "personvern",
            "office",
        ]
        # a met line goes last, a never assessed mandatory one before a recommended gap
        other = _nurse(care, "Bo Berg", "sykepleier", "helsefagarbeider")
        add_evidence(org, other, office, 0, NOW - DAY)
        add_evidence(org, other, med, 3, NOW - DAY)
        assert [(line.code, line.status) for line in _analysis(care, other).lines] == [
            ("personvern", CellStatus.NEVER_ASSESSED),
            ("office", CellStatus.GAP),
            ("legemidler", CellStatus.MET),
        ]


def test_never_assessed_and_met_and_a_person_without_roles(app, care_org):
    care = care_org
    org, med = care["organisation_id"], care["competences"]["legemidler"]
    with app.app_context():
        person = _nurse(care)
        add_evidence(org, person, med, 4, NOW - 10 * DAY)
        lines = _by_code(_analysis(care, person))
        assert lines["legemidler"].status == CellStatus.MET
        assert lines["personvern"].status == CellStatus.NEVER_ASSESSED
        assert lines["personvern"].held_level is None and lines["personvern"].expires_at is None
        assert not lines["legemidler"].needs_action and lines["personvern"].needs_action

        nobody = add_person(org, "Geir Holm", None, [])
        empty = _analysis(care, nobody)
        assert empty.lines == () and empty.coverage is None and empty.counts == {}


@pytest.mark.parametrize(
    ("expires", "window", "status"),
    [
        (NOW - dt.timedelta(microseconds=1), 30, CellStatus.EXPIRED),
        (NOW, 30, CellStatus.EXPIRED),  # runs out this very moment
        (NOW + dt.timedelta(microseconds=1), 30, CellStatus.EXPIRING),
        (NOW + 30 * DAY, 30, CellStatus.EXPIRING),  # the window's last day
        (NOW + 30 * DAY + dt.timedelta(microseconds=1), 30, CellStatus.MET),
        (NOW + 30 * DAY, 29, CellStatus.MET),
        (NOW + 90 * DAY, 90, CellStatus.EXPIRING),
    ],
)
def test_the_boundary_day_of_the_expiring_window(app, care_org, expires, window, status):
    care = care_org
    org, med = care["organisation_id"], care["competences"]["legemidler"]
    with app.app_context():
        person = _nurse(care)
        add_evidence(org, person, med, 3, _medicines_recorded_for_expiry(expires))
        line = _by_code(_analysis(care, person, expiring_days=window))["legemidler"]
        assert line.expires_at == expires
        assert line.status == status


def test_the_organisations_window_is_the_default_and_a_caller_may_ask_another(app, care_org):
    care = care_org
    org, med = care["organisation_id"], care["competences"]["legemidler"]
    with app.app_context():
        person = _nurse(care)
        add_evidence(org, person, med, 3, _medicines_recorded_for_expiry(NOW + 45 * DAY))
        assert _by_code(_analysis(care, person))["legemidler"].status == CellStatus.MET
        organisations.set_expiring_days(get_session(), org, 60)
        analysis = _analysis(care, person)
        assert analysis.expiring_days == 60
        assert _by_code(analysis)["legemidler"].status == CellStatus.EXPIRING
        asked = _analysis(care, person, expiring_days=7)
        assert _by_code(asked)["legemidler"].status == CellStatus.MET
        with pytest.raises(ValueError):
            organisations.set_expiring_days(get_session(), org, 0)


def test_the_organisations_admin_sets_the_window_in_the_console(app, lms, care_org):
    from tests.fakes.mappings import post_form
    from tests.functional.test_certification_flow import admin_browser

    care = care_org
    org, med = care["organisation_id"], care["competences"]["legemidler"]
    admin = admin_browser(app, lms)
    page = f"/admin/organisations/{org}"
    assert 'id="organisation-expiring_days" name="expiring_days" type="number" value="30"' in (
        admin.get(page).get_data(as_text=True)
    )
    # "²" and "٣" are digits to str.isdigit(), and int("²") raised (a 500)
    hint = admin.get(page, query_string={"lang": "en"}).get_data(as_text=True)
    assert "the competence matrix and its exports; a certificate ending within it" in hint
    for bad in ("0", "3651", "tretti", "-5", "²", "٣", "30²", "1" * 5000, "1e2"):
        refused = post_form(admin, page, page, name="Testkommune", region_id="", expiring_days=bad)
        assert refused.status_code == 422, bad
        assert 'id="organisation-expiring_days-error"' in refused.get_data(as_text=True)
    saved = post_form(admin, page, page, name="Testkommune", region_id="", expiring_days="60")
    assert saved.status_code == 302, saved.get_data(as_text=True)
    # left empty: the window stays as it is
    post_form(admin, page, page, name="Testkommune", region_id="", expiring_days="")
    # the unit's matrix and the coverage API use it when no other window is asked for
    unit = care["units"]["hjemmetjenesten"]
    matrix = admin.get(f"/manager/units/{unit}/matrix", query_string={"lang": "en"})
    assert "ends within 60 days" in matrix.get_data(as_text=True)
    asked = admin.get(f"/manager/units/{unit}/matrix", query_string={"lang": "en", "days": "7"})
    assert "ends within 7 days" in asked.get_data(as_text=True)
    assert admin.get(f"/api/v1/units/{unit}/coverage").get_json()["expiring_days"] == 60
    with app.app_context():
        assert get_session().get(Organisation, org).expiring_days == 60
        person = _nurse(care)
        add_evidence(org, person, med, 3, _medicines_recorded_for_expiry(NOW + 45 * DAY))
        analysis = _analysis(care, person)
        assert analysis.expiring_days == 60
        assert _by_code(analysis)["legemidler"].status == CellStatus.EXPIRING


# --- which evidence counts: the holding rule, one function -----------------------------------


def test_conflicting_evidence_the_persons_own_word_never_outweighs_a_test(app, care_org):
    care = care_org
    org, med = care["organisation_id"], care["competences"]["legemidler"]
    with app.app_context():
        person = _nurse(care)
        add_evidence(org, person, med, 2, NOW - 20 * DAY)  # a knowledge test: level 2
        # later, the person says more of themselves, twice: neither counts over the test
        add_evidence(org, person, med, 4, NOW - 10 * DAY, source="self_assessment")
        add_evidence(org, person, med, 4, NOW - 5 * DAY, source="self_reported")
        line = _by_code(_analysis(care, person))["legemidler"]
        assert (line.status, line.held_level) == (CellStatus.GAP, 2)
        # an instructor's confirmation outweighs the person's word like any measured evidence
        add_evidence(org, person, med, 3, NOW - 2 * DAY, source="instructor_confirmed")
        line = _by_code(_analysis(care, person))["legemidler"]
        assert (line.status, line.held_level) == (CellStatus.MET, 3)
        # each record carries its source's default confidence
        confidence = {
            e.source: e.confidence
            for e in get_session().scalars(select(Evidence).where(Evidence.person_id == person))
        }
        assert confidence == {
            "knowledge_test": "medium",
            "self_assessment": "low",
            "self_reported": "low",
            "instructor_confirmed": "high",
        }


def test_a_course_reported_done_never_outweighs_a_measured_result_but_a_confirmation_does(
    app, care_org
):
    """The plan's three ways of completing an activity go through the same rule."""
    from lti_tool.services import plans

    care = care_org
    org, med = care["organisation_id"], care["competences"]["legemidler"]
    with app.app_context():
        person = _nurse(care)
        course = _course(org, "legemidler-e", {med: 4})
        add_evidence(org, person, med, 2, NOW - 20 * DAY)  # a knowledge test: level 2
        plans.record_course_completion(get_session(), org, person, course, "self_reported", NOW)
        line = _by_code(_analysis(care, person))["legemidler"]
        assert (line.status, line.held_level) == (CellStatus.GAP, 2)
        # the LMS's score is measured: it counts over the earlier test, as the latest
        plans.record_course_completion(
            get_session(), org, person, course, "lms_score", NOW, percentage=80.0
        )
        line = _by_code(_analysis(care, person))["legemidler"]
        assert (line.status, line.held_level) == (CellStatus.MET, 4)
        # a later self-report still does not displace it, nor a later, lower test
        plans.record_course_completion(
            get_session(), org, person, course, "self_reported", NOW + DAY
        )
        assert _by_code(_analysis(care, person))["legemidler"].held_level == 4
        add_evidence(org, person, med, 1, NOW + 2 * DAY)
        line = _by_code(_analysis(care, person, now=NOW + 3 * DAY))["legemidler"]
        assert (line.status, line.held_level) == (CellStatus.GAP, 1)
        confidences = {
            (e.source, e.confidence)
            for e in get_session().scalars(select(Evidence).where(Evidence.person_id == person))
        }
        assert confidences == {
            ("knowledge_test", "medium"),
            ("self_reported", "low"),
            ("lms_score", "medium"),
        }


def test_the_persons_own_word_alone_is_what_they_hold(app, care_org):
    care = care_org
    org, med = care["organisation_id"], care["competences"]["legemidler"]
    with app.app_context():
        person = _nurse(care)
        add_evidence(org, person, med, 3, NOW - 5 * DAY, source="self_reported")
        line = _by_code(_analysis(care, person))["legemidler"]
        assert (line.status, line.held_level) == (CellStatus.MET, 3)


def test_a_later_and_lower_result_is_where_the_person_stands(app, care_org):
    care = care_org
    org, med = care["organisation_id"], care["competences"]["legemidler"]
    with app.app_context():
        person = _nurse(care)
        add_evidence(org, person, med, 4, NOW - 300 * DAY)
        add_evidence(org, person, med, 1, NOW - 3 * DAY)  # a worse retake
        line = _by_code(_analysis(care, person))["legemidler"]
        assert (line.status, line.held_level) == (CellStatus.GAP, 1)
        # and a record kept with a confidence of its own keeps it
        record_evidence(
            get_session(),
            [
                Evidence(
                    organisation_id=org,
                    person_id=person,
                    competence_id=med,
                    source="lms_score",
                    confidence="low",
                    level=3,
                    recorded_at=NOW - DAY,
                    detail={},
                )
            ],
        )
        line = _by_code(_analysis(care, person))["legemidler"]
        assert (line.status, line.held_level) == (CellStatus.MET, 3)
        kept = get_session().scalar(select(Evidence).where(Evidence.source == "lms_score"))
        assert kept is not None and kept.confidence == "low"


def test_the_analysis_agrees_with_the_unit_matrix_cell_by_cell(app, care_org):
    care = care_org
    org = care["organisation_id"]
    med, privacy = care["competences"]["legemidler"], care["competences"]["personvern"]
    with app.app_context():
        people = [
            _nurse(care, "Anne Aas"),
            _nurse(care, "Bjørn Berg", "sykepleier", "helsefagarbeider"),
            _nurse(care, "Cecilie Dahl", "helsefagarbeider"),
        ]
        add_evidence(org, people[0], med, 3, NOW - 700 * DAY)
        add_evidence(org, people[0], privacy, 2, NOW - 100 * DAY)
        add_evidence(org, people[1], med, 2, NOW - 20 * DAY)
        add_evidence(org, people[2], med, 2, add_months(NOW + 10 * DAY, -12))
        scope = coverage.unit_scope(get_session(), org, care["units"]["hjemmetjenesten"], None)
        matrix = coverage.unit_matrix(get_session(), org, scope, now=NOW)
        for row in matrix.rows:
            from_matrix = {
                col.competence_id: (cell.status, cell.held_level, cell.expires_at)
                for col, cell in zip(matrix.columns, row.cells, strict=True)
                if cell is not None
            }
            analysis = _analysis(care, row.person_id)
            assert {
                line.competence_id: (line.status, line.held_level, line.expires_at)
                for line in analysis.lines
            } == from_matrix


def test_another_organisations_person_is_not_found(app, care_org):
    care = care_org
    with app.app_context():
        session = get_session()
        other = Organisation(name="Annenkommune")
        session.add(other)
        session.flush()
        stranger = add_person(other.id, "Frida Gran", None, [])
        with pytest.raises(NotFound):
            _analysis(care, stranger)
        with pytest.raises(NotFound):
            gaps.gap_analysis(session, other.id, _nurse(care), now=NOW)


# --- the activities offered -----------------------------------------------------------------


def _course(org: int, code: str, develops: dict[int, int], **fields: Any) -> int:
    session = get_session()
    course = Course(
        organisation_id=org,
        code=code,
        title={"nb": code.title(), "en": code.title() + " (en)"},
        kind=fields.pop("kind", CourseKind.ELEARNING),
        **fields,
    )
    course.competences = [
        CourseCompetence(competence_id=c, level=lvl, organisation_id=org)
        for c, lvl in develops.items()
    ]
    session.add(course)
    session.flush()
    return course.id


def test_activities_that_reach_the_required_level_are_offered_for_what_needs_action(app, care_org):
    care = care_org
    org = care["organisation_id"]
    med, privacy = care["competences"]["legemidler"], care["competences"]["personvern"]
    with app.app_context():
        person = _nurse(care)
        add_evidence(org, person, privacy, 2, NOW - 10 * DAY)  # met: nothing offered
        enough = _course(org, "legemidler-e", {med: 3}, lms_url="https://lms.example/course/7")
        more = _course(org, "legemidler-kurs", {med: 4, privacy: 2}, kind=CourseKind.CLASSROOM)
        _course(org, "legemidler-intro", {med: 2})  # below the required 3
        _course(org, "legemidler-gammel", {med: 4}, archived=True)
        # a course that develops another version of the competence counts for it too
        v2 = new_version([med, privacy])
        later = _course(org, "legemidler-v2", {v2[med]: 3})
        lines = _by_code(_analysis(care, person, locale="en"))
        offered = lines["legemidler"].activities
        assert [a.course_id for a in offered] == [more, enough, later]
        first = offered[1]
        assert (first.code, first.title, first.kind, first.level) == (
            "legemidler-e",
            "Legemidler-E (en)",
            CourseKind.ELEARNING,
            3,
        )
        assert first.lms_url == "https://lms.example/course/7"
        assert lines["personvern"].status == CellStatus.MET
        assert lines["personvern"].activities == ()


def test_the_analysis_costs_the_same_statements_however_large_the_profile(app, care_org):
    care = care_org
    org = care["organisation_id"]
    with app.app_context():
        small = _nurse(care, "Anne Aas", "helsefagarbeider")
        large = _nurse(care, "Bjørn Berg", "sykepleier", "helsefagarbeider")
        for code in ("legemidler", "personvern", "office"):
            add_evidence(org, large, care["competences"][code], 1, NOW - 5 * DAY)
            _course(org, f"kurs-{code}", {care["competences"][code]: 4})
        get_session().commit()
        counts = []
        for person in (small, large):
            get_session().expunge_all()
            with statements_run(app) as run:
                analysis = _analysis(care, person)
            counts.append(len(run))
            assert analysis.lines
        assert counts[0] == counts[1] == 8, counts


# --- certificates do not decide a line (issue 14, item 7: evidence rules stay one function) ---


def test_a_revoked_certificate_leaves_the_evidence_and_the_analysis_as_they_were(app, lms, care):
    from tests.fakes.mappings import post_form
    from tests.functional.test_certification_flow import admin_browser, earn, person_id
    from tests.functional.test_learner_requirements import launch

    _built, certificate = earn(app, lms, care)
    learner = person_id(app, "101")
    launch(lms, TestLms.browser(app), job_role="sykepleier")  # the learner's job role

    def standing() -> dict[str, tuple[CellStatus, int | None]]:
        with app.app_context():
            analysis = gaps.gap_analysis(
                get_session(), care["organisation_id"], learner, now=certificate.issued_at
            )
            return {line.code: (line.status, line.held_level) for line in analysis.lines}

    before = standing()
    assert before["legemidler"][1] is not None  # the mapping's evidence is held
    page = f"/admin/certificates/{certificate.id}"
    done = post_form(admin_browser(app, lms), page, f"{page}/revoke", reason="Feil person")
    assert done.status_code == 302, done.get_data(as_text=True)
    with app.app_context():
        assert get_session().get(type(certificate), certificate.id).revoked_at is not None
    assert standing() == before
