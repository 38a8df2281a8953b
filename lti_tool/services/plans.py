"""A person's learning plan: what to do next for each competence their job roles require.

**Read, not stored:** the plan is put together from the current gap analysis
(``services.gaps.gap_analysis``, the competence matrix's one rule) each time it is read.
The activities it suggests are the catalogue's for the gaps as they are now, so a gap
that closed leaves no suggestion behind. What is stored (``PlanItem``) is what people
said of an item: the person's answer (accepted, postponed to a day, declined with a
reason), a manager's request (an activity or a competence, with a due date), and that
an activity was completed. What an item shows is decided by ``domain.plan.item_state``:
an item of a requirement that is met is done, whatever was answered.

An item belongs to a competence by its framework and identifier, not by one version's
row, so a new version of the framework keeps the plan's answers.

**Completion of an activity** (``record_course_completion``) is evidence at the levels
the activity develops (``CourseCompetence``), written by ``services.evidence`` like any
other, with its source and confidence (``domain.evidence_sources``): the person's own
report (low: their word never outweighs a measured result), an instructor's or
manager's confirmation (high), or the score the LMS holds in the gradebook column of an
activity the tool placed there (medium, ``record_activity_result``). Certifications are
evaluated in the same transaction, as for every new evidence.

Writes lock the person's row first (after their job roles, in the order every rewrite of
their figures takes), so two answers for the same person at once make one item, not two.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session, aliased, contains_eager, joinedload

from lti_tool.db import among, dialect_of
from lti_tool.domain import evidence_sources as sources
from lti_tool.domain import plan as rules
from lti_tool.domain.bookings import Signup
from lti_tool.domain.calendar import local_date
from lti_tool.domain.coverage import COVERED
from lti_tool.domain.evidence_sources import Confidence
from lti_tool.errors import NotFound, PlanInvalid
from lti_tool.lti import ags
from lti_tool.lti import claims as c
from lti_tool.models import (
    AuditAction,
    BookingStatus,
    Competence,
    CompetenceHolding,
    Course,
    CourseKind,
    CourseSession,
    Evidence,
    FrameworkVersion,
    Launch,
    Person,
    PlanItem,
    PlanItemSource,
    PlanItemState,
)
from lti_tool.services import (
    assignments,
    audit,
    bookings,
    catalogue,
    certificates,
    coverage_cells,
    gaps,
)
from lti_tool.services.catalogue import ActivityOption
from lti_tool.services.evidence import complete_plan_items, record_evidence
from lti_tool.services.gaps import GapAnalysis, GapLine
from lti_tool.services.launches import ACTIVITY_PARAM

log = logging.getLogger(__name__)

#: The longest reason for declining an item.
MAX_REASON_LENGTH = 2000
#: How many upcoming sessions of a classroom activity the plan shows.
SESSIONS_SHOWN = 3
#: The share of a placed activity's gradebook column that counts as completed: the LMS
#: does not send its own pass mark over AGS.
LMS_PASS_PERCENTAGE = 50.0

Identity = tuple[int, str]
"""(framework, competence identifier): a competence in every version of its framework."""


# --- what the plan shows -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SessionOption:
    """An upcoming session of a classroom activity."""

    id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    place: str
    video_url: str | None
    seats_left: int
    waitlist: bool
    signup_deadline: dt.datetime | None
    booking: BookingStatus | None = None
    """The person's booking of it (None: none)."""
    position: int | None = None
    """Their place on the waitlist."""
    signup_open: bool = True
    """Whether one can still sign up (``domain.bookings.signup``: not past its deadline)."""

    @property
    def own_booking(self) -> dict[str, Any] | None:
        """The person's booking as the API gives it (None: they never booked it)."""
        if self.booking is None:
            return None
        return {"status": self.booking.value, "waitlist_position": self.position}


@dataclasses.dataclass(frozen=True)
class HeldBy:
    """The evidence a requirement is held by: where it came from and how far to trust it."""

    source: str
    confidence: Confidence
    recorded_at: dt.datetime
    course: str | None
    """The code of the activity whose completion it records, as it was then."""
    course_id: int | None = None
    """That activity (its code may have changed since)."""

    @property
    def own_word(self) -> bool:
        return self.source in sources.SELF_SOURCES


