"""The demo LMS: its platform object, its registration with the tool, and its course.

The course is what a small LMS keeps: the links placed in it by deep linking, its
gradebook (columns, the latest score of each person in each) and the access tokens its
token endpoint handed out. The demo is one site, for development only, so all of it lives
in one JSON file in the instance folder, rewritten atomically on every change (a lock
keeps the web server's threads from overwriting each other's changes).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jwt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool import clock
from lti_tool.domain.calendar import TIME_ZONE
from lti_tool.errors import NotFound
from lti_tool.lti.demo_platform import (
    AGS_SCOPES,
    DEFAULT_LINK_ID,
    PERSONAS,
    DemoPlatform,
    PlacedLink,
    load_or_create_key,
)
from lti_tool.lti.nrps import context_roles
from lti_tool.lti.services import LtiServices
from lti_tool.models import Course, CourseKind, GrantKind, Person, Platform, UnitKind
from lti_tool.services import (
    catalogue,
    certifications,
    framework_io,
    grants,
    item_bank,
    org_units,
    platforms,
)
from lti_tool.services.audit import Actor
from lti_tool.services.framework_io import LoadedExamples
from lti_tool.services.launches import MAPPING_PARAM

log = logging.getLogger(__name__)

DEMO_CLIENT_ID = "laeringslop-demo"
DEMO_DEPLOYMENT_ID = "demo-deployment"
DEMO_ORGANISATION = "Demokommune"
#: The job roles the demo LMS sends as the custom parameter `job_role` (the example
#: content defines them), so each demo person sees real requirements.
DEMO_JOB_ROLES = {
    "learner": {"job_role": "sykepleier,alle-ansatte", "unit": "demo-enheten"},
    "learner2": {"job_role": "sykepleier,alle-ansatte", "unit": "demo-enheten"},
    "learner3": {"job_role": "saksbehandler,alle-ansatte", "unit": "demo-enheten"},
    "designer": {"job_role": "alle-ansatte"},
    "manager": {"job_role": "alle-ansatte", "unit": "demo-enheten"},
}
#: The demo's one unit: the learners work there, and the unit manager is granted it (an
#: LMS role alone makes a manager of no unit).
DEMO_UNIT = ("demo-enheten", "Demo-enheten")
#: The demo course's state, in the instance folder.
COURSE_FILE = "demo_lms.json"

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME_SECONDS = 3600
#: Clock drift accepted on the tool's client assertions.
ASSERTION_LEEWAY_SECONDS = 30
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_MEMBERSHIPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
#: What the token endpoint hands out: the AGS scopes and NRPS's.
OFFERED_SCOPES = (*AGS_SCOPES, SCOPE_MEMBERSHIPS)
MEMBERSHIP_CONTAINER_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
ACTIVITY_PROGRESS = ("Initialized", "Started", "InProgress", "Submitted", "Completed")
GRADING_PROGRESS = ("FullyGraded", "Pending", "PendingManual", "Failed", "NotReady")
DEFAULT_SCORE_MAXIMUM = 100.0
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEM_CONTAINER_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"


# --- the course's state -------------------------------------------------------------------


@dataclasses.dataclass
class DemoCourse:
    """What the demo LMS keeps about its one course."""

    links: dict[str, PlacedLink] = dataclasses.field(default_factory=dict)
    """Links placed by deep linking, by resource link id (the hand-made link "1" is not here)."""
    line_items: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Gradebook columns by number: label, scoreMaximum, resourceId, tag, resourceLinkId."""
    scores: dict[int, dict[str, dict[str, Any]]] = dataclasses.field(default_factory=dict)
    """Column number → userId → the latest score received (the AGS score document)."""
    tokens: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """SHA-256 of an access token → {"expires_at": epoch seconds, "scopes": [...]}."""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "links": {key: dataclasses.asdict(link) for key, link in self.links.items()},
            "line_items": {str(n): item for n, item in self.line_items.items()},
            "scores": {str(n): by_user for n, by_user in self.scores.items()},
            "tokens": self.tokens,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DemoCourse:
        return cls(
            links={key: PlacedLink(**link) for key, link in data.get("links", {}).items()},
            line_items={int(n): item for n, item in data.get("line_items", {}).items()},
            scores={int(n): by_user for n, by_user in data.get("scores", {}).items()},
            tokens=dict(data.get("tokens", {})),
        )


_course_lock = threading.Lock()


