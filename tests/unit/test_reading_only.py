"""Which statements a request marked as only reading may run (``db.reads_only``)."""

import pytest

from lti_tool.db import _is_select


@pytest.mark.parametrize(
    ("statement", "reads"),
    [
        ("SELECT launch.id FROM launch", True),
        ("  select 1", True),
        ("WITH tallies AS (SELECT 1) SELECT * FROM tallies", True),
        ("WITH t AS (SELECT updated_at FROM x) SELECT * FROM t", True),
        ("WITH gone AS (DELETE FROM launch RETURNING id) SELECT count(*) FROM gone", False),
        ("WITH p AS (INSERT INTO person (sub) VALUES ('a') RETURNING id) SELECT 1", False),
        ("UPDATE organisation SET name = 'x'", False),
        ("INSERT INTO launch (id) VALUES (1)", False),
        ("DELETE FROM launch", False),
    ],
)
def test_only_queries_that_change_nothing_count_as_reading(statement, reads):
    assert _is_select(statement) is reads
