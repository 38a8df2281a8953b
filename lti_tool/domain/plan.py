"""What a learning plan makes of a gap analysis: which competences call for action and
which activities are offered for them. Plain data in, plain data out.

A competence calls for action unless it is ``met``: a gap, nothing shown yet, expired,
or expiring within the organisation's window (``domain.coverage.cell_status`` decides
the status: one rule with the competence matrix). An activity is offered for it when it
develops the competence to at least the required level: a course to a lower level does
not close the gap, and for a renewal the required level is what must be shown again.
"""

from __future__ import annotations

from lti_tool.domain.coverage import CellStatus

#: The statuses that call for action, the most urgent first.
ACTION_ORDER = (
    CellStatus.EXPIRED,
    CellStatus.GAP,
    CellStatus.NEVER_ASSESSED,
    CellStatus.EXPIRING,
)
NEEDS_ACTION = frozenset(ACTION_ORDER)


def urgency(status: CellStatus, mandatory: bool) -> tuple[int, int]:
    """Sort key of a line: action before none, the most urgent status first, a
    mandatory requirement before a recommended one."""
    rank = ACTION_ORDER.index(status) if status in NEEDS_ACTION else len(ACTION_ORDER)
    return (rank, 0 if mandatory else 1)


def offers(status: CellStatus, required_level: int, activity_level: int) -> bool:
    """Whether an activity developing the competence to ``activity_level`` is offered
    for a line of ``status`` that requires ``required_level``."""
    return status in NEEDS_ACTION and activity_level >= required_level
