"""What operations sees, through HTTP: JSON log lines carrying a request id that follows a
learner's submit to the worker and the LMS; /metrics (a bearer token; launches, refusals
by reason, latency by endpoint, outbox depth and age, LMS calls), also summed over several
processes; /readyz with the outbox."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.models import ResultRead, ScoreDelivery
from lti_tool.models.catalogue import SessionNotice
from lti_tool.observability import JsonFormatter, current_request_id
from lti_tool.services.worker_status import WORKER_PARTS
from lti_tool.settings import SettingsError, load_settings
from tests.fakes.freezing_proxy import FreezingProxy
from tests.fakes.lms import TestLms, csrf_token
from tests.fakes.mappings import designer_browser
from tests.fakes.memberships import moodle_sample
from tests.fakes.smtp import FakeSmtpServer
from tests.functional import test_course_roster as roster_tests
from tests.functional.test_bookings import classroom, launched
from tests.functional.test_course_roster import memberships  # noqa: F401 - a fixture
from tests.functional.test_learning_plan import (  # noqa: F401 - fixtures: offers, frozen
    frozen,
    nurse,
    offers,
    place_activity,
    read_results,
)
from tests.functional.test_mapping_flow import NURSE_RIGHT, build_mapping, deliver, place, take

TOKEN = "metrics-token-metrics-token-metrics-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(make_app: Any) -> Any:
    from tests.conftest import _clean

    app = make_app(METRICS_TOKEN=TOKEN)
    yield app
    _clean(app)


def metrics(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) → value."""
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain")
    return parse(response.get_data(as_text=True))


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    """A sample's value; 0 when not in the scrape (a counter not yet counted)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def listed(samples: dict, name: str, **labels: str) -> float:
    """A sample's value, which must be in the scrape."""
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, key
    return float(samples[key])


def as_json(record: logging.LogRecord) -> dict[str, Any]:
    line = JsonFormatter().format(record)
    assert "\n" not in line  # one object per line
    parsed: dict[str, Any] = json.loads(line)
    return parsed


# --- the request id and the JSON log lines -------------------------------------------------


def test_every_response_and_log_line_carries_the_request_id(client, caplog):
    caplog.set_level(logging.INFO, logger="lti_tool.access")
    response = client.get("/healthz?lt=secret-launch-token")
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert client.get("/healthz").headers["X-Request-ID"] != request_id  # one per request

    (line,) = [as_json(r) for r in caplog.records if r.name == "lti_tool.access"][:1]
    assert line["request_id"] == request_id
    assert line["level"] == "INFO" and line["logger"] == "lti_tool.access"
    assert line["message"] == "GET /healthz 200"
    assert (line["method"], line["path"], line["endpoint"], line["status"]) == (
        "GET",
        "/healthz",
        "health.healthz",
        200,
    )
    assert line["duration_ms"] >= 0
    assert line["client"] == "127.0.0.1"
    assert dt.datetime.fromisoformat(line["time"]).tzinfo is not None
    assert "secret-launch-token" not in json.dumps(line)  # no query strings


def test_the_access_line_and_the_latency_time_the_whole_request(app, monkeypatch, caplog):
    """The security headers come after the commit and may read the platforms' origins
    (a database that hangs: seconds): that is part of the time the request took."""
    from lti_tool import web_security

    reads_origins = web_security.frame_origins

    def slow_origins() -> tuple[str, ...]:
        time.sleep(0.3)
        return reads_origins()

    monkeypatch.setattr(web_security, "frame_origins", slow_origins)
    caplog.set_level(logging.INFO, logger="lti_tool.access")
    client = app.test_client()
    before = metrics(client)
    page = client.get("/accessibility")  # a public HTML page: its policy names the platforms
    assert page.status_code == 200 and "frame-ancestors" in page.headers["Content-Security-Policy"]
    (line,) = [as_json(r) for r in caplog.records if r.name == "lti_tool.access"][-1:]
    assert line["path"] == "/accessibility" and line["duration_ms"] >= 300
    name = "laeringslop_http_request_duration_seconds_bucket"
    labels = {"endpoint": "home.accessibility", "method": "GET"}
    fast = grew(before, metrics(client), name, le="0.25", **labels)
    assert fast == 0 and grew(before, metrics(client), name, le="0.5", **labels) == 1


@pytest.mark.parametrize(("hops", "client"), [(0, "10.0.0.9"), (1, "203.0.113.7")])
def test_the_access_line_names_the_client_as_the_rate_limits_count_it(
    make_app, caplog, hops, client
):
    """Behind a trusted proxy (PROXY_FIX_HOPS) the address it forwards; else the socket's
    (a forwarded address without a trusted proxy is anyone's to write)."""
    app = make_app(PROXY_FIX_HOPS=hops)
    caplog.set_level(logging.INFO, logger="lti_tool.access")
    app.test_client().get(
        "/healthz",
        headers={"X-Forwarded-For": "203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    (line,) = [as_json(r) for r in caplog.records if r.name == "lti_tool.access"]
    assert line["client"] == client


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("0f8fad5b-d9cb-469f-a165-70867728950e", True),  # a UUID
        ("proxy.edge-1:abc_DEF", True),
        ("short", False),  # under 8 characters
        ("bad id with spaces", False),
        ('x"}{"level":"CRITICAL', False),  # would forge log fields elsewhere
        ("a" * 129, False),
    ],
)
def test_an_incoming_request_id_is_kept_only_when_well_formed(client, given, kept):
    answered = client.get("/healthz", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    if kept:
        assert answered == given
    else:
        assert answered != given and re.fullmatch(r"[0-9a-f]{32}", answered)


def test_the_id_is_unbound_when_the_request_ends(client):
    """Log lines after a request (in the same thread) do not carry its id."""
    outside = current_request_id()
    for path in ("/healthz", "/no-such-page", "/readyz"):
        client.get(path)
        assert current_request_id() == outside


def test_a_traceback_stays_on_its_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = as_json(record)
    assert line["message"] == "failed" and line["request_id"] is None
    assert "ValueError: boom" in line["exception"]


class _Proxy:
    """A reverse proxy in front of the tool that gives every request an X-Request-ID."""

    def __init__(self, app: Any) -> None:
        self.wsgi_app = app.wsgi_app
        self.given: list[tuple[str, str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request_id = f"proxy-{len(self.given):08d}"
        environ["HTTP_X_REQUEST_ID"] = request_id
        self.given.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], request_id))
        return self.wsgi_app(environ, start_response)