@dataclasses.dataclass(frozen=True)
class PlanEntry:
    """One thing to do: an activity for a requirement, a manager's request to close a
    gap (no activity), or an activity a manager added outside the requirements."""

    key: str
    """Names the entry in forms: ``<course id>-<competence id>`` (0 for none)."""
    course: ActivityOption | None
    competence_id: int | None
    """The requirement's competence; None for an activity outside the requirements."""
    state: str
    """What it shows now (``domain.plan.item_state``)."""
    source: PlanItemSource
    item_id: int | None
    """None: a suggestion nobody has answered yet."""
    stored_state: str | None
    due_on: dt.date | None
    postponed_until: dt.date | None
    decline_reason: str | None
    added_by: str | None
    """The name of the manager who added it."""
    updated_at: dt.datetime | None
    sessions: tuple[SessionOption, ...] = ()
    completion: str | None = None
    """The source of the latest completion of the activity while it stands
    (``domain.plan.standing_completion``)."""

    @property
    def done(self) -> bool:
        return self.state == rules.DONE

    @property
    def reopened(self) -> bool:
        """Completed before, yet the requirement calls for action again."""
        return self.stored_state == rules.DONE and not self.done

    @property
    def seat_to_come(self) -> bool:
        """The person holds a seat in a session still to come: they have not done it yet,
        and their attendance there will be recorded (no "I have done this")."""
        return any(s.booking == BookingStatus.BOOKED for s in self.sessions)

    @property
    def reported(self) -> bool:
        """The person has said they did it, and only a confirmation will count now."""
        return self.completion in sources.SELF_SOURCES

    @property
    def confirmed(self) -> bool:
        return self.completion == sources.INSTRUCTOR_CONFIRMED

    @property
    def by_manager(self) -> bool:
        return self.source == PlanItemSource.MANAGER

    @property
    def booking(self) -> BookingStatus | None:
        """A suggestion the person acted on by booking one of its sessions: booked if
        they hold a seat in any, else waitlisted if they wait for one in any (None: no
        booking, or not a suggestion: the item's own state says more)."""
        if self.state != rules.SUGGESTED:
            return None
        held = {s.booking for s in self.sessions}
        for status in (BookingStatus.BOOKED, BookingStatus.WAITLISTED):
            if status in held:
                return status
        return None

    def overdue(self, today: dt.date) -> bool:
        return self.due_on is not None and self.due_on < today and not self.done


@dataclasses.dataclass(frozen=True)
class PlanLine:
    """A required competence: where the person stands, and what to do about it."""

    gap: GapLine
    held_by: HeldBy | None
    entries: tuple[PlanEntry, ...]

    @property
    def request(self) -> PlanEntry | None:
        """A manager's request to close the gap, without an activity."""
        return next((e for e in self.entries if e.course is None), None)

    @property
    def activities(self) -> tuple[PlanEntry, ...]:
        return tuple(e for e in self.entries if e.course is not None)


@dataclasses.dataclass(frozen=True)
class Plan:
    analysis: GapAnalysis
    lines: tuple[PlanLine, ...]
    """Most urgent first, as the gap analysis orders them."""
    extra: tuple[PlanEntry, ...]
    """Activities a manager added that develop none of the person's requirements."""
    today: dt.date

    @property
    def person_id(self) -> int:
        return self.analysis.person_id

    @property
    def total(self) -> int:
        return len(self.lines)

    @property
    def held(self) -> int:
        """Requirements held today (met, or met and expiring): the progress shown."""
        return sum(1 for line in self.lines if line.gap.status in COVERED)

    @property
    def percent(self) -> int:
        return round(100 * self.held / self.total) if self.total else 0

    @property
    def progress(self) -> Plan:
        """The plan itself: ``held`` of ``total``, ``percent`` (what the API names progress)."""
        return self

    @property
    def open_lines(self) -> tuple[PlanLine, ...]:
        return tuple(line for line in self.lines if line.gap.needs_action)

    @property
    def met_lines(self) -> tuple[PlanLine, ...]:
        return tuple(line for line in self.lines if not line.gap.needs_action)

    def entries(self) -> Iterable[PlanEntry]:
        for line in self.lines:
            yield from line.entries
        yield from self.extra

    def entry(self, key: str) -> PlanEntry | None:
        return next((e for e in self.entries() if e.key == key), None)

    def entries_of(self, course_id: int) -> list[PlanEntry]:
        return [e for e in self.entries() if e.course and e.course.course_id == course_id]


def entry_key(course_id: int | None, competence_id: int | None) -> str:
    return f"{course_id or 0}-{competence_id or 0}"


def _held_and_identities(
    session: Session, organisation_id: int, person_id: int, competence_ids: Sequence[int]
) -> tuple[dict[int, Identity], dict[int, HeldBy]]:
    """Each competence's identity, and the evidence the person holds it by (one
    statement)."""
    if not competence_ids:
        return {}, {}
    rows = session.execute(
        _held_and_identities_query(dialect_of(session)),
        {
            "organisation_id": organisation_id,
            "person_id": person_id,
            "competence_ids": list(competence_ids),
        },
    )
    identities: dict[int, Identity] = {}
    by: dict[int, HeldBy] = {}
    for competence_id, framework_id, identifier, source, confidence, at, detail in rows:
        identities[competence_id] = (framework_id, identifier)
        if source is not None:
            detail = detail or {}
            by[competence_id] = HeldBy(
                source, Confidence(confidence), at, detail.get("course"), detail.get("course_id")
            )
    return identities, by