def course_path(lti: LtiServices) -> Path:
    return Path(lti.settings.INSTANCE_PATH) / COURSE_FILE


def load_course(lti: LtiServices) -> DemoCourse:
    """The course as last saved (an empty course when there is none yet)."""
    path = course_path(lti)
    try:
        data = json.loads(path.read_text("utf-8"))
        return DemoCourse.from_json(data)
    except FileNotFoundError:
        return DemoCourse()
    except (ValueError, TypeError, KeyError) as exc:  # hand-edited or from another version
        log.warning("demo LMS: %s is unreadable (%s); starting an empty course", path, exc)
        return DemoCourse()


def _save_course(path: Path, course: DemoCourse) -> None:
    """Write the whole file next to the old one, then rename it over: never half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(course.to_json(), file, ensure_ascii=False, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def changing_course(lti: LtiServices) -> Iterator[DemoCourse]:
    """The course to change; saved when the block ends without an exception."""
    with _course_lock:
        course = load_course(lti)
        yield course
        _save_course(course_path(lti), course)


# --- the platform and its registration with the tool -------------------------------------


def demo_platform(lti: LtiServices, course: DemoCourse | None = None) -> DemoPlatform:
    settings = lti.settings
    pem, kid = load_or_create_key(Path(settings.INSTANCE_PATH) / "demo_platform_key.pem")
    return DemoPlatform(
        issuer=settings.base_url + "/demo",
        client_id=DEMO_CLIENT_ID,
        deployment_id=DEMO_DEPLOYMENT_ID,
        private_pem=pem,
        kid=kid,
        tool_launch_url=lti.launch_url,
        tool_login_url=lti.login_url,
        custom_by_persona=DEMO_JOB_ROLES,
        links=(course if course is not None else load_course(lti)).links,
    )


def first_use_of_hint(lti: LtiServices, hint: str) -> bool:
    """Record a login's message hint as answered; False when the demo LMS had answered it."""
    digest = hashlib.sha256(hint.encode()).hexdigest()
    return lti.state_store.use_nonce("demo-hint:" + digest, lti.settings.LTI_STATE_TTL_SECONDS)


def find_demo_registration(session: Session, platform: DemoPlatform) -> Platform | None:
    return platforms.find_platform(session, platform.issuer, platform.client_id)


def register_demo_platform(
    session: Session,
    platform: DemoPlatform,
    *,
    organisation_name: str = DEMO_ORGANISATION,
    token_url: str | None = None,
) -> Platform:
    """Register the demo LMS like an administrator would (idempotent); the benches and
    tests register it for their own organisation, some with a fake LMS's token URL."""
    return platforms.register_platform(
        session,
        issuer=platform.issuer,
        client_id=platform.client_id,
        auth_login_url=platform.auth_url,
        auth_token_url=token_url or platform.token_url,
        jwks_url=platform.jwks_url,
        organisation_name=organisation_name,
        deployment_ids=[platform.deployment_id],
        name="Demo LMS",
    )


def set_up_demo(session: Session, lti: LtiServices) -> tuple[Platform, LoadedExamples]:
    """Everything the demo needs, idempotent: the tool's first key, the demo LMS's
    registration, and the example content in the demo organisation (frameworks, job
    roles, the item bank, published skills mappings and certifications)."""
    if not lti.keyring.all_keys():
        lti.keyring.rotate()
    platform = register_demo_platform(session, demo_platform(lti))
    loaded = framework_io.load_examples(session, platform.organisation_id)
    bank = framework_io.load_example_mappings(session, platform.organisation_id)
    loaded.items, loaded.mappings = bank.items, bank.mappings
    loaded.skipped += bank.skipped
    certifications.load_examples(session, platform.organisation_id)
    _grant_demo_manager(session, platform)
    _demo_sessions(session, platform.organisation_id, clock.now())
    _demo_elearning(session, platform.organisation_id, lti.settings.base_url + "/demo")
    return platform, loaded


#: The example classroom course the demo gives sessions to, and the competence (of the
#: medication handling framework) it develops to level 3.
DEMO_CLASSROOM = ("oppfrisking-legemiddel", "LM-04", 3)


