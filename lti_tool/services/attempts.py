"""Taking a mapping: start or resume an attempt, save answers as they are given, submit
once, and the result against the person's job roles.

Every rule is checked here, on the server: attempt limits, the waiting time between
attempts, and the time limit (an answer after the deadline is refused, and an attempt past
its deadline is submitted with what was saved in time). Submitting is safe to repeat: the
attempt moves from in progress to submitted in one conditional UPDATE, so a double click or
a second tab finds it submitted and writes nothing more.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import math
import random
import typing
from collections.abc import Callable, Collection, Sequence
from collections.abc import Mapping as MappingType
from typing import Any

from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Float,
    Integer,
    String,
    Table,
    bindparam,
    cast,
    delete,
    func,
    literal,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload, selectinload

from lti_tool.db import UTCDateTime, insert_or_find
from lti_tool.domain import mapping_results as results
from lti_tool.domain.items import (
    MULTIPLE_CHOICE,
    NUMERIC,
    OTHER_ANSWER,
    SELF_ASSESSMENT,
    TRUE_FALSE,
    ItemData,
    OptionData,
    Scale,
    outcome,
    score_answer,
)
from lti_tool.domain.texts import localized
from lti_tool.errors import (
    AttemptClosed,
    AttemptNotAllowed,
    InvalidAnswer,
    MappingNotOpen,
    NotFound,
)
from lti_tool.lti import claims as c
from lti_tool.models import (
    Attempt,
    AttemptStatus,
    Certification,
    CertificationStatus,
    Competence,
    Evidence,
    FrameworkVersion,
    Item,
    ItemCompetence,
    ItemOption,
    Launch,
    Mapping,
    MappingCompetence,
    MappingStatus,
    Response,
    ScaleLevel,
    Selection,
)
from lti_tool.services import certificates, gradebook, item_bank, mappings, placement
from lti_tool.services.evidence import record_evidence

log = logging.getLogger(__name__)

_RESPONSES = typing.cast(Table, Response.__table__)
_ATTEMPTS = typing.cast(Table, Attempt.__table__)


# --- starting and resuming ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Overview:
    """What the mapping's start page shows the person."""

    mapping: Mapping
    attempts: Sequence[Attempt]
    in_progress: Attempt | None
    refusal: Any
    """Why no new attempt may start now (None: one may)."""


def _attempts_of(session: Session, mapping_id: int, person_id: int) -> list[Attempt]:
    return list(
        session.scalars(
            select(Attempt)
            .where(Attempt.mapping_id == mapping_id, Attempt.person_id == person_id)
            .order_by(Attempt.number)
        )
    )


def _refusal(mapping: Mapping, attempts: Sequence[Attempt], now: dt.datetime) -> Any:
    if mapping.status != MappingStatus.PUBLISHED:
        return _l("This mapping is not open.")
    done = [a for a in attempts if a.status == AttemptStatus.SUBMITTED]
    if mapping.max_attempts is not None and len(done) >= mapping.max_attempts:
        return _l("You have used all your attempts (%(n)s).", n=mapping.max_attempts)
    if mapping.min_days_between and done:
        last = max(a.submitted_at for a in done if a.submitted_at is not None)
        opens = last + dt.timedelta(days=mapping.min_days_between)
        if now < opens:
            return _l("Your next attempt opens on %(date)s.", date=format_date(opens, "long"))
    return None


def mapping_to_take(session: Session, organisation_id: int, person_id: int, code: str) -> Mapping:
    """The mapping a placed link names: the one of that code, or (``placement.MY_ROLE``)
    the published mapping of the person's job roles. None of them: ``NotFound``, with
    ``no_role_mapping`` when the person's job roles have none (its own page says so)."""
    found = placement.placed_mapping(session, organisation_id, person_id, code)
    if found is not None:
        return found
    if code == placement.MY_ROLE:
        raise NotFound("no mapping for the person's job roles", no_role_mapping=True)
    raise NotFound(f"no mapping {code!r} in organisation {organisation_id}")


def overview(
    session: Session, organisation_id: int, mapping: Mapping, person_id: int, now: dt.datetime
) -> Overview:
    attempts = _attempts_of(session, mapping.id, person_id)
    in_progress = next((a for a in attempts if a.status == AttemptStatus.IN_PROGRESS), None)
    if in_progress is not None and _overdue(in_progress, now):
        submit_attempt(session, organisation_id, in_progress.id, person_id, now)
        in_progress = None
    return Overview(mapping, attempts, in_progress, _refusal(mapping, attempts, now))


