"""Updates from a package (issue 17): a newer version of a package imported over an
imported copy that was edited here shows each difference against what is here, local edits
marked; the designer takes or skips each; nothing is overwritten silently, and a framework's
update is a new published version (the published one is never changed)."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.models import Framework, FrameworkVersion, Item, PackageImport, VersionStatus
from tests.functional import test_api
from tests.functional.test_packages import (
    OTHER,
    PAGE,
    content,
    form_of,
    loaded,
    org_id,
    other_designer,
    preview,
    ticked,
)

api, new_token = test_api.api, test_api.new_token
FRAMEWORK = "informasjonssikkerhet"


def export(cli: Any, path: Any, version: str) -> bytes:
    cli(
        "package", "export", "--organisation", "Testkommune", "--name", "infosikkerhet",
        "--version", version, "--framework", FRAMEWORK, "--output", str(path),
    )  # fmt: skip
    return bytes(path.read_bytes())


def item(app: Any, organisation: str, code: str) -> Item:
    with app.app_context():
        found = get_session().scalar(
            select(Item).where(Item.organisation_id == org_id(app, organisation), Item.code == code)
        )
        assert found is not None
        get_session().expunge(found)
        return found


def edit_item(app: Any, organisation: str, code: str, **values: Any) -> None:
    with app.app_context():
        found = get_session().scalar(
            select(Item).where(Item.organisation_id == org_id(app, organisation), Item.code == code)
        )
        for name, value in values.items():
            setattr(found, name, value)
        get_session().commit()


def versions(app: Any, organisation: str) -> list[tuple[int, str, int]]:
    with app.app_context():
        rows = get_session().execute(
            select(FrameworkVersion)
            .join(Framework)
            .where(
                Framework.organisation_id == org_id(app, organisation), Framework.code == FRAMEWORK
            )
            .order_by(FrameworkVersion.number)
        )
        return [(v.number, str(v.status), len(v.competences)) for (v,) in rows]


def new_framework_version(app: Any, api: Any, token: str) -> None:
    """Testkommune adds a competence to its framework: a new published version."""
    with app.app_context():
        framework_id = get_session().scalar(
            select(Framework.id).where(
                Framework.organisation_id == org_id(app, "Testkommune"), Framework.code == FRAMEWORK
            )
        )
    draft = api.call("post", f"/frameworks/{framework_id}/drafts", token)
    assert draft.status_code == 201, draft.get_json()
    vid = draft.get_json()["id"]
    body = {"code": "IS-99", "title": {"nb": "Sikker bruk av KI"}}
    assert api.call("post", f"/versions/{vid}/competences", token, json=body).status_code == 201
    assert api.call("post", f"/versions/{vid}/publish", token).status_code == 200


def test_an_update_shows_each_change_keeps_local_edits_and_versions_the_framework(
    app, lms, cli, api, new_token, tmp_path, organisation_on_the_same_lms
):
    loaded(cli)
    there = other_designer(app, lms, organisation_on_the_same_lms)
    first = export(cli, tmp_path / "v1.zip", "1.0.0")
    page = preview(there, first).get_data(as_text=True)
    form = form_of(page, PAGE + "/import/confirm")
    assert there.post(form["action"], data=form["fields"]).status_code == 302
    assert versions(app, OTHER) == [(1, "published", versions(app, "Testkommune")[0][2])]

    # here (Nabokommune) a designer rewords IS-01-S; there (Testkommune) the package's
    # owner changes its points and IS-02-S's wording, and adds a competence
    edit_item(app, OTHER, "IS-01-S", stem={"nb": "Vår egen formulering"})
    edit_item(app, "Testkommune", "IS-01-S", points=2.0)
    edit_item(app, "Testkommune", "IS-02-S", stem={"nb": "Ny formulering fra Testkommune"})
    new_framework_version(app, api, new_token("Testkommune", "write"))
    second = export(cli, tmp_path / "v2.zip", "1.1.0")

    page = preview(there, second).get_data(as_text=True)
    assert "Imported before" in page and "1.0.0" in page
    assert "Vår egen formulering" in page and "Ny formulering fra Testkommune" in page
    assert "Changed here since it was imported." in page
    assert "Adds: IS-99." in page
    boxes = ticked(page)
    assert f"framework:{FRAMEWORK}" in boxes
    assert "items:IS-01-S:points" in boxes
    assert "items:IS-02-S:stem" in boxes
    assert "items:IS-01-S:stem" not in boxes  # edited here: not ticked
    assert "items:IS-01-S:stem" in page  # … but offered

    # the designer takes what is ticked, and skips the rest
    form = form_of(page, PAGE + "/import/confirm")
    done = there.post(form["action"], data={**form["fields"], "take": boxes})
    assert done.status_code == 302, done.get_data(as_text=True)
    assert item(app, OTHER, "IS-01-S").stem == {"nb": "Vår egen formulering"}
    assert item(app, OTHER, "IS-01-S").points == 2.0
    assert item(app, OTHER, "IS-02-S").stem == {"nb": "Ny formulering fra Testkommune"}
    # the framework's update is a new published version; the first is archived, unchanged
    count = versions(app, "Testkommune")[0][2]
    assert versions(app, OTHER) == [(1, "archived", count), (2, "published", count + 1)]
    with app.app_context():
        records = (
            get_session()
            .scalars(
                select(PackageImport).where(PackageImport.organisation_id == org_id(app, OTHER))
            )
            .all()
        )
        assert [r.version for r in records] == ["1.0.0", "1.1.0"]

    # the older version again: what it would take back is offered, none of it ticked
    older = preview(there, first).get_data(as_text=True)
    assert "This is an older version of the package" in older
    assert ticked(older) == []
    assert f"framework:{FRAMEWORK}" in older

    # the same package again: only the local edit differs, and it is not ticked
    again = preview(there, second).get_data(as_text=True)
    assert ticked(again) == []
    assert "items:IS-01-S:stem" in again
    assert "The package has not changed it since the version imported here." in again


def test_nothing_differing_is_taken_unless_asked(app, lms, cli, api, new_token, tmp_path):
    loaded(cli)
    cli("organisation", "add", OTHER)
    cli("package", "import", "--organisation", OTHER, str(tmp_path / "x.zip"), ok=False)
    first = export(cli, tmp_path / "v1.zip", "1.0.0")
    cli("package", "import", "--organisation", OTHER, str(tmp_path / "v1.zip"))
    edit_item(app, "Testkommune", "IS-02-S", stem={"nb": "Endret"})
    new_framework_version(app, api, new_token("Testkommune", "write"))
    export(cli, tmp_path / "v2.zip", "2.0.0")
    result = cli("package", "import", "--organisation", OTHER, str(tmp_path / "v2.zip"))
    assert "keep\titems:IS-02-S:stem" in result.output
    assert item(app, OTHER, "IS-02-S").stem != {"nb": "Endret"}
    assert [v[1] for v in versions(app, OTHER)] == ["published"]
    # through the API, a change is taken by its key
    token = new_token(OTHER, "write")
    dry = api.call(
        "post", "/packages/import", token,
        data={"file": (io.BytesIO((tmp_path / "v2.zip").read_bytes()), "p"), "dry_run": "1"},
    )  # fmt: skip
    keys = [c["key"] for o in dry.get_json()["objects"] for c in o["changes"]]
    assert "items:IS-02-S:stem" in keys and f"framework:{FRAMEWORK}" in keys
    made = api.call(
        "post", "/packages/import", token,
        data={"file": (io.BytesIO((tmp_path / "v2.zip").read_bytes()), "p"),
              "take": ["items:IS-02-S:stem"]},
    )  # fmt: skip
    assert made.status_code == 201, made.get_json()
    assert item(app, OTHER, "IS-02-S").stem == {"nb": "Endret"}
    assert [v[1] for v in versions(app, OTHER)] == ["published"]
    assert first


def test_an_item_update_needing_an_untaken_framework_update_is_refused_whole(
    app, lms, cli, api, new_token, tmp_path
):
    loaded(cli)
    cli("organisation", "add", OTHER)
    export(cli, tmp_path / "v1.zip", "1.0.0")
    cli("package", "import", "--organisation", OTHER, str(tmp_path / "v1.zip"))
    new_framework_version(app, api, new_token("Testkommune", "write"))
    with app.app_context():
        session = get_session()
        competence = session.scalar(
            select(FrameworkVersion)
            .join(Framework)
            .where(
                Framework.organisation_id == org_id(app, "Testkommune"),
                Framework.code == FRAMEWORK,
                FrameworkVersion.status == VersionStatus.PUBLISHED,
            )
        ).competences[-1]
        target = session.scalar(
            select(Item).where(
                Item.organisation_id == org_id(app, "Testkommune"), Item.code == "IS-02-S"
            )
        )
        target.competences[0].competence = competence  # now measures IS-99
        session.commit()
    export(cli, tmp_path / "v2.zip", "2.0.0")
    before = item(app, OTHER, "IS-02-S")
    refused = cli(
        "package", "import", "--organisation", OTHER, str(tmp_path / "v2.zip"),
        "--take", "items:IS-02-S:competences", "--take", "items:IS-02-S:stem", ok=False,
    )  # fmt: skip
    assert refused.exit_code != 0
    assert "take that update too" in refused.output
    with app.app_context():
        assert (
            get_session().scalar(select(PackageImport).where(PackageImport.version == "2.0.0"))
            is None
        )
    assert item(app, OTHER, "IS-02-S").stem == before.stem


def _statuses(output: str) -> set[str]:
    """The statuses of the objects a ``package import`` listed (create, exists, conflict)."""
    return {line.split("\t")[0] for line in output.splitlines() if line.count("\t") == 2}


def test_one_organisations_preview_and_import_never_touch_anothers(app, lms, cli, tmp_path):
    """Objects are matched by code and CASE identifier within the importing organisation
    only: the publisher's own objects, with the very same codes, are never matched, changed
    or recorded as imported."""
    loaded(cli)
    cli("organisation", "add", OTHER)
    path = tmp_path / "v1.zip"
    export(cli, path, "1.0.0")
    dry = cli("package", "import", "--organisation", OTHER, "--dry-run", str(path))
    assert _statuses(dry.output) == {"create"}
    cli("package", "import", "--organisation", OTHER, str(path))
    edit_item(app, OTHER, "IS-01-S", stem={"nb": "Vår egen formulering"})
    # the publisher previewing its own package sees its own objects only, unchanged
    own = cli("package", "import", "--organisation", "Testkommune", "--dry-run", str(path))
    assert _statuses(own.output) == {"exists"}

    # Nabokommune takes every change of the next version; the publisher's objects stay
    edit_item(app, "Testkommune", "IS-02-S", stem={"nb": "Ny formulering"})
    export(cli, tmp_path / "v2.zip", "1.1.0")
    publisher = content(app, "Testkommune")
    taken = cli("package", "import", "--organisation", OTHER, "--take-unedited",
                str(tmp_path / "v2.zip"))  # fmt: skip
    assert "take\titems:IS-02-S:stem" in taken.output
    assert item(app, OTHER, "IS-02-S").stem == {"nb": "Ny formulering"}
    assert content(app, "Testkommune") == publisher
    assert item(app, "Testkommune", "IS-01-S").stem != {"nb": "Vår egen formulering"}
    with app.app_context():
        recorded = get_session().scalars(select(PackageImport.organisation_id).distinct()).all()
        assert recorded == [org_id(app, OTHER)]
