"""What a designer places in an LMS course by Deep Linking: mappings (each with its own
gradebook column), "the mapping of my job role", certifications, e-learning activities of
the catalogue (a link that opens the activity in the tool, with a gradebook column the
worker reads the person's result from: ``services.result_reads``), or the
tool's start page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping as MappingType
from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from lti_tool.domain.texts import localized
from lti_tool.errors import NotFound, PlacementInvalid
from lti_tool.lti.deep_linking import DeepLinkingSettings, resource_link
from lti_tool.models import CertificationStatus, Course, CourseKind, Mapping, MappingStatus
from lti_tool.schemas.checks import id_value
from lti_tool.services import assignments, catalogue, certificates, certifications, mappings
from lti_tool.services.launches import ACTIVITY_PARAM, CERTIFICATION_PARAM, MAPPING_PARAM

#: The value that means "the published mapping of the person's job role".
MY_ROLE = "@job-role"
#: Scores are sent as percentages: every column the tool creates is out of 100.
SCORE_MAXIMUM = 100
LINE_ITEM_TAG = "laeringslop-mapping"

HOME = "home"
MAPPING = "mapping:"
CERTIFICATION = "certification:"
ACTIVITY = "activity:"
ROLE = "role"
ACTIVITY_TAG = "laeringslop-activity"


def placed_mapping(
    session: Session, organisation_id: int, person_id: int, placed: str, *, whole: bool = True
) -> Mapping | None:
    """The mapping a placed link names (its ``mapping`` custom parameter): the one of that
    code, or (``MY_ROLE``) the published mapping of the person's job roles; None when there
    is none. ``whole``: with its competences and items (its pages), else its row alone."""
    if placed == MY_ROLE:
        roles = assignments.placement_of(session, organisation_id, person_id).roles
        job_role_ids = [a.job_role_id for a in roles]
        return mappings.mapping_for_job_roles(session, organisation_id, job_role_ids, whole=whole)
    return mappings.mapping_of_code(session, organisation_id, placed, whole=whole)


def line_item_for(placed_as: str, label: str) -> dict[str, Any]:
    """The gradebook column of a placed mapping; deep linking and find-or-create agree on
    its resourceId, so a column made either way is found again."""
    return {
        "scoreMaximum": SCORE_MAXIMUM,
        "label": label,
        "resourceId": f"mapping:{placed_as}",
        "tag": LINE_ITEM_TAG,
    }


def label_of(mapping: Mapping, locale: str) -> str:
    return localized(mapping.title, locale) or mapping.code


def content_items(
    session: Session,
    organisation_id: int,
    chosen: Sequence[str],
    settings: DeepLinkingSettings,
    launch_url: str,
    locale: str,
    *,
    context: MappingType[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The deep-linking content items for the designer's choice (empty = cancelled). An
    e-learning activity placed is noted with the LMS course (``context``: the request's
    context claim) it was placed in."""
    if not chosen:
        return []
    if not settings.accepts_links:
        raise PlacementInvalid(
            "platform does not accept ltiResourceLink",
            reason=_l("The LMS does not accept links to tools here."),
        )
    if len(chosen) > 1 and not settings.accept_multiple:
        raise PlacementInvalid(
            "several items, one accepted",
            reason=_l("The LMS takes one item at a time here: choose one."),
        )
    items = []
    for choice in dict.fromkeys(chosen):
        if choice == HOME:
            items.append(resource_link(launch_url, "Læringsløp"))
            continue
        if choice.startswith(CERTIFICATION):
            certification = _published_certification(session, organisation_id, choice)
            title = localized(certification.title, locale) or certification.code
            items.append(
                resource_link(
                    launch_url,
                    title,
                    custom={CERTIFICATION_PARAM: certification.code},
                    line_item=certificates.line_item_for(certification.code, title)
                    if settings.accept_lineitem
                    else None,
                )
            )
            continue
        if choice.startswith(ACTIVITY):
            course = _elearning(session, organisation_id, choice)
            title = localized(course.title, locale) or course.code
            items.append(
                resource_link(
                    launch_url,
                    title,
                    custom={ACTIVITY_PARAM: course.code},
                    line_item={
                        "scoreMaximum": SCORE_MAXIMUM,
                        "label": title,
                        "resourceId": f"activity:{course.code}",
                        "tag": ACTIVITY_TAG,
                    }
                    if settings.accept_lineitem
                    else None,
                )
            )
            if context:
                course.placed_context_id = str(context.get("id") or "")[:255] or None
                course.placed_context_title = str(context.get("title") or "")[:500] or None
                course.placed_at = now
            continue
        if choice == ROLE:
            placed_as, title = MY_ROLE, str(_l("Skills mapping for my job role"))
        else:
            mapping = _published(session, organisation_id, choice)
            placed_as, title = mapping.code, label_of(mapping, locale)
        items.append(
            resource_link(
                launch_url,
                title,
                custom={MAPPING_PARAM: placed_as},
                line_item=line_item_for(placed_as, title) if settings.accept_lineitem else None,
            )
        )
    return items


def _chosen_id(choice: str, prefix: str) -> int:
    """The id after ``prefix`` in the designer's choice; ValueError for anything no id
    column holds (SQLite raised OverflowError past 64 bits: a 500)."""
    return id_value(choice.removeprefix(prefix))


def _published(session: Session, organisation_id: int, choice: str) -> Mapping:
    try:
        mapping = mappings.get_mapping(session, organisation_id, _chosen_id(choice, MAPPING))
    except (ValueError, NotFound):
        mapping = None
    if mapping is None or mapping.status != MappingStatus.PUBLISHED:
        raise PlacementInvalid(
            f"no published mapping {choice!r}",
            reason=_l("Choose among the published mappings shown."),
        )
    return mapping


def _elearning(session: Session, organisation_id: int, choice: str) -> Course:
    try:
        found = catalogue.get_activity(session, organisation_id, _chosen_id(choice, ACTIVITY))
    except (ValueError, NotFound):
        found = None
    if found is None or found.archived or found.kind != CourseKind.ELEARNING:
        raise PlacementInvalid(
            f"no e-learning activity {choice!r}",
            reason=_l("Choose among the e-learning activities shown."),
        )
    return found


def elearning_activities(session: Session, organisation_id: int) -> Sequence[Course]:
    """The e-learning activities a designer can place (not archived), by code."""
    return catalogue.list_catalogue(session, organisation_id, kind=CourseKind.ELEARNING)


def _published_certification(session: Session, organisation_id: int, choice: str) -> Any:
    try:
        found = certifications.get_certification(
            session, organisation_id, _chosen_id(choice, CERTIFICATION)
        )
    except (ValueError, NotFound):
        found = None
    if found is None or found.status != CertificationStatus.PUBLISHED:
        raise PlacementInvalid(
            f"no published certification {choice!r}",
            reason=_l("Choose among the published certifications shown."),
        )
    return found