def start_attempt(
    session: Session,
    organisation_id: int,
    mapping_id: int,
    person_id: int,
    launch_id: str,
    now: dt.datetime,
    rng: random.Random | None = None,
) -> Attempt:
    """The person's attempt in progress, or a new one when the rules allow it."""
    mapping = mappings.get_mapping(session, organisation_id, mapping_id)
    view = overview(session, organisation_id, mapping, person_id, now)
    if view.in_progress is not None:
        view.in_progress.launch_id = launch_id
        session.flush()
        return view.in_progress
    if mapping.status != MappingStatus.PUBLISHED:
        raise MappingNotOpen(f"mapping {mapping.id} not published", title=mapping.code)
    if view.refusal is not None:
        raise AttemptNotAllowed(f"mapping {mapping.id}: no attempt now", reason=view.refusal)
    plan = _plan(session, mapping, rng or random.SystemRandom())
    if not plan:
        raise AttemptNotAllowed(
            f"mapping {mapping.id}: nothing to ask",
            reason=_l("This mapping has no items to ask right now. Tell its course designer."),
        )
    number = len(view.attempts) + 1
    attempt = Attempt(
        organisation_id=organisation_id,
        mapping_id=mapping.id,
        person_id=person_id,
        number=number,
        launch_id=launch_id,
        plan=plan,
        started_at=now,
        deadline_at=(
            now + dt.timedelta(minutes=mapping.time_limit_minutes)
            if mapping.time_limit_minutes
            else None
        ),
    )

    def started_elsewhere() -> Attempt | None:  # a second tab started it at the same moment
        return session.scalar(
            select(Attempt).where(
                Attempt.mapping_id == mapping.id,
                Attempt.person_id == person_id,
                Attempt.number == number,
            )
        )

    return insert_or_find(session, attempt, started_elsewhere)


def _plan(session: Session, mapping: Mapping, rng: random.Random) -> list[dict[str, Any]]:
    """The items this attempt asks, and the order of their options, frozen now."""
    if mapping.selection == Selection.FIXED:
        items = [mi.item for mi in mapping.items if not mi.item.archived]
    else:
        items = _draw(session, mapping, rng)
    if mapping.shuffle:
        rng.shuffle(items)
    plan = []
    for item in items:
        option_ids = [o.id for o in item.options]
        if mapping.shuffle and item.kind not in (TRUE_FALSE, NUMERIC):
            rng.shuffle(option_ids)
        plan.append({"item": item.id, "options": option_ids})
    return plan


def _draw(session: Session, mapping: Mapping, rng: random.Random) -> list[Item]:
    chosen: dict[int, Item] = {}
    per = mapping.items_per_competence or 1
    for mc in mapping.competences:
        candidates = [
            item
            for item in item_bank.list_items(
                session, mapping.organisation_id, competence_id=mc.competence_id
            )
            if item.id not in chosen
        ]
        for item in rng.sample(candidates, min(per, len(candidates))):
            chosen[item.id] = item
    return list(chosen.values())


# --- answering ----------------------------------------------------------------------------


def get_attempt(session: Session, organisation_id: int, attempt_id: int, person_id: int) -> Attempt:
    """The person's own attempt, with its mapping and answers (two statements); anyone
    else's is not found."""
    attempt = session.scalar(
        select(Attempt)
        .where(
            Attempt.id == attempt_id,
            Attempt.organisation_id == organisation_id,
            Attempt.person_id == person_id,
        )
        .options(selectinload(Attempt.responses), joinedload(Attempt.mapping, innerjoin=True))
    )
    if attempt is None:
        raise NotFound(f"no attempt {attempt_id} for person {person_id}")
    return attempt


def _overdue(attempt: Attempt, now: dt.datetime) -> bool:
    return _past(attempt.deadline_at, now)


def _past(deadline_at: dt.datetime | None, now: dt.datetime) -> bool:
    return deadline_at is not None and now >= deadline_at


@dataclasses.dataclass(frozen=True)
class Question:
    """One page of an attempt: the item, its options in the attempt's order, the answer."""

    position: int
    """1-based."""
    count: int
    item: Item
    options: Sequence[Any]
    scale: Sequence[Any]
    """Self-assessment: the competence's scale levels (value, label, description)."""
    answer: MappingType[str, Any] | None
    answered: int


@dataclasses.dataclass(frozen=True)
class _Items:
    """Items with their options (in their order), and each self-assessment's scale: the
    levels of its first competence's framework version."""

    by_id: dict[int, Item]
    scales: dict[int, list[ScaleLevel]]