@functools.cache
def _held_and_identities_query(dialect: str) -> Any:
    """``_held_and_identities``' statement, made once for each database."""
    held = and_(
        CompetenceHolding.organisation_id == bindparam("organisation_id"),
        CompetenceHolding.person_id == bindparam("person_id"),
        CompetenceHolding.framework_id == FrameworkVersion.framework_id,
        CompetenceHolding.identifier == Competence.identifier,
    )
    return (
        select(
            Competence.id,
            FrameworkVersion.framework_id,
            Competence.identifier,
            Evidence.source,
            Evidence.confidence,
            Evidence.recorded_at,
            Evidence.detail,
        )
        .join(FrameworkVersion, Competence.version_id == FrameworkVersion.id)
        .outerjoin(CompetenceHolding, held)
        .outerjoin(Evidence, Evidence.id == CompetenceHolding.evidence_id)
        .where(among(dialect, Competence.id, "competence_ids"))
    )


@dataclasses.dataclass(frozen=True)
class _Stored:
    item: PlanItem
    identity: Identity | None
    added_by: str | None


@functools.cache
def _stored_items_query() -> Any:
    """``_stored_items``' statement, made once (every plan page runs it)."""
    adder = aliased(Person)
    return (
        select(PlanItem, FrameworkVersion.framework_id, Competence.identifier, adder)
        .outerjoin(Competence, PlanItem.competence_id == Competence.id)
        .outerjoin(FrameworkVersion, Competence.version_id == FrameworkVersion.id)
        .outerjoin(adder, PlanItem.added_by_id == adder.id)
        .options(joinedload(PlanItem.course))
        .where(
            PlanItem.organisation_id == bindparam("organisation_id"),
            PlanItem.person_id == bindparam("person_id"),
        )
        .order_by(PlanItem.id)
    )


def _stored_items(session: Session, organisation_id: int, person_id: int) -> list[_Stored]:
    """The person's plan items with their competence's identity, course and the name of
    who added them (one statement)."""
    rows = session.execute(
        _stored_items_query(), {"organisation_id": organisation_id, "person_id": person_id}
    ).all()
    return [
        _Stored(
            item,
            (framework_id, identifier) if identifier is not None else None,
            adder.display_name if adder is not None else None,
        )
        for item, framework_id, identifier, adder in rows
    ]


def _upcoming_sessions(
    session: Session,
    organisation_id: int,
    person_id: int,
    course_ids: Iterable[int],
    now: dt.datetime,
) -> dict[int, tuple[SessionOption, ...]]:
    """The next sessions of each classroom activity still offered, not cancelled, with the
    seats left and the person's booking (three statements; four when they wait for a seat)."""
    ids = sorted(set(course_ids))
    if not ids:
        return {}
    found = session.scalars(
        select(CourseSession)
        .join(CourseSession.course)
        .options(contains_eager(CourseSession.course))
        .where(
            CourseSession.organisation_id == organisation_id,
            CourseSession.course_id.in_(ids),
            CourseSession.cancelled_at.is_(None),
            CourseSession.starts_at > now,
            Course.archived.is_(False),
        )
        .order_by(CourseSession.course_id, CourseSession.starts_at, CourseSession.id)
    ).all()
    shown: dict[int, list[CourseSession]] = {}
    for row in found:
        kept = shown.setdefault(row.course_id, [])
        if len(kept) < SESSIONS_SHOWN:
            kept.append(row)
    standing = {
        st.session.id: st
        for st in bookings.standings(
            session, [s for rows in shown.values() for s in rows], person_id, now
        )
    }
    return {
        course_id: tuple(
            SessionOption(
                id=s.id,
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                place=s.place,
                video_url=s.video_url,
                seats_left=standing[s.id].free,
                waitlist=s.waitlist,
                signup_deadline=s.signup_deadline,
                booking=standing[s.id].status,
                position=standing[s.id].position,
                signup_open=standing[s.id].signup == Signup.OPEN,
            )
            for s in rows
        )
        for course_id, rows in shown.items()
    }


@dataclasses.dataclass(frozen=True)
class _Completion:
    source: str
    recorded_at: dt.datetime