def test_the_request_id_follows_a_submit_to_the_worker_and_the_lms(
    app, lms, care, gradebook, caplog
):
    mapping_id = build_mapping(app, lms, care)
    link_id = place(lms, app, gradebook, mapping_id)
    proxy = _Proxy(app)
    app.wsgi_app = proxy
    take(app, lms, "learner", link_id, NURSE_RIGHT)
    (submit_id,) = [rid for m, path, rid in proxy.given if m == "POST" and "/submit" in path]
    with app.app_context():
        (row,) = get_session().scalars(select(ScoreDelivery))
        assert row.request_id == submit_id  # the outbox row keeps the request that wrote it

    calls_before = len(lms.http.calls)
    caplog.set_level(logging.INFO)
    assert deliver(app).delivered == 1

    to_lms = [call.request for call in lms.http.calls[calls_before:]]
    assert any(r.url == lms.platform.token_url for r in to_lms)  # the access token …
    assert any(r.url.split("?")[0].endswith("/scores") for r in to_lms)  # … and the score
    assert all(r.headers.get("X-Request-ID") == submit_id for r in to_lms)
    worker_lines = [as_json(r) for r in caplog.records if r.name.startswith("lti_tool.services")]
    assert worker_lines and all(line["request_id"] == submit_id for line in worker_lines)


def test_the_workers_lines_name_the_row_they_are_about(app, lms, care, gradebook, caplog):
    """Each line the worker logs while it sends a score, the LMS calls' lines too, names
    its outbox and row as fields (a request may write several rows, and a token's or a
    refusal's line names only a URL); a line about no row names none."""
    mapping_id = build_mapping(app, lms, care)
    link_id = place(lms, app, gradebook, mapping_id)
    take(app, lms, "learner", link_id, NURSE_RIGHT)
    with app.app_context():
        (row_id,) = get_session().scalars(select(ScoreDelivery.id))

    caplog.set_level(logging.INFO)
    passed = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert passed.exit_code == 0 and "delivered=1" in passed.output, passed.output

    lines = [as_json(r) for r in caplog.records]
    about_the_row = [line for line in lines if line["request_id"] is not None]
    loggers = {line["logger"] for line in about_the_row}
    assert {"lti_tool.services.score_delivery", "lti_tool.lti.ags"} <= loggers
    assert all((line["outbox"], line["outbox_row"]) == ("scores", row_id) for line in about_the_row)
    assert not any("outbox" in line for line in lines if line["request_id"] is None)


@pytest.mark.usefixtures("frozen")
def test_the_launch_that_asks_for_a_result_is_the_id_it_is_read_under(app, lms, gradebook, request):
    catalogue = request.getfixturevalue("offers")
    link_id, _lineitem = place_activity(app, lms, gradebook, catalogue["courses"]["med_e"])
    browser = nurse(app, lms)
    proxy = _Proxy(app)
    app.wsgi_app = proxy
    assert TestLms.landed(lms.launch(browser, "learner", link=link_id))
    (launch_id,) = [rid for m, path, rid in proxy.given if (m, path) == ("POST", "/lti/launch")]
    with app.app_context():
        (row,) = get_session().scalars(select(ResultRead))
        assert row.request_id == launch_id

    calls_before = len(lms.http.calls)
    assert read_results(app).read == 1
    to_lms = [call.request for call in lms.http.calls[calls_before:]]
    assert any("/results" in r.url for r in to_lms)
    assert all(r.headers.get("X-Request-ID") == launch_id for r in to_lms)


def test_the_booking_that_writes_a_notice_is_the_id_it_is_mailed_under(make_app, lms, care, caplog):
    with FakeSmtpServer() as smtp:
        app = make_app(SMTP_URL=smtp.url, MAIL_FROM="no-reply@kommune.example")
        ids = classroom(app, designer_browser(app, lms), care)
        learner = launched(app, lms)
        token = csrf_token(learner.get("/learner/bookings").get_data(as_text=True))
        booked = learner.post(
            f"/sessions/{ids['session']}/book",
            data={"csrf_token": token},
            headers={"X-Request-ID": "booking-request-0001"},
        )
        assert booked.status_code == 302
        assert booked.headers["X-Request-ID"] == "booking-request-0001"
        with app.app_context():
            (notice,) = get_session().scalars(select(SessionNotice))
            assert notice.request_id == "booking-request-0001"
            notice_id = notice.id
        smtp.refuse = "550 no such sender"  # the worker logs the refusal
        caplog.set_level(logging.INFO)
        result = app.test_cli_runner().invoke(args=["worker", "--once"])
        assert "failed=1" in result.output
    (line,) = [as_json(r) for r in caplog.records if "mail failed" in r.getMessage()]
    assert line["request_id"] == "booking-request-0001"
    assert (line["outbox"], line["outbox_row"]) == ("notices", notice_id)


def test_a_roster_refresh_asks_the_lms_under_its_request_id(app, lms, gradebook, request):
    request.getfixturevalue("memberships").pages = [moodle_sample()]
    manager = roster_tests.browser_of(app, lms, "manager")
    rid = roster_tests.roster_id(app)
    html = roster_tests.page(manager, f"/manager/courses/{rid}/roster")
    before, calls_before = metrics(app.test_client()), len(lms.http.calls)
    refreshed = manager.post(
        f"/manager/courses/{rid}/roster/refresh",
        data={"csrf_token": csrf_token(html)},
        headers={"X-Request-ID": "roster-refresh-0001"},
    )
    assert refreshed.status_code == 302, refreshed.get_data(as_text=True)
    to_lms = [call.request for call in lms.http.calls[calls_before:]]
    assert any(r.url.startswith(lms.platform.memberships_url) for r in to_lms)
    assert all(r.headers.get("X-Request-ID") == "roster-refresh-0001" for r in to_lms)
    after = metrics(app.test_client())
    assert grew(before, after, "laeringslop_lms_call_duration_seconds_count", call="nrps") == 1


