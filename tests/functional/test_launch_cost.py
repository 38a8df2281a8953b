"""What a launch costs the database, and that launches at once all land.

The launch POST reads the platform and deployment from the registry cache and writes in
two statements and one commit: the person (one upsert), the launch; and the course in a
third when this process has not written the same names and roster offer for it in the
last five minutes (its first launch here, or a course renamed in the LMS). It
reads the person's grants in a fourth only when they were ever granted a permission in
the tool (``Person.ever_granted``); most people never are, and none of the personas here
(their LMS roles decide). Statements of the database state store (no Redis: the state
and the nonce are rows) are counted apart. A launch then answers with its landing page
itself, in the same request, after that commit: the launch, its person and their grants
are not read again (the launch read them), nor the organisation (the registry cache holds
it with the deployment), only the page's own reads. Measured with ``tests.statements``
(SQLite and PostgreSQL alike), statements after the commit:

=========  ===========================  ====================================
persona    launch POST (2 + page)       the page's GET again
=========  ===========================  ====================================
learner    2 + 2 = 4                    3
designer   2 + 0 = 2                    1
manager    2 + 3 = 5                    4
admin      2 + 3 = 5                    4
=========  ===========================  ====================================

Any later page reads the launch (with its person, deployment, platform and organisation)
in one statement, and the grants in another only for someone ever granted a permission.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from lti_tool.db import get_session, reads_only
from lti_tool.lti import claims as c
from lti_tool.models import Launch, Organisation, Person
from tests.fakes.lms import TestLms
from tests.statements import (
    engine_events,
    statements_in_transaction,
    statements_rendered_again,
    statements_run,
)

#: The state store's own statements when it is the database (no Redis).
STATE_TABLES = ("lti_login_state", "lti_used_nonce")


@contextmanager
def commits_run(app: Any) -> Iterator[list[int]]:
    """The commits the app makes inside the block (their count: the list's length)."""
    done: list[int] = []

    def record(conn: Any) -> None:
        done.append(1)

    with engine_events(app, commit=record):
        yield done


def _without_state_store(statements: list[str]) -> list[str]:
    """The statements of the launch itself: not the database state store's (its rows, and
    the savepoint that consumes the nonce)."""
    return [
        s
        for s in statements
        if not any(table in s for table in STATE_TABLES)
        and not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


def _launch_form(lms: TestLms, browser: Any, persona: str) -> dict[str, str]:
    """Login and cookie check done: the form the platform posts to the launch."""
    return lms.authorize(lms.login(browser, persona))


@contextmanager
def statements_and_commits(app: Any) -> Iterator[list[str]]:
    """The statements the app runs inside the block, and ``COMMIT`` where it commits."""
    run: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        run.append(statement)

    def committed(conn: Any) -> None:
        run.append("COMMIT")

    with engine_events(app, before_cursor_execute=record, commit=committed):
        yield run


#: The launch's own statements, in order (after the state store's), for someone never
#: granted a permission; someone granted one has their grants read after the upsert.
LAUNCH_WRITES = ("INSERT INTO person", "INSERT INTO launch")
COURSE_WRITE = "INSERT INTO course_roster"
GRANTS_READ = "SELECT permission_grant"


def _split_at_the_commit(run: list[str]) -> tuple[list[str], list[str]]:
    """The launch's statements (to its commit) and the page's after it."""
    assert "COMMIT" in run, run
    at = run.index("COMMIT")
    return run[:at], [s for s in run[at + 1 :] if s != "COMMIT"]


def test_a_launch_in_a_known_course_costs_two_statements_and_one_commit_before_its_page(app, lms):
    assert lms.landed(lms.launch(TestLms.browser(app), "learner"))  # the course known
    on_redis = app.extensions["lti"].redis is not None

    for persona in ("learner2", "learner"):  # a new person, then a known one
        browser = TestLms.browser(app)
        form = _launch_form(lms, browser, persona)
        with statements_and_commits(app) as run:
            response = lms.post_launch(browser, form)

        assert response.status_code == 200, response.get_data(as_text=True)  # the page
        assert lms.landing_path(response) == "/learner/"
        launch, page = _split_at_the_commit(_without_state_store(run))
        # the launch's writes are committed first: a page that fails leaves it recorded
        assert len(launch) == 2, "\n".join(launch)
        assert [s.startswith(w) for s, w in zip(launch, LAUNCH_WRITES, strict=True)] == [
            True
        ] * 2, launch
        assert "ON CONFLICT" in launch[0]
        assert not [s for s in run if s.startswith("UPDATE deployment")]
        if on_redis:
            assert [s for s in run if s != "COMMIT"] == launch + page
        # the page: neither the launch, the person nor the grants read again
        read_again = ("SELECT launch.", "SELECT person", "SELECT permission_grant")
        read_again += ("SELECT organisation",)  # nor the organisation: the registry's
        assert not [s for s in page if s.startswith(read_again)], page
        # the person's job roles and units with the roles and units to choose from (one
        # statement), the certificates
        assert len(page) == 2, "\n".join(page)
        assert run.count("COMMIT") <= 2  # the launch's, and the page's (nothing to write)


def _course_writes(run: list[str]) -> list[str]:
    return [s for s in run if s.startswith(COURSE_WRITE)]


def test_the_course_is_written_at_its_first_launch_in_a_process_and_when_it_changes(
    app, make_app, lms
):
    """A process writes a course once, then again only when a launch brings other names
    or another roster offer: a course renamed in the LMS is renamed here at its next
    launch."""
    renamed = {c.CONTEXT: {"id": "2", "label": "INFOSIK", "title": "Informasjonstryggleik"}}
    launches = [
        (app, {}, 1),  # the course's first launch: written
        (app, {}, 0),  # the same again: nothing to write
        (app, renamed, 1),  # renamed in the LMS
        (app, renamed, 0),
        (make_app(), renamed, 1),  # another process writes it once itself
        (app, {}, 1),  # the first names again: written
    ]
    for tool, change, written in launches:
        with statements_and_commits(tool) as run:
            assert lms.landed(lms.signed_launch(TestLms.browser(tool), "learner", change=change))
        assert len(_course_writes(run)) == written, (change, run)

    manager = TestLms.browser(app)
    lms.signed_launch(manager, "manager", change=renamed)
    courses = manager.get("/manager/courses/").get_data(as_text=True)
    assert "Informasjonstryggleik" in courses and "Informasjonssikkerhet" not in courses


def test_a_course_write_is_kept_as_done_only_once_its_transaction_commits(app, lms):
    """A write rolled back, or made in a savepoint, is written again the next time; one
    committed is not, whatever savepoints came and went beside it."""
    from lti_tool.services.course_roster import RECENT_COURSE_WRITES as recent

    assert lms.landed(lms.launch(TestLms.browser(app), "learner"))
    course = (1, 1, "2")
    first, renamed = ("INFOSIK", "Informasjonssikkerhet", None), ("INFOSIK", "Annet", None)
    with app.app_context():
        session = get_session()

        def begin() -> None:
            session.execute(select(1))
            recent.forget(session, course)

        begin()
        recent.note(session, course, first)
        session.commit()
        assert recent.unchanged(session, course, first)
        assert not recent.unchanged(session, course, renamed)

        begin()
        recent.note(session, course, renamed)
        session.rollback()
        session.commit()  # a commit without the note (and no statement: nothing begun)
        assert not recent.unchanged(session, course, renamed)

        begin()
        recent.note(session, course, renamed)
        with session.begin_nested():  # released: the transaction goes on
            session.execute(select(2))
        session.rollback()
        assert not recent.unchanged(session, course, renamed)

        begin()
        with session.begin_nested():
            recent.note(session, course, renamed)  # inside a savepoint: not kept
        session.commit()
        assert not recent.unchanged(session, course, renamed)

        begin()
        recent.note(session, course, renamed)
        try:
            with session.begin_nested():  # a savepoint rolled back alone
                raise ValueError
        except ValueError:
            pass
        session.commit()
        assert recent.unchanged(session, course, renamed)

        begin()
        recent.note(session, course, first)
        session.close()  # ended without a commit
        begin()
        session.commit()
        assert not recent.unchanged(session, course, first)


def test_login_and_cookie_check_need_no_sql_with_the_registry_cached(app, lms):
    assert lms.landed(lms.launch(TestLms.browser(app), "learner"))
    on_redis = app.extensions["lti"].redis is not None
    browser = TestLms.browser(app)
    params = lms.platform.login_params("learner")

    with statements_run(app) as at_login, commits_run(app) as commits:
        initiation = browser.get("/lti/login", query_string=params)
        checked = browser.get(initiation.headers["Location"])

    assert checked.status_code == 302
    assert _without_state_store(at_login) == []
    if on_redis:
        assert at_login == [] and commits == []


@contextmanager
def redis_round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[Any]]]:
    """The round trips to Redis inside the block, each as the commands it sent (a pipeline
    is one), whichever client sends them (the tool's and the rate limiter's)."""
    from redis.connection import AbstractConnection

    sent: list[list[Any]] = []
    original = AbstractConnection.send_packed_command

    def send(self: Any, command: Any, check_health: bool = True) -> None:
        sent.append([command])
        original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", send)
    yield sent
    monkeypatch.setattr(AbstractConnection, "send_packed_command", original)


