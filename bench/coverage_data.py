"""The competence matrix benchmark's data: a region of municipalities in PostgreSQL.

    .venv/bin/python bench/coverage_data.py \
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_big] [--seed 13]

Empties the database (drops the public schema), runs ``alembic upgrade head`` and fills
it, deterministically (seeded), with a region of municipalities. The big one,
``BIG_ORGANISATION``: 20,000 people in 100 units (a tree of 5 sectors, 15 departments and
80 units), 30 job roles whose profiles ask for some of the 60 competences of a published
framework with a 4-level scale, each person in one unit with 1-3 job roles (some ended
assignments besides), 1,000,000 evidence records over four years before ``GENERATED_AT``
(knowledge tests and self-assessments, some with a ``valid_until``) and certificates of two
certifications (some revoked). The smaller municipalities have 1,000 people each.

One unit, ``BENCH_UNIT``, has exactly 200 people; ``MANAGER_SUB`` is granted manager of
it and ``COORDINATOR_SUB`` coordinator of the region; the demo platform's manager persona
(a manager of the whole organisation by LMS role) is there too. The benchmark launches as
them through the platform ``BENCH_ISSUER``, whose JWKS address it points at its own key.

The big tables are written with COPY; ``competence_holding`` is then filled by the
migration's own backfill (``BACKFILL`` of revision 94649caf93c9, the rule of
``domain.coverage.holding_rank``), and ``coverage_cell`` by its migrations' (c5d1f0a9e3b7,
482e33c31bd1). Prints how long each step took. Refuses a ``test_*``
database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import random
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from lti_tool.lti.demo_platform import PERSONAS  # noqa: E402
from lti_tool.models import (  # noqa: E402
    AchievementType,
    Certification,
    CertificationStatus,
    Competence,
    Deployment,
    Framework,
    FrameworkVersion,
    GrantKind,
    JobRole,
    Organisation,
    OrgUnit,
    PermissionGrant,
    Platform,
    Region,
    Requirement,
    ScaleLevel,
    Status,
    StatusList,
    UnitKind,
    VersionStatus,
)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_big"
GENERATED_AT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
"""Evidence is recorded in the four years before; the benchmark's ``now``."""
REGION = "Benchregionen"
BIG_ORGANISATION = "Storby kommune"
SMALL_ORGANISATIONS = ("Småby kommune", "Fjordbygd kommune", "Dalbygd kommune")
BENCH_ISSUER = "https://lms.storby.bench.example"
BENCH_CLIENT_ID = "bench-coverage"
BENCH_DEPLOYMENT = "1"
BENCH_UNIT = "U-BENCH"
BENCH_UNIT_PEOPLE = 200
MANAGER_SUB = "bench-manager"
COORDINATOR_SUB = "bench-coordinator"
SELF_ASSESSMENT = "self_assessment"
KNOWLEDGE_TEST = "knowledge_test"
LANGS = ("nb", "nn", "en")


def texts(nb: str, en: str) -> dict[str, str]:
    return {"nb": nb, "nn": nb, "en": en}


