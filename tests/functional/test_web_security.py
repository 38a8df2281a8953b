"""Web security for a tool inside an LMS frame: the Content-Security-Policy (only the
registered platforms may frame the tool; only scripts with the response's nonce run), HSTS
over https, and rate limits on login, launch and API tokens."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import unquote

import pytest
from defusedxml import ElementTree

from lti_tool import web_security
from lti_tool.db import get_session
from lti_tool.services import platforms
from lti_tool.settings import SettingsError
from tests.conftest import PLATFORM_ISSUER
from tests.fakes.lms import TestLms
from tests.functional import test_api
from tests.functional.test_api import API
from tests.functional.test_observability import TOKEN as METRICS_TOKEN
from tests.functional.test_observability import grew, metrics

api, new_token = test_api.api, test_api.new_token


def policy(response: Any) -> dict[str, list[str]]:
    """The response's Content-Security-Policy, directive by directive."""
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request.path}"
    found: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        found[name] = values
    return found


def assert_page_policy(response: Any) -> None:
    """An HTML response carries the policy, and runs nothing it does not allow: every
    script with the response's nonce, no inline event handlers or style attributes."""
    if response.mimetype != "text/html":
        return
    if 300 <= response.status_code < 400 and "Location" in response.headers:
        # a redirect's body is never shown: nothing may load or run in it
        assert response.headers["Content-Security-Policy"] == web_security.REDIRECT_POLICY
        return
    csp = policy(response)
    assert "'unsafe-inline'" not in csp["script-src"] + csp["style-src"]
    assert csp["frame-ancestors"][0] == "'self'"
    nonce = next(v[7:-1] for v in csp["script-src"] if v.startswith("'nonce-"))
    html = response.get_data(as_text=True)
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert all(f'nonce="{nonce}"' in s for s in scripts), scripts
    tags = re.findall(r"<[a-zA-Z][^>]*>", html)
    assert not [t for t in tags if re.search(r"\s(style|on[a-z]+)\s*=", t)], "inline"


def learner_page(app: Any, lms: TestLms, browser: Any = None) -> Any:
    browser = browser or TestLms.browser(app)
    launched = lms.launch(browser, "learner")
    assert lms.landed(launched), launched.get_data(as_text=True)
    page = lms.landing_page(browser, launched)
    assert page.status_code == 200
    return page


def register(app: Any, issuer: str, auth: str, client_id: str = "other-client") -> None:
    with app.app_context():
        platforms.register_platform(
            get_session(),
            issuer=issuer,
            client_id=client_id,
            auth_login_url=auth + "/auth",
            auth_token_url=auth + "/token",
            jwks_url=auth + "/jwks",
            organisation_name="Annenkommune",
            deployment_ids=["d-1"],
        )
        get_session().commit()


# --- the Content-Security-Policy --------------------------------------------------------


