"""One rule for a cell's status: the conditions the coordinators' figures count each
status by in SQL (services.coverage_figures.status_conditions, with the expiry of
expires_sql) agree with domain.coverage.cell_status on every case, on the database the
tests run on (SQLite, or PostgreSQL via TEST_DATABASE_URL), month ends and the instants
around each boundary included: the status's condition alone holds (none for met)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlalchemy import Integer, literal, select, union_all
from sqlalchemy import case as sql_case

from lti_tool.db import UTCDateTime, get_session
from lti_tool.domain.certification_rules import add_months
from lti_tool.domain.coverage import CellStatus, Holding, cell_status
from lti_tool.services.coverage_figures import COUNTED, expires_sql, status_conditions

TICK = dt.timedelta(microseconds=1)
NOWS = [
    dt.datetime(2027, 3, 15, 12, 0, tzinfo=dt.UTC),
    dt.datetime(2027, 2, 28, 12, 0, tzinfo=dt.UTC),  # a short month's last day
    dt.datetime(2028, 2, 29, 23, 59, 59, tzinfo=dt.UTC),  # a leap day
    dt.datetime(2027, 4, 1, tzinfo=dt.UTC),  # a month's end (as snapshots take it)
    dt.datetime(2027, 3, 30, 6, 0, tzinfo=dt.UTC),
]
RENEWALS = [1, 12, 24]
EXPIRING_DAYS = [0, 30]
MONTH_ENDS = [
    dt.datetime(2026, 1, 31, 13, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 8, 31, 11, 0, tzinfo=dt.UTC),
    dt.datetime(2027, 1, 29, 23, 0, tzinfo=dt.UTC),
    dt.datetime(2027, 1, 31, 1, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 2, 28, 23, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC),
]


def _case(
    now: dt.datetime, days: int, level: int | None, recorded: Any, renewal: Any, until: Any
) -> dict[str, Any]:
    return {
        "now": now,
        "days": days,
        "level": level,
        "recorded": recorded,
        "renewal": renewal,
        "until": until,
    }


def _cases() -> list[dict[str, Any]]:
    """Evidence whose renewal (or own end) falls just before, on and just after ``now``
    and the end of the expiring window, evidence of month-end days whose renewal falls
    in a shorter month, no renewal (None, 0), no evidence, a level below."""
    cases = []
    for now, days in itertools.product(NOWS, EXPIRING_DAYS):
        soon = now + dt.timedelta(days=days)
        valid = [None, now - TICK, now, now + TICK, soon, soon + TICK]
        for renewal in RENEWALS:
            starts = [add_months(edge, -renewal) for edge in (now, soon)]
            dates = [d + k * TICK for d in starts for k in (-1, 0, 1)] + MONTH_ENDS
            for recorded, until in itertools.product(dates, valid):
                cases.append(_case(now, days, 2, recorded, renewal, until))
        for renewal, until in itertools.product([None, 0], valid):
            cases.append(_case(now, days, 3, now - dt.timedelta(days=400), renewal, until))
        for renewal in [None, 0, 12]:
            cases.append(_case(now, days, None, None, renewal, None))
            cases.append(_case(now, days, 1, now - dt.timedelta(days=3), renewal, None))
            cases.append(_case(now, days, 1, now - dt.timedelta(days=900), renewal, now))
    return cases


def _sql_statuses(cases: list[dict[str, Any]]) -> list[set[str]]:
    """The statuses whose condition holds, for each case."""
    session = get_session()
    found: list[set[str]] = []
    for start in range(0, len(cases), 400):  # SQLite: at most 500 selects in a union
        chunk = cases[start : start + 400]
        selects = []
        for i, c in enumerate(chunk):
            conditions = status_conditions(
                literal(2, Integer),
                literal(c["level"], Integer),
                expires_sql(
                    literal(c["renewal"], Integer),
                    literal(c["recorded"], UTCDateTime()),
                    literal(c["until"], UTCDateTime()),
                ),
                now=c["now"],
                expiring_days=c["days"],
            )
            selects.append(
                select(
                    literal(start + i, Integer).label("i"),
                    *(sql_case((conditions[s], 1), else_=0).label(s.value) for s in COUNTED),
                )
            )
        rows = session.execute(union_all(*selects)).all()
        found += [
            {s.value for s, held in zip(COUNTED, held, strict=True) if held}
            for _, *held in sorted(rows)
        ]
    return found


def test_the_sql_status_is_the_python_rule(app):
    cases = _cases()
    assert len(cases) > 2000
    with app.app_context():
        in_sql = _sql_statuses(cases)
    seen = set()
    for case, conditions_held in zip(cases, in_sql, strict=True):
        holding = (
            Holding(case["level"], case["recorded"], case["until"])
            if case["level"] is not None
            else None
        )
        expected = cell_status(
            2, case["renewal"], holding, now=case["now"], expiring_days=case["days"]
        )
        assert conditions_held == ({expected.value} - {"met"}), case
        seen.add(expected)
    assert seen == set(CellStatus)  # every status reached