def _demo_sessions(session: Session, organisation_id: int, now: dt.datetime) -> None:
    """Two sessions of the example refresher course, so a demo learner can book one (the
    second has two seats, to try the waitlist) and a designer can take attendance; and
    what the course develops. Only when the course has no sessions yet."""
    code, competence_code, level = DEMO_CLASSROOM
    course = session.scalar(
        select(Course).where(Course.organisation_id == organisation_id, Course.code == code)
    )
    if course is None or course.sessions:
        return
    course.description = {
        "nb": "Et halvdagskurs med praktiske øvelser i dobbeltkontroll og dokumentasjon.",
        "nn": "Eit halvdagskurs med praktiske øvingar i dobbelkontroll og dokumentasjon.",
        "en": "A half-day course with practical exercises in double checks and records.",
    }
    developed = next(
        (
            c
            for c in item_bank.usable_competences(session, organisation_id)
            if c.code == competence_code
        ),
        None,
    )
    if developed is not None:
        catalogue.set_course_competence(session, organisation_id, course.id, developed.id, level)
    oslo = ZoneInfo(TIME_ZONE)
    for days, seats in ((14, 12), (35, 2)):
        day = (now + dt.timedelta(days=days)).astimezone(oslo).date()
        starts = dt.datetime.combine(day, dt.time(9, 0), oslo).astimezone(dt.UTC)
        catalogue.save_course_session(
            session,
            organisation_id,
            course.id,
            None,
            catalogue.SessionInput(
                starts_at=starts,
                ends_at=starts + dt.timedelta(hours=3),
                capacity=seats,
                place="Rådhuset, kurssal 2",
                signup_deadline=starts - dt.timedelta(days=2),
            ),
            now,
        )


#: The example e-learning: its code, and the competences (of the information security
#: framework every employee's role asks for) it develops, with the level.
DEMO_ELEARNING = ("e-svindelforsok", (("IS-04", 2), ("IS-05", 2)))


def _demo_elearning(session: Session, organisation_id: int, lms_url: str) -> None:
    """An e-learning activity beside the classroom course, so that a demo learner's plan
    mixes the two (the method's fourth step); it opens the demo LMS, where a real LMS
    would open its own activity. Only when the organisation has no activity of that code."""
    code, develops = DEMO_ELEARNING
    if session.scalar(  # codes are one in any case (``certifications.save_course``)
        select(Course.id).where(
            Course.organisation_id == organisation_id, func.lower(Course.code) == code
        )
    ):
        return
    title = {
        "nb": "E-læring: Kjenn igjen svindelforsøk",
        "nn": "E-læring: Kjenn att svindelforsøk",
        "en": "E-learning: Spotting scams",
    }
    made = certifications.save_course(
        session, organisation_id, None, code, title, CourseKind.ELEARNING
    )
    course = catalogue.update_activity(
        session,
        organisation_id,
        made.id,
        catalogue.ActivityInput(
            code=code,
            title=title,
            kind=CourseKind.ELEARNING,
            description={
                "nb": "Falske e-poster, SMS og telefoner, og sterke passord: 30 minutter med "
                "eksempler fra kommunen.",
                "nn": "Falske e-postar, SMS og telefonar, og sterke passord: 30 minutt med "
                "døme frå kommunen.",
                "en": "Fake e-mails, text messages and calls, and strong passwords: 30 minutes "
                "of examples from the municipality.",
            },
            lms_url=lms_url,
            duration_minutes=30,
            language="nb",
        ),
    )
    usable = {c.code: c for c in item_bank.usable_competences(session, organisation_id)}
    for competence_code, level in develops:
        if competence_code in usable:
            catalogue.set_course_competence(
                session, organisation_id, course.id, usable[competence_code].id, level
            )


def _grant_demo_manager(session: Session, platform: Platform) -> None:
    """The demo unit, and its manager granted it before their first launch (idempotent)."""
    organisation_id = platform.organisation_id
    code, name = DEMO_UNIT
    try:
        unit = org_units.find_unit(session, organisation_id, code)
    except NotFound:
        unit = org_units.create_unit(
            session, organisation_id, kind=UnitKind.UNIT, code=code, name=name
        )
    who = PERSONAS["manager"]
    person = session.scalar(
        select(Person).where(Person.platform_id == platform.id, Person.sub == who.sub)
    )
    if person is None:
        person = Person(
            platform_id=platform.id,
            sub=who.sub,
            organisation_id=organisation_id,
            given_name=who.given_name,
            family_name=who.family_name,
            name=who.name,
            email=who.email,
        )
        session.add(person)
        session.flush()
    grants.grant(
        session,
        organisation_id,
        person_id=person.id,
        kind=GrantKind.MANAGER,
        unit_id=unit.id,
        reason="Demo: leder for Demo-enheten",
        by=Actor.system(organisation_id),
        via="system",
    )


