"""Redis down or not answering: what needs it fails at once with "try again in a moment",
what can do without it for a while keeps working. A person signed in keeps the tool in the
LMS frame (the pages' framing policy comes from the database, not only 'self'), public
verification answers (its rate limit counts in the process meanwhile), and one request
waits Redis's timeout, not every one (``redis_pool``)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis import Redis
from redis.exceptions import ConnectionError, ResponseError

from lti_tool import web_security
from lti_tool.lti import services as lti_services_module
from lti_tool.redis_pool import FailFastPool
from tests.conftest import PLATFORM_ISSUER
from tests.fakes.freezing_proxy import FreezingProxy
from tests.fakes.lms import TestLms
from tests.fakes.redis_server import FakeRedis
from tests.functional.test_mapping_flow import NURSE_RIGHT, build_mapping, deliver, place, take
from tests.functional.test_web_security import learner_page, policy, register
from tests.redis_process import redis_server

UNKNOWN_CODE = "/verify/ABCD-EFGH-JKMN?format=json"
#: A Redis URL on which nothing listens: every connection is refused at once.
NOBODY_THERE = "redis://127.0.0.1:1/0"


def test_a_signed_in_person_keeps_the_tool_in_the_lms_frame_while_redis_is_down(app, make_app, lms):
    """The launch went while Redis answered; then Redis went down (another process, as a
    host whose Redis is gone): the pages still name the platform as one that may frame
    them. Before, they said frame-ancestors 'self' only, and the LMS showed a blocked frame."""
    browser = TestLms.browser(app)
    learner_page(app, lms, browser)
    down = make_app(REDIS_URL=NOBODY_THERE, VERIFY_RATE_LIMIT="2 per minute")
    same_person = TestLms.same_browser_on(browser, down)

    for _ in range(2):  # the first finds Redis down; the second is refused without asking
        page = same_person.get("/learner/")
        assert page.status_code == 200
        assert policy(page)["frame-ancestors"] == ["'self'", PLATFORM_ISSUER]

    anyone = down.test_client()
    answers = [anyone.get(UNKNOWN_CODE).status_code for _ in range(3)]
    assert answers == [404, 404, 429]  # verification answers, and is still limited

    login = anyone.get("/lti/login", query_string=lms.platform.login_params("learner"))
    assert login.status_code == 503  # the login's state lives in Redis: try again soon
    assert login.headers["Retry-After"] == "30"


@pytest.fixture
def proxied(make_app: Any, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``proxied(retry_seconds)``: a tool whose Redis (the test one) is behind a
    ``FreezingProxy``, its Redis timeout 1 s (not 5), refusing for ``retry_seconds`` after
    a failure (not 3); every page asks Redis for the registry's generation (no lag
    allowed), as a page does that comes 5 s after its process last read it."""
    if not redis_url:
        pytest.skip("a Redis server behind a network connection")
    monkeypatch.setattr(lti_services_module, "REDIS_SECONDS", 1)
    monkeypatch.setattr(web_security, "FRAME_ORIGINS_LAG_SECONDS", 0.0)
    url = urlsplit(redis_url)
    proxy = FreezingProxy(url.hostname or "127.0.0.1", url.port or 6379)
    through = url._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()

    def make(retry_seconds: float) -> Any:
        monkeypatch.setattr(lti_services_module, "REDIS_RETRY_SECONDS", retry_seconds)
        # the registry's entries kept long: a change is seen by its generation, not by age
        return make_app(REDIS_URL=through, REGISTRY_CACHE_SECONDS=300), proxy

    try:
        yield make
    finally:
        proxy.close()


