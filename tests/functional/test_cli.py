"""The administrators' `flask` commands, each one transaction."""

from __future__ import annotations

import re

import pytest

ISSUER = "https://moodle.kongsberg.example"
PLATFORM_ARGS = [
    "--issuer", ISSUER,
    "--client-id", "abc123",
    "--auth-url", ISSUER + "/mod/lti/auth.php",
    "--token-url", ISSUER + "/mod/lti/token.php",
    "--jwks-url", ISSUER + "/mod/lti/certs.php",
]  # fmt: skip


def _platform_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line and not line.startswith("\t")]


def _deployment_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("\tdeployment")]


def test_platform_add_then_list(cli):
    assert "No platforms registered." in cli("platform", "list").output
    added = cli(
        "platform", "add", *PLATFORM_ARGS,
        "--deployment", "1", "--deployment", "2", "--organisation", "Kongsberg",
    )  # fmt: skip
    assert "2 deployment(s)" in added.output
    assert "Kongsberg" in added.output

    listed = cli("platform", "list").output
    (platform,) = _platform_lines(listed)
    assert platform.split("\t")[1:] == ["active", ISSUER, "abc123", "Kongsberg"]
    deployments = _deployment_lines(listed)
    assert len(deployments) == 2
    assert [d.split("\t")[2:4] for d in deployments] == [["active", "1"], ["active", "2"]]
    assert all("\tKongsberg\t" in d for d in deployments)
    # The organisation was created on the way.
    assert "Kongsberg" in cli("organisation", "list").output


def test_adding_again_updates_instead_of_duplicating(cli):
    cli("platform", "add", *PLATFORM_ARGS, "--deployment", "1", "--organisation", "Kongsberg")
    new_args = [a.replace("/mod/lti/certs.php", "/keys.json") for a in PLATFORM_ARGS]
    again = cli(
        "platform", "add", *new_args, "--deployment", "1", "--deployment", "3",
        "--organisation", "Kongsberg",
    )  # fmt: skip
    assert "2 deployment(s)" in again.output
    listed = cli("platform", "list").output
    assert len(_platform_lines(listed)) == 1
    assert [d.split("\t")[3] for d in _deployment_lines(listed)] == ["1", "3"]
    assert cli("organisation", "list").output.count("Kongsberg") == 1


def test_the_update_is_stored(app, cli):
    from lti_tool.db import get_session
    from lti_tool.services.platforms import find_platform

    cli("platform", "add", *PLATFORM_ARGS, "--organisation", "Kongsberg")
    new_args = [a.replace("/mod/lti/certs.php", "/keys.json") for a in PLATFORM_ARGS]
    cli("platform", "add", *new_args, "--organisation", "Kongsberg")
    with app.app_context():
        platform = find_platform(get_session(), ISSUER, "abc123")
        assert platform is not None
        assert platform.jwks_url == ISSUER + "/keys.json"


def test_platform_disable_and_enable(cli):
    cli("platform", "add", *PLATFORM_ARGS, "--deployment", "1", "--organisation", "Kongsberg")
    disabled = cli("platform", "disable", "--issuer", ISSUER, "--client-id", "abc123")
    assert "Disabled" in disabled.output
    (line,) = _platform_lines(cli("platform", "list").output)
    assert line.split("\t")[1] == "disabled"

    cli("platform", "enable", "--issuer", ISSUER, "--client-id", "abc123")
    (line,) = _platform_lines(cli("platform", "list").output)
    assert line.split("\t")[1] == "active"


def test_disabling_an_unknown_platform_fails(cli):
    result = cli("platform", "disable", "--issuer", ISSUER, "--client-id", "nope", ok=False)
    assert result.exit_code != 0
    assert "nope" in result.output


def test_organisation_add_and_list(cli):
    assert "No organisations." in cli("organisation", "list").output
    added = cli("organisation", "add", "Kongsberg kommune")
    assert "Kongsberg kommune" in added.output
    cli("organisation", "add", "Drammen", "--auto-activate")
    listed = cli("organisation", "list").output.splitlines()
    assert [line.split("\t")[1:] for line in listed] == [
        ["Drammen", "auto-activate"],
        ["Kongsberg kommune", "approve new deployments"],
    ]


