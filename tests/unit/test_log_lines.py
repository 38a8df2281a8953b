"""The log formatters and their set-up (the HTTP side: tests/functional/test_observability)."""

from __future__ import annotations

import json
import logging
import re

import pytest

from lti_tool import observability
from lti_tool.observability import JsonFormatter, TextFormatter, bound_request_id


def record(message: str = "sent %s", *args: object) -> logging.LogRecord:
    return logging.getLogger("lti_tool.test").makeRecord(
        "lti_tool.test", logging.INFO, __file__, 1, message, args or ("x",), None
    )


def test_a_record_keeps_the_request_id_it_was_made_under():
    outside = observability.current_request_id()
    with bound_request_id("req-00000001") as given:
        made = record()
    assert given == "req-00000001"
    assert observability.current_request_id() == outside  # unbound again
    line = json.loads(JsonFormatter().format(made))
    assert line["request_id"] == "req-00000001" and line["message"] == "sent x"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])


def test_without_an_id_a_new_one_is_bound():
    with bound_request_id(None) as made:
        assert observability.current_request_id() == made and len(made) == 32


def test_the_text_format_shows_the_id_in_brackets():
    with bound_request_id("req-00000002"):
        made = record()
    assert TextFormatter().format(made).endswith("INFO lti_tool.test [req-00000002]: sent x")
    without = record()
    without.request_id = None  # made outside any request
    assert "[-]: sent x" in TextFormatter().format(without)


@pytest.mark.parametrize(("log_format", "kind"), [("json", JsonFormatter), ("text", TextFormatter)])
def test_logging_is_set_up_once_like_basic_config(log_format, kind):
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers = []
    try:
        observability.configure_logging("warning", log_format)
        (handler,) = root.handlers
        assert isinstance(handler.formatter, kind) and root.level == logging.WARNING
        observability.configure_logging("debug", "text")  # configured already: left alone
        assert root.handlers == [handler] and root.level == logging.WARNING
    finally:
        root.handlers, root.level = saved, level