@functools.cache
def _latest_completions_query(dialect: str) -> Any:
    """``_latest_completions``' statement, made once for each database."""
    course = Evidence.detail["course_id"].as_integer()
    return (
        select(Evidence.person_id, course, Evidence.source, Evidence.recorded_at)
        .where(
            Evidence.organisation_id == bindparam("organisation_id"),
            among(dialect, Evidence.person_id, "person_ids"),
            among(dialect, course, "course_ids"),
        )
        .order_by(Evidence.recorded_at, Evidence.id)
    )


def _latest_completions(
    session: Session, organisation_id: int, person_ids: Sequence[int], course_ids: Iterable[int]
) -> dict[tuple[int, int], _Completion]:
    """The latest evidence from each activity for each person (one statement)."""
    ids = sorted(set(course_ids))
    if not ids or not person_ids:
        return {}
    rows = session.execute(
        _latest_completions_query(dialect_of(session)),
        {"organisation_id": organisation_id, "person_ids": list(person_ids), "course_ids": ids},
    )
    return {(person, course_id): _Completion(src, at) for person, course_id, src, at in rows}


def learning_plan(
    session: Session,
    organisation_id: int,
    person_id: int,
    *,
    now: dt.datetime,
    locale: str = "nb",
    detail: Callable[[Sequence[GapLine]], Collection[int]] | None = None,
) -> Plan:
    """The person's plan as it stands now (fifteen statements at most, whatever the number
    of job roles, requirements, activities, sessions and items). Another organisation's
    person is not found.

    ``detail`` (``gaps.gap_analysis``): the lines a page shows, picked from every line in
    order; only they get their entries, activities and sessions. Every line still counts
    in the progress. None: every line."""
    chosen: set[int] | None = None

    def pick(lines: Sequence[GapLine]) -> set[int]:
        nonlocal chosen
        assert detail is not None
        chosen = set(detail(lines))
        return chosen

    analysis = gaps.gap_analysis(
        session, organisation_id, person_id, now=now, locale=locale, detail=detail and pick
    )
    today = local_date(now)
    identities, held_by = _held_and_identities(
        session, organisation_id, person_id, [line.competence_id for line in analysis.lines]
    )
    stored = _stored_items(session, organisation_id, person_id)
    by_target: dict[tuple[int | None, Identity | None], _Stored] = {}
    for row in stored:  # oldest first: a later row for the same target wins
        by_target[(row.item.course_id, row.identity)] = row

    def entry(
        option: ActivityOption | None, line: GapLine | None, found: _Stored | None
    ) -> PlanEntry:
        item = found.item if found else None
        stored_state = item.state.value if item else None
        competence_id = line.competence_id if line else item.competence_id if item else None
        return PlanEntry(
            key=entry_key(option.course_id if option else None, competence_id),
            course=option,
            competence_id=line.competence_id if line else None,
            state=rules.item_state(
                stored_state,
                line.status if line else None,
                item.postponed_until if item else None,
                today,
            ),
            source=item.source if item else PlanItemSource.SUGGESTED,
            item_id=item.id if item else None,
            stored_state=stored_state,
            due_on=item.due_on if item else None,
            postponed_until=item.postponed_until if item else None,
            decline_reason=item.decline_reason if item else None,
            added_by=found.added_by if found else None,
            updated_at=item.updated_at if item else None,
        )

    def kept(row: _Stored, line: GapLine | None) -> bool:
        by_manager = row.item.source == PlanItemSource.MANAGER
        if line is None or line.needs_action:
            return by_manager
        return rules.shown_when_met(row.item.state.value, by_manager)

    used: set[int] = set()
    lines = []
    for line in analysis.lines:
        if chosen is not None and line.competence_id not in chosen:  # not on the page
            lines.append(PlanLine(line, held_by.get(line.competence_id), ()))
            continue
        identity = identities.get(line.competence_id)
        entries = []
        request = by_target.get((None, identity))
        if request is not None and kept(request, line):
            entries.append(entry(None, line, request))
            used.add(request.item.id)
        offered = {a.course_id for a in line.activities}
        for option in line.activities:
            found = by_target.get((option.course_id, identity))
            entries.append(entry(option, line, found))
            if found is not None:
                used.add(found.item.id)
        for row in by_target.values():  # items of courses no longer offered for it
            course = row.item.course
            if row.identity != identity or course is None or course.id in offered:
                continue
            if kept(row, line):
                entries.append(entry(catalogue.activity_option(course, 0, locale), line, row))
                used.add(row.item.id)
        lines.append(PlanLine(line, held_by.get(line.competence_id), tuple(entries)))
    line_identities = {identities.get(line.competence_id) for line in analysis.lines}
    extra = [
        entry(catalogue.activity_option(row.item.course, 0, locale), None, row)
        for row in by_target.values()
        if row.item.id not in used
        and row.item.course is not None
        and row.identity not in line_identities
        and kept(row, None)
    ]
    sessions = _upcoming_sessions(
        session,
        organisation_id,
        person_id,
        (
            e.course.course_id
            for e in [*(e for line in lines for e in line.entries), *extra]
            if e.course is not None and e.course.kind != CourseKind.ELEARNING and not e.done
        ),
        now,
    )

    latest = _latest_completions(
        session,
        organisation_id,
        [person_id],
        (
            e.course.course_id
            for e in [*(e for line in lines for e in line.entries), *extra]
            if e.course
        ),
    )

    def finished(e: PlanEntry, line: PlanLine | None) -> PlanEntry:
        if e.course is None:
            return e
        last = latest.get((person_id, e.course.course_id))
        held = line.held_by if line else None
        holding = (
            last is not None
            and held is not None
            and (held.source, held.recorded_at, held.course_id)
            == (last.source, last.recorded_at, e.course.course_id)
        )
        return dataclasses.replace(
            e,
            sessions=() if e.done else sessions.get(e.course.course_id, ()),
            completion=rules.standing_completion(
                last.source if last else None, holding, line.gap.status if line else None
            ),
        )

    return Plan(
        analysis=analysis,
        lines=tuple(
            dataclasses.replace(line, entries=tuple(finished(e, line) for e in line.entries))
            if line.entries
            else line  # off the page, or nothing to do: as it is (a copy of 300 costs)
            for line in lines
        ),
        extra=tuple(finished(e, None) for e in extra),
        today=today,
    )


