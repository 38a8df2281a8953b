"""A launch's link key (``services.launches.link_key``): what makes two records one link."""

from __future__ import annotations

from lti_tool.lti import claims as c
from lti_tool.services.launches import link_key

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