@contextmanager
def step(name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    print(f"  {name}: {time.perf_counter() - started:.1f} s", flush=True)


def _migration(revision: str) -> Any:
    path = next((ROOT / "lti_tool" / "migrations" / "versions").glob(f"*_{revision}_*.py"))
    spec = importlib.util.spec_from_file_location(f"migration_{revision}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def backfill_sql() -> str:
    """The migration's backfill of ``competence_holding``: the app's rule, not a copy."""
    return str(_migration("94649caf93c9").BACKFILL)


def cells_backfill_sql() -> str:
    """The migrations' backfill of ``coverage_cell`` (the coordinator figures' rows), and
    of the flag a later one added to them."""
    rows = _migration("c5d1f0a9e3b7").backfill("postgresql")
    return f"{rows};\n{_migration('482e33c31bd1').BACKFILL}"


def migrated(url: str) -> str:
    """Empty the database (created if needed) and migrate it to head."""
    from alembic import command
    from launch_bench import reset_database

    from lti_tool.migrate import alembic_config

    reset_database(url)
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    command.upgrade(alembic_config(url), "head")
    return url


# --- the small things, through the ORM -------------------------------------------------------


class Shape:
    """What one municipality is made of."""

    def __init__(
        self, name: str, people: int, evidence: int, sectors: int, departments: int, units: int
    ) -> None:
        self.name = name
        self.people = people
        self.evidence = evidence
        self.sectors = sectors
        self.departments = departments
        self.units = units


def structure(
    session: Session, rng: random.Random, region: Region, shape: Shape, big: bool
) -> dict[str, Any]:
    """The organisation, its platform, units, framework, job roles and certifications."""
    org = Organisation(name=shape.name, region=region, created_at=GENERATED_AT)
    session.add(org)
    session.flush()
    slug = shape.name.split()[0].lower().replace("å", "a")
    platform = Platform(
        issuer=BENCH_ISSUER if big else f"https://lms.{slug}.bench.example",
        client_id=BENCH_CLIENT_ID,
        name=f"Moodle {shape.name}",
        auth_login_url=f"https://lms.{slug}.bench.example/auth",
        auth_token_url=f"https://lms.{slug}.bench.example/token",
        jwks_url=f"https://lms.{slug}.bench.example/jwks",
        organisation_id=org.id,
        status=Status.ACTIVE,
        created_at=GENERATED_AT,
    )
    session.add(platform)
    session.flush()
    session.add(
        Deployment(
            platform_id=platform.id,
            deployment_id=BENCH_DEPLOYMENT,
            organisation_id=org.id,
            status=Status.ACTIVE,
            created_at=GENERATED_AT,
        )
    )

    # Units: sectors > departments > units; people are placed in the units.
    def unit(kind: UnitKind, code: str, name: str, parent: OrgUnit | None) -> OrgUnit:
        made = OrgUnit(
            organisation_id=org.id,
            parent=parent,
            kind=kind,
            code=code,
            name=name,
            created_at=GENERATED_AT,
        )
        session.add(made)
        return made

    sectors = [
        unit(UnitKind.SECTOR, f"S{s}", f"Sektor {s + 1}", None) for s in range(shape.sectors)
    ]
    departments = [
        unit(UnitKind.DEPARTMENT, f"A{d}", f"Avdeling {d + 1}", sectors[d % len(sectors)])
        for d in range(shape.departments)
    ]
    leaves = [
        unit(
            UnitKind.UNIT,
            BENCH_UNIT if big and u == 0 else f"E{u}",
            "Benchenheten" if big and u == 0 else f"Enhet {u + 1}",
            departments[u % len(departments)],
        )
        for u in range(shape.units)
    ]

    # The framework: 6 areas of 9 competences, 60 in all, a 4-level scale.
    framework = Framework(organisation_id=org.id, code="BASIS", created_at=GENERATED_AT)
    version = FrameworkVersion(
        framework=framework,
        number=1,
        status=VersionStatus.PUBLISHED,
        title=texts("Basiskompetanse", "Basic competence"),
        identifier=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        created_at=GENERATED_AT,
        published_at=GENERATED_AT,
    )
    session.add(version)
    for value in (1, 2, 3, 4):
        session.add(
            ScaleLevel(version=version, value=value, label=texts(f"Nivå {value}", f"Level {value}"))
        )
    competences: list[Competence] = []
    for area in range(6):
        root = Competence(
            version=version,
            identifier=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            code=f"K{area + 1}",
            title=texts(f"Område {area + 1}", f"Area {area + 1}"),
            position=area,
        )
        competences.append(root)
        for leaf in range(9):
            competences.append(
                Competence(
                    version=version,
                    parent=root,
                    identifier=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    code=f"K{area + 1}.{leaf + 1}",
                    title=texts(f"Kompetanse {area + 1}.{leaf + 1}", f"Competence {area}.{leaf}"),
                    position=leaf,
                )
            )
    session.add_all(competences)

    # 30 job roles, each asking for 8-20 of the competences.
    roles = []
    for r in range(30):
        role = JobRole(
            organisation_id=org.id,
            code=f"STILLING{r + 1}",
            title=texts(f"Stilling {r + 1}", f"Job role {r + 1}"),
            created_at=GENERATED_AT,
        )
        for competence in rng.sample(competences, rng.randint(8, 20)):
            role.requirements.append(
                Requirement(
                    competence=competence,
                    required_level=rng.choices((1, 2, 3, 4), (2, 4, 3, 1))[0],
                    mandatory=rng.random() < 0.75,
                    renewal_months=rng.choice((None, None, None, 12, 24, 36)),
                )
            )
        roles.append(role)
    session.add_all(roles)

    status_list = StatusList(
        organisation_id=org.id,
        uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        size=131072,
        created_at=GENERATED_AT,
    )
    certifications = [
        Certification(
            organisation_id=org.id,
            code=code,
            uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            title=texts(title, title),
            achievement_type=AchievementType.CERTIFICATE,
            status=CertificationStatus.PUBLISHED,
            earn_paths=[],
            renewal_paths=[],
            validity_months=months,
            created_at=GENERATED_AT,
            updated_at=GENERATED_AT,
        )
        for code, title, months in (
            ("HLR", "Hjerte-lunge-redning", 24),
            ("PVK", "Personvern", None),
        )
    ]
    session.add(status_list)
    session.add_all(certifications)
    session.flush()
    return {
        "org": org,
        "platform": platform,
        "leaves": leaves,
        "competences": competences,
        "roles": roles,
        "status_list": status_list,
        "certifications": certifications,
    }


# --- the big things, with COPY -----------------------------------------------------------------


class Ids:
    """Ids handed out here (the tables are empty), the sequences set after."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def take(self, table: str) -> int:
        found = self.next.get(table, 1)
        self.next[table] = found + 1
        return found


def copy_rows(
    cursor: Any, table: str, columns: Sequence[str], rows: Iterator[Sequence[Any]]
) -> int:
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def fill(
    cursor: Any, ids: Ids, rng: random.Random, shape: Shape, made: dict[str, Any], big: bool
) -> dict[str, int]:
    """People, their placements and job roles, evidence and certificates of one
    municipality."""
    org_id = made["org"].id
    platform_id = made["platform"].id
    leaves = [u.id for u in made["leaves"]]
    competences = [c.id for c in made["competences"]]
    roles = made["roles"]
    required = {r.id: [q.competence_id for q in r.requirements] for r in roles}
    counts: dict[str, int] = {}

    people = []  # (id, unit, role ids)
    bench_unit = leaves[0]
    others = leaves[1:] if big else leaves
    weights = [rng.uniform(0.5, 1.5) for _ in others]
    for n in range(shape.people):
        unit = bench_unit if big and n < BENCH_UNIT_PEOPLE else rng.choices(others, weights)[0]
        held = rng.sample([r.id for r in roles], rng.choices((1, 2, 3), (6, 3, 1))[0])
        people.append((ids.take("person"), unit, held))
    given = ("Kari", "Ola", "Ingrid", "Per", "Anne", "Lars", "Sofie", "Jonas", "Nora", "Emil")
    family = ("Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen")

    def person_rows() -> Iterator[Sequence[Any]]:
        for pid, _unit, _roles in people:
            g = rng.choice(given)
            f = f"{rng.choice(family)}{rng.randint(1, 999):03d}"
            yield (
                pid,
                platform_id,
                f"p{pid}",
                org_id,
                f"{g} {f}",
                g,
                f,
                f"p{pid}@{org_id}.bench.example",
                "nb",
                GENERATED_AT,
                GENERATED_AT,
            )

    columns = "id platform_id sub organisation_id name given_name family_name email locale"
    counts["person"] = copy_rows(
        cursor, "person", [*columns.split(), "created_at", "last_seen_at"], person_rows()
    )

    def assignments(kind: str) -> Iterator[Sequence[Any]]:
        for pid, unit, held in people:
            targets = [unit] if kind == "unit" else held
            pool = others if kind == "unit" else [r.id for r in roles]
            if rng.random() < 0.1:  # an earlier placement or role, ended
                started = GENERATED_AT - dt.timedelta(days=rng.randint(400, 1400))
                yield (
                    ids.take(f"{kind}_assignment"),
                    pid,
                    rng.choice(pool),
                    "import",
                    "ended",
                    started,
                    started,
                    started + dt.timedelta(days=300),
                )
            for target in targets:
                started = GENERATED_AT - dt.timedelta(days=rng.randint(1, 1400))
                yield (
                    ids.take(f"{kind}_assignment"),
                    pid,
                    target,
                    "import",
                    "active",
                    started,
                    started,
                    None,
                )

    tail = ["source", "status", "created_at", "decided_at", "ended_at"]
    counts["unit_assignment"] = copy_rows(
        cursor, "unit_assignment", ["id", "person_id", "unit_id", *tail], assignments("unit")
    )
    counts["job_role_assignment"] = copy_rows(
        cursor,
        "job_role_assignment",
        ["id", "person_id", "job_role_id", *tail],
        assignments("job_role"),
    )

    # Evidence: about 50 per person in the big one, mostly of what their roles ask for,
    # each person's in time order; a sixth with a valid_until.
    per_person = shape.evidence / shape.people
    span = 4 * 365 * 24 * 3600

    def evidence_rows() -> Iterator[Sequence[Any]]:
        left = shape.evidence
        for n, (pid, _unit, held) in enumerate(people):
            remaining_people = shape.people - n
            k = left if remaining_people == 1 else round(per_person * rng.uniform(0.4, 1.6))
            k = min(k, left - (remaining_people - 1))  # at least one for each still to come
            left -= k
            asked = sorted({c for r in held for c in required[r]})
            moments = sorted(rng.random() * span for _ in range(k))
            for moment in moments:
                competence = rng.choice(asked) if rng.random() < 0.85 else rng.choice(competences)
                recorded = GENERATED_AT - dt.timedelta(seconds=span - moment)
                selfish = rng.random() < 0.3
                level = rng.choices((0, 1, 2, 3, 4), (1, 2, 4, 4, 2))[0]
                valid = (
                    recorded + dt.timedelta(days=rng.choice((365, 730, 1095)))
                    if rng.random() < 1 / 6
                    else None
                )
                yield (
                    ids.take("evidence"),
                    org_id,
                    pid,
                    competence,
                    SELF_ASSESSMENT if selfish else KNOWLEDGE_TEST,
                    level,
                    None if selfish else round(rng.uniform(level * 20, level * 20 + 20), 1),
                    recorded,
                    valid,
                    "{}",
                )

    counts["evidence"] = copy_rows(
        cursor,
        "evidence",
        [
            "id",
            "organisation_id",
            "person_id",
            "competence_id",
            "source",
            "level",
            "percentage",
            "recorded_at",
            "valid_until",
            "detail",
        ],
        evidence_rows(),
    )

    # Certificates: a quarter of the people, of one or both certifications; some revoked.
    status_list = made["status_list"]
    indices = iter(rng.sample(range(status_list.size), min(status_list.size, 2 * shape.people)))

    def certificate_rows() -> Iterator[Sequence[Any]]:
        for pid, _unit, _held in people:
            if rng.random() >= 0.25:
                continue
            for certification in made["certifications"]:
                if rng.random() < 0.5:
                    continue
                cid = ids.take("certificate")
                issued = GENERATED_AT - dt.timedelta(days=rng.randint(1, 1400))
                months = certification.validity_months
                expires = issued + dt.timedelta(days=30 * months) if months else None
                revoked = issued + dt.timedelta(days=10) if rng.random() < 0.03 else None
                yield (
                    cid,
                    org_id,
                    certification.id,
                    pid,
                    1,
                    f"B{org_id}-{cid:08d}",
                    str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "automatic",
                    f"Person {pid}",
                    json.dumps({"certification": certification.code}),
                    issued,
                    issued,
                    expires,
                    status_list.id,
                    next(indices),
                    revoked,
                    "Utstedt ved en feil" if revoked else None,
                )

    counts["certificate"] = copy_rows(
        cursor,
        "certificate",
        [
            "id",
            "organisation_id",
            "certification_id",
            "person_id",
            "cycle",
            "code",
            "uuid",
            "subject_uuid",
            "method",
            "holder_name",
            "content",
            "issued_at",
            "valid_from",
            "expires_at",
            "status_list_id",
            "status_index",
            "revoked_at",
            "revocation_reason",
        ],
        certificate_rows(),
    )
    return counts


def person_row(ids: Ids, made: dict[str, Any], cursor: Any, sub: str, name: str) -> int:
    """A person of the big organisation placed in no unit, with no job role."""
    pid = ids.take("person")
    cursor.execute(
        "INSERT INTO person (id, platform_id, sub, organisation_id, name, given_name,"
        " family_name, email, locale, created_at, last_seen_at)"
        " VALUES (%s, %s, %s, %s, %s, 'Bench', %s, %s, 'nb', %s, %s)",
        (
            pid,
            made["platform"].id,
            sub,
            made["org"].id,
            f"Bench {name}",
            name,
            f"{sub}@storby.bench.example",
            GENERATED_AT,
            GENERATED_AT,
        ),
    )
    return pid


def whole_organisation(ids: Ids, made: dict[str, Any], cursor: Any) -> int:
    """The demo platform's manager persona (the LMS's Manager role: the whole
    organisation), made here so that launching as them adds no one."""
    return person_row(ids, made, cursor, PERSONAS["manager"].sub, "Enhetsleder")


def granted(
    session: Session,
    ids: Ids,
    made: dict[str, Any],
    cursor: Any,
    sub: str,
    kind: GrantKind,
    *,
    unit_id: int | None = None,
    region_id: int | None = None,
) -> int:
    """A person (placed in no unit) granted ``kind``: whom the benchmark launches as."""
    org_id = made["org"].id
    pid = person_row(ids, made, cursor, sub, sub)
    # as ``grants.grant`` does: else launches and pages skip their grants (never granted)
    cursor.execute("UPDATE person SET ever_granted = true WHERE id = %s", (pid,))
    session.add(
        PermissionGrant(
            organisation_id=org_id,
            person_id=pid,
            kind=kind,
            unit_id=unit_id,
            region_id=region_id,
            granted_via="console",
            granted_at=GENERATED_AT,
            reason="Ytelsesmåling",
            active_key=PermissionGrant.key_of(org_id, pid, kind, unit_id, region_id),
        )
    )
    return pid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--people", type=int, default=20_000, help="Of the big municipality.")
    parser.add_argument("--evidence", type=int, default=1_000_000, help="Of the big one.")
    args = parser.parse_args()
    database = make_url(args.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    if database.get_backend_name() != "postgresql" or (database.database or "").startswith("test_"):
        parser.error("a PostgreSQL database not named test_*, please")

    started = time.perf_counter()
    rng = random.Random(args.seed)
    print(f"Generating into {database.render_as_string(hide_password=True)}", flush=True)
    with step("schema (drop, alembic upgrade head)"):
        url = migrated(args.database_url)
    engine = create_engine(url)
    shapes = [(Shape(BIG_ORGANISATION, args.people, args.evidence, 5, 15, 80), True)] + [
        (Shape(name, 1000, 25_000, 2, 4, 10), False) for name in SMALL_ORGANISATIONS
    ]
    counts: dict[str, int] = {}
    with Session(engine) as session:
        with step("structure (organisations, units, frameworks, job roles)"):
            region = Region(name=REGION, created_at=GENERATED_AT)
            session.add(region)
            made = [
                (structure(session, rng, region, shape, big), shape, big) for shape, big in shapes
            ]
            session.flush()
        cursor = session.connection().connection.driver_connection.cursor()
        ids = Ids()
        for structure_, shape, big in made:
            with step(f"people, assignments, evidence, certificates of {shape.name}"):
                for table, n in fill(cursor, ids, rng, shape, structure_, big).items():
                    counts[table] = counts.get(table, 0) + n
        unit_id = made[0][0]["leaves"][0].id
        person_id = granted(
            session, ids, made[0][0], cursor, MANAGER_SUB, GrantKind.MANAGER, unit_id=unit_id
        )
        whole_organisation(ids, made[0][0], cursor)
        granted(
            session,
            ids,
            made[0][0],
            cursor,
            COORDINATOR_SUB,
            GrantKind.COORDINATOR,
            region_id=region.id,
        )
        for table in ids.next:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)",
                (ids.next[table] - 1,),
            )
        with step("competence_holding (the migration's backfill)"):
            cursor.execute(backfill_sql())
            counts["competence_holding"] = cursor.rowcount
        with step("coverage_cell (the migration's backfill)"):
            cursor.execute(cells_backfill_sql())
            counts["coverage_cell"] = cursor.rowcount  # the flag's UPDATE: every row
        session.commit()
    with step("VACUUM ANALYZE"), engine.connect() as conn:
        autocommit = conn.execution_options(isolation_level="AUTOCOMMIT")
        # the flag's backfill rewrote every row of coverage_cell: compact it and its indexes
        autocommit.execute(text("VACUUM FULL coverage_cell"))
        autocommit.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    print("Rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    print(f"Manager {MANAGER_SUB} (person {person_id}) of unit {BENCH_UNIT} (id {unit_id})")
    print(f"Generated in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