def managed_plan(
    session: Session,
    organisation_id: int,
    person_id: int,
    unit_ids: frozenset[int] | None,
    *,
    now: dt.datetime,
    locale: str = "nb",
) -> Plan:
    """The plan of a person with an active place in the manager's units (``unit_ids``;
    None: anyone of the organisation); anyone else is not found."""
    assignments.get_person(session, organisation_id, person_id)
    assignments.check_in_units(session, person_id, unit_ids)
    return learning_plan(session, organisation_id, person_id, now=now, locale=locale)


# --- the person's answers --------------------------------------------------------------------


def _lock_people(session: Session, organisation_id: int, person_ids: Iterable[int]) -> list[Person]:
    """The people, their rows locked until the transaction ends: one writer of each plan
    at a time. Their job roles are locked first (``FOR SHARE``), then the people, each in
    id order: the order every rewrite of their figures takes
    (``coverage_cells.refresh_cells``), so the two wait for one another instead of
    deadlocking. Another organisation's person is not found."""
    ids = sorted(set(person_ids))
    coverage_cells.lock_roles_of(session, ids)
    people = list(
        session.scalars(
            select(Person)
            .where(Person.id.in_(ids), Person.organisation_id == organisation_id)
            .order_by(Person.id)
            .with_for_update()
        )
    )
    if len(people) != len(ids):
        missing = sorted(set(ids) - {p.id for p in people})
        raise NotFound(f"people {missing} not in organisation {organisation_id}")
    return people


def _lock_person(session: Session, organisation_id: int, person_id: int) -> Person:
    """The person, locked (``_lock_people``)."""
    return _lock_people(session, organisation_id, [person_id])[0]


def _entry(plan: Plan, key: str) -> PlanEntry:
    found = plan.entry(key)
    if found is None:
        raise NotFound(f"no entry {key!r} in the plan of person {plan.person_id}")
    return found


def _new_entry(course: ActivityOption | None, competence_id: int | None) -> PlanEntry:
    """An entry not in the plan yet: what a manager adds."""
    return PlanEntry(
        key=entry_key(course.course_id if course else None, competence_id),
        course=course,
        competence_id=competence_id,
        state=rules.SUGGESTED,
        source=PlanItemSource.MANAGER,
        item_id=None,
        stored_state=None,
        due_on=None,
        postponed_until=None,
        decline_reason=None,
        added_by=None,
        updated_at=None,
    )


def _item_of(session: Session, organisation_id: int, person_id: int, entry: PlanEntry) -> PlanItem:
    """The stored item of an entry, made when it has none yet (a suggestion)."""
    if entry.item_id is not None:
        found = session.get(PlanItem, entry.item_id)
        assert found is not None  # read in this transaction, under the person's lock
        return found
    item = PlanItem(
        organisation_id=organisation_id,
        person_id=person_id,
        course_id=entry.course.course_id if entry.course else None,
        competence_id=entry.competence_id,
        state=PlanItemState.SUGGESTED,
        source=PlanItemSource.SUGGESTED,
    )
    session.add(item)
    return item