def test_a_redis_that_stops_answering_holds_one_request_not_each(proxied, lms, caplog):
    """Redis accepts and never answers (a paused server, a hung host): the first request
    that asks waits its timeout; the pages after it answer at once, with their framing,
    verification answers, and a login is told at once to try again, none of them asking
    Redis (``/readyz`` still asks, and says so)."""
    tool, proxy = proxied(retry_seconds=60)  # no command tries Redis again in this test
    browser = TestLms.browser(tool)
    learner_page(tool, lms, browser)
    proxy.frozen.set()
    proxy.freeze_open()

    started = time.monotonic()
    first = browser.get("/learner/")
    assert first.status_code == 200 and time.monotonic() - started > 0.8  # its 1 s timeout
    assert policy(first)["frame-ancestors"] == ["'self'", PLATFORM_ISSUER]
    sent = proxy.swallowed

    started = time.monotonic()
    pages = [browser.get("/learner/") for _ in range(5)]
    anyone = tool.test_client()
    verified = anyone.get(UNKNOWN_CODE)
    login = anyone.get("/lti/login", query_string=lms.platform.login_params("learner"))
    assert proxy.swallowed == sent  # 7 requests, and not one command sent to Redis
    assert time.monotonic() - started < 4.5  # (each waiting the timeout: 5 s at least)
    assert all(p.status_code == 200 for p in pages)
    assert all(policy(p)["frame-ancestors"] == ["'self'", PLATFORM_ISSUER] for p in pages)
    assert verified.status_code == 404
    assert login.status_code == 503
    refused = [r for r in caplog.records if r.getMessage().startswith("Redis is unavailable")]
    assert len(refused) == 1 and refused[0].exc_info is None  # a line, not a traceback

    ready = anyone.get("/readyz")  # asks Redis on its own connections: never refused
    assert ready.status_code == 503 and ready.get_json()["checks"]["cache"] == "unreachable"


def test_pages_alone_find_redis_again(proxied, make_app, lms):
    """Redis answers again: once the retry is due, a page asks it (no login need come),
    so a registry change made elsewhere shows in the pages' framing, and logins go."""
    tool, proxy = proxied(retry_seconds=1)
    browser = TestLms.browser(tool)
    learner_page(tool, lms, browser)
    proxy.frozen.set()
    proxy.freeze_open()
    assert browser.get("/learner/").status_code == 200  # finds Redis not answering

    proxy.thaw()  # Redis answers again (the frozen connections are dropped)
    register(make_app(), "https://canvas.example", "https://sso.canvas.example")
    deadline = time.monotonic() + 10
    while (
        "https://canvas.example" not in policy(page := browser.get("/learner/"))["frame-ancestors"]
    ):
        assert time.monotonic() < deadline, policy(page)["frame-ancestors"]
        time.sleep(0.2)
    assert lms.landed(lms.launch(TestLms.browser(tool), "learner"))


def test_an_error_in_redis_answer_is_an_answer(redis_url):
    """A command Redis answers with an error (a wrong type) after a failure: Redis is
    there, and the commands are no longer refused."""
    if not redis_url:
        pytest.skip("a Redis server")
    client = Redis(connection_pool=FailFastPool.from_url(redis_url, retry_seconds=0.01))
    client.set("a-string", "x")
    client.connection_pool.breaker.failed(ConnectionError("gone a moment"))
    time.sleep(0.02)
    with pytest.raises(ResponseError):
        client.lpush("a-string", "y")
    assert client.get("a-string") == b"x"  # not refused
    client.close()


def test_grades_reach_the_lms_while_redis_is_down(app, make_app, lms, care, gradebook):
    """The worker keeps the LMS's access tokens in Redis, a cache: while Redis is down it
    asks the LMS for one per score, and the scores go (they waited, failing, before)."""
    mapping_id = build_mapping(app, lms, care)
    link_id = place(lms, app, gradebook, mapping_id)
    take(app, lms, "learner", link_id, NURSE_RIGHT)

    counts = deliver(make_app(REDIS_URL=NOBODY_THERE))  # a worker whose Redis is down

    assert counts.delivered == 1
    assert gradebook.given("101", lms.platform.links[link_id].lineitem) == [100]