def _items(session: Session, ids: Sequence[int]) -> _Items:
    """The items (two statements; three when one is a self-assessment)."""
    loaded = session.scalars(
        select(Item).where(Item.id.in_(ids)).options(selectinload(Item.options))
    ).all()
    by_id = {item.id: item for item in loaded}
    statements = [item.id for item in loaded if item.kind == SELF_ASSESSMENT]
    scales: dict[int, list[ScaleLevel]] = {}
    if statements:
        first = (
            select(func.min(ItemCompetence.id))
            .where(ItemCompetence.item_id.in_(statements))
            .group_by(ItemCompetence.item_id)
        )
        rows = session.execute(
            select(ItemCompetence.item_id, ScaleLevel)
            .join(Competence, Competence.id == ItemCompetence.competence_id)
            .join(ScaleLevel, ScaleLevel.version_id == Competence.version_id)
            .where(ItemCompetence.id.in_(first))
            .order_by(ScaleLevel.value)
        )
        for item_id, level in rows:
            scales.setdefault(item_id, []).append(level)
    return _Items(by_id, scales)


def question(session: Session, attempt: Attempt, position: int) -> Question:
    if not 1 <= position <= len(attempt.plan):
        raise NotFound(f"attempt {attempt.id} has no item {position}")
    entry = attempt.plan[position - 1]
    return _question(attempt, position, _items(session, [entry["item"]]))


def questions(session: Session, attempt: Attempt) -> list[Question]:
    """Every page of the attempt, with one load of its items (the review page)."""
    items = _items(session, [entry["item"] for entry in attempt.plan])
    return [_question(attempt, n, items) for n in range(1, len(attempt.plan) + 1)]


def _question(attempt: Attempt, position: int, items: _Items) -> Question:
    entry = attempt.plan[position - 1]
    item = items.by_id[entry["item"]]
    by_id = {o.id: o for o in item.options}
    # The attempt's order first; an option added to the item since the attempt started last.
    order = [i for i in entry["options"] if i in by_id]
    order += [o.id for o in item.options if o.id not in order]
    answers = {r.item_id: r.answer for r in attempt.responses}
    return Question(
        position=position,
        count=len(attempt.plan),
        item=item,
        options=[by_id[i] for i in order],
        scale=items.scales.get(item.id, []),
        answer=answers.get(item.id),
        answered=sum(1 for e in attempt.plan if e["item"] in answers),
    )


def parse_answer(
    kind: str, options: Collection[int], scale: Collection[int], raw: Any
) -> dict | None:
    """An answer to an item of ``kind`` from form values, checked against what the attempt
    offered (the item's ``options``, or the ``scale`` of a self-assessment); None = blank."""
    values = [v for v in (raw or []) if str(v).strip()]
    if not values:
        return None
    if kind == SELF_ASSESSMENT:
        level = _whole(values[0])
        if level not in scale:
            raise InvalidAnswer("level not on scale", reason=_l("Choose one of the levels."))
        return {"level": level}
    if kind == NUMERIC:
        text = str(values[0]).strip().replace(" ", "").replace("\u2212", "-").replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise InvalidAnswer("not a number", reason=_l("Enter a number, like 12 or 2,5."))
        return {"value": number}
    chosen = [_whole(v) for v in values]
    if any(c not in options for c in chosen) or len(set(chosen)) != len(chosen):
        raise InvalidAnswer("unknown option", reason=_l("Choose among the options shown."))
    if kind != MULTIPLE_CHOICE and len(chosen) > 1:
        raise InvalidAnswer("several options", reason=_l("Choose one option."))
    return {"options": chosen}


def _whole(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True)
class Saved:
    """Where a saved answer leaves the attempt."""

    attempt_id: int
    count: int
    """How many items the attempt asks."""


def _accepted(session: Session, item_id: int) -> tuple[str, set[int], set[int]]:
    """What an answer to the item may be (one statement): its kind, its options' ids and
    the values of its scale (a self-assessment: its first competence's levels)."""
    rows = session.execute(_accepted_statement(), {"item_id": item_id}).all()
    kind = next((row[0] for row in rows if row[0] is not None), "")
    options = {row[1] for row in rows if row[1] is not None}
    levels = {row[2] for row in rows if row[2] is not None}
    return kind, options, levels if kind == SELF_ASSESSMENT else set()


# Every save runs these statements; each is made once (making them cost more than running
# them: bench/RESULTS.md), their values bound per save.