def answer_plan_item(
    session: Session,
    organisation_id: int,
    person_id: int,
    key: str,
    answer: str,
    *,
    now: dt.datetime,
    until: dt.date | None = None,
    reason: str = "",
    locale: str = "nb",
) -> PlanItem:
    """The person accepts an item, postpones it until a day, or declines it with a reason
    (which their manager sees). An item that is done cannot be answered."""
    assert answer in rules.ANSWERS
    _lock_person(session, organisation_id, person_id)
    plan = learning_plan(session, organisation_id, person_id, now=now, locale=locale)
    entry = _entry(plan, key)
    if entry.done:
        raise PlanInvalid(f"entry {key} done", reason=_l("This is done already."))
    reason = reason.strip()
    if answer == rules.DECLINED and not reason:
        raise PlanInvalid(
            "decline without a reason",
            reason=_l("Say why you decline: your manager sees it."),
            field="reason",
        )
    if len(reason) > MAX_REASON_LENGTH:
        raise PlanInvalid(
            f"reason of {len(reason)}",
            reason=_l("Use at most %(count)d characters.", count=MAX_REASON_LENGTH),
            field="reason",
        )
    if answer == rules.POSTPONED:
        if until is None:
            raise PlanInvalid("postpone without a day", reason=_l("Enter a date."), field="until")
        refusal = rules.postpone_refusal(until, plan.today)
        if refusal == "past":
            raise PlanInvalid(
                f"postpone to {until}", reason=_l("Choose a day after today."), field="until"
            )
        if refusal == "far":
            raise PlanInvalid(
                f"postpone to {until}",
                reason=_l("Postpone by two years at most."),
                field="until",
            )
    item = _item_of(session, organisation_id, person_id, entry)
    item.state = PlanItemState(answer)
    item.decline_reason = reason if answer == rules.DECLINED else None
    item.postponed_until = until if answer == rules.POSTPONED else None
    session.flush()
    return item


REPORTED = _l("You have reported it done; a confirmation by your instructor or manager will count.")
SEAT_TO_COME = _l("You have a seat in a session still to come: your attendance there will count.")


def report_completion(
    session: Session,
    organisation_id: int,
    person_id: int,
    key: str,
    *,
    now: dt.datetime,
    locale: str = "nb",
) -> list[Evidence]:
    """ "I have done this": the person's own word that they completed the entry's
    activity, recorded as self-reported evidence (low confidence; it never outweighs a
    measured result)."""
    _lock_person(session, organisation_id, person_id)
    plan = learning_plan(session, organisation_id, person_id, now=now, locale=locale)
    entry = _entry(plan, key)
    if entry.course is None:
        raise NotFound(f"entry {key} names no activity")
    if entry.done:
        raise PlanInvalid(f"entry {key} done", reason=_l("This is done already."))
    if entry.reported:
        raise PlanInvalid(f"entry {key} reported", reason=REPORTED)
    if entry.seat_to_come:
        raise PlanInvalid(f"entry {key} booked", reason=SEAT_TO_COME)
    return record_course_completion(
        session, organisation_id, person_id, entry.course.course_id, sources.SELF_REPORTED, now
    )


# --- a manager's requests --------------------------------------------------------------------


def _managed_person(
    session: Session, organisation_id: int, person_id: int, unit_ids: frozenset[int] | None
) -> Person:
    """The person, locked, when the manager (of ``unit_ids``; None: every unit) manages
    them; else not found."""
    person = _lock_person(session, organisation_id, person_id)
    assignments.check_in_units(session, person_id, unit_ids)
    return person


def _check_due(due_on: dt.date | None, today: dt.date) -> None:
    if due_on is not None and due_on < today:
        raise PlanInvalid(
            f"due on {due_on}", reason=_l("Choose today or a later day."), field="due_on"
        )


def _by_manager(item: PlanItem, by_id: int | None, due_on: dt.date | None) -> None:
    item.source = PlanItemSource.MANAGER
    item.added_by_id = by_id
    item.due_on = due_on


def _reopen(item: PlanItem) -> None:
    """A manager adds an item the person declined: it is asked of them again (suggested),
    and the manager is who added it (``added_by``, ``updated_at``)."""
    if item.state == PlanItemState.DECLINED:
        item.state = PlanItemState.SUGGESTED
        item.decline_reason = None