def test_pages_run_no_inline_script_and_only_the_platforms_frame_them(app, lms):
    page = learner_page(app, lms)
    csp = policy(page)

    assert csp["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-inline'" not in csp["style-src"]
    assert csp["frame-ancestors"] == ["'self'", PLATFORM_ISSUER]
    assert csp["object-src"] == ["'none'"]
    html = page.get_data(as_text=True)
    assert not re.search(r"\sstyle=|\son[a-z]+=", html), "inline style or event handler"


def test_a_page_carries_its_icon_and_the_policy_lets_it_show(app, lms):
    """The icon is in the page, an SVG in a data: address, so a browser does not ask for
    /favicon.ico (a 404 after every page before); img-src allows data:."""
    page = learner_page(app, lms)
    found = re.search(
        r'<link rel="icon" href="data:image/svg\+xml,([^"]+)">', page.get_data(as_text=True)
    )
    assert found, "no inline icon"
    icon = ElementTree.fromstring(unquote(found.group(1)))
    assert icon.tag == "{http://www.w3.org/2000/svg}svg"
    assert "data:" in policy(page)["img-src"]


def test_every_inline_script_carries_the_responses_nonce(app, lms):
    """The platform-storage login page, the cookie-less launch page and the page for a
    browser that blocks the tool's cookies are scripts."""
    browser = TestLms.browser(app)
    login = lms.login(browser, "learner", storage_target="_parent")
    launch = lms.post_launch(TestLms.cookieless_browser(app), lms.authorize(login))
    assert launch.status_code == 200, launch.get_data(as_text=True)

    blocked = lms.login(TestLms.cookieless_browser(app), "learner").response
    assert "requestStorageAccess" in blocked.get_data(as_text=True)
    for response in (login.response, launch, blocked):
        assert_page_policy(response)
        nonces = [v for v in policy(response)["script-src"] if v.startswith("'nonce-")]
        assert len(nonces) == 1
        scripts = re.findall(r"<script([^>]*)>", response.get_data(as_text=True))
        assert scripts
        assert all(f'nonce="{nonces[0][7:-1]}"' in s for s in scripts), scripts
    assert policy(login.response)["script-src"] != policy(launch)["script-src"]


def test_frame_ancestors_follow_the_registry_at_once(app, lms):
    """A newly registered platform may frame the tool at the next response (its issuer,
    and the separate host of its login and token URLs, as Canvas has); a disabled one no
    longer may."""
    browser = TestLms.browser(app)
    assert policy(learner_page(app, lms, browser))["frame-ancestors"] == ["'self'", PLATFORM_ISSUER]

    register(app, "https://canvas.example", "https://sso.canvas.example")
    after = policy(browser.get("/learner/"))["frame-ancestors"]
    assert sorted(after) == sorted(
        ["'self'", PLATFORM_ISSUER, "https://canvas.example", "https://sso.canvas.example"]
    )

    runner = app.test_cli_runner()
    disabled = runner.invoke(
        args=[
            "platform",
            "disable",
            "--issuer",
            "https://canvas.example",
            "--client-id",
            "other-client",
        ]
    )
    assert disabled.exit_code == 0, disabled.output
    assert policy(browser.get("/learner/"))["frame-ancestors"] == ["'self'", PLATFORM_ISSUER]


def test_another_process_frames_for_a_platform_registered_elsewhere_after_its_lag(
    app, lms, make_app, monkeypatch
):
    """A page's policy reads no registry generation of its own while its process read one
    lately (at a login or launch): a platform registered by another process may frame
    this one's pages ``FRAME_ORIGINS_LAG_SECONDS`` later at most, not at once."""
    if app.extensions["lti"].redis is None:
        pytest.skip("without Redis each process sees another's change after its cache time")
    browser = TestLms.browser(app)
    assert policy(learner_page(app, lms, browser))["frame-ancestors"] == ["'self'", PLATFORM_ISSUER]

    other = make_app()
    register(other, "https://canvas.example", "https://sso.canvas.example")
    lagging = policy(browser.get("/learner/"))["frame-ancestors"]
    assert lagging == ["'self'", PLATFORM_ISSUER]  # read a moment ago: within the lag

    monkeypatch.setattr(web_security, "FRAME_ORIGINS_LAG_SECONDS", 0.0)  # the lag is over
    after = policy(browser.get("/learner/"))["frame-ancestors"]
    assert "https://canvas.example" in after and "https://sso.canvas.example" in after


def test_an_admin_can_let_the_institutions_own_domain_frame_the_tool(make_app, lms):
    configured = make_app(FRAME_ANCESTORS_EXTRA=("https://kommune.instructure.com/",))
    csp = policy(configured.test_client().get("/verify"))
    assert csp["frame-ancestors"] == ["'self'", PLATFORM_ISSUER, "https://kommune.instructure.com"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"FRAME_ANCESTORS_EXTRA": ("kommune.instructure.com",)},
        {"FRAME_ANCESTORS_EXTRA": ("https://kommune.instructure.com/courses",)},
        {"FRAME_ANCESTORS_EXTRA": ("javascript:alert(1)",)},
        {"LOGIN_RATE_LIMIT": "many"},
        {"LAUNCH_RATE_LIMIT": "600 per fortnightish"},
        {"API_TOKEN_RATE_LIMIT": ""},
        {"VERIFY_RATE_LIMIT": "30 per lunch"},
        {"CALENDAR_RATE_LIMIT": "often"},
        {"LOGIN_RATE_LIMIT": "0 per minute"},
        {"LOG_LEVEL": "LOUD"},
        {"VERIFY_RATE_LIMIT": "30 per minute;0 per second"},
        {"LAUNCH_RECORD_DAYS": 30},
        {"LAUNCH_RECORD_DAYS": 36_501},
    ],
)
def test_a_setting_that_cannot_work_refuses_the_start(make_app, overrides):
    (name,) = overrides
    with pytest.raises(SettingsError, match=name):
        make_app(**overrides)


@pytest.mark.parametrize("level", ["debug", "WARN", "warning", "CRITICAL"])
def test_every_level_logging_knows_starts(make_app, level):
    settings = make_app(LOG_LEVEL=level).config["SETTINGS"]
    assert settings.LOG_LEVEL.upper() == level.upper()


