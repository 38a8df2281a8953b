"""The grade a mapping's gradebook column gets from a person's submitted attempts: the
rule the submission applies in Python and a launch's catch-up applies to what it reads."""

from __future__ import annotations

import datetime as dt

from lti_tool.models import GradePolicy
from lti_tool.services.gradebook import chosen_grade

T = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T + dt.timedelta(minutes=minutes)


def test_the_highest_attempt_the_first_to_reach_it():
    attempts = [(1, 60.0, at(0)), (2, 80.0, at(10)), (3, 80.0, at(20)), (4, 70.0, at(30))]
    assert chosen_grade(GradePolicy.HIGHEST, attempts) == (80.0, at(10))
    assert chosen_grade(GradePolicy.HIGHEST, reversed(attempts)) == (80.0, at(10))


def test_the_latest_attempt_whatever_its_percentage():
    attempts = [(1, 90.0, at(0)), (3, 40.0, at(20)), (2, 70.0, at(10))]
    assert chosen_grade(GradePolicy.LATEST, attempts) == (40.0, at(20))


def test_the_latest_attempt_at_the_same_moment_the_last_made():
    attempts = [(7, 40.0, at(20)), (9, 55.0, at(20)), (8, 90.0, at(20))]
    assert chosen_grade(GradePolicy.LATEST, attempts) == (55.0, at(20))


def test_attempts_without_a_percentage_give_no_grade():
    assert chosen_grade(GradePolicy.HIGHEST, []) is None
    assert chosen_grade(GradePolicy.LATEST, [(1, None, at(0))]) is None
    assert chosen_grade(GradePolicy.LATEST, [(1, None, at(5)), (2, 30.0, at(0))]) == (30.0, at(0))