def add_plan_item(
    session: Session,
    organisation_id: int,
    person_id: int,
    *,
    by_id: int | None,
    unit_ids: frozenset[int] | None,
    now: dt.datetime,
    course_id: int | None = None,
    competence_id: int | None = None,
    due_on: dt.date | None = None,
    locale: str = "nb",
) -> list[PlanItem]:
    """A manager adds an activity or a competence to the plan of a person in their units,
    with a due date if they like. An activity counts for each requirement of the person
    it is offered for (an item for each); one that develops none of them is an item of
    its own. A competence must be one the person's job roles require. An item the person
    declined is asked of them again."""
    if (course_id is None) == (competence_id is None):
        raise PlanInvalid("course and competence", reason=_l("Choose an activity or a competence."))
    _managed_person(session, organisation_id, person_id, unit_ids)
    today = local_date(now)
    _check_due(due_on, today)
    plan = learning_plan(session, organisation_id, person_id, now=now, locale=locale)
    items: list[PlanItem] = []
    if competence_id is not None:
        line = next((x for x in plan.lines if x.gap.competence_id == competence_id), None)
        if line is None:
            raise PlanInvalid(
                f"competence {competence_id} not required",
                reason=_l("Choose one of the competences the person's job roles require."),
                field="competence_id",
            )
        request = line.request or _new_entry(None, competence_id)
        items.append(_item_of(session, organisation_id, person_id, request))
    else:
        assert course_id is not None
        course = catalogue.get_activity(session, organisation_id, course_id)
        if course.archived:
            raise PlanInvalid(
                f"course {course_id} archived",
                reason=_l("Choose an activity of the catalogue."),
                field="course_id",
            )
        # for each requirement it is offered for; else an item of its own
        entries = [
            e for e in plan.entries_of(course.id) if e.competence_id is not None and not e.done
        ]
        if not entries:
            option = catalogue.activity_option(course, 0, locale)
            entries = [e for e in plan.extra if e.course and e.course.course_id == course.id]
            entries = entries[:1] or [_new_entry(option, None)]
        items.extend(_item_of(session, organisation_id, person_id, e) for e in entries)
    for item in items:
        _by_manager(item, by_id, due_on)
        _reopen(item)
    session.flush()
    return items


def set_due_date(
    session: Session,
    organisation_id: int,
    person_id: int,
    key: str,
    due_on: dt.date | None,
    *,
    by_id: int | None,
    unit_ids: frozenset[int] | None,
    now: dt.datetime,
    locale: str = "nb",
) -> PlanItem:
    """A manager sets (or, with None, clears) when an entry of the plan of a person in
    their units should be done; the entry becomes the manager's."""
    _managed_person(session, organisation_id, person_id, unit_ids)
    _check_due(due_on, local_date(now))
    plan = learning_plan(session, organisation_id, person_id, now=now, locale=locale)
    item = _item_of(session, organisation_id, person_id, _entry(plan, key))
    _by_manager(item, by_id, due_on)
    session.flush()
    return item


# --- completing an activity: evidence ----------------------------------------------------------


def record_course_completion(
    session: Session,
    organisation_id: int,
    person_id: int,
    course_id: int,
    source: str,
    now: dt.datetime,
    *,
    by: Person | None = None,
    percentage: float | None = None,
    recorded_at: dt.datetime | None = None,
    detail: dict[str, Any] | None = None,
) -> list[Evidence]:
    """That the person completed the activity: evidence of ``source`` for each competence
    it develops, at the level it develops it to; the person's items of the activity are
    done, and their certifications evaluated."""
    assert source in sources.SOURCES
    course = catalogue.get_activity(session, organisation_id, course_id)
    extra: dict[str, Any] = {"course_id": course.id, "course": course.code, **(detail or {})}
    if by is not None:
        extra |= {"confirmed_by_id": by.id, "confirmed_by": by.display_name}
    rows = record_evidence(
        session,
        [
            Evidence(
                organisation_id=organisation_id,
                person_id=person_id,
                competence_id=developed.competence_id,
                source=source,
                level=developed.level,
                percentage=percentage,
                recorded_at=recorded_at or now,
                detail=dict(extra),
            )
            for developed in course.competences
        ],
    )
    complete_plan_items(session, organisation_id, [person_id], course.id, now)
    certificates.evaluate_person(session, organisation_id, person_id, now)
    return rows


