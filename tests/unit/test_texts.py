"""Texts in three languages: the reader's own, else the next in the fallback order that
the designers' forms show (``FALLBACK``)."""

from __future__ import annotations

import pytest

from lti_tool.domain.texts import FALLBACK, LANGUAGES, localized, localized_json


def test_every_language_falls_back_through_all_the_others_its_own_first():
    for language in LANGUAGES:
        assert FALLBACK[language][0] == language
        assert sorted(FALLBACK[language]) == sorted(LANGUAGES)


@pytest.mark.parametrize(
    ("text", "locale", "shown"),
    [
        ({"nb": "bokmål", "nn": "nynorsk", "en": "English"}, "nn", "nynorsk"),
        ({"nn": "nynorsk", "en": "English"}, "nb", "nynorsk"),  # the other standard first
        ({"nb": "bokmål", "en": "English"}, "nn", "bokmål"),
        ({"en": "English"}, "nb", "English"),
        ({"nn": "nynorsk", "nb": "bokmål"}, "en", "bokmål"),
        ({"nn": "nynorsk"}, "en", "nynorsk"),
        ({"nb": "", "nn": "nynorsk"}, "nb", "nynorsk"),  # an empty text is no text
        ({"nb": "bokmål"}, "se", "bokmål"),  # a language the tool lacks: the tool's order
        ({}, "nb", ""),
        (None, "nb", ""),
    ],
)
def test_a_reader_gets_the_nearest_language_the_text_has(text, locale, shown):
    assert localized(text, locale) == shown


@pytest.mark.parametrize(
    ("text", "locale", "shown"),
    [
        ('{"nb": "bokmål", "nn": "nynorsk"}', "nn", "nynorsk"),
        ('{"nb": "bokmål", "nn": "nynorsk"}', "en", "bokmål"),
        ('{"en": "English"}', "nb", "English"),
        ("{}", "nb", ""),
        ("null", "nb", ""),
        (None, "nb", ""),
        ("", "nb", ""),
    ],
)
def test_a_text_stored_as_json_is_read_as_the_text_itself(text, locale, shown):
    """The same answer from a column read as JSON text, asked twice (the second from the
    process's cache)."""
    assert localized_json(text, locale) == shown
    assert localized_json(text, locale) == shown