def test_a_connection_broken_under_a_command_is_no_redis_failure(proxied, lms, caplog):
    """Redis restarted under a command (or a firewall cut the connection): that login is
    told to try again, and the next one, on a new connection, goes; nothing is refused
    for the next seconds."""
    tool, proxy = proxied(retry_seconds=60)
    browser = TestLms.browser(tool)
    learner_page(tool, lms, browser)
    proxy.break_on = b"registry-generation"  # the login's first command

    params = lms.platform.login_params("learner")
    assert TestLms.browser(tool).get("/lti/login", query_string=params).status_code == 503
    assert lms.landed(lms.launch(TestLms.browser(tool), "learner"))
    assert "Redis failed" not in caplog.text


def test_a_redis_that_cannot_write_is_a_moment_to_wait_not_an_error(app, make_app, lms, caplog):
    """Redis full (OOM), or a replica after a failover (READONLY), answers each command
    with an error: a login is told to try again in a moment (503, not 500), and
    verification answers, still limited. The log says what Redis answered, a line a
    request (no traceback: it lasts until Redis is mended)."""
    for reply in (
        b"-READONLY You can't write against a read only replica.\r\n",
        b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",
        b"-MISCONF Redis is configured to save RDB snapshots, but it's not able to.\r\n",
        # Redis 6.2: a script's write refused, wrapped
        b"-ERR Error running script (call to f_0): @user_script:1: @user_script: 1: "
        b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",
    ):
        server = FakeRedis(reply)
        try:
            full = make_app(REDIS_URL=server.url, VERIFY_RATE_LIMIT="1 per minute")
            anyone = full.test_client()
            caplog.clear()
            login = anyone.get("/lti/login", query_string=lms.platform.login_params("learner"))
            assert login.status_code == 503, reply
            (line,) = [row for row in caplog.records if row.name == "lti_tool.errors"]
            assert line.getMessage().startswith("Redis cannot serve GET /lti/login: ")
            # what Redis said after its code (redis-py keeps the code in the class name)
            said = reply.decode().rsplit(": ", 1)[-1].strip().split(" ", 1)[1]
            assert said in line.getMessage(), said
            assert not line.exc_info
            assert [anyone.get(UNKNOWN_CODE).status_code for _ in range(2)] == [404, 429]
        finally:
            server.close()


def test_a_full_redis_refuses_new_logins_while_those_signed_in_work_on(make_app, lms, tmp_path):
    """A real redis-server bounded as ``compose.yaml`` bounds it (noeviction), then full
    (logins started and never finished fill it): a new login is told to try again in a
    moment (503), the person signed in before goes on with their pages, a login caught
    at its cookie check is kept for that moment, and once there is room again both
    land. Nothing already kept is dropped to make room."""
    params = lms.platform.login_params("learner")
    with redis_server(tmp_path, "--maxmemory-policy", "noeviction") as url:
        full = make_app(REDIS_URL=url)
        browser = full.test_client()
        launched = lms.launch(browser, "learner")
        assert lms.landed(launched)
        checking = full.test_client()  # a new browser in the frame: its login held
        check = checking.get("/lti/login", query_string=params).headers["Location"]
        assert lms.is_check(check)
        redis = Redis.from_url(url, socket_timeout=5)
        kept = sorted(redis.keys())
        redis.config_set("maxmemory", 1)  # full: Redis refuses every write from here

        assert browser.get(lms.landing_path(launched)).status_code == 200
        newcomer = full.test_client()
        login = newcomer.get("/lti/login", query_string=params)
        assert login.status_code == 503
        assert int(login.headers["Retry-After"]) > 0
        assert checking.get(check).status_code == 503
        assert sorted(redis.keys()) == kept  # noeviction: nothing dropped, the held login kept

        redis.config_set("maxmemory", 0)
        assert lms.landed(lms.launch(newcomer, "learner"))
        form = lms.authorize_redirect(checking.get(check))  # on to the platform
        assert lms.landed(lms.post_launch(checking, form))
        redis.close()
