"""Who may use each route: one row per rule and method of the app's URL map, and for every
caller of the sweep (``route_world.CALLERS``) whether it is let through, refused (401 for
the anonymous, 403 for the others) or told the thing does not exist (404: the tool hides
another organisation's ids, and the people and units outside a manager's units).

``test_route_table`` asks every route as every caller, with real ids of organisation 1
(Testkommune): unit A, its manager, a learner in A with a job role, a certificate, a
booking, an attempt… A route missing here fails that test, which names the row to add.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

ANONYMOUS = frozenset({"anonymous"})
OTHER = frozenset({"other_admin"})
"""An admin (and Instructor) of another organisation launching from the same LMS."""
EVERYONE = frozenset(
    {
        "anonymous",
        "learner",
        "designer",
        "manager_a",
        "manager_b",
        "coordinator",
        "admin",
        "other_admin",
    }
)
LAUNCHED = EVERYONE - ANONYMOUS
"""Everyone launched is a learner (every employee has requirements of their own)."""
ADMINS = frozenset({"admin", "other_admin"})
DESIGNERS = frozenset({"designer"}) | ADMINS
"""The Instructor persona, and the admins (the demo admin holds Instructor too)."""
MANAGERS = frozenset({"manager_a", "manager_b"}) | ADMINS
"""manager_a is granted unit A, manager_b its sibling B."""
COORDINATORS = frozenset({"coordinator"}) | ADMINS
NOBODY: frozenset[str] = frozenset()
WHOLE_ORGANISATION = ADMINS
"""The organisation's structure and everyone's data at once: admins (a manager of some
units is refused: ``auth.require_whole_organisation``)."""


@dataclasses.dataclass(frozen=True)
class Ref:
    """In a body or query: the ``World.ids`` entry of this name."""

    name: str


@dataclasses.dataclass(frozen=True)
class Row:
    allow: frozenset[str]
    """Callers let through: anything but 401, 403 and 404 (a 400 or 422 for the empty
    form the sweep posts counts: the guard let it in)."""
    hide: frozenset[str] = NOBODY
    """Callers answered 404 (the guard let them in, the thing is not theirs to see)."""
    args: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Argument values (names of ``World.ids`` entries, or literal values) for this rule
    where the defaults by argument name (``test_route_table.ARGUMENTS``) do not fit."""
    status: int | None = None
    """The very status the callers let through get, where the route is public and its own
    check refuses what the sweep can send (no invite, no signed launch)."""
    body: Mapping[str, Any] | None = None
    """A body that passes validation (JSON under /api, else a form), so that the answer
    comes from the lookup of the id where a route validates the body first."""
    query: Mapping[str, Any] | None = None

    def outcome(self, caller: str) -> str:
        if caller in self.allow:
            return "allow"
        if caller in self.hide:
            return "hide"
        return "deny"


TODAY = dt.date.today().isoformat()

#: The demo LMS's gradebook and roster services answer its own bearer tokens only (401
#: to every browser); the query names the demo's tool type, as Moodle's URLs do.
DEMO_COURSE = {"type_id": "1"}

#: A grant to a person of organisation 1 (no caller of the sweep): another organisation's
#: admin must not reach them.
GRANT = {"person_id": Ref("spare_person"), "kind": "designer", "reason": "route sweep"}

