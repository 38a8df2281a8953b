"""The test LMS over real HTTP, for tools running in processes of their own.

The fakes answer through ``responses`` inside the test process (``TestLms`` serves the
JWKS, ``FakeGradebook`` the token and AGS endpoints). A tool in another process cannot
reach those, so this server listens on 127.0.0.1 and relays each request it gets to them:
the platform's issuer is this server's URL. Score posts can be held (``hold_scores``) to
catch a worker in the middle of a delivery.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

#: Headers a tool's request carries that the fakes look at.
_FORWARDED = ("Authorization", "Content-Type", "Accept")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PlatformServer:
    """Relays HTTP requests on ``url`` to the ``responses`` mock active in this process
    (which must not pass ``url`` through)."""

    __test__ = False

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.scores_open = threading.Event()
        self.scores_open.set()
        self.score_arrived = threading.Event()
        """Set when a score post comes in (held or not)."""
        lock = threading.Lock()  # the fakes keep their records without locks of their own
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._relay("GET")

            def do_POST(self) -> None:
                self._relay("POST")

            def _relay(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if method == "POST" and "/scores" in self.path:
                    server.score_arrived.set()
                    server.scores_open.wait(30)
                headers = {k: self.headers[k] for k in _FORWARDED if self.headers.get(k)}
                with lock:
                    answer = requests.request(
                        method, server.url + self.path, data=body, headers=headers, timeout=10
                    )
                self.send_response(answer.status_code)
                for name in ("Content-Type", "Link"):
                    if name in answer.headers:
                        self.send_header(name, answer.headers[name])
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hold_scores(self) -> None:
        """Score posts wait (up to 30 s) until ``release_scores``."""
        self.score_arrived.clear()
        self.scores_open.clear()

    def release_scores(self) -> None:
        self.scores_open.set()

    def close(self) -> None:
        self.scores_open.set()
        self.server.shutdown()
        self.server.server_close()