@pytest.mark.parametrize("days", [31, 36_500])
def test_launch_records_kept_from_a_month_to_a_century_start_and_run(make_app, days):
    """The bounds of LAUNCH_RECORD_DAYS: the admin console's 30 days and a day more, and a
    century (a time longer than that once started, and broke the hourly run)."""
    app = make_app(LAUNCH_RECORD_DAYS=days)

    ran = app.test_cli_runner().invoke(args=["retention", "run"])

    assert ran.exit_code == 0, ran.output
    assert "launch record(s) past their retention deleted" in ran.output


def test_the_deep_linking_answer_may_post_to_the_platforms_return_url(app, lms):
    browser = TestLms.browser(app)
    from lti_tool.lti import claims as c

    return_url = "https://return.moodle-sso.example/deep-link-return?x=1"
    launched = lms.signed_launch(
        browser,
        "designer",
        change={
            c.DEEP_LINKING_SETTINGS: {
                **lms.platform.launch_claims(
                    "designer", nonce="unused", message_type=c.DEEP_LINKING_REQUEST
                )[c.DEEP_LINKING_SETTINGS],
                "deep_link_return_url": return_url,
            },
            c.MESSAGE_TYPE: c.DEEP_LINKING_REQUEST,
        },
        message_type=c.DEEP_LINKING_REQUEST,
    )
    picker = lms.landing_page(browser, launched)
    from tests.fakes.lms import parse_forms

    form = next(f for f in parse_forms(picker.get_data(as_text=True)) if f["method"] == "post")
    answer = browser.post(
        form["action"], data={"csrf_token": form["fields"]["csrf_token"], "item": ["home"]}
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert parse_forms(answer.get_data(as_text=True))[0]["action"] == return_url
    assert "https://return.moodle-sso.example" in policy(answer)["form-action"]
    assert "https://return.moodle-sso.example" not in policy(picker)["form-action"]


# --- HSTS ---------------------------------------------------------------------------------


def test_https_sends_strict_transport_security(app, lms):
    response = TestLms.browser(app).get("/verify")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_plain_http_sends_no_strict_transport_security(make_app, lms):
    local = make_app(BASE_URL="http://localhost:5000")
    assert "Strict-Transport-Security" not in local.test_client().get("/verify").headers


def test_behind_a_proxy_the_tool_knows_it_is_https(make_app, lms):
    """With PROXY_FIX_HOPS the proxy's X-Forwarded-Proto and -Host are the request's: the
    demo LMS, which sends every other host to BASE_URL, serves the page; without it the
    tool sees plain http from the proxy."""
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "tool.example"}
    proxied = make_app(PROXY_FIX_HOPS=1).test_client()
    page = proxied.get("/demo/", headers=forwarded)
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")

    unproxied = make_app().test_client().get("/demo/", headers=forwarded)
    assert unproxied.status_code == 302
    assert unproxied.headers["Location"].startswith("https://tool.example/demo")


# --- rate limits ----------------------------------------------------------------------------


def test_login_initiation_is_rate_limited_per_address(make_app, lms, caplog):
    limited = make_app(LOGIN_RATE_LIMIT="2 per minute", METRICS_TOKEN=METRICS_TOKEN)
    browser = limited.test_client()
    before = metrics(browser)  # the counters are the process's: other tests counted too
    params = {**lms.platform.login_params("learner"), "lang": "en"}
    answers = [browser.get("/lti/login", query_string=params).status_code for _ in range(3)]
    assert answers == [302, 302, 429]
    # a refusal like any other: its line, by its reason, naming the platform, and counted
    (line,) = [r for r in caplog.records if getattr(r, "refusal", None)]
    assert (line.refusal, line.status) == ("too_many_logins", 429)
    assert line.claimed_issuer == params["iss"] and line.claimed_client_id == params["client_id"]
    refusals = "laeringslop_lti_refusals_total"
    assert grew(before, metrics(browser), refusals, reason="too_many_logins") == 1
    # one too large to read is refused the same, its parameters unread (not a 500)
    huge = browser.post("/lti/login", data={**params, "lti_message_hint": "x" * 3_000_000})
    assert huge.status_code == 429
    refused = browser.get("/lti/login", query_string=params, headers={"Accept-Language": "en"})
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # about a minute (a slow run may have used some seconds of it)
    assert re.search(r"Try again in (1 minute|\d+ seconds)\.", refused.get_data(as_text=True))
    nb = browser.get("/lti/login", query_string={**params, "lang": "nb"})
    assert re.search(r"Prøv igjen om (1 minutt|\d+ sekunder)\.", nb.get_data(as_text=True))


