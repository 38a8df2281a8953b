"""Where a person stands on one required competence (a cell of a unit's competence matrix),
and which evidence decides it. Plain data in, plain data out: no database, no Flask.

**Which evidence is held** (``holding_rank``): evidence counts for the competence it was
recorded against and for the same competence in the framework's other versions (same
framework, same ``identifier``). Among a person's evidence for one competence, evidence
other than the person's own word (a knowledge test, an instructor's confirmation, an LMS
score, …) outweighs their own word (a self-assessment, a self-reported course); among
evidence of the same weight the most recent ``recorded_at`` counts (then the highest
evidence id), so a retake that went worse shows where the person stands now. One
exception (``replaces``): evidence that the person took an activity (attendance, an
instructor's confirmation, their own report, the LMS's completion:
``evidence_sources.COURSE_SOURCES``) says "at least this level", so it does not replace
evidence of the same weight at a higher level that still counts when it is recorded
(not past its expiry for the person's requirement, ``expires_at``); once that has
run out, it does.

**The cell's status** (``cell_status``), from the required level (the union of the
person's job roles: the highest level, the shortest renewal), the held evidence, ``now``
and the expiring window of N days, checked in this order:

1. no evidence at all for the competence → ``never_assessed``;
2. the held level is below the required level → ``gap`` (a level-0 result is a gap:
   assessed, no level reached), whether or not the evidence has expired;
3. the holding expires (``expires_at``: the earlier of the evidence's ``valid_until`` and
   its ``recorded_at`` + the requirement's ``renewal_months``; neither → never) at or
   before ``now`` → ``expired``;
4. it expires at or before ``now`` + N days → ``expiring``;
5. otherwise → ``met``.

**Coverage** is the share of cells that are ``met`` or ``expiring`` (the person holds the
level today), in per cent; no cells → no figure (None).

**The person's own word** (``Holding.own_word``): a cell whose held evidence is only the
person's own word (a self-assessment, a self-reported course) keeps its status by the
rule above, but says so wherever it is shown or exported, so that a unit manager
documenting the unit sees which "met" no test, instructor or LMS has confirmed.

Certificates do not decide a cell: they are issued from this same evidence, and revoking
or outliving a certificate does not unsay the evidence. The person's page shows them beside
the evidence trail, with their own status.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from lti_tool.domain.certification_rules import add_months
from lti_tool.domain.evidence_sources import COURSE_SOURCES, SELF_SOURCES

#: The expiring window when none is asked for.
DEFAULT_EXPIRING_DAYS = 30


class CellStatus(enum.StrEnum):
    MET = "met"
    GAP = "gap"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    NEVER_ASSESSED = "never_assessed"


#: The statuses in which the person holds the required level today.
COVERED = frozenset({CellStatus.MET, CellStatus.EXPIRING})


def evidence_weight(source: str) -> int:
    """1 for evidence that outweighs the person's own word, 0 for their own word (a
    self-assessment, a self-reported course: ``evidence_sources.SELF_SOURCES``)."""
    return 0 if source in SELF_SOURCES else 1


def holding_rank(
    source: str, recorded_at: dt.datetime, evidence_id: int
) -> tuple[int, dt.datetime, int]:
    """Of two pieces of evidence for one competence, the one with the higher rank is held."""
    return (evidence_weight(source), recorded_at, evidence_id)


class Ranked(NamedTuple):
    """Evidence as the holding rule compares it."""

    source: str
    level: int
    recorded_at: dt.datetime
    evidence_id: int


def replaces(new: Ranked, held: Ranked, held_expires: dt.datetime | None) -> bool:
    """Whether ``new`` evidence takes over from the ``held`` one (the rule in the module
    docstring); ``held_expires``: when the held evidence stops counting (None: never).
    ``services.evidence.hold`` says the same in SQL."""
    if holding_rank(new.source, new.recorded_at, new.evidence_id) <= holding_rank(
        held.source, held.recorded_at, held.evidence_id
    ):
        return False
    return not (
        new.source in COURSE_SOURCES
        and evidence_weight(new.source) == evidence_weight(held.source)
        and new.level < held.level
        and (held_expires is None or held_expires > new.recorded_at)
    )


class Holding(NamedTuple):
    """The evidence a person holds a competence by (see ``holding_rank``). A named tuple:
    a unit's matrix reads thousands, an organisation's export hundreds of thousands."""

    level: int
    recorded_at: dt.datetime
    valid_until: dt.datetime | None = None
    own_word: bool = False
    """Held by the person's own word only (``evidence_weight`` 0)."""


def expires_at(holding: Holding, renewal_months: int | None) -> dt.datetime | None:
    """When the holding stops counting for a requirement renewed every ``renewal_months``:
    the earlier of the evidence's own end and its date + the renewal period; None = never."""
    ends = holding.valid_until
    if renewal_months:
        renewed = add_months(holding.recorded_at, renewal_months)
        if ends is None or renewed < ends:
            ends = renewed
    return ends


def cell_status(
    required_level: int,
    renewal_months: int | None,
    holding: Holding | None,
    *,
    now: dt.datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
) -> CellStatus:
    """The status of one requirement for one person (the rule in the module docstring)."""
    return cell_status_and_expiry(
        required_level, renewal_months, holding, now=now, expiring_days=expiring_days
    )[0]


def cell_status_and_expiry(
    required_level: int,
    renewal_months: int | None,
    holding: Holding | None,
    *,
    now: dt.datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
) -> tuple[CellStatus, dt.datetime | None]:
    """``cell_status`` and the holding's ``expires_at`` (None without one, and for a gap:
    a level below the requirement counts until no date worth showing beside "gap"): the
    matrix shows both, and working out the expiry once halves its cost over 20,000
    people."""
    if holding is None:
        return CellStatus.NEVER_ASSESSED, None
    if holding.level < required_level:
        return CellStatus.GAP, None
    ends = expires_at(holding, renewal_months)
    if ends is not None and ends <= now:
        return CellStatus.EXPIRED, ends
    if ends is not None and ends <= now + dt.timedelta(days=expiring_days):
        return CellStatus.EXPIRING, ends
    return CellStatus.MET, ends


def coverage(statuses: Iterable[CellStatus]) -> float | None:
    """The share of ``statuses`` met or expiring, in per cent (one decimal); None for none."""
    return coverage_of(Counter(statuses))


def coverage_of(counts: Mapping[CellStatus, int]) -> float | None:
    """``coverage`` from the number of cells in each status (figures counted in SQL)."""
    total = sum(counts.values())
    covered = sum(n for status, n in counts.items() if status in COVERED)
    return round(100.0 * covered / total, 1) if total else None
