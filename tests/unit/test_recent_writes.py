"""``db.RecentWrites``: a write is skipped only while this process's note of it holds."""

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from lti_tool.db import RecentWrites

COURSE = ("organisation", "platform", "course")


def _transaction(session: Session) -> None:
    session.execute(text("SELECT 1"))  # a transaction begun, as a request's


def test_a_row_forgotten_stays_forgotten_when_another_request_noted_it_meanwhile():
    """Request A rewrites the row otherwise (a placed link's launch renames the course);
    request B, a plain launch with the old names, notes them and commits first. Once A
    commits, the old names must not skip the next write."""
    engine = create_engine("sqlite://")
    recent = RecentWrites(max_age=300.0, max_rows=10)
    with Session(engine) as a, Session(engine) as b:
        _transaction(a)
        recent.forget(a, COURSE)
        _transaction(b)
        recent.note(b, COURSE, ("old label",))
        b.commit()
        assert recent.unchanged(b, COURSE, ("old label",))  # B's write, as it committed
        a.commit()

        assert not recent.unchanged(a, COURSE, ("old label",))


def test_a_note_is_kept_once_committed_and_not_when_rolled_back():
    engine = create_engine("sqlite://")
    recent = RecentWrites(max_age=300.0, max_rows=10)
    with Session(engine) as session:
        _transaction(session)
        recent.note(session, COURSE, ("label",))
        assert not recent.unchanged(session, COURSE, ("label",))  # not before the commit
        session.rollback()
        assert not recent.unchanged(session, COURSE, ("label",))
        _transaction(session)
        recent.note(session, COURSE, ("label",))
        session.commit()

        assert recent.unchanged(session, COURSE, ("label",))
        assert not recent.unchanged(session, COURSE, ("another label",))