def test_a_refusal_tells_how_long_its_limit_asks_to_wait(make_app, lms):
    """The page says the wait Retry-After gives, whatever the limit's window: an hour's
    limit does not say "wait a minute"."""
    limited = make_app(LOGIN_RATE_LIMIT="1 per hour")
    browser = limited.test_client()
    params = lms.platform.login_params("learner")
    assert browser.get("/lti/login", query_string=params).status_code == 302
    for lang, told in (("en", "Try again in 1 hour."), ("nn", "Prøv igjen om 1 time.")):
        refused = browser.get("/lti/login", query_string={**params, "lang": lang})
        assert refused.status_code == 429
        assert 3000 < int(refused.headers["Retry-After"]) <= 3600
        assert told in refused.get_data(as_text=True)


def test_the_rate_limits_count_through_the_tools_own_redis_connections(app):
    """One Redis pool a process, with the tool's timeouts (a Redis that stops answering
    fails a login in 5 seconds instead of holding it for ever)."""
    client = app.extensions["lti"].redis
    if client is None:
        pytest.skip("without REDIS_URL the limits count in each process")
    counted_in = app.extensions["rate_limits"].strategy.storage.storage
    assert counted_in.connection_pool is client.connection_pool
    assert counted_in.connection_pool.connection_kwargs["socket_timeout"] == 5


def test_unsigned_launches_are_rate_limited_per_address_and_signed_ones_never(
    make_app, lms, caplog
):
    """A launch the platform signed cannot be forged from outside: however many come from
    one address (a municipality behind one NAT, eight tabs of one person), none is held
    back, even those refused after the signature (a link to a mapping that is gone, a
    deployment not yet approved). Those refused before it (forged, replayed) count; once
    they used the limit up, further ones are answered 429 until the window ends, while
    the signed launches from that address still land: someone forging launches behind a
    municipality's NAT does not lock its employees out."""
    from lti_tool.lti import claims as c
    from lti_tool.services.launches import MAPPING_PARAM
    from tests.functional.test_launch_refusals import new_rsa_key

    limited = make_app(LAUNCH_RATE_LIMIT="2 per minute")
    browser = limited.test_client()
    for _ in range(3):
        assert lms.landed(lms.launch(browser, "learner"))
    gone = lms.signed_launch(browser, "learner", change={c.CUSTOM: {MAPPING_PARAM: "NO-SUCH"}})
    assert gone.status_code == 404
    pending = lms.signed_launch(browser, "learner", change={c.DEPLOYMENT_ID: "not-yet"})
    assert pending.status_code == 403
    an_hour_ago = int(time.time()) - 3600
    expired = lms.signed_launch(
        browser, "learner", change={"iat": an_hour_ago - 60, "exp": an_hour_ago}
    )
    assert expired.status_code == 401  # its signature verified: the platform's
    assert lms.landed(lms.launch(browser, "learner"))  # none of them counted

    login = lms.login(browser, "learner")
    form = lms.authorize(login)
    assert lms.landed(lms.post_launch(browser, form))
    assert lms.post_launch(browser, form).status_code == 401  # replayed: counted
    forged = lms.signed_launch(browser, "learner", key=new_rsa_key())
    assert forged.status_code == 401  # counted: the limit is used up
    caplog.clear()
    refused = lms.signed_launch(browser, "learner", key=new_rsa_key())
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # still logged, and counted in /metrics, by its reason
    assert "LTI refused: invalid_token (429)" in caplog.text
    assert lms.post_launch(browser, form).status_code == 429  # a replay again
    for _ in range(3):  # the address's signed launches land, the window used up
        assert lms.landed(lms.launch(browser, "learner"))
    assert lms.signed_launch(browser, "learner", key=new_rsa_key()).status_code == 429
    other = limited.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    forged_elsewhere = lms.signed_launch(other, "learner", key=new_rsa_key())
    assert forged_elsewhere.status_code == 401  # another address: its own count


def test_an_ipv6_client_is_counted_by_its_slash_64(make_app, lms):
    """One host is given a /64 and may take any address in it, one per request: counted
    per address, an IPv6 limit would hold nothing. An IPv4 client reaching a dual-stack
    socket counts as its IPv4 address."""
    limited = make_app(LOGIN_RATE_LIMIT="1 per minute")
    params = lms.platform.login_params("learner")

    def login_from(address: str) -> int:
        client = limited.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        return client.get("/lti/login", query_string=params).status_code

    assert login_from("2001:db8:1:2::10") == 302
    assert login_from("2001:db8:1:2:ffff::20") == 429  # the same /64
    assert login_from("2001:db8:1:3::10") == 302  # the next one
    assert login_from("192.0.2.9") == 302
    assert login_from("::ffff:192.0.2.9") == 429
    assert login_from("192.0.2.9:41234") == 429  # a proxy that writes the port
    assert login_from("64:ff9b::c000:209") == 429  # through NAT64
    assert login_from("[2001:db8:1:3::99]:443") == 429