def test_duplicate_organisation_is_refused_clearly(cli):
    cli("organisation", "add", "Kongsberg")
    result = cli("organisation", "add", "Kongsberg", ok=False)
    assert result.exit_code != 0
    assert "Error:" in result.output
    assert "already exists" in result.output and "Kongsberg" in result.output
    assert "Traceback" not in result.output
    assert cli("organisation", "list").output.count("Kongsberg") == 1


@pytest.mark.parametrize("option", ["--issuer", "--auth-url", "--token-url", "--jwks-url"])
def test_bad_url_is_refused_and_nothing_is_written(cli, option):
    args = list(PLATFORM_ARGS)
    args[args.index(option) + 1] = "moodle.example/no-scheme"
    result = cli(
        "platform", "add", *args, "--deployment", "1", "--organisation", "Kongsberg", ok=False
    )
    assert result.exit_code != 0
    assert "Error:" in result.output and "http(s) URL" in result.output
    assert "No platforms registered." in cli("platform", "list").output
    # Not even the organisation the command would have created.
    assert "No organisations." in cli("organisation", "list").output


def test_deployment_list_and_approve(app, cli):
    from lti_tool.db import get_session
    from lti_tool.services.platforms import find_platform, record_deployment

    cli("platform", "add", *PLATFORM_ARGS, "--deployment", "1", "--organisation", "Kongsberg")
    with app.app_context():  # a deployment first seen in a launch starts pending
        session = get_session()
        platform = find_platform(session, ISSUER, "abc123")
        record_deployment(session, platform, "cloned-42")
        session.commit()

    pending = cli("deployment", "list", "--pending").output.splitlines()
    (line,) = pending
    pk, status, _issuer, _client, deployment_id, _org = line.split("\t")
    assert (status, deployment_id) == ("pending", "cloned-42")
    assert len(cli("deployment", "list").output.splitlines()) == 2

    approved = cli("deployment", "approve", pk)
    assert re.search(r"cloned-42 .* is active", approved.output)
    assert "No deployments." in cli("deployment", "list", "--pending").output
    statuses = [line.split("\t")[1] for line in cli("deployment", "list").output.splitlines()]
    assert statuses == ["active", "active"]


def test_approving_an_unknown_deployment_fails(cli):
    result = cli("deployment", "approve", "999999", ok=False)
    assert result.exit_code != 0
    assert "999999" in result.output


# --- organisations and regions ------------------------------------------------------------