# --- /metrics -------------------------------------------------------------------------------


def test_metrics_need_the_bearer_token(app, make_app):
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert refused.get_json()["error"] == "invalid_metrics_token"
        assert "laeringslop_" not in refused.get_data(as_text=True)
    assert client.get("/metrics", headers=AUTH).status_code == 200
    # without METRICS_TOKEN there is no /metrics at all
    off = make_app().test_client().get("/metrics", headers=AUTH)
    assert off.status_code == 404 and off.get_json()["error"] == "not_found"


def test_metrics_token_is_checked_at_start(settings_overrides):
    with pytest.raises(SettingsError, match="METRICS_TOKEN must be at least 32"):
        load_settings({**settings_overrides, "METRICS_TOKEN": "short"}, environ={})
    with pytest.raises(SettingsError, match="LOG_FORMAT must be json or text"):
        load_settings({**settings_overrides, "LOG_FORMAT": "xml"}, environ={})


def test_latency_is_by_endpoint_not_by_path(app, lms):
    client = app.test_client()
    before = metrics(client)
    for code in ("AAAA-1111", "BBBB-2222", "CCCC-3333"):
        client.get(f"/verify/{code}")
    after = metrics(client)
    name = "laeringslop_http_request_duration_seconds_count"
    endpoint = "certificates.verify_code"
    grew = value(after, name, endpoint=endpoint, method="GET") - value(
        before, name, endpoint=endpoint, method="GET"
    )
    assert grew == 3
    assert not any("AAAA" in str(labels) for _name, labels in after)
    assert value(after, "laeringslop_http_request_duration_seconds_bucket", endpoint=endpoint,
                 method="GET", le="+Inf") >= 3  # fmt: skip


def test_launches_and_refusals_by_reason(app, lms, caplog):
    client = app.test_client()
    before = metrics(client)
    assert (
        "laeringslop_lti_refusals_total",
        (("reason", "replayed_launch"),),
    ) in before  # every reason is there from the start
    assert lms.landed(lms.launch(TestLms.browser(app), "learner"))
    refused = lms.signed_launch(TestLms.browser(app), change={"aud": "another-tool"})
    assert refused.status_code == 401
    # its line names the platform the token claims (a registration changed: whose?)
    (line,) = [as_json(r) for r in caplog.records if getattr(r, "refusal", None)]
    assert line["refusal"] == "wrong_audience"
    assert line["claimed_issuer"] == lms.platform.issuer
    assert line["claimed_deployment_id"] == lms.platform.deployment_id
    assert line["claimed_client_id"] == "another-tool"  # its aud (the test LMS sends no azp)
    caplog.clear()
    forged = lms.signed_launch(TestLms.browser(app), change={"iss": "https://x.example/" * 500})
    (line,) = [as_json(r) for r in caplog.records if getattr(r, "refusal", None)]
    assert forged.status_code == 401 and len(line["claimed_issuer"]) == 200  # what it keeps
    after = metrics(client)
    assert grew(before, after, "laeringslop_lti_launches_total") == 1
    refusals = "laeringslop_lti_refusals_total"
    assert grew(before, after, refusals, reason="wrong_audience") == 1
    assert grew(before, after, refusals, reason="replayed_launch") == 0
    responses = "laeringslop_http_responses_total"
    assert grew(before, after, responses, endpoint="lti.launch", method="POST", status="401") == 2


def test_outbox_depth_and_age_and_lms_calls(app, lms, care, gradebook):
    minutes = 30
    mapping_id = build_mapping(app, lms, care)
    link_id = place(lms, app, gradebook, mapping_id)
    client = app.test_client()
    empty = metrics(client)
    assert value(empty, "laeringslop_outbox_depth", outbox="scores") == 0
    assert value(empty, "laeringslop_outbox_oldest_age_seconds", outbox="scores") == 0
    ready = client.get("/readyz").get_json()
    assert ready["outbox"]["scores"] == {"depth": 0, "oldest_age_seconds": None, "failed": 0}
    assert listed(empty, "laeringslop_database_up") == 1
    assert listed(empty, "laeringslop_outbox_failed", outbox="scores") == 0

    take(app, lms, "learner", link_id, NURSE_RIGHT)
    with app.app_context():
        row = get_session().scalars(select(ScoreDelivery)).one()
        row.created_at -= dt.timedelta(minutes=minutes)  # queued half an hour ago
        get_session().commit()
    queued = metrics(client)
    assert value(queued, "laeringslop_outbox_depth", outbox="scores") == 1
    age = value(queued, "laeringslop_outbox_oldest_age_seconds", outbox="scores")
    assert minutes * 60 <= age < minutes * 60 + 60
    ready = client.get("/readyz").get_json()
    assert ready["status"] == "ok"
    assert ready["outbox"]["scores"]["depth"] == 1
    assert ready["outbox"]["scores"]["oldest_age_seconds"] >= minutes * 60
    assert set(ready["outbox"]) == {"scores", "notices", "result_reads"}

    gradebook.down = 503  # the LMS is down: its token endpoint fails
    assert deliver(app).retrying == 1
    down = metrics(client)
    assert value(down, "laeringslop_outbox_depth", outbox="scores") == 1  # still waiting
    assert grew(queued, down, "laeringslop_lms_call_errors_total", call="token", error="5xx") == 1
    assert grew(queued, down, "laeringslop_lms_call_duration_seconds_count", call="token") == 1
    assert grew(queued, down, "laeringslop_lms_call_duration_seconds_count", call="ags") == 0

    gradebook.down = None
    gradebook.refuse_with(503)  # a token, but the score endpoint fails
    assert deliver(app, dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).retrying == 1
    refused = metrics(client)
    assert grew(down, refused, "laeringslop_lms_call_errors_total", call="ags", error="5xx") == 1
    assert grew(down, refused, "laeringslop_lms_call_errors_total", call="token", error="5xx") == 0
    assert grew(down, refused, "laeringslop_lms_call_duration_seconds_count", call="ags") == 1

    gradebook.refuse_with(None)
    assert deliver(app, dt.datetime.now(dt.UTC) + dt.timedelta(hours=5)).delivered == 1
    done = metrics(client)
    assert value(done, "laeringslop_outbox_depth", outbox="scores") == 0
    assert grew(refused, done, "laeringslop_lms_call_errors_total", call="ags", error="5xx") == 0

    # the LMS refuses a score for good: given up on, no longer waiting, but not lost from view
    take(app, lms, "learner2", link_id, NURSE_RIGHT)
    gradebook.refuse_with(404)  # the column was deleted in the LMS
    deliver(app, dt.datetime.now(dt.UTC) + dt.timedelta(hours=6))
    given_up = metrics(client)
    assert value(given_up, "laeringslop_outbox_depth", outbox="scores") == 0
    assert listed(given_up, "laeringslop_outbox_failed", outbox="scores") == 1
    assert client.get("/readyz").get_json()["outbox"]["scores"]["failed"] == 1