def test_a_refusal_is_answered_when_redis_cannot_count_it(make_app, lms, caplog):
    """Counting a refused launch fails (Redis answers with an error): the launch is
    still refused as it was (401), not turned into a 500."""
    from redis.exceptions import ResponseError

    from tests.functional.test_launch_refusals import new_rsa_key

    limited = make_app(LAUNCH_RATE_LIMIT="5 per minute")
    counter = limited.extensions["rate_limits"]

    def wrong_type(*_args: Any) -> bool:
        raise ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")

    browser = limited.test_client()
    login = lms.login(browser, "learner")
    claims = lms.platform.launch_claims("learner", nonce=login.auth_query["nonce"])
    token = lms.platform.sign(claims, key=new_rsa_key())
    counter.strategy.hit = wrong_type  # from here: the login counted already
    forged = lms.post_launch(browser, {"id_token": token, "state": login.auth_query["state"]})
    assert forged.status_code == 401
    assert "a refusal not counted: ResponseError: WRONGTYPE" in caplog.text


def test_a_whole_class_behind_one_address_may_launch_by_default(app, lms):
    """The defaults leave room for a class starting at once from one municipal NAT."""
    settings = app.config["SETTINGS"]
    for limit in (settings.LOGIN_RATE_LIMIT, settings.LAUNCH_RATE_LIMIT):
        count, _, period = limit.partition(" per ")
        assert int(count) >= 300 and period == "minute"


def test_an_api_token_is_rate_limited_on_its_own(make_app, lms, cli):
    limited = make_app(API_TOKEN_RATE_LIMIT="2 per minute")
    client = limited.test_client()

    def token() -> str:
        result = limited.test_cli_runner().invoke(
            args=["api-token", "create", "--organisation", "Testkommune", "--scope", "read"]
        )
        return result.output.strip().splitlines()[-1]

    first, second = token(), token()

    def get(t: str) -> Any:
        return client.get(
            API + "/frameworks",
            headers={"Authorization": f"Bearer {t}", "Accept-Language": "en"},
        )

    assert [get(first).status_code for _ in range(3)] == [200, 200, 429]
    refused = get(first)
    assert refused.status_code == 429
    assert refused.is_json and re.search(
        r"Try again in (1 minute|\d+ seconds)\.", str(refused.get_json())
    )
    assert get(second).status_code == 200  # another token counts on its own


def test_an_api_tokens_limit_is_one_budget_for_the_whole_api(make_app, lms, cli):
    """API_TOKEN_RATE_LIMIT is how often one token may call /api/v1, whichever endpoints:
    an integration syncing several does not get the limit once per endpoint."""
    limited = make_app(API_TOKEN_RATE_LIMIT="2 per minute")
    created = limited.test_cli_runner().invoke(
        args=["api-token", "create", "--organisation", "Testkommune", "--scope", "read"]
    )
    bearer = {"Authorization": f"Bearer {created.output.strip().splitlines()[-1]}"}
    client = limited.test_client()
    paths = ("/frameworks", "/job-roles", "/job-roles")
    assert [client.get(API + p, headers=bearer).status_code for p in paths] == [200, 200, 429]


def test_the_pages_own_api_calls_are_not_counted_as_a_tokens(make_app, lms):
    """A launched person's pages call the API with the session, not a token: the token
    limit leaves them alone (all of them would share one counter otherwise)."""
    limited = make_app(API_TOKEN_RATE_LIMIT="1 per minute")
    designer = TestLms.browser(limited)
    assert lms.landed(lms.launch(designer, "designer"))
    assert [designer.get(API + "/frameworks").status_code for _ in range(3)] == [200] * 3


def test_a_refused_request_is_not_counted_against_a_longer_window(make_app, lms):
    """With several windows the shortest is checked first, whatever the order written: a
    burst the short window refuses leaves the minute's budget for later. (Five seconds,
    not one: on a busy CI machine three requests once took longer than a second, and the
    second request found a new window.)"""
    limited = make_app(VERIFY_RATE_LIMIT="3 per minute;1 per 5 seconds")
    anyone = limited.test_client()
    code = "/verify/ABCD-EFGH-JKMN?format=json"
    assert [anyone.get(code).status_code for _ in range(3)] == [404, 429, 429]
    time.sleep(5.1)
    assert anyone.get(code).status_code == 404
