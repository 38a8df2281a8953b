"""The catalogues: every string in the source is translated to bokmål, nynorsk and English,
the compiled .mo files match their .po files, and placeholders survive translation.

When a test here fails after you added or changed a user-facing string, refresh and
translate the catalogues, then compile them:

    .venv/bin/pybabel extract -F lti_tool/babel.cfg -k lazy_gettext -k _l \\
        -k lazy_ngettext:1,2 -o lti_tool/translations/messages.pot lti_tool
    .venv/bin/pybabel update -i lti_tool/translations/messages.pot -d lti_tool/translations
    (translate the new entries in nb, nn and en; remove "fuzzy" flags once checked)
    .venv/bin/pybabel compile -d lti_tool/translations
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from lti_tool.settings import LOCALES

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lti_tool"
TRANSLATIONS = PACKAGE / "translations"
BABEL_CFG = PACKAGE / "babel.cfg"

#: The keywords ``pybabel extract -k lazy_gettext -k _l -k lazy_ngettext:1,2`` uses
#: (Babel's defaults and ours).
KEYWORDS: dict[str, Any] = {
    **DEFAULT_KEYWORDS,
    "lazy_gettext": None,
    "_l": None,
    "lazy_ngettext": (1, 2),
}

#: A Python %-format placeholder: %(name)s, %(n)d, %s, %.1f … (not the escape %%).
PLACEHOLDER = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<conv>[a-zA-Z%])"
)

Key = tuple[str, str | None]  # (msgid, msgctxt)


def _key(message_id: str | tuple[str, ...], context: str | None) -> Key:
    singular = message_id[0] if isinstance(message_id, (tuple, list)) else message_id
    return singular, context


def _source_messages() -> dict[Key, tuple[str, ...]]:
    """Every message in the source, found as pybabel extract finds it; value: where."""
    with BABEL_CFG.open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, filename=str(BABEL_CFG))
    found: dict[Key, tuple[str, ...]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(PACKAGE), method_map, options_map, keywords=KEYWORDS
    ):
        key = _key(message, context)
        found[key] = (*found.get(key, ()), f"lti_tool/{filename}:{lineno}")
    return found


def _read_po(locale: str) -> Catalog:
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=locale)


def _entries(catalog: Catalog) -> list[Message]:
    return [m for m in catalog if m.id]


def _forms(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _placeholders(text: str) -> list[tuple[str | None, str]]:
    found = ((m.group("name"), m.group("conv")) for m in PLACEHOLDER.finditer(text))
    return sorted((p for p in found if p[1] != "%"), key=repr)


@pytest.fixture(scope="module")
def source_messages() -> dict[Key, tuple[str, ...]]:
    found = _source_messages()
    assert len(found) > 50, "extraction found almost nothing: is babel.cfg still right?"
    return found


@pytest.fixture(scope="module", params=LOCALES)
def catalog(request: pytest.FixtureRequest) -> Catalog:
    return _read_po(request.param)


# --- (a) everything in the source is translated ------------------------------------------


def test_the_catalogues_cover_every_locale_the_tool_offers():
    for locale in LOCALES:
        assert (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").is_file(), locale
        assert (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo").is_file(), locale


def test_extraction_sees_templates_python_and_lazy_strings(source_messages):
    """Guard the guard: the three ways strings enter the source are all extracted."""
    where = {loc.split(":")[0] for places in source_messages.values() for loc in places}
    assert any(w.endswith(".html") for w in where), "no template strings extracted"
    assert ("Access denied", None) in source_messages  # lazy_gettext in errors.py
    assert ("Skip to content", None) in source_messages  # _() in base.html
    assert ("Deployment %(id)s is approved.", None) in source_messages  # gettext() in a view


def catalogue_problems(catalog: Catalog, source: dict[Key, tuple[str, ...]]) -> list[str]:
    """What keeps a catalogue from shipping: a source string it lacks, and any entry of it
    (in the source or not) that is fuzzy, untranslated or short of plural forms."""
    problems = []
    for key, places in sorted(source.items(), key=repr):
        if catalog.get(*key) is None:
            problems.append(f"missing      {key[0]!r} ({places[0]})")
    for message in _entries(catalog):
        key = _key(message.id, message.context)
        where = source.get(key, ("not in the source",))[0]
        if message.fuzzy:
            problems.append(f"fuzzy        {key[0]!r} ({where})")
        elif not _forms(message.string) or not all(f.strip() for f in _forms(message.string)):
            problems.append(f"untranslated {key[0]!r} ({where})")
        elif message.pluralizable and len(_forms(message.string)) != catalog.num_plurals:
            problems.append(f"plural forms {key[0]!r} ({where})")
    return problems


def test_every_source_string_is_translated(source_messages, catalog):
    problems = catalogue_problems(catalog, source_messages)
    assert not problems, f"{catalog.locale} catalogue is behind the source:\n" + "\n".join(problems)


def test_no_catalogue_entry_is_left_fuzzy(catalog):
    fuzzy = [m.id for m in _entries(catalog) if m.fuzzy]
    assert not fuzzy, f"{catalog.locale}: fuzzy entries: {fuzzy}"


BROKEN_PO = """\
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\\n"

