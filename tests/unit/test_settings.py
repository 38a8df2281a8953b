"""Settings: embedded defaults, environment, validation with messages naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from lti_tool import create_app
from lti_tool.settings import (
    DEVELOPMENT_SECRET_KEY,
    PROJECT_ROOT,
    SettingsError,
    load_settings,
)

GOOD_SECRET = "s" * 40
PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": GOOD_SECRET,
    "BASE_URL": "https://lti.example.no",
}


def test_defaults_need_no_environment():
    settings = load_settings(environ={})
    assert settings.APP_ENV == "development"
    assert settings.SECRET_KEY == DEVELOPMENT_SECRET_KEY
    assert Path(settings.INSTANCE_PATH) == PROJECT_ROOT / "instance"
    assert settings.database_url == "sqlite:///" + str(
        Path(settings.INSTANCE_PATH) / "lti_tool.sqlite3"
    )
    assert settings.REDIS_URL == ""
    assert settings.demo_enabled is True
    assert settings.is_production is False


def test_sqlite_follows_the_instance_path(tmp_path):
    settings = load_settings(environ={"INSTANCE_PATH": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path}/lti_tool.sqlite3"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/lti", "postgresql+psycopg://u:p@db:5432/lti"),
        ("postgres://u:p@db/lti", "postgresql+psycopg://u:p@db/lti"),
        ("postgresql+psycopg://u:p@db/lti", "postgresql+psycopg://u:p@db/lti"),
        ("sqlite:////var/lib/lti.sqlite3", "sqlite:////var/lib/lti.sqlite3"),
    ],
)
def test_database_url_uses_the_psycopg3_driver(given, expected):
    assert load_settings(environ={"DATABASE_URL": given}).database_url == expected


def test_environment_is_read_and_coerced():
    settings = load_settings(
        environ={"SESSION_HOURS": " 12 ", "DEMO_ENABLED": "off", "DEFAULT_LOCALE": "nn"}
    )
    assert settings.SESSION_HOURS == 12
    assert settings.DEMO_ENABLED is False
    assert settings.demo_enabled is False
    assert settings.DEFAULT_LOCALE == "nn"


def test_settings_file_environment_and_overrides_in_that_order(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('SESSION_HOURS = 3\nLOG_LEVEL = "DEBUG"\nKEY_GRACE_DAYS = 2\n')
    settings = load_settings(
        {"KEY_GRACE_DAYS": 1},
        environ={"LTI_TOOL_SETTINGS": str(path), "LOG_LEVEL": "WARNING", "KEY_GRACE_DAYS": "5"},
    )
    assert settings.SESSION_HOURS == 3  # file
    assert settings.LOG_LEVEL == "WARNING"  # environment beats the file
    assert settings.KEY_GRACE_DAYS == 1  # overrides beat the environment


def test_unreadable_settings_file_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="LTI_TOOL_SETTINGS"):
        load_settings(environ={"LTI_TOOL_SETTINGS": str(tmp_path / "missing.toml")})


def test_production_settings_that_can_work_are_accepted():
    settings = load_settings(environ=PRODUCTION)
    assert settings.is_production
    assert settings.is_https
    assert settings.demo_enabled is False


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),  # not set at all: the development default
        ({"SECRET_KEY": DEVELOPMENT_SECRET_KEY}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"BASE_URL": "http://lti.example.no"}, "BASE_URL"),
        ({"DEMO_ENABLED": "true"}, "DEMO_ENABLED"),
    ],
)
def test_production_refuses_unsafe_settings(change, named):
    environ = {**PRODUCTION, **change}
    environ = {k: v for k, v in environ.items() if v is not None}
    with pytest.raises(SettingsError, match=named):
        load_settings(environ=environ)


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as info:
        load_settings(environ={"APP_ENV": "production", "BASE_URL": "http://x.example"})
    assert "SECRET_KEY" in str(info.value)
    assert "BASE_URL" in str(info.value)


@pytest.mark.parametrize("where", ["overrides", "file"])
def test_unknown_setting_names_are_refused(where, tmp_path):
    if where == "overrides":
        call = {"overrides": {"SECRET": "x", "BASE_URLS": "https://x"}, "environ": {}}
    else:
        path = tmp_path / "settings.toml"
        path.write_text('BASE_URLS = "https://x"\nSECRET = "x"\n')
        call = {"environ": {"LTI_TOOL_SETTINGS": str(path)}}
    with pytest.raises(SettingsError, match="Unknown setting") as info:
        load_settings(**call)
    assert "BASE_URLS" in str(info.value) and "SECRET" in str(info.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SESSION_HOURS", "eight"),
        ("KEY_GRACE_DAYS", "7d"),
        ("LTI_LEEWAY_SECONDS", "1.5"),
        ("PROXY_FIX_HOPS", ""),
        ("DEMO_ENABLED", "maybe"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings(environ={name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("APP_ENV", "staging"),
        ("BASE_URL", "lti.example.no"),
        ("DEFAULT_LOCALE", "de"),
        ("KEY_GRACE_DAYS", "-1"),
        ("LTI_LEEWAY_SECONDS", "3600"),
        ("LTI_NONCE_TTL_SECONDS", "60"),
    ],
)
def test_values_that_cannot_work_are_refused(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings(environ={name: value})


def test_production_app_builds_and_has_no_demo(make_app):
    app = make_app(APP_ENV="production", SECRET_KEY=GOOD_SECRET, BASE_URL="https://lti.example.no")
    assert app.config["SETTINGS"].is_production
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "None"
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "lti.example.no"})
    assert client.get("/healthz").status_code == 200
    assert client.get("/demo/").status_code == 404


def test_create_app_refuses_production_without_a_secret(make_app):
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        make_app(APP_ENV="production", SECRET_KEY=DEVELOPMENT_SECRET_KEY, BASE_URL="https://x.no")


def test_create_app_refuses_unknown_names():
    with pytest.raises(SettingsError, match="Unknown setting"):
        create_app({"DATABASE": "sqlite://"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://root@localhost/x"),
        ("DATABASE_URL", "not a url"),
        ("REDIS_URL", "http://localhost:6379"),
    ],
)
def test_unusable_database_or_redis_url_fails_at_start_naming_the_setting(name, value, tmp_path):
    from lti_tool import create_app

    with pytest.raises(SettingsError, match=name):
        create_app({name: value, "INSTANCE_PATH": str(tmp_path)})


def test_allowed_hosts_come_comma_separated_from_the_environment():
    settings = load_settings(
        environ={**PRODUCTION, "REGISTRATION_ALLOWED_HOSTS": " Moodle.Kommune.no , 10.20.0.0/16,"}
    )
    assert settings.REGISTRATION_ALLOWED_HOSTS == ("Moodle.Kommune.no", "10.20.0.0/16")
    assert settings.registration_allows_private_hosts is False  # the list opens nothing else
    allowed = settings.registration_allowed_hosts
    assert allowed.names == {"moodle.kommune.no"}
    assert [str(n) for n in allowed.networks] == ["10.20.0.0/16"]
    assert load_settings(environ=PRODUCTION).REGISTRATION_ALLOWED_HOSTS == ()


def test_allowed_hosts_are_a_list_in_the_settings_file(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('REGISTRATION_ALLOWED_HOSTS = ["moodle.kommune.no", "fd00::/8"]\n')
    settings = load_settings(environ={**PRODUCTION, "LTI_TOOL_SETTINGS": str(path)})
    assert settings.REGISTRATION_ALLOWED_HOSTS == ("moodle.kommune.no", "fd00::/8")
    path.write_text("REGISTRATION_ALLOWED_HOSTS = [1, 2]\n")
    with pytest.raises(SettingsError, match=r"REGISTRATION_ALLOWED_HOSTS.*not a list of strings"):
        load_settings(environ={**PRODUCTION, "LTI_TOOL_SETTINGS": str(path)})


@pytest.mark.parametrize(
    "bad",
    [
        "https://moodle.kommune.no",
        "moodle.kommune.no:8443",
        "10.0.0.0/33",
        "moodle.kommune.no/admin",
        "-moodle.kommune.no",
        "moodle_kommune.no",
    ],
)
def test_a_bad_allowed_host_is_refused_at_start_naming_it(bad):
    with pytest.raises(SettingsError, match="REGISTRATION_ALLOWED_HOSTS") as info:
        load_settings(environ={**PRODUCTION, "REGISTRATION_ALLOWED_HOSTS": f"10.0.0.1,{bad}"})
    assert repr(bad) in str(info.value)
    assert "10.0.0.1'" not in str(info.value)  # the good entry is not blamed


def test_create_app_refuses_a_bad_allowed_host(make_app):
    with pytest.raises(SettingsError, match="REGISTRATION_ALLOWED_HOSTS"):
        make_app(REGISTRATION_ALLOWED_HOSTS="https://moodle.kommune.no/")


def test_the_old_warning_setting_is_refused_naming_the_organisations_window():
    for given in (
        {"environ": {"CERTIFICATE_WARNING_DAYS": "90"}},
        {"overrides": {"CERTIFICATE_WARNING_DAYS": 90}},
    ):
        with pytest.raises(SettingsError, match="CERTIFICATE_WARNING_DAYS is now each organisat"):
            load_settings(**{"environ": {}, **given})
