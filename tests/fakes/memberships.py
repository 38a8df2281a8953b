"""A platform's course memberships endpoint (LTI NRPS 2.0), faked with ``responses``.

It answers with the pages it is given, each linked to the next with
``Link: <…>; rel="next"`` as Canvas does (a one-page roster is Moodle's way), and checks
the bearer token against the fake gradebook's token endpoint, which hands tokens out for
every scope. ``down`` makes it answer a status, or raise an exception (no answer).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import responses

from lti_tool.lti import nrps
from lti_tool.lti.demo_platform import PERSONAS
from tests.fakes.gradebook import FakeGradebook

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "lms-samples" / "moodle-5.2"
LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


def moodle_sample() -> dict[str, Any]:
    """The memberships container Moodle 5.2 answered (shared/lms-samples)."""
    exchange = json.loads((SAMPLES / "ags-nrps-exchange.json").read_text())
    found: dict[str, Any] = next(x for x in exchange if x["name"] == "NRPS GET memberships")
    body: dict[str, Any] = found["response"]["body"]
    return body


def moodle_member(persona: str, role: str = "Learner") -> dict[str, Any]:
    """A member as Moodle lists them (the sample's shape), for a test platform persona."""
    who = PERSONAS[persona]
    return {
        **moodle_sample()["members"][0],
        "roles": [role],
        "user_id": who.sub,
        "lis_person_sourcedid": f"EMP-{persona}",
        "name": who.name,
        "given_name": who.given_name,
        "family_name": who.family_name,
        "email": who.email,
        "ext_user_username": persona,
    }


def canvas_member(persona: str, role: str = "Learner", **changes: Any) -> dict[str, Any]:
    """A member as Canvas lists them: full role URIs, picture, its LTI 1.1 user id."""
    who = PERSONAS[persona]
    member = {
        "status": "Active",
        "name": who.name,
        "picture": "https://canvas.example/images/messages/avatar-50.png",
        "given_name": who.given_name,
        "family_name": who.family_name,
        "email": who.email,
        "user_id": who.sub,
        "lti11_legacy_user_id": "c0ddd6c90cbe1ef0f32fbce5c3bf654204be186c",
        "roles": [LIS + f"membership#{role}", LIS + "institution/person#Student"],
    }
    member.update(changes)
    return member


class FakeMemberships:
    __test__ = False

    def __init__(self, http: responses.RequestsMock, url: str, gradebook: FakeGradebook) -> None:
        self.url = url
        self.gradebook = gradebook
        self.pages: list[dict[str, Any]] = [{"members": []}]
        self.down: int | Exception | None = None
        self.calls: list[Any] = []
        """Every request received (method, URL, headers)."""
        base = url.split("?")[0]
        http.add_callback(responses.GET, re.compile(re.escape(base) + r"(\?.*)?$"), self._answer)

    def serve(self, *pages: list[dict[str, Any]], context: dict[str, Any] | None = None) -> None:
        """The roster, in one page per argument (lists of members)."""
        self.pages = [
            {"id": self.url, "context": context or moodle_sample()["context"], "members": page}
            for page in pages
        ]

    def _answer(self, request: Any) -> Any:
        self.calls.append(request)
        if isinstance(self.down, Exception):
            raise self.down
        if self.down is not None:
            return self.down, {}, json.dumps({"error": "refused"})
        auth = request.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") not in self.gradebook.valid_tokens:
            return 401, {}, json.dumps({"status": 401, "reason": "Unauthorized"})
        page = int(dict(re.findall(r"[?&](\w+)=([^&]*)", request.url)).get("page", "1"))
        headers = {"Content-Type": nrps.MEMBERSHIP_CONTAINER_TYPE}
        links = [f'<{self.url}?differences=since-now>; rel="differences"']
        if page < len(self.pages):
            links.insert(0, f'<{self.url}?page={page + 1}>; rel="next"')
        headers["Link"] = ", ".join(links)
        return 200, headers, json.dumps(self.pages[page - 1])