ROUTES: dict[str, Row] = {
    "GET /": Row(EVERYONE),
    "GET /learner/my-data": Row(LAUNCHED),
    "GET /learner/my-data.json": Row(LAUNCHED),
    "GET /accessibility": Row(EVERYONE),
    "GET /schemas/package-v1.json": Row(EVERYONE),
    "GET /admin/": Row(ADMINS),
    "GET /admin/audit": Row(ADMINS),
    "GET /admin/people": Row(ADMINS),
    "GET /admin/people/<int:person_id>/erase": Row(ADMINS - OTHER, hide=OTHER),
    # the empty form the sweep posts erases no one (a reason is required); the lookup of
    # the person comes first
    "POST /admin/people/<int:person_id>/erase": Row(ADMINS - OTHER, hide=OTHER),
    "POST /admin/organisations/<int:organisation_pk>/retention": Row(ADMINS - OTHER, hide=OTHER),
    "POST /admin/organisations/<int:organisation_pk>/audit-retention": Row(
        ADMINS - OTHER, hide=OTHER
    ),
    "GET /admin/audit.csv": Row(ADMINS),
    "GET /admin/certificates": Row(ADMINS),
    "GET /admin/certificates/<int:certificate_id>": Row(ADMINS - OTHER, hide=OTHER),
    "POST /admin/certificates/<int:certificate_id>/revoke": Row(ADMINS - OTHER, hide=OTHER),
    "GET /admin/deliveries": Row(ADMINS),
    "POST /admin/deliveries/<int:delivery_id>/retry": Row(ADMINS - OTHER, hide=OTHER),
    "POST /admin/deliveries/retry-failed": Row(ADMINS),
    "POST /admin/deliveries/reads/<int:read_id>/retry": Row(ADMINS - OTHER, hide=OTHER),
    "GET /admin/deployments/<int:deployment_pk>": Row(ADMINS - OTHER, hide=OTHER),
    "POST /admin/deployments/<int:deployment_pk>/approve": Row(ADMINS - OTHER, hide=OTHER),
    "GET /admin/deployments/<int:deployment_pk>/delete": Row(ADMINS - OTHER, hide=OTHER),
    "POST /admin/deployments/<int:deployment_pk>/delete": Row(ADMINS - OTHER, hide=OTHER),
    "GET /admin/deployments/<int:deployment_pk>/disable": Row(ADMINS - OTHER, hide=OTHER),
    "POST /admin/deployments/<int:deployment_pk>/disable": Row(ADMINS - OTHER, hide=OTHER),
    "POST /admin/deployments/<int:deployment_pk>/enable": Row(ADMINS - OTHER, hide=OTHER),
    "POST /admin/deployments/<int:deployment_pk>/organisation": Row(
        ADMINS - OTHER, hide=OTHER, body={"organisation_id": Ref("organisation")}
    ),
    "GET /admin/grants": Row(ADMINS),
    "POST /admin/grants": Row(ADMINS - OTHER, hide=OTHER, body=GRANT),
    "POST /admin/grants/<int:grant_id>/withdraw": Row(
        ADMINS - OTHER, hide=OTHER, body={"reason": "route sweep"}
    ),
    "GET /admin/keys": Row(ADMINS),
    "GET /admin/keys/rotate": Row(ADMINS),
    "POST /admin/keys/rotate": Row(ADMINS),
    "GET /admin/organisations": Row(ADMINS),
    "POST /admin/organisations": Row(ADMINS),
    "GET /admin/organisations/<int:organisation_pk>": Row(ADMINS - OTHER, hide=OTHER),
    "POST /admin/organisations/<int:organisation_pk>": Row(ADMINS - OTHER, hide=OTHER),
    "GET /admin/platforms/<int:platform_pk>": Row(ADMINS - OTHER, hide=OTHER),
    "GET /admin/platforms/<int:platform_pk>/delete": Row(ADMINS - OTHER, hide=OTHER),
    "POST /admin/platforms/<int:platform_pk>/delete": Row(ADMINS - OTHER, hide=OTHER),
    # the test LMS serves the other organisation too: which roles design there is no one
    # organisation's to choose (SharedPlatform, 403 to its own admin as well)
    "POST /admin/platforms/<int:platform_pk>/designer-roles": Row(NOBODY, hide=OTHER),
    "GET /admin/platforms/<int:platform_pk>/disable": Row(ADMINS - OTHER, hide=OTHER),
    "POST /admin/platforms/<int:platform_pk>/disable": Row(ADMINS - OTHER, hide=OTHER),
    "POST /admin/platforms/<int:platform_pk>/enable": Row(ADMINS - OTHER, hide=OTHER),
    "GET /admin/regions": Row(ADMINS),
    "POST /admin/regions": Row(ADMINS),
    "GET /admin/registration": Row(ADMINS),
    "POST /admin/registration": Row(ADMINS),
    "POST /admin/registration/url": Row(ADMINS),
    "POST /api/v1/assignments/<any(role, unit):kind>/<int:assignment_id>/end": Row(
        WHOLE_ORGANISATION - OTHER, hide=OTHER, args={"assignment_id": "api_assignment_id"}
    ),
    "PUT /api/v1/competences/<int:competence_id>": Row(
        DESIGNERS - OTHER, hide=OTHER, body={"code": "IS-01", "title": {"nb": "x"}}
    ),
    "DELETE /api/v1/competences/<int:competence_id>": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /api/v1/competences/<int:competence_id>/archive": Row(
        DESIGNERS - OTHER, hide=OTHER, body={"archived": False}
    ),
    "GET /api/v1/courses": Row(DESIGNERS),
    "GET /api/v1/courses/<int:course_id>": Row(DESIGNERS - OTHER, hide=OTHER),
    "GET /api/v1/coverage/figures": Row(COORDINATORS),
    "GET /api/v1/frameworks": Row(DESIGNERS | MANAGERS),
    "POST /api/v1/frameworks": Row(DESIGNERS),
    "GET /api/v1/frameworks/<int:framework_id>": Row((DESIGNERS | MANAGERS) - OTHER, hide=OTHER),
    "POST /api/v1/frameworks/<int:framework_id>/drafts": Row(DESIGNERS - OTHER, hide=OTHER),
    "GET /api/v1/frameworks/<int:framework_id>/export": Row(
        (DESIGNERS | MANAGERS) - OTHER, hide=OTHER, query={"format": "case"}
    ),
    "POST /api/v1/frameworks/import": Row(DESIGNERS),
    "GET /api/v1/grants": Row(ADMINS),
    "POST /api/v1/grants": Row(ADMINS - OTHER, hide=OTHER, body=GRANT),
    "GET /api/v1/grants/<int:grant_id>": Row(ADMINS - OTHER, hide=OTHER),
    "POST /api/v1/grants/<int:grant_id>/withdraw": Row(
        ADMINS - OTHER,
        hide=OTHER,
        args={"grant_id": "api_grant_id"},
        body={"reason": "route sweep"},
    ),
    "POST /api/v1/items/import": Row(DESIGNERS),
    "GET /api/v1/packages": Row(DESIGNERS),
    "POST /api/v1/packages": Row(DESIGNERS),
    "POST /api/v1/packages/import": Row(DESIGNERS),
    "GET /api/v1/job-roles": Row(DESIGNERS | MANAGERS),
    "POST /api/v1/job-roles": Row(DESIGNERS),
    "GET /api/v1/job-roles/<int:job_role_id>": Row((DESIGNERS | MANAGERS) - OTHER, hide=OTHER),
    "PUT /api/v1/job-roles/<int:job_role_id>": Row(
        DESIGNERS - OTHER, hide=OTHER, body={"code": "sykepleier", "title": {"nb": "Sykepleier"}}
    ),
    "POST /api/v1/job-roles/<int:job_role_id>/archive": Row(
        DESIGNERS - OTHER,
        hide=OTHER,
        args={"job_role_id": "spare_job_role"},
        body={"archived": True},
    ),
    "GET /api/v1/job-roles/<int:job_role_id>/requirements": Row(
        (DESIGNERS | MANAGERS) - OTHER, hide=OTHER
    ),
    "POST /api/v1/job-roles/<int:job_role_id>/requirements": Row(
        DESIGNERS - OTHER,
        hide=OTHER,
        body={"competence_id": Ref("competence_id"), "required_level": 1},
    ),
    "GET /api/v1/job-roles/export": Row(DESIGNERS | MANAGERS),
    "POST /api/v1/job-roles/import": Row(DESIGNERS),
    "GET /api/v1/me/requirements": Row(LAUNCHED),
    "GET /api/v1/openapi.json": Row(EVERYONE),
    "GET /api/v1/org-units": Row(DESIGNERS | MANAGERS),
    "POST /api/v1/org-units": Row(
        ADMINS - OTHER,
        hide=OTHER,
        body={"kind": "unit", "code": "api-new", "name": "Ny", "parent_id": Ref("unit_a")},
    ),
    "PUT /api/v1/org-units/<int:unit_id>": Row(
        WHOLE_ORGANISATION - OTHER, hide=OTHER, body={"name": "A", "code": "a"}
    ),
    "POST /api/v1/org-units/<int:unit_id>/archive": Row(
        WHOLE_ORGANISATION - OTHER,
        hide=OTHER,
        args={"unit_id": "spare_unit"},
        body={"archived": True},
    ),
    "GET /api/v1/people": Row(WHOLE_ORGANISATION),  # everyone's data: not a unit's manager
    "GET /api/v1/people/<int:person_id>": Row(WHOLE_ORGANISATION - OTHER, hide=OTHER),
    "GET /api/v1/people/<int:person_id>/assignments": Row(WHOLE_ORGANISATION - OTHER, hide=OTHER),
    "POST /api/v1/people/<int:person_id>/assignments": Row(
        WHOLE_ORGANISATION - OTHER,
        hide=OTHER,
        body={"kind": "role", "target_id": Ref("free_job_role")},
    ),
    "GET /api/v1/people/<int:person_id>/plan": Row(  # the person, and their managers
        frozenset({"learner", "manager_a", "admin"}), hide=OTHER | {"manager_b"}
    ),
    "PUT /api/v1/requirements/<int:requirement_id>": Row(
        DESIGNERS - OTHER, hide=OTHER, body={"required_level": 1, "mandatory": True}
    ),
    "DELETE /api/v1/requirements/<int:requirement_id>": Row(
        DESIGNERS - OTHER, hide=OTHER, args={"requirement_id": "spare_requirement"}
    ),
    "GET /api/v1/units/<int:unit_id>/coverage": Row(
        MANAGERS - OTHER - {"manager_b"}, hide=OTHER | {"manager_b"}
    ),
    "GET /api/v1/versions/<int:version_id>": Row((DESIGNERS | MANAGERS) - OTHER, hide=OTHER),
    "POST /api/v1/versions/<int:version_id>/competences": Row(
        DESIGNERS - OTHER, hide=OTHER, body={"code": "NEW-1", "title": {"nb": "Ny"}}
    ),
    "PUT /api/v1/versions/<int:version_id>/levels": Row(
        DESIGNERS - OTHER, hide=OTHER, body={"levels": [{"label": {"nb": "x"}}]}
    ),
    "POST /api/v1/versions/<int:version_id>/publish": Row(DESIGNERS - OTHER, hide=OTHER),
    "GET /calendar/<token>.ics": Row(EVERYONE),
    "GET /certificates/": Row(LAUNCHED),
    "GET /certificates/<int:certificate_id>": Row(  # the holder's (admins: /admin/certificates)
        frozenset({"learner"}), hide=LAUNCHED - {"learner"}
    ),
    "GET /certificates/<int:certificate_id>/certificate.pdf": Row(
        frozenset({"learner"}), hide=LAUNCHED - {"learner"}
    ),
    "GET /certificates/<int:certificate_id>/credential.json": Row(
        frozenset({"learner"}), hide=LAUNCHED - {"learner"}
    ),
    "GET /certificates/<int:certificate_id>/credential.jwt": Row(
        frozenset({"learner"}), hide=LAUNCHED - {"learner"}
    ),
    "GET /certificates/certification/<code>": Row(
        LAUNCHED - OTHER, hide=OTHER, args={"code": "certification_code"}
    ),
    "GET /coordinator/": Row(COORDINATORS),
    "GET /demo/": Row(EVERYONE),
    "GET /demo/auth": Row(EVERYONE),
    "POST /demo/auth": Row(EVERYONE),
    "POST /demo/deep-link-return": Row(EVERYONE),
    "GET /demo/gradebook": Row(EVERYONE),
    "GET /demo/jwks.json": Row(EVERYONE),
    "GET /demo/launch/<persona>": Row(EVERYONE),
    "GET /demo/mod/lti/services.php/2/lineitems": Row(EVERYONE, status=401, query=DEMO_COURSE),
    "POST /demo/mod/lti/services.php/2/lineitems": Row(EVERYONE, status=401, query=DEMO_COURSE),
    "GET /demo/mod/lti/services.php/2/lineitems/<int:number>/lineitem": Row(
        EVERYONE, status=401, query=DEMO_COURSE
    ),
    "POST /demo/mod/lti/services.php/2/lineitems/<int:number>/lineitem/scores": Row(
        EVERYONE, status=401, query=DEMO_COURSE
    ),
    "GET /demo/mod/lti/services.php/CourseSection/2/bindings/1/memberships": Row(
        EVERYONE, status=401
    ),
    "POST /demo/setup": Row(EVERYONE),
    "POST /demo/token": Row(EVERYONE),
    "GET /designer/": Row(DESIGNERS),
    "GET /designer/certifications": Row(DESIGNERS),
    "POST /designer/certifications": Row(DESIGNERS),
    "GET /designer/certifications/<int:certification_id>": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/certifications/<int:certification_id>": Row(DESIGNERS - OTHER, hide=OTHER),
    "GET /designer/certifications/<int:certification_id>/paths/<any(earn, renew):kind>/<int:index>": Row(  # noqa: E501
        DESIGNERS - OTHER, hide=OTHER
    ),
    "POST /designer/certifications/<int:certification_id>/paths/<any(earn, renew):kind>/<int:index>": Row(  # noqa: E501
        DESIGNERS - OTHER, hide=OTHER
    ),
    "POST /designer/certifications/<int:certification_id>/paths/<any(earn, renew):kind>/<int:index>/delete": Row(  # noqa: E501
        DESIGNERS - OTHER, hide=OTHER
    ),
    "GET /designer/certifications/<int:certification_id>/paths/<any(earn, renew):kind>/new": Row(
        DESIGNERS - OTHER, hide=OTHER
    ),
    "POST /designer/certifications/<int:certification_id>/paths/<any(earn, renew):kind>/new": Row(
        DESIGNERS - OTHER, hide=OTHER
    ),
    "POST /designer/certifications/<int:certification_id>/status/<any(draft, published, archived):status>": Row(  # noqa: E501
        DESIGNERS - OTHER, hide=OTHER
    ),
    "GET /designer/competences/<int:competence_id>": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/competences/<int:competence_id>": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/competences/<int:competence_id>/<any(archive, restore):action>": Row(
        DESIGNERS - OTHER, hide=OTHER
    ),
    "GET /designer/competences/<int:competence_id>/delete": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/competences/<int:competence_id>/delete": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/competences/<int:competence_id>/move": Row(DESIGNERS - OTHER, hide=OTHER),
    "GET /designer/courses": Row(DESIGNERS | MANAGERS),
    "POST /designer/courses": Row(DESIGNERS),
    "GET /designer/courses/<int:course_id>": Row((DESIGNERS | MANAGERS) - OTHER, hide=OTHER),
    "GET /designer/courses/<int:course_id>/activity": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/courses/<int:course_id>/activity": Row(DESIGNERS - OTHER, hide=OTHER),
    # the learner is in A: not manager_b's to record
    "POST /designer/courses/<int:course_id>/attendance": Row(
        (DESIGNERS | MANAGERS) - OTHER - {"manager_b"},
        hide=OTHER | {"manager_b"},
        body={"person_ids": Ref("learner"), "attended_on": TODAY},
    ),
    "POST /designer/courses/<int:course_id>/completions": Row(
        (DESIGNERS | MANAGERS) - OTHER - {"manager_b"},
        hide=OTHER | {"manager_b"},
        body={"person_ids": Ref("learner")},
    ),
    "POST /designer/courses/<int:course_id>/develops": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/courses/<int:course_id>/develops/<int:competence_id>/delete": Row(
        DESIGNERS - OTHER, hide=OTHER, args={"competence_id": "developed_competence"}
    ),
    "GET /designer/courses/<int:course_id>/sessions/<int:session_id>": Row(
        DESIGNERS - OTHER, hide=OTHER
    ),
    "POST /designer/courses/<int:course_id>/sessions/<int:session_id>": Row(
        DESIGNERS - OTHER, hide=OTHER
    ),
    "POST /designer/courses/<int:course_id>/sessions/<int:session_id>/cancel": Row(
        DESIGNERS - OTHER, hide=OTHER
    ),
    "GET /designer/courses/<int:course_id>/sessions/new": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/courses/<int:course_id>/sessions/new": Row(DESIGNERS - OTHER, hide=OTHER),
    "GET /designer/deep-link": Row(DESIGNERS),
    "POST /designer/deep-link": Row(DESIGNERS),
    "GET /designer/frameworks": Row(DESIGNERS),
    "POST /designer/frameworks": Row(DESIGNERS),
    "GET /designer/frameworks/<int:framework_id>": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/frameworks/<int:framework_id>/drafts": Row(DESIGNERS - OTHER, hide=OTHER),
    "GET /designer/frameworks/<int:framework_id>/export": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/frameworks/import": Row(DESIGNERS),
    "GET /designer/items": Row(DESIGNERS),
    "POST /designer/items": Row(DESIGNERS),
    "GET /designer/items/<int:item_id>": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/items/<int:item_id>": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/items/<int:item_id>/<any(archive, restore):action>": Row(
        DESIGNERS - OTHER, hide=OTHER
    ),
    "POST /designer/items/import": Row(DESIGNERS),
    "POST /designer/items/import/confirm": Row(DESIGNERS),
    "GET /designer/items/new": Row(DESIGNERS),
    "GET /designer/job-roles": Row(DESIGNERS),
    "GET /designer/library": Row(DESIGNERS | COORDINATORS),
    "POST /designer/library": Row(DESIGNERS),
    "GET /designer/library/<int:package_id>": Row(
        (DESIGNERS | COORDINATORS) - OTHER, hide=OTHER, args={"package_id": "library_package"}
    ),
    "GET /designer/library/<int:package_id>/download": Row(
        DESIGNERS - OTHER, hide=OTHER, args={"package_id": "library_package"}
    ),
    # the sweep's empty form hides nothing (a reason is required); the lookup comes first
    "POST /designer/library/<int:package_id>/hide": Row(
        COORDINATORS - OTHER, hide=OTHER, args={"package_id": "library_package"}
    ),
    "POST /designer/library/<int:package_id>/show": Row(
        COORDINATORS - OTHER, hide=OTHER, args={"package_id": "library_package"}
    ),
    "POST /designer/library/<int:package_id>/withdraw": Row(
        DESIGNERS - OTHER, hide=OTHER, args={"package_id": "library_package"}
    ),
    "GET /designer/packages": Row(DESIGNERS),
    "POST /designer/packages/export": Row(DESIGNERS),
    "POST /designer/packages/import": Row(DESIGNERS),
    "POST /designer/packages/import/confirm": Row(DESIGNERS),
    "POST /designer/job-roles": Row(DESIGNERS),
    "GET /designer/job-roles/<int:job_role_id>": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/job-roles/<int:job_role_id>": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/job-roles/<int:job_role_id>/<any(archive, restore):action>": Row(
        DESIGNERS - OTHER, hide=OTHER, args={"job_role_id": "spare_job_role"}
    ),
    "GET /designer/job-roles/<int:job_role_id>/archive": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/job-roles/<int:job_role_id>/requirements": Row(DESIGNERS - OTHER, hide=OTHER),
    "GET /designer/job-roles/export": Row(DESIGNERS),
    "POST /designer/job-roles/import": Row(DESIGNERS),
    "GET /designer/mappings": Row(DESIGNERS),
    "POST /designer/mappings": Row(  # of organisation 1's competence and job role
        DESIGNERS - OTHER,
        hide=OTHER,
        body={
            "code": "sweep",
            "title_nb": "Ny",
            "competence_ids": Ref("competence_id"),
            "job_role_id": Ref("job_role_id"),
        },
    ),
    "GET /designer/mappings/<int:mapping_id>": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/mappings/<int:mapping_id>": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/mappings/<int:mapping_id>/<any(publish, archive, draft):action>": Row(
        DESIGNERS - OTHER, hide=OTHER
    ),
    "POST /designer/mappings/<int:mapping_id>/items": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/mappings/<int:mapping_id>/items/<int:item_id>/remove": Row(
        DESIGNERS - OTHER, hide=OTHER
    ),
    "POST /designer/mappings/<int:mapping_id>/refresh": Row(DESIGNERS - OTHER, hide=OTHER),
    "GET /designer/mappings/<int:mapping_id>/statistics": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/mappings/<int:mapping_id>/thresholds": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/requirements/<int:requirement_id>": Row(DESIGNERS - OTHER, hide=OTHER),
    "GET /designer/requirements/<int:requirement_id>/remove": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/requirements/<int:requirement_id>/remove": Row(
        DESIGNERS - OTHER, hide=OTHER, args={"requirement_id": "spare_requirement2"}
    ),
    "GET /designer/versions/<int:version_id>": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/versions/<int:version_id>/competences": Row(DESIGNERS - OTHER, hide=OTHER),
    "GET /designer/versions/<int:version_id>/competences/new": Row(DESIGNERS - OTHER, hide=OTHER),
    "GET /designer/versions/<int:version_id>/publish": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/versions/<int:version_id>/publish": Row(DESIGNERS - OTHER, hide=OTHER),
    "GET /designer/versions/<int:version_id>/scale": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/versions/<int:version_id>/scale": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /designer/versions/<int:version_id>/texts": Row(DESIGNERS - OTHER, hide=OTHER),
    "GET /healthz": Row(EVERYONE),
    # a bearer token (METRICS_TOKEN), not a person: without one configured, not there at all
    "GET /metrics": Row(NOBODY, hide=EVERYONE),
    "GET /learner/": Row(LAUNCHED),
    "GET /learner/activities": Row(LAUNCHED),
    "GET /learner/activities/<int:course_id>": Row(LAUNCHED - OTHER, hide=OTHER),
    "GET /learner/activities/placed/<code>": Row(
        LAUNCHED - OTHER, hide=OTHER, args={"code": "course_code"}
    ),
    "GET /learner/bookings": Row(LAUNCHED),
    "POST /learner/calendar": Row(LAUNCHED),
    "POST /learner/job-roles": Row(  # one's own choice, of organisation 1's roles
        LAUNCHED - OTHER, hide=OTHER, body={"job_role_ids": Ref("chosen_job_role")}
    ),
    "GET /learner/plan": Row(LAUNCHED),
    "POST /learner/plan/answer": Row(LAUNCHED),
    "POST /learner/plan/done": Row(LAUNCHED),
    "GET /lti/config": Row(EVERYONE),
    "GET /lti/config.json": Row(EVERYONE),
    "GET /lti/jwks.json": Row(EVERYONE),
    "POST /lti/launch": Row(EVERYONE, status=401),  # no signed id_token in the sweep
    "GET /lti/login": Row(EVERYONE),
    "POST /lti/login": Row(EVERYONE),
    "GET /lti/login/check": Row(EVERYONE),
    "GET /lti/login/retry": Row(EVERYONE),
    "GET /lti/register": Row(EVERYONE, status=403),  # no invitation: refused by itself
    "GET /lti/register/<secret>": Row(EVERYONE, status=403),
    "GET /manager/": Row(MANAGERS),
    "POST /manager/assignments/<any(role, unit):kind>/<int:assignment_id>/<any(approve, reject):decision>": Row(  # noqa: E501
        MANAGERS - OTHER - {"manager_b"},
        hide=OTHER | {"manager_b"},
        args={"kind": "pending_kind", "assignment_id": "pending_id"},
    ),
    "GET /manager/assignments/<any(role, unit):kind>/<int:assignment_id>/end": Row(
        MANAGERS - OTHER - {"manager_b"}, hide=OTHER | {"manager_b"}
    ),
    "POST /manager/assignments/<any(role, unit):kind>/<int:assignment_id>/end": Row(
        MANAGERS - OTHER - {"manager_b"}, hide=OTHER | {"manager_b"}
    ),
    "GET /manager/certificates": Row(MANAGERS),
    "POST /manager/certificates/issue": Row(
        MANAGERS - OTHER - {"manager_b"},
        hide=OTHER | {"manager_b"},
        body={
            "certification_id": Ref("certification_id"),
            "person_id": Ref("learner"),
            "reason": "route sweep",
        },
    ),
    "POST /manager/certifications/<int:certification_id>/issue": Row(
        (DESIGNERS | MANAGERS) - OTHER - {"manager_b"},
        hide=OTHER | {"manager_b"},
        body={"person_id": Ref("learner"), "reason": "route sweep"},
    ),
    "GET /manager/courses/": Row(MANAGERS),
    "GET /manager/courses/<int:roster_id>/roster": Row(MANAGERS - OTHER, hide=OTHER),
    "POST /manager/courses/<int:roster_id>/roster/refresh": Row(MANAGERS - OTHER, hide=OTHER),
    "GET /manager/export.xlsx": Row(WHOLE_ORGANISATION),
    "POST /manager/import": Row(ADMINS),
    "GET /manager/people/<int:person_id>": Row(
        MANAGERS - OTHER - {"manager_b"}, hide=OTHER | {"manager_b"}
    ),
    "POST /manager/people/<int:person_id>/assign": Row(
        MANAGERS - OTHER - {"manager_b"}, hide=OTHER | {"manager_b"}
    ),
    "GET /manager/people/<int:person_id>/competences/<int:competence_id>": Row(
        MANAGERS - OTHER - {"manager_b"}, hide=OTHER | {"manager_b"}
    ),
    "GET /manager/people/<int:person_id>/plan": Row(
        MANAGERS - OTHER - {"manager_b"}, hide=OTHER | {"manager_b"}
    ),
    "POST /manager/people/<int:person_id>/plan/confirm": Row(
        MANAGERS - OTHER - {"manager_b"}, hide=OTHER | {"manager_b"}
    ),
    "POST /manager/people/<int:person_id>/plan/due": Row(
        MANAGERS - OTHER - {"manager_b"}, hide=OTHER | {"manager_b"}
    ),
    "POST /manager/people/<int:person_id>/plan/items": Row(
        MANAGERS - OTHER - {"manager_b"}, hide=OTHER | {"manager_b"}
    ),
    "GET /manager/units": Row(WHOLE_ORGANISATION),
    "POST /manager/units": Row(  # under A: another organisation's admin is not let in
        ADMINS - OTHER,
        hide=OTHER,
        body={"kind": "unit", "code": "page-new", "name": "Ny", "parent_id": Ref("unit_a")},
    ),
    "GET /manager/units/<int:unit_id>": Row(WHOLE_ORGANISATION - OTHER, hide=OTHER),
    "POST /manager/units/<int:unit_id>": Row(ADMINS - OTHER, hide=OTHER),
    "POST /manager/units/<int:unit_id>/<any(archive, restore):action>": Row(
        ADMINS - OTHER, hide=OTHER, args={"unit_id": "spare_unit"}
    ),
    "GET /manager/units/<int:unit_id>/archive": Row(WHOLE_ORGANISATION - OTHER, hide=OTHER),
    "GET /manager/units/<int:unit_id>/export.csv": Row(
        MANAGERS - OTHER - {"manager_b"}, hide=OTHER | {"manager_b"}
    ),
    "GET /manager/units/<int:unit_id>/export.pdf": Row(
        MANAGERS - OTHER - {"manager_b"}, hide=OTHER | {"manager_b"}
    ),
    "GET /manager/units/<int:unit_id>/export.xlsx": Row(
        MANAGERS - OTHER - {"manager_b"}, hide=OTHER | {"manager_b"}
    ),
    "GET /manager/units/<int:unit_id>/matrix": Row(
        MANAGERS - OTHER - {"manager_b"}, hide=OTHER | {"manager_b"}
    ),
    "POST /manager/units/<int:unit_id>/move": Row(
        ADMINS - OTHER, hide=OTHER, args={"unit_id": "spare_unit"}
    ),
    "GET /mappings/<code>": Row(LAUNCHED - OTHER, hide=OTHER, args={"code": "mapping_code"}),
    "POST /mappings/<code>/attempts": Row(
        LAUNCHED - OTHER, hide=OTHER, args={"code": "mapping_code"}
    ),
    # an attempt is its taker's alone
    "GET /mappings/attempts/<int:attempt_id>/items/<int:position>": Row(
        frozenset({"learner"}), hide=LAUNCHED - {"learner"}
    ),
    "POST /mappings/attempts/<int:attempt_id>/items/<int:position>": Row(
        frozenset({"learner"}), hide=LAUNCHED - {"learner"}
    ),
    "GET /mappings/attempts/<int:attempt_id>/result": Row(
        frozenset({"learner"}), hide=LAUNCHED - {"learner"}
    ),
    "GET /mappings/attempts/<int:attempt_id>/review": Row(
        frozenset({"learner"}), hide=LAUNCHED - {"learner"}
    ),
    "POST /mappings/attempts/<int:attempt_id>/submit": Row(
        frozenset({"learner"}), hide=LAUNCHED - {"learner"}
    ),
    "GET /ob/achievements/<achievement_uuid>": Row(EVERYONE),
    "GET /ob/issuers/<int:organisation_id>": Row(EVERYONE),
    "GET /ob/keys/<kid>": Row(EVERYONE),
    "GET /ob/status/<list_uuid>": Row(EVERYONE),
    "GET /readyz": Row(EVERYONE),
    "GET /sessions/<int:session_id>": Row(LAUNCHED - OTHER, hide=OTHER),
    # the session's instructors: designers and admins (a learner is refused, 403)
    # the session's instructors: designers and admins (a learner is refused, 403)
    "GET /sessions/<int:session_id>/attendance": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /sessions/<int:session_id>/attendance": Row(DESIGNERS - OTHER, hide=OTHER),
    "POST /sessions/<int:session_id>/book": Row(LAUNCHED - OTHER, hide=OTHER),
    "POST /sessions/<int:session_id>/cancel": Row(LAUNCHED - OTHER, hide=OTHER),
    "GET /sessions/<int:session_id>/ics": Row(LAUNCHED - OTHER, hide=OTHER),
    "GET /verify": Row(EVERYONE),
    "POST /verify": Row(EVERYONE),
    "GET /verify/<code>": Row(EVERYONE, args={"code": "certificate_code"}),
}
