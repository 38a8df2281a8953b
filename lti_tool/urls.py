"""The tool's own addresses, built in one place so that they hold wherever the tool is
served: behind a path prefix (``SCRIPT_NAME``, e.g. ``/lti-tool`` from a reverse proxy's
``X-Forwarded-Prefix``) as well as at a host's root.

Two kinds of address: a *return path* that a form carries (``here``), which is a path
within the tool and does not hold the prefix, so the forms' schemas can check it against
the tool's own areas; and what is given to the browser (``tool_path``) or to the world
(``absolute_url``: in calendars and links sent out), which does. ``BASE_URL`` is the tool's
public address, the prefix included.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from lti_tool.lti.services import lti_services


def here() -> str:
    """This page's path within the tool (without the prefix): the page a form returns to."""
    return request.path


def tool_path(path: str) -> str:
    """A path within the tool (``here``'s) as the browser must ask for it: behind the
    prefix the tool is served under."""
    return request.script_root + path


def absolute_url(endpoint: str, **values: Any) -> str:
    """The public address of one of the tool's pages: ``BASE_URL`` and the endpoint's
    path. Works without a request too (a calendar feed, a worker)."""
    adapter = current_app.url_map.bind("localhost", script_name="/")
    return lti_services().settings.base_url + adapter.build(endpoint, values)