# --- what the tool signs -------------------------------------------------------------------


def verify_tool_jwt(
    lti: LtiServices,
    token: str,
    *,
    audience: str,
    issuer: str | None = None,
    require: tuple[str, ...] = ("iss", "aud", "exp", "iat"),
) -> dict[str, Any]:
    """The claims of a JWT the tool signed (checked against its published keys, as the
    platform would against the tool's JWKS). Raises ``jwt.InvalidTokenError``."""
    kid = jwt.get_unverified_header(token).get("kid")
    key = next((k for k in lti.keyring.published_keys() if k.kid == kid), None)
    if key is None:
        raise jwt.InvalidTokenError(f"no published tool key {kid!r}")
    claims: dict[str, Any] = jwt.decode(
        token,
        key.private_key().public_key(),
        algorithms=["RS256"],
        audience=audience,
        issuer=issuer,
        leeway=ASSERTION_LEEWAY_SECONDS,
        options={"require": list(require)},
    )
    return claims


# --- placing links (the deep-linking return) ----------------------------------------------


def place_content_items(lti: LtiServices, items: list[dict[str, Any]]) -> list[PlacedLink]:
    """Add the ltiResourceLink items to the course, each with a gradebook column when it
    asks for one (``lineItem``), as Moodle does; returns the new links."""
    with changing_course(lti) as course:
        platform = demo_platform(lti, course)

        def lineitem_for(spec: Any) -> str:
            spec = spec if isinstance(spec, Mapping) else {}
            number = _add_line_item(course, spec)
            return platform.lineitem_url(number)

        added = platform.place(items, lineitem_for=lineitem_for)
        for link_id in added:
            lineitem = platform.links[link_id].lineitem
            if lineitem:
                course.line_items[line_item_number(lineitem)]["resourceLinkId"] = link_id
        course.links = platform.links
        return [platform.links[link_id] for link_id in added]


def _add_line_item(course: DemoCourse, spec: Mapping[str, Any]) -> int:
    number = max(course.line_items, default=0) + 1
    maximum = spec.get("scoreMaximum")
    course.line_items[number] = {
        "label": str(spec.get("label") or spec.get("resourceId") or "Læringsløp"),
        "scoreMaximum": maximum if _positive_number(maximum) else DEFAULT_SCORE_MAXIMUM,
        "resourceId": str(spec.get("resourceId") or ""),
        "tag": str(spec.get("tag") or ""),
    }
    return number


def line_item_number(url: str) -> int:
    """``…/lineitems/<n>/lineitem?type_id=1`` → n."""
    parts = urlsplit(url).path.rstrip("/").split("/")
    return int(parts[-2])


def _positive_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


# --- the platform's HTTP API: token endpoint and AGS --------------------------------------


class PlatformRefusal(Exception):
    """The demo platform refuses an API call: answered as JSON with this status."""

    def __init__(self, status: int, error: str, description: str = "") -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    lti: LtiServices, form: Mapping[str, str], now: Callable[[], float] = time.time
) -> dict[str, Any]:
    """The OAuth2 token endpoint (client credentials, JWT client assertion signed by the
    tool, RFC 7523): a bearer token for the AGS and NRPS scopes asked for and offered."""
    if form.get("grant_type") != "client_credentials":
        raise PlatformRefusal(
            400, "unsupported_grant_type", "grant_type must be client_credentials"
        )
    if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
        raise PlatformRefusal(400, "invalid_request", "client_assertion_type must be jwt-bearer")
    platform = demo_platform(lti)
    try:
        claims = verify_tool_jwt(
            lti,
            form.get("client_assertion", ""),
            audience=platform.token_url,
            issuer=platform.client_id,
            require=("iss", "sub", "aud", "exp", "iat", "jti"),
        )
    except jwt.InvalidTokenError as exc:
        raise PlatformRefusal(401, "invalid_client", f"client assertion refused: {exc}") from exc
    if claims.get("sub") != platform.client_id:
        raise PlatformRefusal(401, "invalid_client", "sub must be the client id")
    scopes = [s for s in dict.fromkeys(form.get("scope", "").split()) if s in OFFERED_SCOPES]
    if not scopes:
        raise PlatformRefusal(400, "invalid_scope", "ask for at least one AGS or NRPS scope")
    token = secrets.token_hex(16)
    issued = int(now())
    with changing_course(lti) as course:
        course.tokens = {
            digest: grant
            for digest, grant in course.tokens.items()
            if grant.get("expires_at", 0) > issued
        }
        course.tokens[_token_hash(token)] = {
            "expires_at": issued + TOKEN_LIFETIME_SECONDS,
            "scopes": scopes,
        }
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_SECONDS,
        "scope": " ".join(scopes),
    }


