"""LTI roles → the tool's permissions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lti_tool.lti.roles import Permission, highest, parse_role, permissions_for

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
L, D, M, A = Permission.LEARNER, Permission.DESIGNER, Permission.MANAGER, Permission.ADMIN

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
MOODLE = SHARED / "lms-samples" / "moodle-5.2"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        # full URIs of context (membership) roles
        ([LIS + "membership#Learner"], {L}),
        ([LIS + "membership#Instructor"], {L, D}),
        ([LIS + "membership#ContentDeveloper"], {L, D}),
        ([LIS + "membership#Mentor"], {L, M}),
        ([LIS + "membership#Manager"], {L, M}),
        # short names (LTI 1.3 allows them for context roles; NRPS sends them)
        (["Learner"], {L}),
        (["Instructor"], {L, D}),
        (["ContentDeveloper"], {L, D}),
        (["Mentor"], {L, M}),
        (["Manager"], {L, M}),
        # sub-roles: the principal role before the #, the sub-role after it
        ([LIS + "membership/Instructor#TeachingAssistant"], {L, D}),
        ([LIS + "membership/Learner#Learner"], {L}),
        ([LIS + "membership/Manager#AreaManager"], {L, M}),
        # institution and system administrators are the tool's administrators
        ([LIS + "institution/person#Administrator"], {L, A}),
        ([LIS + "system/person#Administrator"], {L, A}),
        ([LIS + "system/person#SysAdmin"], {L, A}),
        # a course (context) administrator is not the tool's administrator
        ([LIS + "membership#Administrator"], {L, D}),
        # LTI 1.1 URNs some platforms still send
        (["urn:lti:role:ims/lis/Instructor"], {L, D}),
        (["urn:lti:instrole:ims/lis/Administrator"], {L, A}),
        (["urn:lti:instrole:ims/lis/Student"], {L}),
        # everyone launched is at least a learner, even with no or unknown roles
        ([], {L}),
        (["http://example.com/roles#Wizard"], {L}),
        ([LIS + "membership#Member"], {L}),
    ],
)
def test_permissions_for(roles, expected):
    assert permissions_for(roles) == frozenset(expected)


@pytest.mark.parametrize(
    "role",
    [
        # Canvas gives every user these institution/system roles, teachers included:
        # they must not make anyone a designer, manager or admin.
        LIS + "institution/person#Student",
        LIS + "institution/person#Instructor",
        LIS + "system/person#User",
        # institution roles named like context roles grant nothing either
        LIS + "institution/person#Mentor",
        LIS + "institution/person#Faculty",
        LIS + "institution/person#Staff",
    ],
)
def test_institution_and_system_roles_other_than_administrator_grant_nothing(role):
    assert permissions_for([role]) == frozenset({L})


def test_canvas_teacher_is_a_designer_through_the_context_role_only():
    canvas_teacher = [
        LIS + "institution/person#Instructor",
        LIS + "institution/person#Student",
        LIS + "membership#Instructor",
        LIS + "system/person#User",
    ]
    assert permissions_for(canvas_teacher) == frozenset({L, D})
    canvas_student = [
        LIS + "institution/person#Student",
        LIS + "membership#Learner",
        LIS + "system/person#User",
    ]
    assert permissions_for(canvas_student) == frozenset({L})


def test_parse_role_forms():
    assert parse_role(LIS + "membership#Instructor").scope == "membership"
    assert parse_role(LIS + "membership#Instructor").name == "Instructor"
    sub = parse_role(LIS + "membership/Instructor#TeachingAssistant")
    assert (sub.scope, sub.name, sub.sub_role) == ("membership", "Instructor", "TeachingAssistant")
    inst = parse_role(LIS + "institution/person#Administrator")
    assert (inst.scope, inst.name) == ("institution", "Administrator")
    assert parse_role(" Instructor ").name == "Instructor"
    assert parse_role("Instructor").scope == "membership"


@pytest.mark.parametrize(
    ("held", "top"),
    [
        ({L}, L),
        ({L, D}, D),
        ({L, M}, M),
        ({L, D, M}, M),
        ({L, D, A}, A),
        ({"learner", "admin"}, A),
        (set(), L),
    ],
)
def test_highest_permission_picks_the_landing_page(held, top):
    assert highest(held) == top


@pytest.mark.skipif(
    not MOODLE.is_dir(),
    reason=f"the shared Moodle 5.2 samples are not checked out next to the repo ({MOODLE})",
)
@pytest.mark.parametrize(
    ("sample", "expected_top", "expected"),
    [
        ("launch-learner.json", L, {L}),
        ("launch-teacher.json", D, {L, D}),
        ("launch-site-admin.json", A, {L, D, A}),
    ],
)
def test_real_moodle_launches(sample, expected_top, expected):
    claims = json.loads((MOODLE / sample).read_text())["claims"]
    roles = claims["https://purl.imsglobal.org/spec/lti/claim/roles"]
    assert roles, f"{sample} has no roles"
    granted = permissions_for(roles)
    assert granted == frozenset(expected)
    assert highest(granted) == expected_top


def test_the_platform_chooses_the_designer_roles():
    teacher = [LIS + "membership#Instructor"]
    assistant = [LIS + "membership/Instructor#TeachingAssistant"]
    developer = [LIS + "membership#ContentDeveloper"]
    only_developers = ("ContentDeveloper",)
    assert permissions_for(teacher, only_developers) == frozenset({L})
    assert permissions_for(assistant, only_developers) == frozenset({L})
    # a sub-role is matched alone: an assistant is no designer where only Instructor is ticked
    assert permissions_for(assistant, ("Instructor",)) == frozenset({L})
    assert permissions_for(assistant, ("TeachingAssistant",)) == frozenset({L, D})
    assert permissions_for(developer, only_developers) == frozenset({L, D})
    assert permissions_for(developer, ()) == frozenset({L})
    # a Moodle site admin stays admin whatever the designer roles
    admin = [LIS + "institution/person#Administrator", LIS + "membership#Instructor"]
    assert permissions_for(admin, ()) == frozenset({L, A})
    # Mentor and Manager stay managers, and may count as designers too
    assert permissions_for([LIS + "membership#Mentor"], ("Mentor",)) == frozenset({L, D, M})


def test_a_coordinator_lands_below_a_designer():
    assert highest([L, Permission.COORDINATOR]) == Permission.COORDINATOR
    assert highest([Permission.COORDINATOR, D]) == D