def grew(before: dict, after: dict, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_metrics_without_the_database_still_answer(make_app):
    client = make_app(
        METRICS_TOKEN=TOKEN, DATABASE_URL="sqlite:////nonexistent/dir/x.db"
    ).test_client()
    samples = metrics(client)
    assert not any(name.startswith("laeringslop_outbox") for name, _ in samples)
    assert listed(samples, "laeringslop_database_up") == 0  # an alert can fire on it
    assert client.get("/readyz").get_json()["outbox"] is None


# --- several processes (gunicorn's workers) ---------------------------------------------------

_PROCESS = """
import json, sys
from lti_tool import create_app
settings, asks, scrape = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "scrape"
client = create_app(settings).test_client()
for _ in range(asks):
    assert client.get("/healthz").status_code == 200
if scrape:
    sys.stdout.write(client.get("/metrics", headers={"Authorization": "Bearer " + settings[
        "METRICS_TOKEN"]}).get_data(as_text=True))
"""


def _process(settings: str, env: dict[str, str], asks: int, *, scrape: bool) -> str:
    """A process of the tool asking /healthz ``asks`` times, then /metrics if ``scrape``;
    what it printed (the scrape)."""
    done = _python(env, _PROCESS, settings, str(asks), "scrape" if scrape else "-")
    assert done.returncode == 0, done.stderr
    return done.stdout


def _python(env: dict[str, str], code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``code`` run by a fresh interpreter in ``env``, from the repository."""
    return _interpreter(env, "-c", code, *args)


def _interpreter(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the tool's own code, in a fresh interpreter
        [sys.executable, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_any_process_answers_for_all_of_them(settings_overrides, tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR (gunicorn_conf sets it), counts from every process. The
    folder named need not exist yet (a fresh /run after a reboot): the first process makes it."""
    folder = tmp_path / "run" / "metrics"
    settings = json.dumps({**settings_overrides, "METRICS_TOKEN": TOKEN})
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}

    _process(settings, env, 3, scrape=False)
    _process(settings, env, 4, scrape=False)
    samples = parse(_process(settings, env, 0, scrape=True))
    count = "laeringslop_http_request_duration_seconds_count"
    assert value(samples, count, endpoint="health.healthz", method="GET") == 7
    assert value(samples, "laeringslop_outbox_depth", outbox="scores") == 0


def test_every_kind_of_lms_call_error_shows_from_the_start(settings_overrides, tmp_path):
    """A fresh process, no call made yet: each call's each failure at 0, so an alert on
    ``increase()`` sees the first error (a series that appears with it shows no increase)."""
    settings = json.dumps({**settings_overrides, "METRICS_TOKEN": TOKEN})
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    samples = parse(_process(settings, env, 0, scrape=True))
    shown = {
        (dict(labels)["call"], dict(labels)["error"]): count
        for (name, labels), count in samples.items()
        if name == "laeringslop_lms_call_errors_total"
    }
    assert shown == {
        (call, error): 0.0
        for call in ("token", "ags", "nrps", "jwks")
        for error in ("network", "4xx", "5xx")
    }


def test_a_metrics_folder_that_cannot_be_used_is_named_at_start(tmp_path):
    """Every process would fail on it (the image's /run is root's): the start says which
    setting and what to do, not a traceback of os.makedirs."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(blocker / "metrics")}
    done = _python(env, "import lti_tool.metrics")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("lti_tool.settings.SettingsError: PROMETHEUS_MULTIPROC_DIR="), last
    assert "leave the setting unset" in last


_CONTAINER = """
import json, os, socket, sys
settings, host = json.loads(sys.argv[1]), sys.argv[2]
asks, then = int(sys.argv[3]), int(sys.argv[4])
os.getpid = lambda: 1  # every container's first process
socket.gethostname = lambda: host  # each container's own name
from lti_tool import create_app
client = create_app(settings).test_client()
for _ in range(asks):
    assert client.get("/healthz").status_code == 200
print("counted", flush=True)
sys.stdin.readline()  # the other container counts meanwhile
for _ in range(then):
    assert client.get("/healthz").status_code == 200
"""


def test_processes_of_two_containers_with_one_pid_keep_their_counts_apart(
    settings_overrides, tmp_path
):
    """Compose's web and worker containers share one metrics volume, and the first process
    of each is pid 1: named by pid alone, their files were one, and a count made in one
    container was overwritten by the other's."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    settings = json.dumps({**settings_overrides, "METRICS_TOKEN": TOKEN})
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}

    def container(host: str, asks: int, then: int) -> subprocess.Popen[str]:
        return subprocess.Popen(  # noqa: S603 - the tool's own code, in a fresh interpreter
            [sys.executable, "-c", _CONTAINER, settings, host, str(asks), str(then)],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    first = container("web-1", 3, 1)
    assert first.stdout is not None and first.stdin is not None
    assert first.stdout.readline() == "counted\n"
    second = container("worker-1", 4, 0)
    second_out, _ = second.communicate("\n", timeout=120)
    assert second.returncode == 0 and second_out == "counted\n"
    first.communicate("\n", timeout=120)  # now the first counts once more
    assert first.returncode == 0

    scraped = parse(_process(settings, env, 0, scrape=True))
    count = "laeringslop_http_request_duration_seconds_count"
    assert value(scraped, count, endpoint="health.healthz", method="GET") == 8


def _scraped_names(app: Any, redis_url: str | None) -> tuple[dict, set[str], set[str]]:
    """A scrape's samples, and the metric and label names in it (the workers' too, which
    only a Redis shows: the tests above)."""
    client = app.test_client()
    client.get("/healthz")  # the request metrics' series
    samples = metrics(client)
    exported = {name for name, _labels in samples}
    labels = {key for _name, found in samples for key, _value in found}
    if not redis_url:
        exported |= {
            "laeringslop_worker_last_pass_age_seconds",
            "laeringslop_worker_part_failing",
            "laeringslop_redis_up",
        }
        labels.add("part")
    return samples, exported, labels


def test_the_example_alerts_name_only_what_the_tool_exports(app, redis_url):
    """config/prometheus-alerts.yml: each rule complete, and every metric, label and
    outbox it names is in a scrape (a rule on a name that is not would never fire)."""
    import yaml

    rules = yaml.safe_load((ROOT / "config" / "prometheus-alerts.yml").read_text())
    (group,) = rules["groups"]
    samples, exported, labels = _scraped_names(app, redis_url)
    outboxes = {dict(found).get("outbox") for _name, found in samples} - {None}
    named_outboxes = set()
    for rule in group["rules"]:
        assert rule["alert"].startswith("Laeringslop")
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        expr = rule["expr"]
        for name in re.findall(r"\b(laeringslop_\w+)", expr):
            assert name in exported, (rule["alert"], name)
        for grouping in re.findall(r"by \(([^)]*)\)", expr):
            for label in grouping.split(","):
                assert label.strip() in labels | {"le"}, (rule["alert"], label)
        named_outboxes |= set(re.findall(r'outbox="(\w+)"', expr))
        if "laeringslop_lti_refusals_total" in expr:  # the reasons it names are the tool's
            reasons = {dict(found).get("reason") for _name, found in samples} - {None}
            words = re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", rule["annotations"]["description"])
            named = {w for w in words if not w.startswith("claimed_")}
            assert named and named <= reasons, (rule["alert"], named - reasons)
    assert named_outboxes == outboxes  # an alert for each outbox


def test_the_grafana_dashboard_shows_only_what_the_tool_exports(app, redis_url):
    """config/grafana-dashboard.json: every panel complete and in its own place on the grid,
    and every metric, label and grouping its queries name is in a scrape (a panel on a
    name that is not would stay empty), each metric chosen by the dashboard's job."""
    board = json.loads((ROOT / "config" / "grafana-dashboard.json").read_text())
    _samples, exported, labels = _scraped_names(app, redis_url)
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "job"}
    panels = board["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    shown = set()
    for panel in panels:
        place = panel["gridPos"]
        assert place["x"] >= 0 and place["x"] + place["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(place["x"], place["x"] + place["w"])
            for y in range(place["y"], place["y"] + place["h"])
        }
        assert not mine & cells, panel["title"]  # no panel over another
        cells |= mine
        if panel["type"] == "row":
            continue
        assert panel["type"] == "timeseries" and panel["title"] and panel["description"]
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            names = re.findall(r"\b(laeringslop_\w+)", expr)
            assert names, (panel["title"], expr)
            for name in names:
                assert name in exported, (panel["title"], name)
                assert re.search(rf'{name}\{{job="\$job"', expr), (panel["title"], name)
            for grouping in re.findall(r"by \(([^)]*)\)", expr):
                for label in grouping.split(","):
                    assert label.strip() in labels | {"le"}, (panel["title"], label)
            for label in re.findall(r'[{,](\w+)=~?"', expr):
                assert label in labels | {"job"}, (panel["title"], label)
            shown |= {re.sub(r"_(bucket|count|sum)$", "", name) for name in names}
    families = {re.sub(r"_(bucket|count|sum)$", "", name) for name in exported}
    assert shown == {
        name for name in families if name.startswith("laeringslop_") and "_created" not in name
    }  # every one the tool exports


def _settings_that_cannot_work(tmp_path: Path) -> dict[str, str]:
    """Production settings with a metrics token too short to keep /metrics safe."""
    env = {
        **os.environ,
        "APP_ENV": "production",
        "BASE_URL": "https://laeringslop.example",
        "SECRET_KEY": "k" * 48,
        "METRICS_TOKEN": "too-short",
        "INSTANCE_PATH": str(tmp_path),
        "LOG_FORMAT": "json",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def test_settings_that_cannot_work_are_a_log_line_before_the_traceback(tmp_path):
    """A process that cannot start says why in its log format (JSON), where the log
    collector reads: the traceback after it is its caller's (gunicorn's, Flask's)."""
    env = _settings_that_cannot_work(tmp_path)
    done = _python(env, "from lti_tool import create_app; create_app()")
    assert done.returncode == 1
    first = json.loads(done.stderr.splitlines()[0])
    assert first["level"] == "CRITICAL"
    assert first["message"].startswith("the tool cannot start: Invalid configuration")
    assert "METRICS_TOKEN must be at least 32 characters" in first["message"]


def test_settings_that_cannot_work_stop_each_process_with_one_line(tmp_path):
    """``laeringslop web``, ``worker`` and ``migrate``, and gunicorn's master before it
    forks, stop with the one line saying what to change and exit status 78 (EX_CONFIG): no
    traceback, no worker booted to fail; a command that is not the tool's (the backup's
    ``tar``) runs whatever the settings."""
    env = _settings_that_cannot_work(tmp_path)
    entry_point = "from lti_tool.entrypoint import main; main()"
    pidfile = tmp_path / "gunicorn.pid"
    gunicorn = ("-m", "gunicorn", "-c", "python:lti_tool.gunicorn_conf", "-b", "127.0.0.1:0")
    gunicorn_pid = (*gunicorn, "--pid", str(pidfile))
    no_folder = {**env, "METRICS_TOKEN": "", "PROMETHEUS_MULTIPROC_DIR": "/proc/no-such-folder"}
    for stopped, saying in (
        (_python(env, entry_point, "web"), "METRICS_TOKEN must be at least 32 characters"),
        (_python(env, entry_point, "worker", "--once"), "METRICS_TOKEN must be at least 32"),
        (_python(env, entry_point, "migrate"), "METRICS_TOKEN must be at least 32 characters"),
        (_python(env, entry_point, "check"), "METRICS_TOKEN must be at least 32 characters"),
        (_interpreter(env, *gunicorn_pid, "lti_tool:create_app()"), "METRICS_TOKEN must be"),
        (_python(no_folder, entry_point, "worker", "--once"), "PROMETHEUS_MULTIPROC_DIR="),
        (_interpreter(no_folder, *gunicorn, "lti_tool:create_app()"), "cannot be used"),
    ):
        assert stopped.returncode == 78, stopped.stderr
        assert "Traceback" not in stopped.stderr and "Booting worker" not in stopped.stderr
        lines = [json.loads(line) for line in stopped.stderr.splitlines()]
        (refusal,) = [line for line in lines if line["level"] != "INFO"]  # gunicorn's start
        assert refusal["level"] == "CRITICAL"
        assert refusal["message"].startswith("the tool cannot start: ")
        assert saying in refusal["message"]
    assert not pidfile.exists()  # gunicorn's, written before the check: not left behind
    assert _python(env, entry_point, "true").returncode == 0
    env["METRICS_TOKEN"] = ""
    checked = _python(env, entry_point, "check")
    assert checked.returncode == 0 and checked.stdout == "laeringslop: the settings can work\n"


@pytest.mark.parametrize("configured_by", ["the app", "gunicorn"])
def test_a_python_warning_is_a_log_line(tmp_path, configured_by):
    """A warning (a library's deprecation, an SAWarning) is a JSON line with the rest, in a
    process that set up its logs itself (``worker``, ``migrate``) and in gunicorn's
    workers (``gunicorn_conf.logconfig_dict``): not plain text, the source line under it
    another line, that a log shipper drops or takes for a line of its own."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(APP_ENV="development", LOG_FORMAT="json", REDIS_URL="", METRICS_TOKEN="")
    env.update(INSTANCE_PATH=str(tmp_path), KEYS_DIR=str(tmp_path / "keys"))
    code = (
        "import logging.config, warnings\n"
        "from lti_tool import create_app, gunicorn_conf\n"
        f"if {configured_by == 'gunicorn'}:\n"
        "    logging.config.dictConfig(gunicorn_conf.logconfig_dict)\n"
        "create_app()\n"
        "warnings.warn('this call is deprecated', UserWarning)\n"
    )
    done = _python(env, code)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    (warned,) = [line for line in lines if line["logger"] == "py.warnings"]
    assert warned["level"] == "WARNING"
    assert "UserWarning: this call is deprecated" in warned["message"]


def test_a_migration_writes_nothing_but_log_lines(tmp_path):
    """``laeringslop migrate`` is a deploy step whose output a log shipper reads (compose's
    ``migrate`` container, the units' ``ExecStartPre``): every line it writes is a JSON log
    line, where it left the schema and why it failed (a revision it does not know, a
    database not answering yet: the traceback inside the line), with exit status 1."""
    from lti_tool.migrate import schema_revisions

    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(APP_ENV="development", LOG_FORMAT="json", REDIS_URL="", METRICS_TOKEN="")
    env.update(INSTANCE_PATH=str(tmp_path), KEYS_DIR=str(tmp_path / "keys"))
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'migrated.sqlite3'}")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    entry_point = "from lti_tool.entrypoint import main; main()"

    def log_lines(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
        assert done.stdout == ""
        return [json.loads(line) for line in done.stderr.splitlines()]

    migrated = _python(env, entry_point, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    head = schema_revisions().head
    last = log_lines(migrated)[-1]
    assert (last["level"], last["logger"], last["revision"]) == ("INFO", "lti_tool.migrate", head)
    assert last["message"] == f"the database's schema is at {head} (head)"

    unknown = _python(env, entry_point, "migrate", "nonexistent")
    assert unknown.returncode == 1
    (refused,) = [line for line in log_lines(unknown) if line["level"] != "INFO"]
    assert refused["message"] == (
        "the upgrade failed: Can't locate revision identified by 'nonexistent'"
    )

    env["DATABASE_URL"] = "postgresql://laeringslop@127.0.0.1:1/laeringslop"  # nobody there
    away = _python(env, entry_point, "migrate")
    assert away.returncode == 1
    (failed,) = [line for line in log_lines(away) if line["level"] != "INFO"]
    assert failed["level"] == "ERROR"
    assert failed["message"].startswith("the upgrade failed: (psycopg.OperationalError)")
    assert failed["exception"].startswith("Traceback (most recent call last):")


def test_an_admin_sees_on_the_deliveries_page_whether_the_worker_sends(app, lms, redis_url, cli):
    """An LMS administrator asked where a grade is sees whether the tool's worker runs,
    without the tool's metrics: warned when none has finished a pass (in a day, or for
    minutes), told when one has, and the parts failing named (a heartbeat not known
    hides the age, not them), in the page's language."""
    import redis

    from lti_tool.services.worker_status import HEARTBEAT_KEY, KEPT_SECONDS, WORKER_PARTS
    from lti_tool.views.admin import WORKER_PART_NAMES
    from tests.functional.test_deployments import admin_session

    assert WORKER_PART_NAMES.keys() == WORKER_PARTS.keys()  # each part named on the page
    if not redis_url:
        pytest.skip("the workers note their passes in Redis")
    admin = admin_session(lms, app)

    def section(browser: Any = admin) -> str:
        page = browser.get("/admin/deliveries")
        assert page.status_code == 200
        text: str = page.get_data(as_text=True)
        if '<h2 id="worker">' not in text:
            return ""
        return re.sub(r"\s+", " ", text.split('<h2 id="worker">')[1].split("<h2")[0])

    shown = section()
    assert "has not finished a round in the last day, so nothing waiting is sent" in shown
    assert "notice-warning" in shown and "laeringslop worker" in shown
    cli("worker", "--once")
    shown = section()
    assert "sends what waits to the learning platforms; it last finished a round" in shown
    assert re.search(r"finished a round [1-9]\d* seconds? ago", shown), shown  # not "in 0"
    assert "notice-warning" not in shown
    store = redis.Redis.from_url(redis_url)
    store.set(HEARTBEAT_KEY, "1", ex=KEPT_SECONDS - 600)  # ten minutes ago
    store.set("lti_tool:worker-failing:retention", "1", ex=60)
    shown = section()
    assert "last finished a round 10 minutes ago. Nothing waiting is sent until" in shown
    assert shown.count("notice-warning") == 2
    failing = "For the tool as a whole, these failed at the worker's latest try: applying"
    assert f"{failing} the retention rules." in shown

    for language, ago, part in (
        ("nb", "for 10 minutter siden", "bruke reglene for lagringstid"),
        ("nn", "for 10 minutt sidan", "bruke reglane for lagringstid"),
    ):
        browser = TestLms.browser(app)
        lms.launch(browser, "admin", locale=language)
        shown = section(browser)
        assert ago in shown and part in shown, (language, shown)

    store.set(HEARTBEAT_KEY, "by hand")  # no lifetime: the age is not known
    shown = section()
    assert "finished a round" not in shown and f"{failing} the retention rules." in shown
    store.delete("lti_tool:worker-failing:retention")
    assert section() == ""  # nothing known, nothing to say


def test_the_workers_last_pass_shows_in_readyz_and_metrics(app, redis_url, cli):
    """A worker down shows even with nothing queued: the seconds since a worker (any, on
    any host: noted in Redis) last finished a pass. Reported, not judged."""
    if not redis_url:
        pytest.skip("the workers note their passes in Redis")
    client = app.test_client()

    before = client.get("/readyz").get_json()
    assert before["status"] == "ok"  # no worker yet: still ready
    assert before["worker"] == {"last_pass_age_seconds": None, "failing": []}  # none noted
    assert value(metrics(client), "laeringslop_worker_last_pass_age_seconds") == float("inf")

    assert cli("worker", "--once").exit_code == 0

    after = client.get("/readyz").get_json()["worker"]
    assert 0 <= after["last_pass_age_seconds"] < 60 and after["failing"] == []
    samples = metrics(client)
    assert 0 <= value(samples, "laeringslop_worker_last_pass_age_seconds") < 60
    assert all(  # every part listed, at 0: an alert sees its first failure
        listed(samples, "laeringslop_worker_part_failing", part=part) == 0 for part in WORKER_PARTS
    )


def test_a_part_of_the_pass_that_fails_shows_until_it_goes_again(
    app, make_app, lms, redis_url, database_url
):
    """Retention cannot purge the audit log (a stuck transaction holds it): the pass goes
    on and its scores go, the worker exits 1 naming retention, and ``/readyz`` and
    ``/metrics`` show retention failing, not only the log, until a pass applies it."""
    from sqlalchemy import create_engine, text

    if not redis_url or not database_url.startswith("postgresql"):
        pytest.skip("a lock held on PostgreSQL; the workers note their passes in Redis")
    lms.launch(app.test_client(), "learner")  # an organisation, whose audit log retention purges
    worker = make_app(WORKER_STATEMENT_TIMEOUT_SECONDS=1).test_cli_runner()
    client = app.test_client()
    engine = create_engine(database_url)
    try:
        with engine.connect() as stuck:
            stuck.execute(text("LOCK TABLE audit_event IN ACCESS EXCLUSIVE MODE"))
            passed = worker.invoke(args=["worker", "--once"])
            stuck.rollback()
    finally:
        engine.dispose()
    assert passed.exit_code == 1
    assert "Error: retention failed: the audit log's retention" in passed.output
    assert "delivered=0" in passed.output  # the scores went

    report = client.get("/readyz").get_json()
    assert report["status"] == "ok"  # reported, not judged
    assert report["worker"]["failing"] == ["retention"]
    assert report["worker"]["last_pass_age_seconds"] < 60
    samples = metrics(client)
    assert listed(samples, "laeringslop_worker_part_failing", part="retention") == 1
    assert listed(samples, "laeringslop_worker_part_failing", part="scores") == 0

    assert worker.invoke(args=["worker", "--once"]).exit_code == 0
    assert client.get("/readyz").get_json()["worker"]["failing"] == []
    assert listed(metrics(client), "laeringslop_worker_part_failing", part="retention") == 0


def test_the_running_worker_keeps_retention_failing_until_its_next_run(
    app, make_app, lms, redis_url, database_url
):
    """The running worker (not ``--once``): retention fails at its hourly run, and the
    passes after it, with the lock gone, leave it noted as failing (it is not due again
    for an hour), while their other parts go and the pass is noted each time."""
    import os
    import signal
    import threading
    import time

    from sqlalchemy import create_engine, text

    if not redis_url or not database_url.startswith("postgresql"):
        pytest.skip("a lock held on PostgreSQL; the workers note their passes in Redis")
    lms.launch(app.test_client(), "learner")  # an organisation, whose audit log retention purges
    worker = make_app(WORKER_STATEMENT_TIMEOUT_SECONDS=1, SCORE_WORKER_POLL_SECONDS=1)
    client = app.test_client()
    engine = create_engine(database_url)
    stuck = engine.connect()
    stuck.execute(text("LOCK TABLE audit_event IN ACCESS EXCLUSIVE MODE"))
    seen: list[Any] = []
    finished = threading.Event()

    def watch() -> None:
        """Release the lock once retention failed; two passes later, stop the worker."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not finished.is_set():
            report = client.get("/readyz").get_json()["worker"]
            if report and report["failing"] == ["retention"]:
                break
            time.sleep(0.1)
        stuck.rollback()
        time.sleep(2.5)  # two passes or more, polling every second
        seen.append(client.get("/readyz").get_json()["worker"])
        if not finished.is_set():
            os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = worker.test_cli_runner().invoke(args=["worker"])
    finally:
        finished.set()
        watcher.join(40)
        stuck.close()
        engine.dispose()
    assert result.exit_code == 0, result.output
    [after] = seen
    assert after["failing"] == ["retention"]
    assert after["last_pass_age_seconds"] < 2  # the passes after it were noted


def test_a_pass_without_the_database_shows_every_part_failing_and_no_pass(app, make_app, redis_url):
    """The workers' database away (a wrong DATABASE_URL on the worker's host): each part
    tried fails, no pass is noted, and the web processes show it."""
    if not redis_url:
        pytest.skip("the workers note their passes in Redis")
    away = make_app(DATABASE_URL="sqlite:////nonexistent/dir/x.db")
    assert away.test_cli_runner().invoke(args=["worker", "--once"]).exit_code == 1

    worker = app.test_client().get("/readyz").get_json()["worker"]
    assert worker["last_pass_age_seconds"] is None  # none in a day
    assert worker["failing"] == [p for p in WORKER_PARTS if p != "notices"]  # no mail server


def test_without_redis_the_workers_passes_are_not_known(make_app):
    tool = make_app(REDIS_URL="", METRICS_TOKEN=TOKEN)
    client = tool.test_client()
    assert client.get("/readyz").get_json()["worker"] is None
    assert ("laeringslop_worker_last_pass_age_seconds", ()) not in metrics(client)


@pytest.fixture
def proxied_redis(make_app: Any, redis_url: str) -> Any:
    """A tool whose Redis (the test one) is behind a ``FreezingProxy``."""
    from urllib.parse import urlsplit

    if not redis_url:
        pytest.skip("a Redis server behind a network connection")
    url = urlsplit(redis_url)
    proxy = FreezingProxy(url.hostname or "127.0.0.1", url.port or 6379)
    through = url._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
    try:
        yield make_app(REDIS_URL=through, METRICS_TOKEN=TOKEN), proxy
    finally:
        proxy.close()


def test_the_scrape_says_whether_redis_answers(app, make_app, redis_url):
    """``laeringslop_redis_up``: 1 or 0 with Redis, for the alert (pages go on while Redis
    is down, so the server errors' alert may not fire); left out without it."""
    answered = metrics(app.test_client()).get(("laeringslop_redis_up", ()))
    assert answered == (1 if redis_url else None)
    down = make_app(REDIS_URL="redis://127.0.0.1:1/0", METRICS_TOKEN=TOKEN)
    samples = metrics(down.test_client())
    assert samples[("laeringslop_redis_up", ())] == 0
    assert ("laeringslop_worker_part_failing", (("part", "scores"),)) not in samples


def test_a_redis_that_stops_answering_holds_a_probe_a_scrape_and_a_pass_a_second(
    proxied_redis, caplog
):
    """Redis accepts and never answers (a hung host): ``/readyz`` says so, ``/metrics``
    answers without the workers' gauge, and a worker's pass goes on without its
    heartbeat, each within about a second (``STATUS_REDIS_SECONDS``), not the 5 s a
    person's request may wait on Redis."""
    import time

    tool, proxy = proxied_redis
    client = tool.test_client()
    assert client.get("/readyz").status_code == 200
    assert tool.test_cli_runner().invoke(args=["worker", "--once"]).exit_code == 0
    proxy.frozen.set()
    proxy.freeze_open()  # the connections the pools keep, and every new one

    started = time.monotonic()
    ready = client.get("/readyz")
    assert time.monotonic() - started < 3
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["cache"] == "unreachable"
    assert ready.get_json()["worker"] is None

    caplog.clear()
    started = time.monotonic()
    samples = metrics(client)
    assert time.monotonic() - started < 4.5  # not the 5 s of a request (CI's load: 3.7 s)
    assert samples[("laeringslop_redis_up", ())] == 0
    # one wait on Redis (its PING), not a second for the workers' gauges
    assert caplog.text.count("redis unreachable") == 1
    assert "the workers' status not read" not in caplog.text
    assert ("laeringslop_worker_last_pass_age_seconds", ()) not in samples
    assert listed(samples, "laeringslop_lti_launches_total") >= 0  # the rest is there

    caplog.clear()
    started = time.monotonic()
    passed = tool.test_cli_runner().invoke(args=["worker", "--once"])
    assert time.monotonic() - started < 3
    assert passed.exit_code == 0, passed.output
    assert "its pass not noted in Redis" in caplog.text


def test_a_value_in_the_workers_key_is_not_read(app, redis_url):
    """The age is the key's time left by Redis's clock: whatever a hand (or a bug) put in
    it, the probe and the scrape answer; a key without a lifetime is not known, and the
    parts failing are shown still."""
    import redis

    if not redis_url:
        pytest.skip("the workers note their passes in Redis")
    store = redis.Redis.from_url(redis_url)
    store.set("lti_tool:worker-last-pass", "garbage")
    store.set("lti_tool:worker-failing:retention", "1", ex=60)
    client = app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["worker"] == {"last_pass_age_seconds": None, "failing": ["retention"]}
    samples = metrics(client)
    assert ("laeringslop_worker_last_pass_age_seconds", ()) not in samples
    assert listed(samples, "laeringslop_worker_part_failing", part="retention") == 1


def test_an_outbox_the_schema_changed_under_is_left_out_not_unreachable(app, database_url):
    """A newer version migrated the database (a rolling upgrade): a count this version's
    query cannot make leaves the outbox out; the database answered, the process is ready."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    rename = "ALTER TABLE result_read RENAME COLUMN created_at TO {}"
    with engine.begin() as connection:
        connection.execute(text(rename.format("queued_at")))
    try:
        response = app.test_client().get("/readyz")
    finally:
        with engine.begin() as connection:
            connection.execute(
                text("ALTER TABLE result_read RENAME COLUMN queued_at TO created_at")
            )
        engine.dispose()
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["checks"]["database"] == "ok" and body["outbox"] is None


def test_metrics_answers_503_while_a_merge_holds_its_folder_too_long(app, monkeypatch, tmp_path):
    """A scrape missed (Prometheus notes it) rather than a thread held, or counts that
    fall (``metrics_files.readable``)."""
    from lti_tool import metrics as tool_metrics
    from lti_tool import metrics_files
    from tests.unit.test_metrics_files import answered_within

    monkeypatch.setattr(tool_metrics, "MULTIPROCESS_DIR", str(tmp_path))
    monkeypatch.setattr(metrics_files, "SCRAPE_WAIT_SECONDS", 0.2)
    client = app.test_client()
    with metrics_files.folder_lock(str(tmp_path), shared=False, wait_seconds=0) as locked:
        assert locked  # as a merge holds it
        busy = answered_within(lambda: client.get("/metrics", headers=AUTH), 10)
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "15"
    assert client.get("/metrics", headers=AUTH).status_code == 200
