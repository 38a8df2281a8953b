"""What a learning plan makes of a gap analysis: which competences call for action and
which activities are offered for them. Plain data in, plain data out.

A competence calls for action unless it is ``met``: a gap, nothing shown yet, expired,
or expiring within the organisation's window (``domain.coverage.cell_status`` decides
the status: one rule with the competence matrix). An activity is offered for it when it
develops the competence to at least the required level: a course to a lower level does
not close the gap, and for a renewal the required level is what must be shown again.
"""

from __future__ import annotations

import datetime as dt

from lti_tool.domain.coverage import CellStatus

#: The statuses that call for action, the most urgent first: what has run out, what
#: runs out soon, a gap, nothing shown yet.
ACTION_ORDER = (
    CellStatus.EXPIRED,
    CellStatus.EXPIRING,
    CellStatus.GAP,
    CellStatus.NEVER_ASSESSED,
)
NEEDS_ACTION = frozenset(ACTION_ORDER)
_NEVER = dt.datetime.max.replace(tzinfo=dt.UTC)


def urgency(
    status: CellStatus, mandatory: bool, expires_at: dt.datetime | None = None
) -> tuple[int, int, int, dt.datetime]:
    """Sort key of a line (issue 14: mandatory and soon-expiring first): lines that call
    for action before met ones; among them mandatory before recommended; then expired,
    expiring, gap, never assessed; the soonest expiry first within a status."""
    action = status in NEEDS_ACTION
    rank = ACTION_ORDER.index(status) if action else len(ACTION_ORDER)
    return (0 if action else 1, 0 if mandatory else 1, rank, expires_at or _NEVER)


def offers(status: CellStatus, required_level: int, activity_level: int) -> bool:
    """Whether an activity developing the competence to ``activity_level`` is offered
    for a line of ``status`` that requires ``required_level``."""
    return status in NEEDS_ACTION and activity_level >= required_level


# --- a plan item's state ----------------------------------------------------------------------

#: The states of a plan item (``models.plan.PlanItemState`` has the same values).
SUGGESTED, ACCEPTED, POSTPONED, DECLINED, DONE = (
    "suggested",
    "accepted",
    "postponed",
    "declined",
    "done",
)
#: The person's answers to an item.
ANSWERS = (ACCEPTED, POSTPONED, DECLINED)
#: The furthest a person may postpone an item.
MAX_POSTPONE_DAYS = 2 * 366


def item_state(
    stored: str | None,
    status: CellStatus | None,
    postponed_until: dt.date | None,
    today: dt.date,
) -> str:
    """What a plan item shows now, from what was kept (``stored``: None when the person
    has not answered) and the status of the requirement it is for (None: none; an
    activity a manager added that develops none of the person's requirements).

    - The requirement needs no action: done, whatever was answered (the plan updates
      itself when evidence arrives).
    - It calls for action and the item was done before (a completion that did not reach
      the level, was outweighed by a measured result, or has since expired): offered
      again, as is an item postponed to a day that has come.
    - Otherwise what the person answered (nothing yet: suggested).
    """
    if status is not None and status not in NEEDS_ACTION:
        return DONE
    if stored == DONE and status is not None:
        return SUGGESTED
    if stored == POSTPONED and (postponed_until is None or postponed_until <= today):
        return SUGGESTED
    return stored or SUGGESTED


def standing_completion(
    latest_source: str | None, is_holding: bool, status: CellStatus | None
) -> str | None:
    """The source of the latest completion of an activity while it stands (None: none,
    or it is what the requirement is held by and that runs out: the activity is due
    again). Recording the same kind once more would change nothing: the person's own
    word never outweighs a measured result, and a confirmation is not needed twice."""
    if latest_source is None:
        return None
    if is_holding and status in (CellStatus.EXPIRED, CellStatus.EXPIRING):
        return None
    return latest_source


def shown_when_met(stored: str | None, by_manager: bool) -> bool:
    """Whether an item of a requirement that needs no action stays on the plan (as done):
    what the person took on or a manager asked for, not what they never answered,
    declined or put off (no stale suggestions for closed gaps)."""
    return by_manager or stored in (ACCEPTED, DONE)


def postpone_window(today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day an item may be postponed to: postponing to today would
    change nothing, so tomorrow at the earliest; ``MAX_POSTPONE_DAYS`` at the latest. The
    form's date field shows the same bounds the server keeps."""
    return today + dt.timedelta(days=1), today + dt.timedelta(days=MAX_POSTPONE_DAYS)


def postpone_refusal(until: dt.date, today: dt.date) -> str | None:
    """Why a postponement to ``until`` is refused (None: it is not): the day must be
    within ``postpone_window``."""
    first, last = postpone_window(today)
    if until < first:
        return "past"
    if until > last:
        return "far"
    return None