@functools.cache
def _accepted_statement() -> Any:
    item_id: Any = bindparam("item_id")
    first_version = (
        select(Competence.version_id)
        .join(ItemCompetence, ItemCompetence.competence_id == Competence.id)
        .where(ItemCompetence.item_id == item_id)
        .order_by(ItemCompetence.id)
        .limit(1)
        .scalar_subquery()
    )
    return union_all(
        select(Item.kind, ItemOption.id, cast(null(), Integer))
        .outerjoin(ItemOption, ItemOption.item_id == Item.id)
        .where(Item.id == item_id),
        select(cast(null(), String), cast(null(), Integer), ScaleLevel.value).where(
            ScaleLevel.version_id == first_version
        ),
    )


@functools.cache
def _attempt_to_save_in() -> Any:
    """The attempt's status, deadline and plan, its row locked (see ``save_answer``)."""
    return (
        select(Attempt.status, Attempt.deadline_at, Attempt.plan)
        .where(
            Attempt.id == bindparam("attempt_id"),
            Attempt.organisation_id == bindparam("organisation_id"),
            Attempt.person_id == bindparam("person_id"),
        )
        .with_for_update()
    )


@functools.cache
def _answer_upsert(dialect_name: str) -> Any:
    insert = (postgresql if dialect_name == "postgresql" else sqlite).insert(_RESPONSES)
    insert = insert.values(
        attempt_id=bindparam("attempt_id"),
        item_id=bindparam("item_id"),
        answer=bindparam("answer"),
        answered_at=bindparam("answered_at"),
    )
    return insert.on_conflict_do_update(
        index_elements=[_RESPONSES.c.attempt_id, _RESPONSES.c.item_id],
        set_={"answer": insert.excluded.answer, "answered_at": insert.excluded.answered_at},
    )


@functools.cache
def _answer_delete() -> Any:
    return delete(_RESPONSES).where(
        _RESPONSES.c.attempt_id == bindparam("attempt_id"),
        _RESPONSES.c.item_id == bindparam("item_id"),
    )


def save_answer(
    session: Session,
    organisation_id: int,
    attempt_id: int,
    person_id: int,
    position: int,
    raw: Any,
    now: dt.datetime,
) -> Saved:
    """Keep the answer to the item at ``position`` (blank clears it), in three statements:
    the attempt, its row locked until the transaction ends so that a save and a
    submission of the same attempt never interleave; what the item accepts; one upsert
    (a blank: one delete). Two saves of the same item at once (a second tab, the page's
    background save) leave one answer, the later one. Nothing is scored here: submitting
    scores every answer at once."""
    found = session.execute(
        _attempt_to_save_in(),
        {"attempt_id": attempt_id, "organisation_id": organisation_id, "person_id": person_id},
    ).first()
    if found is None:
        raise NotFound(f"no attempt {attempt_id} for person {person_id}")
    status, deadline_at, plan = found
    if status != AttemptStatus.IN_PROGRESS:
        raise AttemptClosed(
            f"attempt {attempt_id} submitted", reason=_l("This attempt is already submitted.")
        )
    if _past(deadline_at, now):
        submit_attempt(session, organisation_id, attempt_id, person_id, now)
        raise AttemptClosed(
            f"attempt {attempt_id} past its deadline",
            reason=_l("The time is up: the attempt was submitted with the answers saved in time."),
            commit=True,
        )
    if not 1 <= position <= len(plan):
        raise NotFound(f"attempt {attempt_id} has no item {position}")
    item_id = plan[position - 1]["item"]
    answer = parse_answer(*_accepted(session, item_id), raw)
    keys = {"attempt_id": attempt_id, "item_id": item_id}
    if answer is None:
        session.execute(_answer_delete(), keys)
    else:
        dialect = session.get_bind().dialect.name
        session.execute(_answer_upsert(dialect), {**keys, "answer": answer, "answered_at": now})
    return Saved(attempt_id, len(plan))


# --- submitting ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Submitted:
    id: int
    organisation_id: int
    person_id: int
    mapping_id: int
    plan: list[dict[str, Any]]
    deadline_at: dt.datetime | None
    launch_id: str | None


