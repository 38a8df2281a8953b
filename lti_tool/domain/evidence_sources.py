"""Where evidence comes from (``Evidence.source``) and how far it can be trusted
(``Evidence.confidence``): one registry, so a new source is one line here.

The source decides the weight in the holding rule (``domain.coverage.evidence_weight``):
what the person says of themselves (a self-assessment in a mapping, a course they report
having done) never outweighs evidence measured or confirmed by someone else. The
confidence is what a reader is shown beside the level; a record stores the source's
default unless its writer knows better (a score from the LMS below the pass mark, …).
"""

from __future__ import annotations

import enum

from lti_tool.domain.mapping_results import KNOWLEDGE_TEST, SELF_ASSESSMENT


class Confidence(enum.StrEnum):
    LOW = "low"
    """The person's own word."""
    MEDIUM = "medium"
    """Measured by a test or the LMS, unsupervised."""
    HIGH = "high"
    """Seen by an instructor or assessor."""


SELF_REPORTED = "self_reported"
"""The person says they did it (a plan item marked done, a course taken elsewhere)."""
INSTRUCTOR_CONFIRMED = "instructor_confirmed"
"""An instructor or assessor confirmed the level (a classroom course, a practical test)."""
LMS_SCORE = "lms_score"
"""A score the LMS reported for an e-learning activity."""
LMS_COMPLETION = "lms_completion"
"""The LMS reported an e-learning activity completed (no score)."""
ATTENDANCE = "attendance"
"""Attendance at a classroom course was recorded."""

#: Every source with its default confidence.
SOURCES: dict[str, Confidence] = {
    KNOWLEDGE_TEST: Confidence.MEDIUM,
    SELF_ASSESSMENT: Confidence.LOW,
    SELF_REPORTED: Confidence.LOW,
    INSTRUCTOR_CONFIRMED: Confidence.HIGH,
    LMS_SCORE: Confidence.MEDIUM,
    LMS_COMPLETION: Confidence.MEDIUM,
    ATTENDANCE: Confidence.MEDIUM,
}

#: The person's own word: weight 0 in the holding rule, never counted by certification rules.
SELF_SOURCES = frozenset({SELF_ASSESSMENT, SELF_REPORTED})

#: That the person took an activity (attended it, was confirmed, reported it, or the LMS
#: holds its completion): at least the level it develops, not a measure of where they
#: stand, so it never lowers a higher level that still counts (``domain.coverage.replaces``).
#: A mapping's results (a knowledge test, a self-assessment) are measures.
COURSE_SOURCES = frozenset(
    {ATTENDANCE, INSTRUCTOR_CONFIRMED, SELF_REPORTED, LMS_SCORE, LMS_COMPLETION}
)


def default_confidence(source: str) -> Confidence:
    """The confidence evidence of ``source`` carries when its writer says nothing else."""
    return SOURCES.get(source, Confidence.MEDIUM)