def test_a_new_browsers_login_and_cookie_check_take_six_redis_round_trips(app, lms, monkeypatch):
    """The login: its rate limit, the registry's generation, the held login; the check:
    the held login read, the state saved, then the held login used up (in that order, so
    that a Redis too full for the state leaves the login held). The redirects' own policy
    needs no platform origins, so no generation read for them."""
    if app.extensions["lti"].redis is None:
        pytest.skip("the state store is the database without Redis")
    assert lms.landed(lms.launch(TestLms.browser(app), "learner"))
    browser = TestLms.browser(app)
    params = lms.platform.login_params("learner")

    with redis_round_trips(monkeypatch) as at_login:
        initiation = browser.get("/lti/login", query_string=params)
    with redis_round_trips(monkeypatch) as at_check:
        checked = browser.get(initiation.headers["Location"])

    assert lms.is_check(initiation.headers["Location"]) and checked.status_code == 302
    assert checked.headers["Content-Security-Policy"] == "default-src 'none'; base-uri 'none'"
    assert len(at_login) == 3, at_login
    assert len(at_check) == 3, at_check


def test_the_start_page_got_again_reads_the_launch_once(app, lms):
    """A reload GETs the start page's own address: as any page, it reads the launch (with
    its person, deployment, platform and organisation) in one statement."""
    warm = TestLms.browser(app)  # the process has read the platforms' origins once
    assert lms.landing_path(lms.launch(warm, "learner")) == "/learner/"
    browser = TestLms.browser(app)
    launched = lms.launch(browser, "learner")
    assert lms.landing_path(launched) == "/learner/"

    with statements_run(app) as run, commits_run(app) as commits:
        page = browser.get(lms.landing_path(launched))

    assert page.status_code == 200
    assert "Demo Ansatt" in page.get_data(as_text=True)
    assert not [s for s in run if s.startswith("INSERT INTO lti_used_nonce")]  # no handoff
    launch_reads = [s for s in run if "FROM launch" in s]
    assert len(launch_reads) == 1, launch_reads
    assert not [s for s in run if "FROM deployment" in s or "FROM platform" in s]
    # the launch with its person, deployment, platform and organisation (no grants: the
    # learner was never granted any); the person's job roles and units with the job roles
    # and units to choose from (none held), in one statement; the certificates
    assert len(run) == 3, "\n".join(run)
    assert not [s for s in run if s.startswith(GRANTS_READ)]
    assert len(commits) <= 1