def submit_attempt(
    session: Session,
    organisation_id: int,
    attempt_id: int,
    person_id: int,
    now: dt.datetime,
    launch_id: str | None = None,
) -> bool:
    """Score the attempt, write its evidence and queue its score, once. Returns whether
    this call submitted it (False: it was submitted already, and nothing more is written).

    ``launch_id`` is the launch the person submits from: its course receives the score.
    The attempt moves from in progress to submitted in one conditional UPDATE, which
    waits for a save of the same attempt to commit (its row lock); the answers are read
    after it, so every answer saved before the submission is scored.
    """
    moved = session.execute(
        update(Attempt)
        .where(
            Attempt.id == attempt_id,
            Attempt.organisation_id == organisation_id,
            Attempt.person_id == person_id,
            Attempt.status == AttemptStatus.IN_PROGRESS,
        )
        .values(
            status=AttemptStatus.SUBMITTED,
            submitted_at=now,
            **({"launch_id": launch_id} if launch_id else {}),
        )
        .returning(Attempt.mapping_id, Attempt.plan, Attempt.deadline_at, Attempt.launch_id)
        .execution_options(synchronize_session=False)
    ).first()
    if moved is None:
        mine = select(Attempt.id).where(
            Attempt.id == attempt_id,
            Attempt.organisation_id == organisation_id,
            Attempt.person_id == person_id,
        )
        if session.scalar(mine) is None:
            raise NotFound(f"no attempt {attempt_id} for person {person_id}")
        return False
    _score(session, _Submitted(attempt_id, organisation_id, person_id, *moved), now)
    _forget(session, attempt_id)
    return True


def _forget(session: Session, attempt_id: int) -> None:
    """The attempt and its answers as this session may hold them are out of date now (the
    submission wrote them with Core statements): read again when next used."""
    for obj in list(session.identity_map.values()):
        if (isinstance(obj, Attempt) and obj.id == attempt_id) or (
            isinstance(obj, Response) and obj.attempt_id == attempt_id
        ):
            session.expire(obj)


@dataclasses.dataclass
class _Scored:
    """An item as scoring sees it."""

    kind: str
    points: float
    options: list[OptionData] = dataclasses.field(default_factory=list)
    competences: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    """(competence id, weight), in the item's order."""


# The submission reads what scoring needs in one statement, made once (making it costs more
# than running it), with its values bound per submission: a row per item option, item
# competence, scale level, answer and measured competence, told apart by ``tag``, and
# whether the organisation has a published certification (evidence may complete it), and
# the person's other submitted attempts of the mapping (the gradebook's grade).
_ITEM, _MEASURE, _LEVEL, _ANSWER, _MEASURED, _CERTIFICATION, _GRADED = range(7)


@functools.cache
def _scoring_reads() -> Any:
    item_ids: Any = bindparam("item_ids", expanding=True)
    mapping_id: Any = bindparam("mapping_id")
    none_int, none_float = cast(null(), Integer), cast(null(), Float)
    none_str, none_json, none_time = (
        cast(null(), String),
        cast(null(), JSON),
        cast(null(), UTCDateTime()),
    )

    def row(tag: int, a: Any, b: Any = none_int, c: Any = none_int, **more: Any) -> Any:
        return (
            literal(tag, Integer).label("tag"),
            a.label("a"),
            b.label("b"),
            c.label("c"),
            more.get("fraction", none_float).label("fraction"),
            more.get("value", none_float).label("value"),
            more.get("tolerance", none_float).label("tolerance"),
            more.get("points", none_float).label("points"),
            more.get("kind", none_str).label("kind"),
            more.get("data", none_json).label("data"),
            more.get("at", none_time).label("at"),
        )

    scaled = union_all(
        select(ItemCompetence.competence_id).where(ItemCompetence.item_id.in_(item_ids)),
        select(MappingCompetence.competence_id).where(MappingCompetence.mapping_id == mapping_id),
    )
    reads = union_all(
        select(
            *row(
                _ITEM,
                Item.id,
                ItemOption.id,
                ItemOption.position,
                fraction=ItemOption.fraction,
                value=ItemOption.value,
                tolerance=ItemOption.tolerance,
                points=Item.points,
                kind=Item.kind,
            )
        )
        .outerjoin(ItemOption, ItemOption.item_id == Item.id)
        .where(Item.id.in_(item_ids)),
        select(
            *row(
                _MEASURE,
                ItemCompetence.item_id,
                ItemCompetence.competence_id,
                ItemCompetence.id,
                points=ItemCompetence.weight,
            )
        ).where(ItemCompetence.item_id.in_(item_ids)),
        select(*row(_LEVEL, Competence.id, ScaleLevel.value))
        .join(ScaleLevel, ScaleLevel.version_id == Competence.version_id)
        .where(Competence.id.in_(scaled)),
        select(
            *row(
                _ANSWER,
                Response.id,
                Response.item_id,
                data=Response.answer,
                at=Response.answered_at,
            )
        ).where(Response.attempt_id == bindparam("attempt_id")),
        select(
            *row(
                _MEASURED,
                MappingCompetence.id,
                MappingCompetence.competence_id,
                data=MappingCompetence.thresholds,
            )
        ).where(MappingCompetence.mapping_id == mapping_id),
        select(*row(_CERTIFICATION, Certification.id)).where(
            Certification.organisation_id == bindparam("organisation_id"),
            Certification.status == CertificationStatus.PUBLISHED,
        ),
        select(
            *row(_GRADED, Attempt.id, fraction=Attempt.percentage, at=Attempt.submitted_at)
        ).where(
            Attempt.mapping_id == mapping_id,
            Attempt.person_id == bindparam("person_id"),
            Attempt.status == AttemptStatus.SUBMITTED,
            Attempt.percentage.is_not(None),
            Attempt.id != bindparam("attempt_id"),
        ),
    )
    columns = reads.selected_columns  # the tags sort the items before what refers to them
    return reads.order_by(columns.tag, columns.a, columns.c, columns.b)


