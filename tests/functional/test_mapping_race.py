"""Many learners answering one mapping at the same moment, each in two tabs, lose no
answer and keep none twice; their submissions, doubled and raced by a late answer, score
every answer saved and queue one score each (PostgreSQL: each request a thread with its
own connection; SQLite runs one writer at a time).

The benchmark (``python -m bench all``) checks the same in its database after 200
learners; this is the test that fails when a save or a submission stops being safe."""

from __future__ import annotations

import threading
from collections import Counter
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import event, func, select

from lti_tool.db import get_session
from lti_tool.lti import claims as c
from lti_tool.models import Attempt, AttemptStatus, Evidence, Person, Response, ScoreDelivery
from tests.fakes.lms import TestLms, csrf_token, parse_forms
from tests.functional.test_booking_race import _at_once, postgresql_only
from tests.functional.test_mapping_flow import build_mapping, option_values, place

LEARNERS = 25
"""Each answers 4 items from two tabs at once: 200 saves at the same instant."""

__all__ = ["postgresql_only"]


def _tab(app: Any, lms: TestLms, link_id: str, sub: str) -> tuple[Any, str]:
    """A tab of the learner ``sub``: a launch of the placed link, Start (or Continue).
    Returns the browser and the attempt's URL."""
    browser = TestLms.browser(app)
    linked = lms.platform.launch_claims("learner", nonce="-", link=link_id)
    response = lms.signed_launch(
        browser,
        "learner",
        change={
            "sub": sub,
            "name": f"Person {sub}",
            "email": f"{sub}@example.org",
            **{k: linked[k] for k in (c.RESOURCE_LINK, c.CUSTOM, c.AGS_ENDPOINT)},
        },
        link=link_id,
    )
    start = lms.landing_html(browser, response)
    form = next(f for f in parse_forms(start) if "/attempts" in (f["action"] or ""))
    location = browser.post(form["action"], data=form["fields"]).headers["Location"]
    return browser, location.split("/items/")[0]


def _answers(browser: Any, attempt_url: str) -> list[list[tuple[Any, dict[str, Any]]]]:
    """Two different answers to each of the 4 items, in the attempt's order, as posted and
    as kept: two levels of the statement, the two options of the single choice, two sets
    of the multiple choice, two numbers."""
    pairs = []
    for n in range(1, 5):
        url = f"{attempt_url}/items/{n}"
        options = list(option_values(browser, url).values())
        html = browser.get(url).get_data(as_text=True)
        if 'inputmode="decimal"' in html:
            pairs.append([("5", {"value": 5.0}), ("7", {"value": 7.0})])
        elif 'type="checkbox"' in html:
            pairs.append(
                [(pick, {"options": [int(v) for v in pick]}) for pick in (options[:2], options[1:])]
            )
        elif '<label for="answer-first">1 – ' in html:  # the scale's lowest level
            pairs.append([("2", {"level": 2}), ("3", {"level": 3})])
        else:
            pairs.append([(v, {"options": [int(v)]}) for v in (options[0], options[-1])])
    return pairs


def test_200_saves_at_once_from_two_tabs_lose_none_and_keep_none_twice(
    app, lms, care, gradebook, postgresql_only
):
    link_id = place(lms, app, gradebook, build_mapping(app, lms, care))
    tabs = []
    for n in range(LEARNERS):
        first, url = _tab(app, lms, link_id, f"race-{n}")
        second, same = _tab(app, lms, link_id, f"race-{n}")
        assert same == url  # the second tab continues the same attempt
        tabs.append((first, second, url))
    pairs = _answers(tabs[0][0], tabs[0][2])
    posts = []
    for first, second, url in tabs:
        tokens = [
            csrf_token(b.get(f"{url}/items/1").get_data(as_text=True)) for b in (first, second)
        ]
        for n, pair in enumerate(pairs, 1):
            for browser, token, (value, _kept) in zip((first, second), tokens, pair, strict=True):
                data = {"csrf_token": token, "answer": value, "go": "next"}
                posts.append(partial(browser.post, f"{url}/items/{n}", data=data))
    assert len(posts) == 200
    assert _at_once(posts) == [302] * 200

    attempt_ids = [int(url.rsplit("/", 1)[1]) for _f, _s, url in tabs]
    with app.app_context():
        db = get_session()
        assert len(db.scalars(select(Attempt)).all()) == LEARNERS  # one attempt each
        per_attempt = Counter(db.scalars(select(Response.attempt_id)))
        assert per_attempt == dict.fromkeys(attempt_ids, 4), per_attempt
        plans = {a.id: [e["item"] for e in a.plan] for a in db.scalars(select(Attempt))}
        for response in db.scalars(select(Response)):
            n = plans[response.attempt_id].index(response.item_id)
            assert response.answer in [kept for _posted, kept in pairs[n]], response.answer

    # Each learner submits from both tabs (a double click) while the second tab saves a
    # changed answer: the submission scores what was saved before it, and a save after
    # it is refused, so no answer is left unscored.
    posts = []
    for first, second, url in tabs:
        token = csrf_token(first.get(f"{url}/review").get_data(as_text=True))
        other = csrf_token(second.get(f"{url}/items/4").get_data(as_text=True))
        posts.append(partial(first.post, f"{url}/submit", data={"csrf_token": token}))
        posts.append(partial(second.post, f"{url}/submit", data={"csrf_token": other}))
        late = {"csrf_token": other, "answer": pairs[3][0][0], "go": "review"}
        posts.append(partial(second.post, f"{url}/items/4", data=late))
    responses: list[Any] = []

    def kept(post: Any) -> Any:
        response = post()
        responses.append(response)
        return response

    assert _at_once([partial(kept, p) for p in posts]) == [302] * len(posts)
    landed = Counter(urlsplit(r.headers["Location"]).path.rsplit("/", 1)[1] for r in responses)
    assert landed["result"] >= 2 * LEARNERS  # both submits; a refused late save too
    assert landed["result"] + landed["review"] == 3 * LEARNERS
    with app.app_context():
        db = get_session()
        attempts = db.scalars(select(Attempt)).all()
        assert {a.status for a in attempts} == {AttemptStatus.SUBMITTED}
        assert all(a.percentage is not None for a in attempts)
        unscored = db.scalar(select(func.count()).where(Response.fraction.is_(None)))
        assert unscored == 0
        assert db.scalar(select(func.count()).select_from(Response)) == 4 * LEARNERS
        scores = Counter(db.scalars(select(ScoreDelivery.attempt_id)))
        assert scores == dict.fromkeys(attempt_ids, 1), scores  # one score each, in the outbox
        evidence = Counter(db.scalars(select(Evidence.attempt_id)))
        assert set(evidence.values()) == {2}, evidence  # two competences measured, once
        people = db.scalars(select(Person.sub).where(Person.sub.like("race-%"))).all()
        assert len(people) == LEARNERS


