"""Languages: bokmål by default, nynorsk and English; the launch decides.

Order: an explicit ``?lang=`` choice (kept in the session for the pages after it, until
the next launch), the locale the LMS sent at launch (kept in the session, or found
through the launch token without cookies), the browser's Accept-Language, then bokmål.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

from babel.numbers import parse_pattern
from babel.support import NullTranslations
from flask import Flask, current_app, g, request, session
from flask_babel import (
    Babel,
    format_date,
    format_datetime,
    format_decimal,
    format_time,
    format_timedelta,
    get_locale,
    get_timezone,
    get_translations,
    to_user_timezone,
)
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from lti_tool.domain.calendar import TIME_ZONE
from lti_tool.domain.texts import FALLBACK
from lti_tool.lti.claims import normalise_locale
from lti_tool.settings import LOCALES

LANGUAGE_NAMES = {"nb": "Norsk bokmål", "nn": "Norsk nynorsk", "en": "English"}


def select_locale() -> str:
    chosen = normalise_locale(request.args.get("lang"))
    if chosen:
        if session.get("launch_id") and session.get("locale") != chosen:
            # the pages after it keep the choice, until the next launch says the LMS's
            session["locale"] = chosen
        return chosen
    from_launch = normalise_locale(g.get("launch_locale") or session.get("locale"))
    if from_launch:
        return from_launch
    if not session.get("launch_id"):  # cookie-less: the launch token names the launch
        from lti_tool.auth import current_launch

        launch = current_launch()
        if launch is not None and normalise_locale(launch.person.locale):
            return str(normalise_locale(launch.person.locale))
    best = request.accept_languages.best_match(["nb", "no", "nn", "en"])
    return normalise_locale(best) or current_app.config["BABEL_DEFAULT_LOCALE"]


def medium_dates() -> Callable[[dt.datetime], str]:
    """``format_date(moment, "medium")`` for the request's reader, each day formatted once:
    for pages showing hundreds of dates (a matrix page), where Babel's formatting and its
    lookups of locale and timezone per date would be much of the page's time."""
    timezone = get_timezone()

    @functools.cache
    def of_day(day: dt.date) -> str:
        return str(format_date(day, "medium"))

    def formatted(moment: dt.datetime) -> str:
        if moment.tzinfo is None:  # stored in UTC (as ``to_user_timezone`` assumes)
            moment = moment.replace(tzinfo=dt.UTC)
        return of_day(moment.astimezone(timezone).date())

    return formatted


def zone_name() -> str:
    """The time zone times are shown in, as exports name it: Europe/Oslo."""
    return str(get_timezone())


def local_time(moment: dt.datetime, format: str = "short") -> str:
    """A moment (stored in UTC) in the reader's locale and time zone, the zone named:
    "05.12.2026, 16:03 (Europe/Oslo)", for a file read away from the page."""
    return f"{format_datetime(moment, format)} ({zone_name()})"


def local_date(moment: dt.datetime) -> dt.date:
    """The day a moment (stored in UTC) falls on in the time zone times are shown in."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    day: dt.date = to_user_timezone(moment).date()
    return day


def format_percentage(value: float | None, digits: int = 1) -> str:
    """A per cent figure (27.3 for 27.3 %) as the reader's locale writes a percentage,
    with ``digits`` decimals: "27,3 %" in Norwegian, "27.3%" in English; "–" for none."""
    if value is None:
        return "–"
    locale = get_locale()
    pattern = parse_pattern(locale.percent_formats[None].pattern)
    pattern.frac_prec = (digits, digits)
    return str(pattern.apply(value / 100, locale))


def format_span(starts: dt.datetime, ends: dt.datetime) -> str:
    """When a session is held, in the reader's time zone: the end's hour only when it
    ends the day it starts, else its day too (a session over two days)."""
    same_day = to_user_timezone(starts).date() == to_user_timezone(ends).date()
    end = format_datetime(ends, "HH:mm" if same_day else "EEE d MMM y HH:mm")
    return f"{format_datetime(starts, 'EEE d MMM y HH:mm')} – {end}"


def request_translations() -> NullTranslations:
    """The request's translations, as Flask-Babel's ``get_translations`` finds them, kept
    beside the locale they are for: a page's dozens of ``{{ _(…) }}`` then cost one
    lookup each, not Flask-Babel's context, domain and locale lookups (and the locale's
    name made again) per string. Flask-Babel's ``refresh`` and ``force_locale`` change
    the locale object, so a new one finds its own translations."""
    try:
        context = g._flask_babel
        locale = context.babel_locale
        cached_locale, translations = context.translations_of_locale
    except (AttributeError, RuntimeError):  # not looked up yet, or outside an app context
        translations = get_translations()
        context = getattr(g, "_flask_babel", None) if g else None
        if context is not None and getattr(context, "babel_locale", None) is not None:
            context.translations_of_locale = (context.babel_locale, translations)
        return translations
    if cached_locale is not locale:
        translations = get_translations()
        context.translations_of_locale = (locale, translations)
    return translations


@pass_context
def _page_gettext(__context: Context, __string: str, **variables: Any) -> str:
    """Jinja's newstyle ``gettext``, and ``_``, in one call. The i18n extension's own pass
    each of a page's dozens of strings through two more ``Context.call`` (``_`` calls
    ``gettext``, which calls the callable installed): a tenth of a simple page's CPU.
    The same result: the translation, Markup under autoescape, always %-formatted."""
    text = request_translations().ugettext(__string)
    if __context.eval_ctx.autoescape:
        text = Markup(text)  # noqa: S704 - the catalogue's own text, as Jinja marks it
    return text % variables  # type: ignore[no-any-return]


@pass_context
def _page_ngettext(
    __context: Context, __singular: str, __plural: str, __num: int, **variables: Any
) -> str:
    """Jinja's newstyle ``ngettext`` in one call (see ``_page_gettext``)."""
    variables.setdefault("num", __num)
    text = request_translations().ungettext(__singular, __plural, __num)
    if __context.eval_ctx.autoescape:
        text = Markup(text)  # noqa: S704 - the catalogue's own text, as Jinja marks it
    return text % variables  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    # Dates and times are shown in Norwegian time; they are stored in UTC.
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", TIME_ZONE)
    Babel(app, locale_selector=select_locale)
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: request_translations().ugettext(s),
        ngettext=lambda s, p, n: request_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: request_translations().unpgettext(c, s, p, n),
    )
    app.jinja_env.globals.update(_=_page_gettext, gettext=_page_gettext, ngettext=_page_ngettext)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["format_datetime"] = format_datetime
    app.jinja_env.globals["format_time"] = format_time
    app.jinja_env.globals["format_timedelta"] = format_timedelta
    app.jinja_env.globals["format_date"] = format_date
    app.jinja_env.globals["format_decimal"] = format_decimal
    app.jinja_env.globals["format_percentage"] = format_percentage
    app.jinja_env.globals["format_span"] = format_span
    app.jinja_env.globals["local_time"] = local_time
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["LOCALES"] = LOCALES
    app.jinja_env.globals["TEXT_FALLBACK"] = FALLBACK