@dataclasses.dataclass
class _Reads:
    """What scoring reads (``_scoring_reads``), sorted out."""

    items: dict[int, _Scored] = dataclasses.field(default_factory=dict)
    scales: dict[int, list[int]] = dataclasses.field(default_factory=dict)
    """Each competence's scale: its version's level values, lowest first."""
    responses: dict[int, tuple[int, Any, dt.datetime]] = dataclasses.field(default_factory=dict)
    """item id → (response id, answer, answered at)."""
    thresholds: dict[int, dict[int, float]] = dataclasses.field(default_factory=dict)
    """The mapping's competences, in its order, with their {level: minimum %}."""
    certifications: bool = False
    graded: list[gradebook.Graded] = dataclasses.field(default_factory=list)
    """The person's other submitted attempts of the mapping: (id, percentage, submitted)."""


def _read_for_scoring(session: Session, attempt: _Submitted) -> _Reads:
    """What scoring needs (one statement): the items' kind, points, options' credits,
    competences and weights, the scales, the answers, the mapping's competences, and the
    person's other graded attempts."""
    found = _Reads()
    rows = session.execute(
        _scoring_reads(),
        {
            "item_ids": [entry["item"] for entry in attempt.plan],
            "mapping_id": attempt.mapping_id,
            "attempt_id": attempt.id,
            "organisation_id": attempt.organisation_id,
            "person_id": attempt.person_id,
        },
    )
    for tag, a, b, _c, fraction, value, tolerance, points, kind, data, at in rows:
        if tag == _ITEM:
            item = found.items.setdefault(a, _Scored(kind, points))
            if b is not None:
                item.options.append(
                    OptionData(fraction=fraction, value=value, tolerance=tolerance, id=b)
                )
        elif tag == _MEASURE:
            found.items[a].competences.append((b, points))
        elif tag == _LEVEL:
            found.scales.setdefault(a, []).append(b)
        elif tag == _ANSWER:
            found.responses[b] = (a, data, at)
        elif tag == _MEASURED:
            found.thresholds[b] = {int(k): v for k, v in data.items()}
        elif tag == _CERTIFICATION:
            found.certifications = True
        else:
            found.graded.append((a, fraction, at))
    return found