msgid "Translated"
msgstr "Oversatt"

msgid "Untranslated"
msgstr ""

#, fuzzy
msgid "Fuzzy"
msgstr "Uklar"

msgid "One file"
msgid_plural "%(num)d files"
msgstr[0] "Én fil"
msgstr[1] ""

msgid "Not in the source"
msgstr ""
"""


def test_the_check_fails_on_an_untranslated_or_fuzzy_entry(tmp_path):
    """Guard the guard, with a catalogue made here: every kind of unfinished entry is
    named, whether or not the source still has its string, and a finished one is not."""
    path = tmp_path / "messages.po"
    path.write_text(BROKEN_PO, encoding="utf-8")
    with path.open("rb") as f:
        broken = read_po(f, locale="nb")
    source = {
        (text, None): ("lti_tool/x.py:1",)
        for text in ("Translated", "Untranslated", "Fuzzy", "One file", "Missing")
    }
    found = {line.split("(")[0].strip() for line in catalogue_problems(broken, source)}
    assert found == {
        "missing      'Missing'",
        "untranslated 'Untranslated'",
        "fuzzy        'Fuzzy'",
        "untranslated 'One file'",
        "untranslated 'Not in the source'",
    }


def test_english_is_the_source_text():
    for message in _entries(_read_po("en")):
        assert _forms(message.string) and _forms(message.string) == _forms(message.id), message.id


def test_norwegian_is_actually_translated():
    """Not copied from English: most strings must differ from their English source."""
    for locale in ("nb", "nn"):
        entries = _entries(_read_po(locale))
        same = [m.id for m in entries if _forms(m.string) == _forms(m.id)]
        assert len(same) < len(entries) / 5, f"{locale}: left in English: {same}"


# Words that only one of the two written standards uses: nynorsk must not be bokmål with a
# few changes, and bokmål must not carry nynorsk forms.
# ("LMS-et" is the same in both: a word is whatever hyphens and letters join.)
BOKMAL_ONLY = (
    "ikke", "fra", "hva", "hvor", "hvis", "hvordan", "noe", "noen", "ble", "et", "ennå",
    "senere", "siden", "være", "mye", "dem", "deres", "kjører", "hun",
)  # fmt: skip
NYNORSK_ONLY = (
    "ikkje", "frå", "kva", "kvar", "korleis", "noko", "nokon", "vart", "eit", "enno",
    "seinare", "vere", "mykje", "dei", "deira", "køyrer", "ein", "ho",
)  # fmt: skip


@pytest.mark.parametrize(("locale", "foreign"), [("nn", BOKMAL_ONLY), ("nb", NYNORSK_ONLY)])
def test_nynorsk_and_bokmal_stay_apart(locale, foreign):
    pattern = re.compile(r"(?<![\w-])(" + "|".join(foreign) + r")(?![\w-])", re.IGNORECASE)
    wrong = [
        (m.id, hit.group(0))
        for m in _entries(_read_po(locale))
        for form in _forms(m.string)
        for hit in [pattern.search(form)]
        if hit
    ]
    assert not wrong, f"{locale} uses words of the other written standard: {wrong}"


def test_the_nynorsk_catalogue_is_nynorsk():
    text = " ".join(form for m in _entries(_read_po("nn")) for form in _forms(m.string))
    for word in ("ikkje", "eit", "læringsplattforma", "verktøyet", "frå"):
        assert re.search(rf"\b{word}\b", text), word


# --- (b) the compiled catalogues match their sources ---------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_each_mo_file_is_compiled_from_its_po_file(locale):
    directory = TRANSLATIONS / locale / "LC_MESSAGES"
    with (directory / "messages.po").open("rb") as f:
        po = read_po(f, locale=locale)
    with (directory / "messages.mo").open("rb") as f:
        mo = read_mo(f)

    def translated(catalog: Catalog, *, skip_fuzzy: bool) -> dict[Key, tuple[str, ...]]:
        return {
            _key(m.id, m.context): _forms(m.string)
            for m in _entries(catalog)
            if any(_forms(m.string)) and not (skip_fuzzy and m.fuzzy)
        }

    expected = translated(po, skip_fuzzy=True)  # pybabel compile leaves fuzzy entries out
    compiled = translated(mo, skip_fuzzy=False)
    differ = {k for k in set(expected) | set(compiled) if expected.get(k) != compiled.get(k)}
    stale = sorted(k[0] for k in differ)
    assert not stale, (
        f"{locale}/messages.mo is out of date; run `.venv/bin/pybabel compile -d "
        f"lti_tool/translations`. Differs for: {stale}"
    )


# --- (c) placeholders survive translation --------------------------------------------------


def test_placeholder_pattern():
    assert _placeholders("Hei %(name)s, %(n)d av %(total)d, 100%% og %s") == sorted(
        [("name", "s"), ("n", "d"), ("total", "d"), (None, "s")], key=repr
    )


def test_placeholders_match_the_source(catalog):
    problems = []
    for message in _entries(catalog):
        ids = _forms(message.id)
        strings = _forms(message.string)
        for index, text in enumerate(strings):
            # Plural form 0 answers msgid, the others msgid_plural.
            source = ids[0] if index == 0 or len(ids) == 1 else ids[1]
            if text and _placeholders(text) != _placeholders(source):
                problems.append(
                    f"{ids[0]!r}: msgstr[{index}] has {_placeholders(text)}, "
                    f"the source {_placeholders(source)}"
                )
    assert not problems, f"{catalog.locale}: placeholders differ:\n" + "\n".join(problems)


def test_translations_format_with_the_source_arguments(catalog):
    """The same keyword arguments that format the English text format the translation."""
    for message in _entries(catalog):
        names = {n for n, _ in _placeholders(_forms(message.id)[0]) if n}
        if not names or not message.python_format:
            continue
        args = {n: 1 for n in names}
        for text in _forms(message.string):
            text % args  # raises KeyError/ValueError/TypeError when broken


TEMPLATE_STRINGS = (
    '{{ _("Skip to content") }}|{{ _("Page %(number)d of %(pages)d", number=2, pages=3) }}|'
    '{{ _("%(name)s", name="<b>") }}|{{ ngettext("Every month", "Every %(num)d months", 3) }}|'
    '{% trans who="<i>" %}<strong>Hello</strong> {{ who }}{% endtrans %}'
)


@pytest.mark.parametrize("lang", LOCALES)
def test_templates_translate_as_jinjas_own_gettext_does(make_app, lang):
    """The tool's one-call ``_``/``gettext``/``ngettext`` (``i18n._page_gettext``) give what
    Jinja's i18n extension gives: the translation, variables escaped, always formatted."""
    from flask import render_template_string
    from jinja2 import Environment

    from lti_tool.i18n import request_translations

    app = make_app()
    with app.test_request_context(f"/?lang={lang}"):
        ours = render_template_string(TEMPLATE_STRINGS)
        jinjas = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
        translations = request_translations()
        jinjas.install_gettext_callables(  # type: ignore[attr-defined]
            translations.ugettext, translations.ungettext, newstyle=True
        )
        expected = jinjas.from_string(TEMPLATE_STRINGS).render()
    assert ours == expected
    assert "&lt;b&gt;" in ours and "<strong>Hello</strong> &lt;i&gt;" in ours
    if lang != "en":
        assert "Skip to content" not in ours  # translated
