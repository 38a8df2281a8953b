"""The plain parts of score delivery: the score document, backoff, ordering keys, settings."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from lti_tool.services.score_delivery import (
    iso_timestamp,
    ordering_key,
    retry_delay,
    score_document,
)
from lti_tool.settings import SettingsError, load_settings

WHEN = dt.datetime(2026, 11, 22, 11, 35, 46, 41999, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def test_timestamps_are_utc_with_milliseconds_like_moodles():
    assert iso_timestamp(WHEN) == "2026-11-22T10:35:46.041+00:00"
    with pytest.raises(ValueError, match="naive"):
        iso_timestamp(dt.datetime(2026, 1, 1))


def test_score_document_is_ags_2():
    assert score_document(
        user_id="4", score_given=85, score_maximum=100, comment="Bestått", timestamp=WHEN
    ) == {
        "userId": "4",
        "scoreGiven": 85,
        "scoreMaximum": 100,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": "2026-11-22T10:35:46.041+00:00",
        "comment": "Bestått",
    }


def test_canvas_submission_time_defaults_to_the_timestamp():
    document = score_document(
        user_id="u", score_given=1, score_maximum=2, comment=None, timestamp=WHEN, canvas=True
    )
    assert document["https://canvas.instructure.com/lti/submission"] == {
        "submittedAt": "2026-11-22T10:35:46.041+00:00"
    }
    assert "comment" not in document


@pytest.mark.parametrize(
    ("given", "maximum"),
    [(-1, 10), (1, 0), (float("nan"), 10), (1, float("inf")), (True, 10), ("5", 10)],
)
def test_impossible_scores_are_refused(given, maximum):
    with pytest.raises(ValueError):
        score_document(
            user_id="u", score_given=given, score_maximum=maximum, comment=None, timestamp=WHEN
        )


def test_more_than_the_maximum_is_allowed_as_extra_credit():
    document = score_document(
        user_id="u", score_given=11, score_maximum=10, comment=None, timestamp=WHEN
    )
    assert document["scoreGiven"] == 11


def test_retry_delay_is_full_jitter_under_an_exponential_ceiling():
    rng = random.Random(7)
    for tries, ceiling in [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (30, 3600)]:
        delays = [retry_delay(tries, 30, 3600, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # spread over the whole range, not fixed
        assert min(delays) < ceiling * 0.2


def test_ordering_key_is_per_platform_line_item_and_user():
    key = ordering_key(1, "https://m.example/lineitems/2/lineitem?type_id=1", "4")
    assert len(key) == 64
    assert key == ordering_key(1, "https://m.example/lineitems/2/lineitem?type_id=1", "4")
    assert key != ordering_key(2, "https://m.example/lineitems/2/lineitem?type_id=1", "4")
    assert key != ordering_key(1, "https://m.example/lineitems/3/lineitem?type_id=1", "4")
    assert key != ordering_key(1, "https://m.example/lineitems/2/lineitem?type_id=1", "5")


def test_delivery_settings_have_defaults():
    settings = load_settings(environ={})
    assert settings.SCORE_RETRY_BASE_SECONDS == 30
    assert settings.SCORE_RETRY_MAX_SECONDS == 3600
    assert settings.SCORE_RETRY_FOR_HOURS == 72
    assert settings.SCORE_WORKER_POLL_SECONDS == 5
    assert settings.SCORE_LEASE_SECONDS == 300


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SCORE_RETRY_BASE_SECONDS": "0"}, "SCORE_RETRY_BASE_SECONDS must be at least 1"),
        ({"SCORE_RETRY_FOR_HOURS": "0"}, "SCORE_RETRY_FOR_HOURS must be at least 1"),
        ({"SCORE_WORKER_POLL_SECONDS": "0"}, "SCORE_WORKER_POLL_SECONDS must be at least 1"),
        (
            {"SCORE_RETRY_BASE_SECONDS": "60", "SCORE_RETRY_MAX_SECONDS": "30"},
            "SCORE_RETRY_MAX_SECONDS must not be less",
        ),
        ({"SCORE_LEASE_SECONDS": "30"}, "SCORE_LEASE_SECONDS must be at least 6"),
    ],
)
def test_delivery_settings_are_validated(environ, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(environ=environ)