def test_a_platform_disabled_elsewhere_refuses_the_next_launch_at_once(app, lms, make_app):
    """The registry cache of one process learns of another's change through Redis."""
    if app.extensions["lti"].redis is None:
        pytest.skip("without Redis each process sees another's change after its cache time")
    other = make_app()
    assert lms.landed(lms.launch(TestLms.browser(app), "learner"))  # cached here
    runner = other.test_cli_runner()
    disabled = runner.invoke(
        args=[
            "platform",
            "disable",
            "--issuer",
            lms.platform.issuer,
            "--client-id",
            lms.platform.client_id,
        ]
    )
    assert disabled.exit_code == 0, disabled.output

    login = lms.login(TestLms.browser(app), "learner")

    assert login.response.status_code == 403
    assert "platform_disabled" in login.response.get_data(as_text=True)


TABS = 8


def test_the_same_learner_launching_in_eight_tabs_at_once_lands_every_time(app, lms):
    if app.extensions["db_engine"].dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    tabs = [TestLms.browser(app) for _ in range(TABS)]
    forms = [_launch_form(lms, tab, "learner") for tab in tabs]
    start = threading.Barrier(TABS)
    answers: list[tuple[int, int]] = []
    lock = threading.Lock()

    def run(tab: Any, form: dict[str, str]) -> None:
        start.wait(10)
        launched = lms.post_launch(tab, form)  # the start page, or a refusal
        address = TestLms.landing_path(launched) if TestLms.landed(launched) else "/learner/"
        page = tab.get(address)
        with lock:
            answers.append((launched.status_code, address, page.status_code))

    threads = [threading.Thread(target=run, args=pair) for pair in zip(tabs, forms, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not any(t.is_alive() for t in threads)
    assert answers == [(200, "/learner/", 200)] * TABS
    with app.app_context():
        session = get_session()
        assert session.scalar(select(func.count()).select_from(Person)) == 1
        assert session.scalar(select(func.count()).select_from(Launch)) == TABS


#: The start page of each persona the benchmark launches (``python -m bench all``): the
#: launch's statements to its commit (no one here was granted a permission: their LMS
#: roles decide), the page's own after it, and the page's statements when got again (the
#: launch with its person, deployment, platform and organisation, then the page's own).
FIRST_PAGES = {
    # the person's job roles and units with the roles and units to choose from (one
    # statement: the person holds no job role); the certificates
    "learner": ("/learner/", 2, 2, 3),
    "designer": ("/designer/", 2, 0, 1),
    # everyone of the organisation, their job roles and units
    "manager": ("/manager/", 2, 3, 4),
    # the platforms, their deployments (with their launch counts), the deployments
    "admin": ("/admin/", 2, 3, 4),
}


@pytest.mark.parametrize("persona", sorted(FIRST_PAGES))
def test_each_start_page_costs_its_statements(app, lms, persona):
    path, launch_statements, in_launch, again = FIRST_PAGES[persona]
    warm = TestLms.browser(app)
    assert lms.landing_path(lms.launch(warm, persona)) == path
    browser = TestLms.browser(app)
    form = _launch_form(lms, browser, persona)

    with statements_and_commits(app) as run:
        launched = lms.post_launch(browser, form)

    assert launched.status_code == 200, launched.get_data(as_text=True)
    assert lms.landing_path(launched) == path
    launch, page = _split_at_the_commit(_without_state_store(run))
    assert len(launch) == launch_statements, "\n".join(launch)
    assert GRANTS_READ not in "".join(launch), launch
    assert len(page) == in_launch, "\n".join(page)
    assert not [s for s in page if s.startswith(("SELECT launch.", "SELECT permission_grant"))]

    with statements_run(app) as got, commits_run(app) as commits:
        reloaded = browser.get(path)

    assert reloaded.status_code == 200
    assert len(got) == again, "\n".join(got)
    assert len([s for s in got if s.startswith("SELECT launch.id")]) == 1  # the launch, once
    assert len(commits) <= 1
    assert again - len(page) == 1  # the GET reads the launch again


#: Whether a persona's start page only reads (``db.reads_only``): then its statements,
#: after the launch's commit and when got again, run outside a transaction (no BEGIN and
#: no COMMIT sent). The manager's writes (its view of everyone is audited): in one.
READS_ONLY_START_PAGES = {"learner": True, "designer": True, "admin": True, "manager": False}


@pytest.mark.parametrize("persona", sorted(READS_ONLY_START_PAGES))
def test_a_start_page_that_only_reads_reads_outside_a_transaction(app, lms, persona):
    outside = READS_ONLY_START_PAGES[persona]
    lms.launch(TestLms.browser(app), persona)  # the course known
    browser = TestLms.browser(app)
    form = _launch_form(lms, browser, persona)

    with statements_in_transaction(app) as run:
        launched = lms.post_launch(browser, form)

    assert launched.status_code == 200
    launch_writes = [s for s, _ in run if s.startswith(LAUNCH_WRITES)]
    assert len(launch_writes) == 2 and all(held for s, held in run if s in launch_writes)
    after = run[run.index((launch_writes[-1], True)) + 1 :]
    assert [held for _, held in after] == [not outside] * len(after), after

    with statements_in_transaction(app) as got:
        reloaded = browser.get(lms.landing_path(launched))

    assert reloaded.status_code == 200
    assert got and [held for _, held in got] == [not outside] * len(got), got


def _rename_by_statement() -> None:
    get_session().execute(update(Organisation).values(name="Renamed"))


def _rename_by_flush() -> None:
    session = get_session()
    for organisation in session.scalars(select(Organisation)):
        organisation.name = "Renamed"
    session.flush()


def _rename_by_text() -> None:
    get_session().execute(text("UPDATE organisation SET name = 'Renamed'"))


@pytest.mark.parametrize("rename", [_rename_by_statement, _rename_by_flush, _rename_by_text])
def test_a_view_marked_as_only_reading_cannot_write(make_app, lms, rename):
    """A ``reads_only`` view that writes is a mistake: its writes would each commit on
    their own. The write is refused (``db.WriteWhileReadingOnly``, a 500) before it
    reaches the database."""
    app = make_app()

    @reads_only
    def renames() -> str:
        rename()
        return "renamed"

    app.add_url_rule("/renames", "renames", renames)
    with app.app_context():
        names = get_session().scalars(select(Organisation.name)).all()

    answered = app.test_client().get("/renames")

    assert answered.status_code == 500
    with app.app_context():
        assert get_session().scalars(select(Organisation.name)).all() == names


def test_a_refusal_by_the_rate_limit_says_when_to_try_again(make_app, lms):
    """The limiter adds no headers to the responses it lets through (each would cost a
    Redis command): only its refusal says when to try again."""
    browser = make_app(LOGIN_RATE_LIMIT="2 per minute").test_client()
    params = lms.platform.login_params("learner")

    answers = [browser.get("/lti/login", query_string=params) for _ in range(3)]

    assert [a.status_code for a in answers] == [302, 302, 429]
    assert not [a for a in answers if "X-RateLimit-Limit" in a.headers]
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60


def test_a_learners_launch_and_start_page_need_no_sql_rendered_again(app, lms):
    """Every statement of the learner's launch POST (with its start page) is rendered once
    and kept compiled: none holds an expanding ``IN`` parameter, which SQLAlchemy renders
    into the SQL again on every execution (``db.among_values``)."""
    browser = TestLms.browser(app)
    form = _launch_form(lms, browser, "learner")

    with statements_rendered_again(app) as rendered_again:
        launched = lms.post_launch(browser, form)

    assert launched.status_code == 200
    assert lms.landing_path(launched) == "/learner/"
    assert rendered_again == []


def test_a_signed_launch_takes_two_redis_round_trips_and_none_for_its_rate_limit(
    app, lms, monkeypatch
):
    """The launch: its login and nonce looked up, then used up. Its rate limit counts
    only refused launches, so a launch that lands sends it nothing."""
    if app.extensions["lti"].redis is None:
        pytest.skip("the state store is the database without Redis")
    assert lms.landed(lms.launch(TestLms.browser(app), "learner"))
    browser = TestLms.browser(app)
    form = lms.authorize(lms.login(browser, "learner"))

    with redis_round_trips(monkeypatch) as at_launch:
        launched = lms.post_launch(browser, form)

    assert lms.landed(launched)
    assert not [sent for sent in at_launch if b"LIMITS:LIMITER/" in b"".join(sent[0])], at_launch
    assert len(at_launch) == 2, at_launch