def _regions(output: str) -> dict[str, list[str]]:
    """`region list` as {region: [member, …]}."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in output.splitlines():
        if line.startswith("\t"):
            found[current].append(line.strip())
        elif line and line != "No regions.":
            current = line.split("\t")[1]
            found[current] = []
    return found


def test_organisation_rename(cli):
    cli("organisation", "add", "Kongsberg")
    renamed = cli("organisation", "rename", "Kongsberg", "Kongsberg kommune")
    assert "Kongsberg is now Kongsberg kommune" in renamed.output
    listed = cli("organisation", "list").output
    assert "\tKongsberg kommune\t" in listed
    assert "\tKongsberg\t" not in listed


def test_organisation_rename_refuses_a_taken_name_and_an_unknown_one(cli):
    cli("organisation", "add", "Kongsberg")
    cli("organisation", "add", "Flesberg")

    taken = cli("organisation", "rename", "Kongsberg", "Flesberg", ok=False)
    assert taken.exit_code != 0
    assert "Error:" in taken.output and "already exists" in taken.output
    assert "Traceback" not in taken.output
    unknown = cli("organisation", "rename", "Rollag", "Rollag kommune", ok=False)
    assert unknown.exit_code != 0
    assert "no organisation named 'Rollag'" in unknown.output
    empty = cli("organisation", "rename", "Kongsberg", "  ", ok=False)
    assert empty.exit_code != 0 and "1 to 200 characters" in empty.output

    listed = cli("organisation", "list").output
    assert "\tKongsberg\t" in listed and "\tFlesberg\t" in listed


def test_region_add_rename_and_list(cli):
    assert "No regions." in cli("region", "list").output
    added = cli("region", "add", "Kongsbergregionen")
    assert "Kongsbergregionen" in added.output
    cli("region", "add", "Vestfold")
    assert _regions(cli("region", "list").output) == {"Kongsbergregionen": [], "Vestfold": []}

    renamed = cli("region", "rename", "Vestfold", "Vestfoldregionen")
    assert "Vestfold is now Vestfoldregionen" in renamed.output
    assert list(_regions(cli("region", "list").output)) == ["Kongsbergregionen", "Vestfoldregionen"]


def test_duplicate_regions_are_refused_clearly(cli):
    cli("region", "add", "Kongsbergregionen")
    cli("region", "add", "Vestfold")

    again = cli("region", "add", "Kongsbergregionen", ok=False)
    assert again.exit_code != 0
    assert "Error:" in again.output and "already exists" in again.output
    renamed = cli("region", "rename", "Vestfold", "Kongsbergregionen", ok=False)
    assert renamed.exit_code != 0 and "already exists" in renamed.output
    unknown = cli("region", "rename", "Telemark", "Telemarkregionen", ok=False)
    assert unknown.exit_code != 0 and "no region named 'Telemark'" in unknown.output

    assert list(_regions(cli("region", "list").output)) == ["Kongsbergregionen", "Vestfold"]


def test_organisation_set_region_and_clear_it(cli):
    cli("region", "add", "Kongsbergregionen")
    for name in ("Kongsberg", "Flesberg", "Drammen"):
        cli("organisation", "add", name)

    put = cli("organisation", "set-region", "Kongsberg", "--region", "Kongsbergregionen")
    assert "Kongsberg is in the region Kongsbergregionen." in put.output
    cli("organisation", "set-region", "Flesberg", "--region", "Kongsbergregionen")
    listed = cli("region", "list").output
    assert _regions(listed) == {"Kongsbergregionen": ["Flesberg", "Kongsberg"]}
    assert "2 organisation(s)" in listed

    cleared = cli("organisation", "set-region", "Kongsberg", "--none")
    assert "Kongsberg is in no region." in cleared.output
    assert _regions(cli("region", "list").output) == {"Kongsbergregionen": ["Flesberg"]}


def test_organisation_set_region_needs_exactly_one_choice_and_known_names(cli):
    cli("region", "add", "Kongsbergregionen")
    cli("organisation", "add", "Kongsberg")

    neither = cli("organisation", "set-region", "Kongsberg", ok=False)
    assert neither.exit_code == 2 and "--region REGION or --none" in neither.output
    both = cli(
        "organisation", "set-region", "Kongsberg", "--region", "Kongsbergregionen", "--none",
        ok=False,
    )  # fmt: skip
    assert both.exit_code == 2
    unknown_region = cli("organisation", "set-region", "Kongsberg", "--region", "Nope", ok=False)
    assert unknown_region.exit_code == 1 and "no region named 'Nope'" in unknown_region.output
    unknown = cli("organisation", "set-region", "Nope", "--region", "Kongsbergregionen", ok=False)
    assert unknown.exit_code == 1 and "no organisation named 'Nope'" in unknown.output

    assert _regions(cli("region", "list").output) == {"Kongsbergregionen": []}


def test_the_first_key_waits_for_the_schema(make_app, tmp_path):
    """``keys rotate`` on a database not migrated yet (compose's steps taken out of order):
    said so, and no key file written that a later rotation would add a second to."""
    keys = tmp_path / "keys"
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.db'}", KEYS_DIR=str(keys))
    cli = app.test_cli_runner()

    refused = cli.invoke(args=["keys", "rotate"])
    assert refused.exit_code == 1
    assert "run `laeringslop migrate` first (no key was made)" in refused.output
    assert not list(keys.glob("*.pem"))

    assert cli.invoke(args=["db", "upgrade"]).exit_code == 0
    made = cli.invoke(args=["keys", "rotate"])
    assert made.exit_code == 0, made.output
    assert len(list(keys.glob("*.pem"))) == 1