def _score(session: Session, attempt: _Submitted, now: dt.datetime) -> None:
    """Every answer scored in one pass, then the evidence, the gradebook's score and the
    certifications it completes."""
    mapping = session.get_one(Mapping, attempt.mapping_id)
    reads = _read_for_scoring(session, attempt)
    items, responses, scales = reads.items, reads.responses, reads.scales
    measured = set(reads.thresholds)
    knowledge, statements, fractions = [], [], []
    score = maximum = 0.0
    for entry in attempt.plan:
        item = items[entry["item"]]
        saved = responses.get(entry["item"])
        in_time = saved is not None and (
            attempt.deadline_at is None or saved[2] <= attempt.deadline_at
        )
        answer = saved[1] if saved is not None and in_time else None
        scale = Scale(
            scales.get(item.competences[0][0], [])
            if item.kind == SELF_ASSESSMENT and item.competences
            else []
        )
        data = ItemData(kind=item.kind, stem={}, options=item.options, points=item.points)
        fraction = score_answer(data, answer, scale) if answer is not None else 0.0
        if saved is not None:
            fractions.append({"id": saved[0], "fraction": fraction if in_time else None})
        competences = [(cid, weight) for cid, weight in item.competences if cid in measured]
        if item.kind == SELF_ASSESSMENT:
            level = answer.get("level") if answer is not None else None
            statements.append(results.ScoredItem(item.points, fraction, competences, level))
        else:
            knowledge.append(results.ScoredItem(item.points, fraction, competences))
            score += item.points * fraction
            maximum += item.points
    if not knowledge:  # a self-assessment only: the gradebook sees how far along the scale
        score = sum(s.points * s.fraction for s in statements)
        maximum = sum(s.points for s in statements)
    if fractions:
        session.execute(
            update(_RESPONSES)
            .where(_RESPONSES.c.id == bindparam("response_id"))
            .values(fraction=bindparam("fraction")),
            [{"response_id": f["id"], "fraction": f["fraction"]} for f in fractions],
        )
    percentage = round(100.0 * score / maximum, 1) if maximum else 0.0
    session.execute(
        update(_ATTEMPTS)
        .where(_ATTEMPTS.c.id == attempt.id)
        .values(
            score=round(score, 4),
            max_score=round(maximum, 4),
            percentage=percentage,
        )
    )
    record_evidence(
        session,
        [
            Evidence(
                organisation_id=attempt.organisation_id,
                person_id=attempt.person_id,
                competence_id=result.competence_id,
                source=result.source,
                level=result.level,
                percentage=result.percentage,
                attempt_id=attempt.id,
                recorded_at=now,
                detail={"mapping": mapping.code, "self_level": result.self_level},
            )
            for result in results.competence_results(
                knowledge, statements, reads.thresholds, {c: scales.get(c, []) for c in measured}
            ).values()
        ],
    )
    graded = [*reads.graded, (attempt.id, percentage, now)]
    _queue_gradebook_score(session, attempt, mapping, graded, now)
    session.flush()
    # New evidence: certifications it completes are issued in this same transaction.
    if reads.certifications:
        certificates.evaluate_person(session, attempt.organisation_id, attempt.person_id, now)


def _queue_gradebook_score(
    session: Session,
    attempt: _Submitted,
    mapping: Mapping,
    graded: list[gradebook.Graded],
    now: dt.datetime,
) -> None:
    """Queue the grade for the gradebook of the course the attempt was submitted from, when
    that course's link placed this mapping (a learner who wanders from one placed mapping
    to another must not overwrite the first one's column). The grade follows the mapping's
    policy: the highest attempt, or the latest."""
    launch = session.get(Launch, attempt.launch_id) if attempt.launch_id else None
    if launch is None:
        return
    placed_as = str((launch.claims.get(c.CUSTOM) or {}).get(placement.MAPPING_PARAM) or "")
    if placed_as.strip().lower() == mapping.code.lower():
        placed_as = mapping.code
    elif placed_as != placement.MY_ROLE or mapping.job_role_id is None:
        return
    gradebook.queue_mapping_grade(
        session, launch, mapping, placed_as, now, attempt_id=attempt.id, graded=graded
    )


def attempt_count(session: Session, mapping_id: int) -> int:
    return (
        session.scalar(select(func.count(Attempt.id)).where(Attempt.mapping_id == mapping_id)) or 0
    )


# --- the result ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ResultLine:
    """One measured competence: the level reached against what the person's roles need."""

    code: str
    title: str
    level: int
    level_label: str
    required: int | None
    required_label: str
    top: int
    source: str
    percentage: float | None
    self_level_label: str

    @property
    def met(self) -> bool | None:
        return None if self.required is None else self.level >= self.required


@dataclasses.dataclass(frozen=True)
class ItemReview:
    stem: str
    kind: str
    credit: float | None
    """0 … 1 for knowledge items; None for statements."""
    answer: str
    correct: str
    feedback: Sequence[str]


@dataclasses.dataclass(frozen=True)
class AttemptResult:
    attempt: Attempt
    lines: Sequence[ResultLine]
    reviews: Sequence[ItemReview]

    @property
    def passed(self) -> bool | None:
        mark = self.attempt.mapping.pass_percentage
        if mark is None or self.attempt.percentage is None:
            return None
        return self.attempt.percentage >= mark


