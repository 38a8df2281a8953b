"""The regional library of content packages (issue 17); flush only, never commit.

An organisation in a region publishes package versions to the region's library; the
region's designers browse and search them (by title, competence, job role …), preview and
import them (``services.packages``). The publisher withdraws a version; a regional
coordinator hides one (moderation, audited), sees what is hidden and may show it again.
Either way copies already imported stay. Another
region's packages are not found. Outside a region a package file is shared by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool import clock
from lti_tool.errors import ImportErrors, LibraryVersionTaken, NotFound, NotInRegion
from lti_tool.interchange import case, job_roles_json
from lti_tool.interchange import package as fmt
from lti_tool.models import AuditAction, LibraryPackage, Organisation
from lti_tool.services import audit, packages
from lti_tool.services.audit import Actor

#: The audit log's name for a library package (moderation: hidden, shown again).
LIBRARY_PACKAGE = "library_package"


def region_id_of(session: Session, organisation_id: int) -> int | None:
    organisation = session.get(Organisation, organisation_id)
    return organisation.region_id if organisation is not None else None


def _region(session: Session, organisation_id: int) -> int:
    region_id = region_id_of(session, organisation_id)
    if region_id is None:
        raise NotInRegion(f"organisation {organisation_id} is in no region")
    return region_id


def _search_text(package: fmt.Package) -> str:
    """Every title and code the package holds, lower case, one per line."""
    words: list[str] = [package.manifest.name, *package.manifest.title.values()]
    for body in package.frameworks.values():
        data, _ = case.parse(body)
        if data is not None:
            words += [data.code, *data.title.values()]
            for competence in data.competences:
                words += [competence.code, *competence.title.values()]
    if package.job_roles is not None:
        roles, _ = job_roles_json.parse(package.job_roles)
        for role in roles:
            words += [role.code, *role.title.values()]
    for kind in (fmt.MAPPINGS, fmt.ACTIVITIES, fmt.CERTIFICATIONS):
        for entry in fmt.entries(package, kind):
            words += [entry["code"], *entry.get("title", {}).values()]
    return "\n".join(word.lower() for word in words if word)


def publish_package(
    session: Session,
    organisation_id: int,
    request: packages.ExportRequest,
    person_id: int | None = None,
) -> LibraryPackage:
    """Export the organisation's content (``packages.export_package``) into its region's
    library, as version ``request.version`` of ``request.name``."""
    region_id = _region(session, organisation_id)
    taken = session.scalar(
        select(LibraryPackage.id).where(
            LibraryPackage.region_id == region_id,
            LibraryPackage.name == request.name,
            LibraryPackage.version == request.version,
        )
    )
    if taken is not None:
        raise LibraryVersionTaken(
            f"{request.name} {request.version}", name=request.name, version=request.version
        )
    data = packages.export_package(session, organisation_id, request)
    try:
        package = fmt.read(data)
    except fmt.Refused as exc:  # our own export is always readable; say so if not
        raise ImportErrors(exc.problems) from exc
    made = LibraryPackage(
        region_id=region_id,
        organisation_id=organisation_id,
        name=request.name,
        version=request.version,
        title=dict(request.title),
        licence=request.licence,
        sha256=hashlib.sha256(data).hexdigest(),
        search_text=_search_text(package),
        data=data,
        published_by_id=person_id,
    )
    session.add(made)
    session.flush()
    return made


def browse(session: Session, organisation_id: int, query: str = "") -> Sequence[LibraryPackage]:
    """The packages offered in the organisation's region (none outside a region), newest
    first; with ``query``: those whose name, title or contents' titles and codes hold it."""
    region_id = region_id_of(session, organisation_id)
    if region_id is None:
        return []
    statement = select(LibraryPackage).where(
        LibraryPackage.region_id == region_id,
        LibraryPackage.withdrawn_at.is_(None),
        LibraryPackage.hidden_at.is_(None),
    )
    for word in query.lower().split()[:10]:
        statement = statement.where(func.lower(LibraryPackage.search_text).contains(word))
    return session.scalars(
        statement.order_by(LibraryPackage.name, LibraryPackage.published_at.desc())
    ).all()


def get_package(session: Session, organisation_id: int, package_id: int) -> LibraryPackage:
    """A package of the organisation's region's library (withdrawn or hidden ones too)."""
    found = session.get(LibraryPackage, package_id)
    if found is None or found.region_id != region_id_of(session, organisation_id):
        raise NotFound(f"library package {package_id} for organisation {organisation_id}")
    return found


def withdraw_package(session: Session, organisation_id: int, package_id: int) -> LibraryPackage:
    """The publisher withdraws a version: no longer offered; imported copies stay."""
    found = get_package(session, organisation_id, package_id)
    if found.organisation_id != organisation_id:
        raise NotFound(f"library package {package_id} is not organisation {organisation_id}'s")
    if found.withdrawn_at is None:
        found.withdrawn_at = clock.now()
    session.flush()
    return found


def hidden_packages(session: Session, organisation_id: int) -> Sequence[LibraryPackage]:
    """The versions a coordinator hid from the organisation's region's library, the last
    hidden first (for its coordinators, who may show them again)."""
    region_id = region_id_of(session, organisation_id)
    if region_id is None:
        return []
    return session.scalars(
        select(LibraryPackage)
        .where(LibraryPackage.region_id == region_id, LibraryPackage.hidden_at.is_not(None))
        .order_by(LibraryPackage.hidden_at.desc(), LibraryPackage.id.desc())
    ).all()


def _moderated(package: LibraryPackage) -> dict[str, str]:
    return {"name": package.name, "version": package.version, "reason": package.hidden_reason}


def hide_package(session: Session, actor: Actor, package_id: int, reason: str) -> LibraryPackage:
    """A regional coordinator hides a version from the region's library (moderation);
    recorded in the audit log of the coordinator's organisation."""
    found = get_package(session, actor.organisation_id, package_id)
    if found.hidden_at is None:
        found.hidden_at = clock.now()
        found.hidden_reason = reason
        audit.record(
            session, actor, AuditAction.DISABLE, LIBRARY_PACKAGE, found.id, detail=_moderated(found)
        )
    session.flush()
    return found


def show_package(session: Session, actor: Actor, package_id: int) -> LibraryPackage:
    """A regional coordinator offers a hidden version again (recorded with the reason it
    was hidden for)."""
    found = get_package(session, actor.organisation_id, package_id)
    if found.hidden_at is not None:
        audit.record(
            session, actor, AuditAction.ENABLE, LIBRARY_PACKAGE, found.id, detail=_moderated(found)
        )
        found.hidden_at = None
        found.hidden_reason = ""
    session.flush()
    return found
