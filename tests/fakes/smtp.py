"""A small SMTP server on localhost for the tests: it speaks enough of RFC 5321 (EHLO,
MAIL, RCPT, DATA, QUIT) for ``smtplib`` and keeps each message it receives, so the tool's
real mailer is tested over a real socket. It can refuse mail with a reply code."""

from __future__ import annotations

import email
import email.policy
import socketserver
import threading
from email.message import EmailMessage
from typing import Any


class _Handler(socketserver.StreamRequestHandler):
    server: FakeSmtpServer

    def _reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self._reply("220 fake.smtp ESMTP")
        data_lines: list[bytes] | None = None
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            if data_lines is not None:
                if raw in (b".\r\n", b".\n"):
                    message = email.message_from_bytes(
                        b"".join(data_lines), policy=email.policy.default
                    )
                    self.server.received.append(message)  # type: ignore[arg-type]
                    data_lines = None
                    self._reply("250 queued")
                else:
                    data_lines.append(raw[1:] if raw.startswith(b"..") else raw)
                continue
            command = raw.decode(errors="replace").strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self._reply("250 fake.smtp")
            elif command.startswith("MAIL FROM"):
                self._reply(self.server.refuse or "250 ok")
            elif command.startswith("RCPT TO"):
                self._reply("250 ok")
            elif command == "DATA":
                data_lines = []
                self._reply("354 go ahead")
            elif command == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("250 ok")


class FakeSmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[EmailMessage] = []
        self.refuse: str | None = None
        """A reply to MAIL FROM instead of 250 (e.g. "550 no such sender")."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> FakeSmtpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self.server_close()