def attempt_result(
    session: Session, organisation_id: int, attempt: Attempt, locale: str
) -> AttemptResult:
    """The result of the person's attempt (``get_attempt``), once it is submitted."""
    from lti_tool.services import requirements

    person_id = attempt.person_id
    if attempt.status != AttemptStatus.SUBMITTED:
        raise AttemptClosed(
            f"attempt {attempt.id} not submitted",
            reason=_l("Submit the attempt to see the result."),
        )
    needed = {
        line.competence_id: line
        for line in requirements.requirements_of(session, organisation_id, person_id, locale).lines
    }
    evidence = session.scalars(
        select(Evidence)
        .where(Evidence.attempt_id == attempt.id)
        .options(
            selectinload(Evidence.competence)
            .selectinload(Competence.version)
            .selectinload(FrameworkVersion.levels)
        )
        .order_by(Evidence.id)
    ).all()
    lines = []
    for record in evidence:
        competence = record.competence
        labels = {lvl.value: localized(lvl.label, locale) for lvl in competence.version.levels}
        need = needed.get(competence.id)
        self_level = record.detail.get("self_level")
        lines.append(
            ResultLine(
                code=competence.code,
                title=localized(competence.title, locale) or competence.code,
                level=record.level,
                level_label=labels.get(record.level, "") if record.level else "",
                required=need.required.value if need else None,
                required_label=need.required.label if need else "",
                top=max(labels, default=1),
                source=record.source,
                percentage=record.percentage,
                self_level_label=labels.get(self_level, "") if self_level else "",
            )
        )
    return AttemptResult(attempt, lines, _reviews(session, attempt, locale))


def _reviews(session: Session, attempt: Attempt, locale: str) -> list[ItemReview]:
    items = _items(session, [entry["item"] for entry in attempt.plan])
    answers = {r.item_id: r for r in attempt.responses}
    reviews = []
    for entry in attempt.plan:
        item = items.by_id[entry["item"]]
        response = answers.get(item.id)
        answer = response.answer if response else {}
        options = {o.id: o for o in item.options}
        feedback = [
            localized(options[i].feedback, locale)
            for i in answer.get("options", [])
            if i in options and options[i].feedback
        ]
        if item.feedback:
            feedback.append(localized(item.feedback, locale))
        if item.kind == SELF_ASSESSMENT:
            labels = {
                lvl.value: localized(lvl.label, locale) for lvl in items.scales.get(item.id, [])
            }
            shown = labels.get(answer.get("level") or 0, "")
            right = ""
        elif item.kind == NUMERIC:
            shown = f"{answer['value']:g}" if "value" in answer else ""
            best = max(item.options, key=lambda o: o.fraction, default=None)
            right = _numeric_answer(best) if best else ""
            if "value" in answer:
                matched = [
                    o
                    for o in item.options
                    if o.value is not None
                    and abs(answer["value"] - o.value) <= (o.tolerance or 0) + 1e-9
                ]
                own = [o.feedback for o in matched if o.feedback][:1]
                if not matched:  # Moodle's "*": any other number
                    own = [(item.outcome_feedback or {}).get(OTHER_ANSWER, {})]
                feedback[:0] = [localized(text, locale) for text in own]
        else:
            shown = ", ".join(
                localized(options[i].text, locale)
                for i in answer.get("options", [])
                if i in options
            )
            right = ", ".join(localized(o.text, locale) for o in item.options if o.fraction > 0)
        if item.kind != SELF_ASSESSMENT:
            credit = response.fraction or 0.0 if response else 0.0
            by_outcome = (item.outcome_feedback or {}).get(outcome(credit))
            if by_outcome:  # after the answer's own feedback, before the general one
                feedback.insert(len(feedback) - bool(item.feedback), localized(by_outcome, locale))
        reviews.append(
            ItemReview(
                stem=localized(item.stem, locale),
                kind=item.kind,
                credit=None
                if item.kind == SELF_ASSESSMENT
                else (response.fraction or 0.0 if response else 0.0),
                answer=shown,
                correct=right,
                feedback=[f for f in feedback if f],
            )
        )
    return reviews


def _numeric_answer(option: Any) -> str:
    if option.value is None:
        return ""
    if option.tolerance:
        return f"{option.value:g} ± {option.tolerance:g}"
    return f"{option.value:g}"


def close_overdue_attempts(
    session_factory: Callable[[], Session], now: dt.datetime, limit: int = 500
) -> int:
    """Submit attempts whose time ran out while nobody came back to them, each in its own
    transaction, so their score reaches the gradebook without the person returning."""
    with session_factory() as session:
        overdue = session.execute(
            select(Attempt.id, Attempt.organisation_id, Attempt.person_id)
            .where(
                Attempt.status == AttemptStatus.IN_PROGRESS,
                Attempt.deadline_at.is_not(None),
                Attempt.deadline_at <= now,
            )
            .limit(limit)
        ).all()
    closed = 0
    for attempt_id, organisation_id, person_id in overdue:
        with session_factory() as session:
            try:
                submit_attempt(session, organisation_id, attempt_id, person_id, now)
                session.commit()
                closed += 1
            except Exception:  # one broken attempt must not stop the others, nor the scores
                session.rollback()
                log.exception("could not submit overdue attempt %s", attempt_id)
    return closed
