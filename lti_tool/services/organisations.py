"""Organisations (municipalities) and the regions they form (flush only, never commit).

Names are unique, of both. The functions taking names serve the command line; those
ending in ``_of`` serve the admin console and take the organisation the admin acts for:
an organisation out of its reach (see ``platforms.organisations_in_reach``) is not found.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from lti_tool.errors import InvalidName, NotFound, OrganisationNameTaken, RegionNameTaken
from lti_tool.models import Organisation, Region
from lti_tool.services.platforms import organisation_in_reach

#: The longest name of an organisation or region (the columns' length).
MAX_NAME_LENGTH = 200
#: The longest expiring window an organisation may set (ten years), as the matrix's ``days``.
MAX_EXPIRING_DAYS = 3650


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not 0 < len(cleaned) <= MAX_NAME_LENGTH:
        raise InvalidName(f"a name must have 1 to {MAX_NAME_LENGTH} characters, got {name!r}")
    return cleaned


def _flush_unique(session: Session, taken: Exception) -> None:
    """Flush; a concurrent request that took the same name first makes it ``taken``."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise taken from exc


# --- organisations ----------------------------------------------------------------------


def find_organisation(session: Session, name: str) -> Organisation:
    organisation = session.scalar(select(Organisation).where(Organisation.name == name.strip()))
    if organisation is None:
        raise NotFound(f"no organisation named {name.strip()!r}")
    return organisation


def _rename_organisation(session: Session, organisation: Organisation, new_name: str) -> None:
    new_name = _clean_name(new_name)
    if new_name == organisation.name:
        return
    if session.scalar(select(Organisation.id).where(Organisation.name == new_name)) is not None:
        raise OrganisationNameTaken(f"an organisation named {new_name!r} already exists")
    organisation.name = new_name
    _flush_unique(
        session, OrganisationNameTaken(f"an organisation named {new_name!r} already exists")
    )


def rename_organisation(session: Session, old_name: str, new_name: str) -> Organisation:
    organisation = find_organisation(session, old_name)
    _rename_organisation(session, organisation, new_name)
    return organisation


def set_organisation_region(
    session: Session, organisation_name: str, region_name: str | None
) -> Organisation:
    """Put the organisation in the region named, or in none (``None``)."""
    organisation = find_organisation(session, organisation_name)
    organisation.region = find_region(session, region_name) if region_name is not None else None
    session.flush()
    return organisation


def update_organisation_of(
    session: Session,
    organisation_id: int,
    target_pk: int,
    name: str,
    region_pk: int | None,
    expiring_days: int | None = None,
) -> Organisation:
    """Rename an organisation in the admin's reach, and put it in one of the regions the
    admin's organisation manages (or take it out of its region); set its expiring window
    when given."""
    organisation = organisation_in_reach(session, organisation_id, target_pk)
    region = region_of(session, organisation_id, region_pk) if region_pk is not None else None
    _rename_organisation(session, organisation, name)
    organisation.region = region
    if expiring_days is not None:
        set_expiring_days(session, organisation.id, expiring_days)
    session.flush()
    return organisation


def expiring_days_of(session: Session, organisation_id: int) -> int:
    """The organisation's expiring window in days (``Organisation.expiring_days``): the
    one setting the matrix, its exports, gap analyses, plans and the certificates' amber
    read; pages may still ask for another window. No statement when the launch has
    loaded the organisation already."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"no organisation {organisation_id}")
    return organisation.expiring_days


def set_expiring_days(session: Session, organisation_id: int, days: int) -> Organisation:
    """Change the organisation's expiring window (1 … ``MAX_EXPIRING_DAYS`` days)."""
    if not 1 <= days <= MAX_EXPIRING_DAYS:
        raise ValueError(f"an expiring window of {days} days")
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"no organisation {organisation_id}")
    organisation.expiring_days = days
    session.flush()
    return organisation


# --- regions ------------------------------------------------------------------------------


def list_regions(session: Session) -> Sequence[Region]:
    """Every region with its member organisations, by name."""
    return session.scalars(
        select(Region).options(selectinload(Region.organisations)).order_by(Region.name)
    ).all()


def regions_of(session: Session, organisation_id: int) -> Sequence[Region]:
    """The regions an admin manages in the console: those their organisation created."""
    return session.scalars(
        select(Region)
        .where(Region.steward_id == organisation_id)
        .options(selectinload(Region.organisations))
        .order_by(Region.name)
    ).all()


def region_of(session: Session, organisation_id: int, region_pk: int) -> Region:
    for region in regions_of(session, organisation_id):
        if region.id == region_pk:
            return region
    raise NotFound(f"region {region_pk} is not managed by organisation {organisation_id}")


def get_region(session: Session, region_pk: int) -> Region:
    region = session.get(Region, region_pk)
    if region is None:
        raise NotFound(f"region {region_pk}")
    return region


def find_region(session: Session, name: str) -> Region:
    region = session.scalar(select(Region).where(Region.name == name.strip()))
    if region is None:
        raise NotFound(f"no region named {name.strip()!r}")
    return region


def create_region(session: Session, name: str, steward_id: int | None = None) -> Region:
    name = _clean_name(name)
    if session.scalar(select(Region.id).where(Region.name == name)) is not None:
        raise RegionNameTaken(f"a region named {name!r} already exists")
    region = Region(name=name, steward_id=steward_id)
    session.add(region)
    _flush_unique(session, RegionNameTaken(f"a region named {name!r} already exists"))
    return region


def rename_region(session: Session, old_name: str, new_name: str) -> Region:
    region = find_region(session, old_name)
    new_name = _clean_name(new_name)
    if new_name != region.name:
        if session.scalar(select(Region.id).where(Region.name == new_name)) is not None:
            raise RegionNameTaken(f"a region named {new_name!r} already exists")
        region.name = new_name
        _flush_unique(session, RegionNameTaken(f"a region named {new_name!r} already exists"))
    return region
