"""Texts in the three languages: stored as {"nb": …, "nn": …, "en": …}."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping

LANGUAGES = ("nb", "nn", "en")
#: The languages a course can be given in (ISO 639-1; their names come from Babel's CLDR
#: data in the reader's language): the tool's three, Northern Sami, the neighbours' and
#: the languages of the largest groups of employees born abroad.
ACTIVITY_LANGUAGES = ("nb", "nn", "en", "se", "sv", "da", "pl", "lt", "uk", "ar", "so")
#: The longest title (or label) and description, in any language: forms, the API, imports.
MAX_TITLE_LENGTH = 500
MAX_DESCRIPTION_LENGTH = 5000
#: When a text lacks the asked language: bokmål and nynorsk stand in for each other first.
FALLBACK = {"nb": ("nb", "nn", "en"), "nn": ("nn", "nb", "en"), "en": ("en", "nb", "nn")}


def localized(text: Mapping[str, str] | None, locale: str) -> str:
    """The text in ``locale``, else the nearest language that has it, else ''."""
    if not text:
        return ""
    for language in FALLBACK.get(str(locale), LANGUAGES):
        value = text.get(language)
        if value:
            return value
    return ""


@functools.lru_cache(maxsize=8192)
def localized_json(text: str | None, locale: str) -> str:
    """``localized`` of a text stored as JSON and read as text (``cast(…, Text)``): decoded
    once for each text and language in a process, not on every page that shows it (a
    person's 300 requirements were 300 decodings a request). A text changed is another."""
    return localized(json.loads(text), locale) if text else ""


def clean_text(text: Mapping[str, str] | None) -> dict[str, str]:
    """Keep the known languages with a non-empty value, trimmed."""
    if not text:
        return {}
    return {k: v.strip() for k, v in text.items() if k in LANGUAGES and v and v.strip()}
