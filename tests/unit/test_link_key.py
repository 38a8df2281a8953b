"""A launch's link key (``services.launches.link_key``): what makes two records one link."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from lti_tool.lti import claims as c
from lti_tool.services.launches import link_key

MIGRATIONS = Path(__file__).resolve().parents[2] / "lti_tool" / "migrations" / "versions"

PLACED = {c.CUSTOM: {"mapping": "M1"}}


def test_a_record_with_the_whole_custom_object_is_of_the_trimmed_records_link() -> None:
    """Records older than the trimming kept the id_token's whole custom object."""
    whole = {c.CUSTOM: {"job_role": "NURSE", "mapping": "M1", "unit": "U1"}}
    assert link_key(1, 2, "kurs-1", whole) == link_key(1, 2, "kurs-1", PLACED)


def test_what_the_link_places_the_course_the_deployment_and_the_person_each_count() -> None:
    key = link_key(1, 2, "kurs-1", PLACED)
    others = {
        link_key(1, 2, "kurs-1", {}),
        link_key(1, 2, "kurs-1", {c.CUSTOM: {"mapping": "M2"}}),
        link_key(1, 2, "kurs-2", PLACED),
        link_key(1, 2, None, PLACED),
        link_key(1, 2, "", PLACED),
        link_key(1, 3, "kurs-1", PLACED),
        link_key(9, 2, "kurs-1", PLACED),
    }
    assert key not in others and len(others) == 7
    assert len(key) == 32


def test_no_custom_and_an_empty_one_are_one_link() -> None:
    assert link_key(1, 2, "k", {}) == link_key(1, 2, "k", {c.CUSTOM: {}})
    assert link_key(1, 2, "k", {}) == link_key(1, 2, "k", {c.CUSTOM: None})


def _migration_link_key() -> Any:
    """The copy the link-key migration keeps (a migration never imports the application)."""
    path = next(MIGRATIONS.glob("*_5e1c7a9d3b20_launch_link_key.py"))
    spec = importlib.util.spec_from_file_location("link_key_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.link_key


@pytest.mark.parametrize(
    ("person", "deployment", "context", "claims"),
    [
        (1, 2, "kurs-1", PLACED),
        (1, 2, "kurs-1", {c.CUSTOM: {"job_role": "NURSE", "mapping": "M1", "unit": "U1"}}),
        (1, 2, "kurs-1", {c.CUSTOM: {"certification": "C", "activity": "A", "mapping": "M"}}),
        (1, 2, None, {}),
        (3, 4, "", {c.CUSTOM: None}),
        (5, 6, "kurs-æøå", {c.CUSTOM: {"mapping": "Kartlegging æøå"}}),
    ],
)
def test_the_migrations_copy_keys_as_the_application_does(
    person: int, deployment: int, context: str | None, claims: dict[str, Any]
) -> None:
    assert _migration_link_key()(person, deployment, context, claims) == link_key(
        person, deployment, context, claims
    )