def confirm_completion(
    session: Session,
    organisation_id: int,
    course_id: int,
    person_ids: Sequence[int],
    *,
    actor: audit.Actor,
    unit_ids: frozenset[int] | None,
    now: dt.datetime,
) -> int:
    """An instructor, designer or manager (``actor``) confirms that these people completed
    the activity (high confidence); a manager of some units (``unit_ids``) confirms for
    their people only, and nobody for themselves (it would be their own word, recorded as
    high confidence). Recorded in the audit log, naming the people confirmed. Returns how
    many evidence records were written."""
    by_id = actor.person_id
    assert by_id is not None, "a completion is confirmed by a person (a page's actor)"
    if not person_ids:
        raise PlanInvalid("nobody", reason=_l("Choose at least one person."), field="person_ids")
    if by_id in person_ids:
        raise PlanInvalid(
            f"person {by_id} confirms their own completion",
            reason=_l("You cannot confirm your own completion: someone else must confirm it."),
            field="person_ids",
        )
    by = assignments.get_person(session, organisation_id, by_id)
    people = list(dict.fromkeys(person_ids))
    _lock_people(session, organisation_id, people)  # in id order, not the form's
    for person_id in people:
        assignments.check_in_units(session, person_id, unit_ids)
    latest = _latest_completions(session, organisation_id, people, [course_id])
    confirmed = [
        p
        for p in people
        if (last := latest.get((p, course_id))) is not None
        and last.source == sources.INSTRUCTOR_CONFIRMED
        and not _due_again(session, organisation_id, p, course_id, now)
    ]
    if len(confirmed) == len(people):
        raise PlanInvalid(
            "confirmed already",
            reason=_l("This completion is confirmed already."),
            field="person_ids",
        )
    written = 0
    for person_id in people:
        if person_id in confirmed:
            continue
        written += len(
            record_course_completion(
                session,
                organisation_id,
                person_id,
                course_id,
                sources.INSTRUCTOR_CONFIRMED,
                now,
                by=by,
            )
        )
    newly = [p for p in people if p not in confirmed]
    audit.record(session, actor, AuditAction.CONFIRM, "course_completion", course_id, newly)
    return written


def _due_again(
    session: Session, organisation_id: int, person_id: int, course_id: int, now: dt.datetime
) -> bool:
    """Whether a confirmed activity is due again for the person: the confirmation runs
    out for a requirement of theirs."""
    plan = learning_plan(session, organisation_id, person_id, now=now)
    return any(e.completion is None for e in plan.entries_of(course_id))


# --- what the LMS holds for an activity the tool placed -----------------------------------------


def placed_activity_code(launch: Launch) -> str:
    """The code of the e-learning activity a launch's link places (empty: none)."""
    return str((launch.claims.get(c.CUSTOM) or {}).get(ACTIVITY_PARAM) or "").strip()


def placed_activity(session: Session, organisation_id: int, code: str) -> Course:
    """The organisation's e-learning activity of this code (any case); else not found."""
    found: Course | None = session.scalar(
        select(Course).where(
            Course.organisation_id == organisation_id, func.lower(Course.code) == code.lower()
        )
    )
    if found is None:
        raise NotFound(f"no activity {code!r} in organisation {organisation_id}")
    return found


def activity_to_read(session: Session, launch: Launch) -> tuple[Course, str] | None:
    """The activity a launch places (``ACTIVITY_PARAM``) and its gradebook column, when
    the launch lets the tool read results there (``result.readonly``) and the activity is
    an e-learning one that develops competences; else None."""
    code = placed_activity_code(launch)
    endpoint = ags.endpoint_from_claims(launch.claims)
    if not code or endpoint is None or not endpoint.lineitem:
        return None
    if not endpoint.grants(ags.SCOPE_RESULT_READONLY):
        return None
    try:
        course = placed_activity(session, launch.deployment.organisation_id, code)
    except NotFound:
        return None
    if course.kind != CourseKind.ELEARNING or not course.competences:
        return None
    return course, endpoint.lineitem


def record_activity_result(
    session: Session,
    organisation_id: int,
    person_id: int,
    course_id: int,
    result: ags.Result | None,
    now: dt.datetime,
) -> list[Evidence]:
    """What the LMS holds for the person in a placed activity's column: a score of at
    least ``LMS_PASS_PERCENTAGE`` is LMS evidence of completing the activity, once per
    result. The person's row is locked before looking for that evidence, so two reads of
    the same result at once record it once."""
    if result is None or result.percentage is None:
        return []
    if result.percentage < LMS_PASS_PERCENTAGE:
        log.info("activity %s: person %s scored %s %%", course_id, person_id, result.percentage)
        return []
    try:
        _lock_person(session, organisation_id, person_id)
    except NotFound:  # moved to another organisation since the launch
        return []
    course = session.get(Course, course_id)
    if course is None or course.organisation_id != organisation_id or not course.competences:
        return []
    stamp = result.timestamp.isoformat() if result.timestamp else None
    seen = session.scalars(
        select(Evidence.detail).where(
            Evidence.organisation_id == organisation_id,
            Evidence.person_id == person_id,
            Evidence.source == sources.LMS_SCORE,
            Evidence.competence_id.in_([d.competence_id for d in course.competences]),
        )
    ).all()
    if any(
        d.get("course_id") == course.id
        and d.get("lms_result_at") == stamp
        and d.get("lms_score") == result.percentage
        for d in seen
    ):
        return []
    return record_course_completion(
        session,
        organisation_id,
        person_id,
        course.id,
        sources.LMS_SCORE,
        now,
        percentage=result.percentage,
        detail={"lms_result_at": stamp, "lms_score": result.percentage},
    )
