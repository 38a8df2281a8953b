"""The tool's settings: one typed list, read from the environment, validated at start.

Every setting has an embedded default so that a fresh machine runs the tool with nothing
else installed (SQLite under the instance folder, an in-process cache). A settings file
(TOML, path in ``LTI_TOOL_SETTINGS``) may set the same names; the environment wins.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lti_tool.lti.allowed_hosts import AllowedHosts, parse_allowed_hosts

_CHECKOUT = Path(__file__).resolve().parent.parent
#: Where instance/ and keys/ are by default: the repository root when the tool runs from a
#: checkout; for an installed package (the wheel, the Docker image) the working directory,
#: never site-packages. Production sets INSTANCE_PATH and KEYS_DIR anyway.
PROJECT_ROOT = _CHECKOUT if (_CHECKOUT / "pyproject.toml").is_file() else Path.cwd()

#: The admin console counts a deployment's launches over this many days. A count over every
#: launch would grow without end (a municipality's LMS makes millions in a few years) and
#: each admin page would pay for it; a window's count reads only its part of the index.
LAUNCH_COUNT_DAYS = 30
#: Launch records are kept at least as long as the admin console counts them, and a day
#: more; at most a century (a longer time is past any date the database can compute).
MIN_LAUNCH_RECORD_DAYS = LAUNCH_COUNT_DAYS + 1
MAX_LAUNCH_RECORD_DAYS = 36_500

#: The longest statement timeout a setting may give: a day (PostgreSQL's own limit is
#: about 24.8 days, as milliseconds in a 32-bit integer).
MAX_STATEMENT_TIMEOUT_SECONDS = 86_400

#: The secret used when none is configured. Refused in production.
DEVELOPMENT_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"  # noqa: S105

ENVIRONMENTS = ("development", "test", "production")
#: Settings that have a new name: given by the old one, the start is refused with the new.
RENAMED = {
    "CERTIFICATE_WARNING_DAYS": "each organisation's expiring window (the admin console's "
    "organisation page)"
}
LOCALES = ("nb", "nn", "en")


class SettingsError(RuntimeError):
    """The configuration cannot work; the message says what to change."""


#: The exit status of a process that settings which cannot work stop before it starts
#: (sysexits' EX_CONFIG): a script, a supervisor or an operator tells it from a crash.
EXIT_BAD_SETTINGS = 78


@dataclasses.dataclass(frozen=True)
class Settings:
    APP_ENV: str = "development"
    """development (demo LMS on), test, or production (demo off, strict checks)."""
    SECRET_KEY: str = DEVELOPMENT_SECRET_KEY
    SECRET_KEY_FALLBACKS: tuple[str, ...] = ()
    """Other SECRET_KEYs (comma-separated), accepted but never signed with: the one a new
    key replaced, so a routine change signs no one out (remove it once ``SESSION_HOURS``
    have passed; never after a leak); on several hosts, first the new one, until every
    host has it."""
    BASE_URL: str = "http://localhost:5000"
    """The public URL the platforms reach the tool at; https in production."""
    DATABASE_URL: str = ""
    """Empty means SQLite in the instance folder."""
    REDIS_URL: str = ""
    """Empty means OIDC state and nonces live in the database and caches in process."""
    INSTANCE_PATH: str = str(PROJECT_ROOT / "instance")
    KEYS_DIR: str = str(PROJECT_ROOT / "keys")
    KEY_GRACE_DAYS: int = 7
    """How long a rotated-out key stays published in the JWKS."""
    LTI_LEEWAY_SECONDS: int = 30
    """Clock drift accepted on exp/iat of the platforms' id_tokens."""
    LTI_STATE_TTL_SECONDS: int = 600
    """How long a login may take between initiation and launch."""
    LTI_NONCE_TTL_SECONDS: int = 7200
    """How long a used nonce is remembered; longer than any id_token lives."""
    JWKS_CACHE_SECONDS: int = 3600
    REGISTRY_CACHE_SECONDS: int = 30
    """How long a process keeps a platform's and a deployment's registration without
    reading it again. A change is seen at once through Redis; without Redis, only by the
    process that made it (the others within this time)."""
    HTTP_TIMEOUT_SECONDS: int = 10
    DATABASE_STATEMENT_TIMEOUT_SECONDS: int = 30
    """PostgreSQL: the longest one statement of a web request may run (its
    ``statement_timeout``). A statement past it is stopped and the request answered 503
    ("took too long"), so that a runaway query or a request queued behind a lock does not
    hold a connection, and the server's CPU, long after the browser gave up. 0: no limit
    (the database role's own). The worker and the command-line commands use
    WORKER_STATEMENT_TIMEOUT_SECONDS."""
    WORKER_STATEMENT_TIMEOUT_SECONDS: int = 600
    """PostgreSQL: as DATABASE_STATEMENT_TIMEOUT_SECONDS, for the worker (``laeringslop
    worker``: retention over every launch record, the coverage figures) and every
    command-line command (imports, ``retention run``). 0: no limit."""
    SCORE_RETRY_BASE_SECONDS: int = 30
    """Grades (AGS): the first retry after a temporary failure comes within this many
    seconds; each further one within twice as long (exponential backoff, full jitter)."""
    SCORE_RETRY_MAX_SECONDS: int = 3600
    """Grades: the longest wait between two tries of a score."""
    SCORE_RETRY_FOR_HOURS: int = 72
    """Grades: how long a score the LMS cannot take now is retried before it is marked
    failed (an admin can send it again from /admin/deliveries)."""
    SCORE_WORKER_POLL_SECONDS: int = 5
    """Grades: how long ``flask --app lti_tool worker`` sleeps when nothing is due."""
    SCORE_LEASE_SECONDS: int = 300
    """Grades: how long a worker holds a score it is sending; if it dies, another worker
    takes the score over after this. Longer than any delivery takes (several calls of up
    to HTTP_TIMEOUT_SECONDS each)."""
    DEMO_ENABLED: bool | None = None
    """The /demo LMS; on by default outside production, and refused in production."""
    REGISTRATION_ALLOW_PRIVATE_HOSTS: bool | None = None
    """Let Dynamic Registration call platforms on private/local addresses; on by default
    outside production (test LMSs on localhost), off in production unless set."""
    REGISTRATION_ALLOWED_HOSTS: tuple[str, ...] = ()
    """Platforms on private/local addresses the tool may call all the same (when
    REGISTRATION_ALLOW_PRIVATE_HOSTS is off): host names, addresses or CIDR ranges,
    comma-separated in the environment, a list in the settings file. A named host is
    admitted at the addresses its name resolves to; a range admits any host resolving
    into it."""
    PROXY_FIX_HOPS: int = 0
    """Number of trusted reverse proxies setting X-Forwarded-* (e.g. 1 behind nginx)."""
    SESSION_HOURS: int = 8
    LAUNCH_RECORD_DAYS: int = 180
    """How long a launch record (its course, roles, gradebook and roster addresses, the
    person's LMS ids) is kept: the worker deletes older ones, except the newest of each
    person's link and those an attempt in progress will send its score through
    (``services.retention``). From ``MIN_LAUNCH_RECORD_DAYS`` to ``MAX_LAUNCH_RECORD_DAYS``."""
    LTI_JOB_ROLE_PARAM: str = "job_role"
    """The launch's custom parameter naming the person's job role code(s), comma-separated."""
    LTI_UNIT_PARAM: str = "unit"
    """The launch's custom parameter naming the person's unit code(s), comma-separated."""
    VERIFY_RATE_LIMIT: str = "30 per minute"
    """Certificates: how often one address may ask /verify, its three routes together
    (``limits`` syntax: ``30 per minute``); shared through Redis when configured, else per
    process."""
    LOGIN_RATE_LIMIT: str = "6000 per minute"
    """LTI login initiation (``/lti/login``): how often one address may start a login.
    High: a whole municipality behind one NAT address starts at once, and a load test
    runs from one address. With a login keeping at most 4 kB (``oidc.LONGEST_LOGIN``;
    about 5 kB in Redis), it bounds what one address can keep there (each login waits
    up to ``LTI_STATE_TTL_SECONDS``: up to about 400 MB at the defaults), not what many
    can: bound Redis itself too (README, "Redis's memory"). Shared through Redis when
    configured, else per process."""
    LAUNCH_RATE_LIMIT: str = "600 per minute"
    """LTI launches (``/lti/launch``) refused before the platform's signature was
    verified (forged, replayed, without their login, from a disabled platform or one whose
    keys cannot be fetched) per address; once used up, such launches from it are answered
    429 until the window ends. A launch whose signature was verified is never counted nor
    refused by it, whatever becomes of it (expired, for another tool, a link to what is
    gone): forged launches from someone behind a municipality's NAT address do not lock
    its employees out."""
    API_TOKEN_RATE_LIMIT: str = "300 per minute"  # noqa: S105 (a rate, not a secret)
    """The REST API (``/api/v1``) with a Bearer token: how often one token may call it."""
    FRAME_ANCESTORS_EXTRA: tuple[str, ...] = ()
    """Origins that may frame the tool besides the registered platforms' (their issuer,
    login and token URLs): e.g. ``https://kommune.instructure.com`` for Canvas, which
    frames tools from the institution's own domain. Comma-separated in the environment."""
    CALENDAR_RATE_LIMIT: str = "30 per minute"
    """Calendar feeds (``/calendar/<token>.ics``): how often one feed may be fetched
    (``limits`` syntax). Counted per feed, not per address: calendar services fetch many
    people's feeds from a few addresses."""
    SMTP_URL: str = ""
    """Email for booking notices: ``smtp://[user:password@]host[:port]`` (STARTTLS when
    the server offers it) or ``smtps://…`` (TLS from the start). Empty: no email; the
    notices are shown on the person's bookings page only."""
    MAIL_FROM: str = ""
    """The sender of notice emails, e.g. ``Læringsløp <no-reply@kommune.no>``; needed with
    SMTP_URL."""
    MAIL_MAX_AGE_HOURS: int = 48
    """A notice not emailed within this many hours is not emailed at all (mail set up
    later, or the worker down): old news stays on the bookings page."""
    ACCESSIBILITY_CONTACT: str = ""
    """Where users report accessibility problems, shown on the accessibility statement
    (``/accessibility``): an email address or an https address. Empty: the statement tells
    them to ask the municipality that runs their learning platform."""
    DEFAULT_LOCALE: str = "nb"
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: str = "json"
    """json: one JSON object per line (time, level, logger, message, request_id, fields);
    text: one readable line, for a terminal."""
    METRICS_TOKEN: str = ""
    """The bearer token Prometheus sends to /metrics (``Authorization: Bearer …``), at
    least 32 characters. Empty: /metrics is not served (404)."""

    @property
    def is_production(self) -> bool:
        return self.APP_ENV == "production"

    @property
    def demo_enabled(self) -> bool:
        if self.DEMO_ENABLED is None:
            return not self.is_production
        return self.DEMO_ENABLED

    @property
    def registration_allows_private_hosts(self) -> bool:
        if self.REGISTRATION_ALLOW_PRIVATE_HOSTS is None:
            return not self.is_production
        return self.REGISTRATION_ALLOW_PRIVATE_HOSTS

    @functools.cached_property
    def registration_allowed_hosts(self) -> AllowedHosts:
        """REGISTRATION_ALLOWED_HOSTS, parsed (validated at start)."""
        return parse_allowed_hosts(self.REGISTRATION_ALLOWED_HOSTS)

    @property
    def is_https(self) -> bool:
        return urlsplit(self.BASE_URL).scheme == "https"

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL, with the psycopg 3 driver for PostgreSQL URLs."""
        url = self.DATABASE_URL
        if not url:
            return "sqlite:///" + str(Path(self.INSTANCE_PATH) / "lti_tool.sqlite3")
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def base_url(self) -> str:
        return self.BASE_URL.rstrip("/")


def _coerce(field: dataclasses.Field[Any], raw: Any) -> Any:
    kind = field.type if isinstance(field.type, str) else field.type.__name__
    if isinstance(raw, str):
        raw = raw.strip()
    if kind.startswith("tuple"):
        return _coerce_list(field.name, raw)
    try:
        if kind == "int":
            return int(raw)
        if kind.startswith("bool"):
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).lower()
            if lowered in ("", "none", "auto") and "None" in kind:
                return None
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
    except ValueError:
        raise SettingsError(f"Setting {field.name}={raw!r} is not a valid {kind}.") from None
    return str(raw)


def _coerce_list(name: str, raw: Any) -> tuple[str, ...]:
    """A list: comma-separated in the environment, a list of strings in the settings file."""
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, (list, tuple)) or not all(isinstance(v, str) for v in raw):
        shown = "" if "SECRET" in name else f"={raw!r}"  # never a key in the log
        raise SettingsError(f"Setting {name}{shown} is not a list of strings.")
    return tuple(v.strip() for v in raw if v.strip())


#: The levels LOG_LEVEL may name (in any case): those the logging module knows.
LOG_LEVELS = tuple(logging.getLevelNamesMapping())


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read settings file, environment and overrides (in that order), then validate."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    settings_file = environ.get("LTI_TOOL_SETTINGS")
    if settings_file:
        try:
            with open(settings_file, "rb") as fh:
                values.update(tomllib.load(fh))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"Cannot read LTI_TOOL_SETTINGS={settings_file}: {exc}") from exc
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    for name in [*fields, *RENAMED]:
        if name in environ:
            values[name] = environ[name]
    values.update(overrides or {})
    renamed = sorted(name for name in values if name in RENAMED)
    if renamed:
        raise SettingsError(
            "Renamed setting(s): "
            + ", ".join(f"{old} is now {RENAMED[old]}" for old in renamed)
            + "."
        )
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise SettingsError(f"Unknown setting(s): {', '.join(unknown)}.")
    settings = Settings(**{k: _coerce(fields[k], v) for k, v in values.items()})
    validate(settings)
    return settings


def _rate_limit(text: str) -> bool:
    from limits import parse_many

    try:
        limits = parse_many(text)
    except ValueError:
        return False
    return bool(limits) and all(limit.amount >= 1 for limit in limits)  # "0 per minute" refuses all


def validate(settings: Settings) -> None:
    """Refuse combinations that cannot work, with a message saying what to change."""
    problems = []
    if settings.APP_ENV not in ENVIRONMENTS:
        problems.append(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}.")
    base = urlsplit(settings.BASE_URL)
    if base.scheme not in ("http", "https") or not base.netloc:
        problems.append("BASE_URL must be an absolute http(s) URL, e.g. https://lti.example.no.")
    if settings.DEFAULT_LOCALE not in LOCALES:
        problems.append(f"DEFAULT_LOCALE must be one of {', '.join(LOCALES)}.")
    for name in ("LTI_LEEWAY_SECONDS", "KEY_GRACE_DAYS", "PROXY_FIX_HOPS"):
        if getattr(settings, name) < 0:
            problems.append(f"{name} must not be negative.")
    if settings.LAUNCH_RECORD_DAYS < MIN_LAUNCH_RECORD_DAYS:
        problems.append(
            f"LAUNCH_RECORD_DAYS must be at least {MIN_LAUNCH_RECORD_DAYS}: the admin console "
            f"counts the last {LAUNCH_COUNT_DAYS} days of launches."
        )
    if settings.LAUNCH_RECORD_DAYS > MAX_LAUNCH_RECORD_DAYS:
        problems.append(f"LAUNCH_RECORD_DAYS must be at most {MAX_LAUNCH_RECORD_DAYS} (a century).")
    if settings.LTI_LEEWAY_SECONDS > 300:
        problems.append("LTI_LEEWAY_SECONDS above 300 would accept stale id_tokens.")
    for origin in settings.FRAME_ANCESTORS_EXTRA:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            problems.append(
                f"FRAME_ANCESTORS_EXTRA holds {origin!r}: give origins such as "
                "https://kommune.instructure.com."
            )
    for name in (
        "LOGIN_RATE_LIMIT",
        "LAUNCH_RATE_LIMIT",
        "API_TOKEN_RATE_LIMIT",
        "VERIFY_RATE_LIMIT",
        "CALENDAR_RATE_LIMIT",
    ):
        if not _rate_limit(getattr(settings, name)):
            problems.append(f"{name} must be a rate of at least 1, such as '600 per minute'.")
    for name in ("LTI_JOB_ROLE_PARAM", "LTI_UNIT_PARAM"):
        if not re.fullmatch(r"[A-Za-z0-9_]{1,100}", getattr(settings, name)):
            problems.append(f"{name} must be a custom parameter name: letters, digits and _.")
    for name in (
        "SCORE_RETRY_BASE_SECONDS",
        "SCORE_RETRY_MAX_SECONDS",
        "SCORE_RETRY_FOR_HOURS",
        "SCORE_WORKER_POLL_SECONDS",
    ):
        if getattr(settings, name) < 1:
            problems.append(f"{name} must be at least 1.")
    for name in ("DATABASE_STATEMENT_TIMEOUT_SECONDS", "WORKER_STATEMENT_TIMEOUT_SECONDS"):
        if not 0 <= getattr(settings, name) <= MAX_STATEMENT_TIMEOUT_SECONDS:
            problems.append(
                f"{name} must be from 0 (no limit) to {MAX_STATEMENT_TIMEOUT_SECONDS} seconds."
            )
    if settings.SCORE_RETRY_MAX_SECONDS < settings.SCORE_RETRY_BASE_SECONDS:
        problems.append("SCORE_RETRY_MAX_SECONDS must not be less than SCORE_RETRY_BASE_SECONDS.")
    if settings.SCORE_LEASE_SECONDS < 6 * settings.HTTP_TIMEOUT_SECONDS:
        problems.append(
            "SCORE_LEASE_SECONDS must be at least 6 × HTTP_TIMEOUT_SECONDS: a delivery makes "
            "several calls to the LMS, and another worker would send the score again."
        )
    try:
        parse_allowed_hosts(settings.REGISTRATION_ALLOWED_HOSTS)
    except ValueError as exc:
        problems.append(
            f"REGISTRATION_ALLOWED_HOSTS: {exc} is neither a host name nor an address or a "
            "CIDR range. Give host names (moodle.kommune.no), addresses (10.20.30.40) or "
            "ranges (10.20.0.0/16), comma-separated, without scheme, port or path."
        )
    if settings.SMTP_URL:
        smtp = urlsplit(settings.SMTP_URL)
        try:
            port_ok = smtp.port is None or smtp.port > 0
        except ValueError:  # not a number, or beyond 65535
            port_ok = False
        if smtp.scheme not in ("smtp", "smtps") or not smtp.hostname or not port_ok:
            problems.append(
                "SMTP_URL must be smtp://[user:password@]host[:port] or smtps://…, "
                "e.g. smtp://mail.kommune.no:587."
            )
        if "@" not in settings.MAIL_FROM:
            problems.append(
                "MAIL_FROM must be the sender's address when SMTP_URL is set, e.g. "
                "'Læringsløp <no-reply@kommune.no>'."
            )
    contact = settings.ACCESSIBILITY_CONTACT
    if contact and not (_is_email(contact) or urlsplit(contact).scheme == "https"):
        problems.append(
            "ACCESSIBILITY_CONTACT must be an email address (uu@kommune.no) or an https "
            "address (https://kommune.no/tilgjengelighet)."
        )
    if settings.MAIL_MAX_AGE_HOURS < 1:
        problems.append("MAIL_MAX_AGE_HOURS must be at least 1.")
    if settings.LOG_FORMAT not in ("json", "text"):
        problems.append("LOG_FORMAT must be json or text.")
    if settings.LOG_LEVEL.upper() not in LOG_LEVELS:
        problems.append(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}.")
    if settings.METRICS_TOKEN and len(settings.METRICS_TOKEN) < 32:
        problems.append(
            "METRICS_TOKEN must be at least 32 characters (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'), or empty to serve no /metrics."
        )
    if settings.LTI_NONCE_TTL_SECONDS < 600:
        problems.append("LTI_NONCE_TTL_SECONDS must be at least 600 (longer than any id_token).")
    if settings.SECRET_KEY in settings.SECRET_KEY_FALLBACKS:
        problems.append(
            "SECRET_KEY_FALLBACKS holds SECRET_KEY itself: the new key goes in SECRET_KEY, "
            "the one it replaces in SECRET_KEY_FALLBACKS."
        )
    if settings.is_production:
        if settings.SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(settings.SECRET_KEY) < 32:
            problems.append(
                "Production needs SECRET_KEY: a random value of at least 32 characters "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
        if any(
            key == DEVELOPMENT_SECRET_KEY or len(key) < 32 for key in settings.SECRET_KEY_FALLBACKS
        ):
            problems.append(
                "Each of SECRET_KEY_FALLBACKS must be a production SECRET_KEY (at least 32 "
                "characters; a comma separates two keys): a weak one would let anyone sign "
                "a session."
            )
        if base.scheme != "https":
            problems.append(
                "Production needs an https BASE_URL: LMS platforms launch tools in iframes "
                "and browsers only keep the tool's cookies over https."
            )
        if settings.DEMO_ENABLED:
            problems.append("DEMO_ENABLED cannot be on in production: the demo LMS signs launches.")
    if problems:
        raise SettingsError("Invalid configuration:\n- " + "\n- ".join(problems))


def _is_email(value: str) -> bool:
    """Good enough to catch a typo in a setting; the mail server is the real judge."""
    return re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", value) is not None


def log_refused_start(exc: SettingsError) -> None:
    """What is wrong with the settings, as a log line of the process's own format, where a
    log collector reading JSON lines finds it. LOG_LEVEL and LOG_FORMAT as the environment
    gives them, where they can be read."""
    from lti_tool.observability import configure_logging

    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    configure_logging(
        level if level in LOG_LEVELS else "INFO", os.environ.get("LOG_FORMAT", "json")
    )
    logging.getLogger("lti_tool").critical("the tool cannot start: %s", exc)


def make_metrics_folder(folder: str) -> None:
    """PROMETHEUS_MULTIPROC_DIR, read by prometheus-client (not a setting of the tool's
    own, but one a process cannot work without): a folder named but not made yet (a fresh
    /run after a reboot) is made, not a failure of every request; one this user cannot
    write is settings that cannot work."""
    try:
        os.makedirs(folder, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError("not writable by this user")
    except OSError as exc:
        raise SettingsError(
            f"PROMETHEUS_MULTIPROC_DIR={folder} cannot be used ({exc}): make the "
            "folder, writable by the user the tool runs as, or leave the setting unset"
        ) from exc


def settings_or_exit() -> Settings:
    """The settings, checked before a process starts its work (``laeringslop web``,
    ``worker``, ``migrate``; gunicorn's master before it forks): settings that cannot work
    stop it with the one line of :func:`log_refused_start` and ``EXIT_BAD_SETTINGS``, not a
    traceback per worker."""
    try:
        settings = load_settings()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            make_metrics_folder(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    except SettingsError as exc:
        log_refused_start(exc)
        raise SystemExit(EXIT_BAD_SETTINGS) from None
    return settings