def test_a_submission_waits_for_a_save_under_way_and_scores_its_answer(
    app, lms, care, gradebook, postgresql_only
):
    """A save that has read the attempt as open holds the submission until it commits:
    the save is paused just before it writes the answer, the submission is sent, and only
    then is the save let go. Without the attempt's row lock the submission would score
    the attempt before the answer arrived, and the answer would be kept unscored."""
    link_id = place(lms, app, gradebook, build_mapping(app, lms, care))
    first, url = _tab(app, lms, link_id, "pause-1")
    second, _same = _tab(app, lms, link_id, "pause-1")
    pairs = _answers(first, url)
    token = csrf_token(first.get(f"{url}/items/1").get_data(as_text=True))
    other = csrf_token(second.get(f"{url}/review").get_data(as_text=True))
    paused, go = threading.Event(), threading.Event()
    saving: list[threading.Thread] = []

    def pause(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.current_thread() in saving and statement.startswith("INSERT INTO response"):
            paused.set()
            go.wait(10)

    done: dict[str, Any] = {}

    def save() -> None:
        data = {"csrf_token": token, "answer": pairs[0][0][0], "go": "next"}
        done["save"] = first.post(f"{url}/items/1", data=data)

    def submit() -> None:
        done["submit"] = second.post(f"{url}/submit", data={"csrf_token": other})

    engine = app.extensions["db_engine"]
    event.listen(engine, "before_cursor_execute", pause)
    try:
        saver = threading.Thread(target=save)
        saving.append(saver)
        saver.start()
        assert paused.wait(10)
        submitter = threading.Thread(target=submit)
        submitter.start()
        submitter.join(1.5)  # the submission waits for the save's transaction …
        assert submitter.is_alive(), "the submission did not wait for the save under way"
        go.set()
        saver.join(10)
        submitter.join(10)
    finally:
        go.set()
        event.remove(engine, "before_cursor_execute", pause)
    assert done["save"].status_code == 302 and "/items/2" in done["save"].headers["Location"]
    assert done["submit"].status_code == 302
    with app.app_context():
        db = get_session()
        (response,) = db.scalars(select(Response)).all()
        assert response.answer == pairs[0][0][1]
        assert response.fraction is not None  # … and scores the answer it brought
        assert db.scalar(select(func.count()).select_from(ScoreDelivery)) == 1


def test_the_last_missing_mapping_submitted_from_two_tabs_at_once_issues_one_certificate(
    app, lms, care, postgresql_only
):
    """Submitting scores, records evidence and issues the certifications it completes in
    the submission's transaction: a double submission at the same instant (two tabs) does
    that once — one score, one set of evidence, one certificate."""
    from tests.functional.test_certification_flow import (
        _answer_all,
        _custom_mapping,
        build_certification,
        certificates_in_db,
        person_id,
        record_attendance,
    )
    from tests.functional.test_mapping_flow import NURSE_RIGHT

    built = build_certification(app, lms, care)
    tabs = []
    for _ in range(2):
        browser = TestLms.browser(app)
        response = lms.signed_launch(browser, "learner", change=_custom_mapping())
        tabs.append((browser, lms.landing_path(response)))
    attendance = record_attendance(app, lms, built["courses"]["praksis"], person_id(app, "101"))
    assert attendance.status_code == 302
    assert certificates_in_db(app) == []
    # the first tab answers every item; both are on the review page when they submit
    first, second = tabs[0][0], tabs[1][0]
    start = second.get(tabs[1][1]).get_data(as_text=True)
    submit_form = _answer_all(first, tabs[0][1], NURSE_RIGHT, submit=False)
    form = next(f for f in parse_forms(start) if "/attempts" in (f["action"] or ""))
    continued = second.post(form["action"], data=form["fields"]).headers["Location"]
    review_url = continued.split("/items/")[0] + "/review"
    other = csrf_token(second.get(review_url).get_data(as_text=True))
    posts = [
        partial(first.post, submit_form["action"], data=submit_form["fields"]),
        partial(second.post, submit_form["action"], data={"csrf_token": other}),
    ]
    assert _at_once(posts) == [302, 302]
    with app.app_context():
        db = get_session()
        (attempt,) = db.scalars(select(Attempt)).all()
        assert attempt.status == AttemptStatus.SUBMITTED and attempt.percentage == 100.0
        assert db.scalar(select(func.count()).select_from(Evidence)) == 2
    (certificate,) = certificates_in_db(app)
    assert certificate.method == "automatic"
