"""Content packages (issue 17): export an organisation's content as a package, preview and
import it into another organisation (and into a fresh installation), all or nothing, with
its origin recorded; no personal data travels."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.interchange import package as fmt
from lti_tool.models import (
    Certification,
    Course,
    Framework,
    Item,
    JobRole,
    Mapping,
    Organisation,
    PackageImport,
    PackageObject,
)
from lti_tool.services import packages

OTHER = "Nabokommune"


def export(cli: Any, path: Any, organisation: str = "Testkommune", *args: str) -> bytes:
    cli(
        "package", "export", "--organisation", organisation, "--name", "helse-basis",
        "--version", "1.0.0", "--output", str(path), *args,
    )
    return path.read_bytes()


def org_id(app: Any, name: str) -> int:
    with app.app_context():
        found = get_session().scalar(select(Organisation.id).where(Organisation.name == name))
        assert found is not None
        return found


def content(app: Any, name: str) -> dict[str, Any]:
    """The organisation's content as package data (ids replaced by codes and identifiers)."""
    with app.app_context():
        session = get_session()
        oid = org_id(app, name)
        frameworks = {
            f.code: packages.framework_io.version_data(f.versions[-1])
            for f in session.scalars(select(Framework).where(Framework.organisation_id == oid))
        }
        return {
            "frameworks": {
                code: packages._framework_key(data) for code, data in frameworks.items()
            },
            "job_roles": sorted(
                json.dumps(packages._role_dict(packages._job_role_data(r)), sort_keys=True)
                for r in session.scalars(select(JobRole).where(JobRole.organisation_id == oid))
            ),
            "items": sorted(
                json.dumps(packages._dump_item(i), sort_keys=True)
                for i in session.scalars(select(Item).where(Item.organisation_id == oid))
            ),
            "mappings": sorted(
                json.dumps(packages._dump_mapping(m), sort_keys=True)
                for m in session.scalars(select(Mapping).where(Mapping.organisation_id == oid))
            ),
            "activities": sorted(
                json.dumps(packages._dump_activity(c), sort_keys=True)
                for c in session.scalars(select(Course).where(Course.organisation_id == oid))
            ),
            "certifications": sorted(
                c.code
                for c in session.scalars(
                    select(Certification).where(Certification.organisation_id == oid)
                )
            ),
        }


def test_smoke_round_trip_through_the_cli(app, lms, cli, tmp_path):
    cli("content", "load-examples", "--organisation", "Testkommune")
    cli("organisation", "add", OTHER)
    data = export(cli, tmp_path / "p.zip")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "manifest.json" in names
    result = cli("package", "import", "--organisation", OTHER, str(tmp_path / "p.zip"))
    assert "Imported" in result.output
    here = content(app, "Testkommune")
    assert all(here.values()), {k: len(v) for k, v in here.items()}
    assert content(app, OTHER) == here
