"""The municipality's tree of sectors, departments and units, scoped by organisation."""

from __future__ import annotations

import pytest

from lti_tool.db import get_session
from lti_tool.errors import InvalidCode, InvalidOrgUnitParent, NotFound, OrgUnitCodeTaken
from lti_tool.models import Organisation, UnitKind
from lti_tool.services import org_units


@pytest.fixture
def orgs(app):
    with app.app_context():
        session = get_session()
        ours, theirs = Organisation(name="Vårkommune"), Organisation(name="Deireskommune")
        session.add_all([ours, theirs])
        session.commit()
        yield ours.id, theirs.id


def test_create_list_find_rename_move_archive(app, orgs):
    ours, theirs = orgs
    session = get_session()
    helse = org_units.create_unit(session, ours, kind=UnitKind.SECTOR, code="helse", name="Helse")
    pleie = org_units.create_unit(
        session, ours, kind=UnitKind.DEPARTMENT, code="pleie", name="Pleie", parent_id=helse.id
    )
    hjemme = org_units.create_unit(
        session, ours, kind=UnitKind.UNIT, code="hjemme", name="Hjemmetjenesten", parent_id=pleie.id
    )
    skole = org_units.create_unit(session, ours, kind=UnitKind.UNIT, code="skole", name="Skolen")
    tree = org_units.unit_tree(session, ours)
    assert [n.unit.code for n in tree] == ["helse", "skole"]
    assert [n.unit.code for n in tree[0].children[0].children] == ["hjemme"]
    assert org_units.find_unit(session, ours, "HJEMME").id == hjemme.id

    org_units.rename_unit(session, ours, hjemme.id, name="Hjemmebaserte tjenester", code="hbt")
    assert org_units.find_unit(session, ours, "hbt").name == "Hjemmebaserte tjenester"
    org_units.move_unit(session, ours, hjemme.id, helse.id)
    assert hjemme.parent_id == helse.id
    org_units.archive_unit(session, ours, skole.id)
    assert [n.unit.code for n in org_units.unit_tree(session, ours)] == ["helse"]
    assert len(org_units.unit_tree(session, ours, include_archived=True)) == 2
    assert org_units.unit_tree(session, theirs) == []


def test_kind_rules_cycles_and_codes(app, orgs):
    ours, theirs = orgs
    session = get_session()
    helse = org_units.create_unit(session, ours, kind=UnitKind.SECTOR, code="helse", name="Helse")
    pleie = org_units.create_unit(
        session, ours, kind=UnitKind.DEPARTMENT, code="pleie", name="Pleie", parent_id=helse.id
    )
    unit = org_units.create_unit(
        session, ours, kind=UnitKind.UNIT, code="u", name="U", parent_id=pleie.id
    )
    with pytest.raises(InvalidOrgUnitParent):  # nothing under a unit
        org_units.create_unit(
            session, ours, kind=UnitKind.UNIT, code="v", name="V", parent_id=unit.id
        )
    with pytest.raises(InvalidOrgUnitParent):  # a sector sits at the top
        org_units.move_unit(session, ours, helse.id, pleie.id)
    with pytest.raises(InvalidOrgUnitParent):  # not under itself
        org_units.move_unit(session, ours, pleie.id, pleie.id)
    with pytest.raises(OrgUnitCodeTaken):
        org_units.create_unit(session, ours, kind=UnitKind.UNIT, code="PLEIE", name="X")
    with pytest.raises(InvalidCode):
        org_units.create_unit(session, ours, kind=UnitKind.UNIT, code="two words", name="X")
    # the same code in another organisation is fine; its units are out of reach
    other = org_units.create_unit(session, theirs, kind=UnitKind.UNIT, code="pleie", name="P")
    with pytest.raises(NotFound):
        org_units.get_unit(session, ours, other.id)
    with pytest.raises(NotFound):
        org_units.create_unit(
            session, ours, kind=UnitKind.UNIT, code="w", name="W", parent_id=other.id
        )
    with pytest.raises(NotFound):
        org_units.rename_unit(session, theirs, unit.id, name="Mine")
    with pytest.raises(NotFound):
        org_units.find_unit(session, theirs, "u")