def authorize(
    course: DemoCourse,
    authorization: str | None,
    *scopes: str,
    now: Callable[[], float] = time.time,
) -> None:
    """Check the bearer token of an AGS call: known, not expired, granting one of these
    scopes. Raises ``PlatformRefusal`` (401, or 403 for a missing scope)."""
    kind, _, token = (authorization or "").partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise PlatformRefusal(401, "invalid_token", "a bearer access token is required")
    grant = course.tokens.get(_token_hash(token.strip()))
    if grant is None or grant.get("expires_at", 0) <= now():
        raise PlatformRefusal(401, "invalid_token", "unknown or expired access token")
    if not set(scopes) & set(grant.get("scopes", [])):
        raise PlatformRefusal(403, "insufficient_scope", "the token does not grant " + scopes[0])


def line_item_document(
    platform: DemoPlatform, number: int, item: Mapping[str, Any]
) -> dict[str, Any]:
    """A line item as Moodle shows it (its id is its URL)."""
    document = {"id": platform.lineitem_url(number), **item}
    if item.get("resourceLinkId"):
        document["ltiLinkId"] = item["resourceLinkId"]
    return document


def list_line_items(
    lti: LtiServices, authorization: str | None, filters: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The course's line-item container, filtered by resource_id, resource_link_id, tag."""
    course = load_course(lti)
    authorize(course, authorization, SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY)
    platform = demo_platform(lti, course)
    wanted = {
        field: filters[name]
        for name, field in (
            ("resource_id", "resourceId"),
            ("resource_link_id", "resourceLinkId"),
            ("tag", "tag"),
        )
        if name in filters
    }
    return [
        line_item_document(platform, number, item)
        for number, item in sorted(course.line_items.items())
        if all(str(item.get(field) or "") == value for field, value in wanted.items())
    ]


def get_line_item(lti: LtiServices, authorization: str | None, number: int) -> dict[str, Any]:
    course = load_course(lti)
    authorize(course, authorization, SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY)
    if number not in course.line_items:
        raise PlatformRefusal(404, "not_found", f"no line item {number}")
    return line_item_document(demo_platform(lti, course), number, course.line_items[number])


def _json_body(content_type: str, expected: str, data: bytes) -> Any:
    if content_type != expected:
        raise PlatformRefusal(415, "unsupported_media_type", f"send {expected}")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise PlatformRefusal(400, "invalid_request", f"not JSON: {exc}") from exc


def _check_line_item(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise PlatformRefusal(400, "invalid_request", "a line item is a JSON object")
    label = body.get("label")
    if not isinstance(label, str) or not label.strip():
        raise PlatformRefusal(400, "invalid_request", "label is required")
    if not _positive_number(body.get("scoreMaximum")):
        raise PlatformRefusal(400, "invalid_request", "scoreMaximum must be a number above 0")
    for name in ("resourceId", "tag", "resourceLinkId"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise PlatformRefusal(400, "invalid_request", f"{name} must be a string")
    return body


def create_line_item(
    lti: LtiServices, authorization: str | None, content_type: str, data: bytes
) -> dict[str, Any]:
    """A new column in the gradebook (POST of a line item to the container)."""
    with changing_course(lti) as course:
        authorize(course, authorization, SCOPE_LINEITEM)
        body = _check_line_item(_json_body(content_type, LINEITEM_TYPE, data))
        link = body.get("resourceLinkId")
        if link and link != DEFAULT_LINK_ID and link not in course.links:
            raise PlatformRefusal(400, "invalid_request", f"no resource link {link}")
        number = _add_line_item(course, body)
        if link:
            course.line_items[number]["resourceLinkId"] = link
        item = course.line_items[number]
        return line_item_document(demo_platform(lti, course), number, item)


def _timestamp(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError("timestamp must be a string")
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("timestamp needs a time zone")
    return moment


def _check_score(body: Any) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise PlatformRefusal(400, "invalid_request", "a score is a JSON object")
    missing = [
        name
        for name in ("userId", "activityProgress", "gradingProgress", "timestamp")
        if body.get(name) in (None, "")
    ]
    if missing:
        raise PlatformRefusal(400, "invalid_request", "missing " + ", ".join(missing))
    if body["activityProgress"] not in ACTIVITY_PROGRESS:
        raise PlatformRefusal(400, "invalid_request", "unknown activityProgress")
    if body["gradingProgress"] not in GRADING_PROGRESS:
        raise PlatformRefusal(400, "invalid_request", "unknown gradingProgress")
    try:
        _timestamp(body["timestamp"])
    except ValueError as exc:
        raise PlatformRefusal(400, "invalid_request", f"timestamp: {exc}") from exc
    if "scoreGiven" in body:
        given = body["scoreGiven"]
        if not _positive_number(body.get("scoreMaximum")):
            raise PlatformRefusal(400, "invalid_request", "scoreGiven needs scoreMaximum above 0")
        if not (_positive_number(given) or (given == 0 and not isinstance(given, bool))):
            raise PlatformRefusal(400, "invalid_request", "scoreGiven must be a number, 0 or more")
    if str(body["userId"]) not in {p.sub for p in PERSONAS.values()}:
        raise PlatformRefusal(400, "invalid_request", "userId is not a member of the course")
    return dict(body)


def record_score(
    lti: LtiServices, authorization: str | None, number: int, content_type: str, data: bytes
) -> None:
    """Keep the score as the user's result in the column, unless a later one is there."""
    with changing_course(lti) as course:
        authorize(course, authorization, SCOPE_SCORE)
        if number not in course.line_items:
            raise PlatformRefusal(404, "not_found", f"no line item {number}")
        score = _check_score(_json_body(content_type, SCORE_TYPE, data))
        by_user = course.scores.setdefault(number, {})
        user = str(score["userId"])
        earlier = by_user.get(user)
        if earlier and _timestamp(score["timestamp"]) < _timestamp(earlier["timestamp"]):
            raise PlatformRefusal(
                409, "conflict", "Refusing score with an earlier timestamp than the last one"
            )
        by_user[user] = score


def list_memberships(lti: LtiServices, authorization: str | None) -> dict[str, Any]:
    """The course's members (NRPS 2.0), in Moodle's shape: one page, short role names."""
    authorize(load_course(lti), authorization, SCOPE_MEMBERSHIPS)
    platform = demo_platform(lti)
    return {
        "id": platform.memberships_url,
        "context": {"id": "2", "label": "INFOSEC", "title": "Informasjonssikkerhet for ansatte"},
        "members": [
            {
                "status": "Active",
                "roles": list(context_roles(list(p.roles))),
                "user_id": p.sub,
                "name": p.name,
                "given_name": p.given_name,
                "family_name": p.family_name,
                "email": p.email,
            }
            for p in PERSONAS.values()
        ],
    }


# --- the course page and the gradebook ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Activity:
    """A placed link on the course page."""

    link: PlacedLink
    column: str | None
    """Its gradebook column's label, when it has one."""

    @property
    def mapping(self) -> str | None:
        return self.link.custom.get(MAPPING_PARAM) or None


def activities(course: DemoCourse) -> list[Activity]:
    """The course's placed links, in the order they were added."""
    found = []
    for link in sorted(course.links.values(), key=lambda link: int(link.id)):
        item = course.line_items.get(line_item_number(link.lineitem)) if link.lineitem else None
        found.append(Activity(link, item["label"] if item else None))
    return found


@dataclasses.dataclass(frozen=True)
class Column:
    number: int
    label: str
    score_maximum: float
    link_title: str | None


@dataclasses.dataclass(frozen=True)
class Cell:
    """One person's result in one column, scaled to the column's maximum as Moodle does."""

    grade: float | None
    score: Mapping[str, Any]
    scored_at: dt.datetime


def gradebook(course: DemoCourse) -> tuple[list[Column], dict[tuple[str, int], Cell]]:
    """The columns, and the result of each (user id, column) that has one."""
    columns = []
    for number, item in sorted(course.line_items.items()):
        link = course.links.get(str(item.get("resourceLinkId") or ""))
        columns.append(
            Column(number, item["label"], float(item["scoreMaximum"]), link.title if link else None)
        )
    cells = {}
    for column in columns:
        for user, score in course.scores.get(column.number, {}).items():
            grade = None
            if "scoreGiven" in score:
                grade = score["scoreGiven"] / score["scoreMaximum"] * column.score_maximum
            cells[(user, column.number)] = Cell(grade, score, _timestamp(score["timestamp"]))
    return columns, cells
