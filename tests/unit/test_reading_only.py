"""Which statements a request marked as only reading may run (``db.reads_only``)."""

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from lti_tool.db import WriteWhileReadingOnly, _is_select, read_outside_transaction


@pytest.mark.parametrize(
    ("statement", "reads"),
    [
        ("SELECT launch.id FROM launch", True),
        ("  select 1", True),
        ("WITH tallies AS (SELECT 1) SELECT * FROM tallies", True),
        ("WITH t AS (SELECT updated_at FROM x) SELECT * FROM t", True),
        ("WITH gone AS (DELETE FROM launch RETURNING id) SELECT count(*) FROM gone", False),
        ("WITH p AS (INSERT INTO person (sub) VALUES ('a') RETURNING id) SELECT 1", False),
        ("with g as (delete from launch returning id) select count(*) from g", False),
        ("UPDATE organisation SET name = 'x'", False),
        ("INSERT INTO launch (id) VALUES (1)", False),
        ("DELETE FROM launch", False),
    ],
)
def test_only_queries_that_change_nothing_count_as_reading(statement, reads):
    assert _is_select(statement) is reads


@pytest.mark.parametrize("end", [Session.commit, Session.rollback, Session.close])
def test_a_session_reads_only_until_its_transaction_ends_however_it_ends(end):
    engine = create_engine("sqlite://")
    with Session(engine) as session:
        read_outside_transaction(session)
        with pytest.raises(WriteWhileReadingOnly):
            session.execute(text("CREATE TABLE kept (x INTEGER)"))

        end(session)

        session.execute(text("CREATE TABLE kept (x INTEGER)"))  # a plain transaction again
        session.commit()
