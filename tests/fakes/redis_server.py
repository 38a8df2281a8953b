"""A Redis server that answers every command with one error (LOADING, OOM, READONLY), or
greets each connection with one (max clients reached) and closes it."""

from __future__ import annotations

import socket
import threading
from typing import Any


class FakeRedis:
    """A Redis server that takes the connection's handshake (RESP3 ``HELLO``, ``CLIENT``)
    and answers every other command with ``reply`` (an error line: ``-LOADING …``)."""

    def __init__(self, reply: bytes, greeting: bytes = b"") -> None:
        self.reply = reply
        #: Sent as each connection is accepted (Redis at maxclients says so, and closes).
        self.greeting = greeting
        self.accepted = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.server.getsockname()[1]}/0"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            if self.greeting:
                connection.sendall(self.greeting)
                connection.close()
                continue
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: Any) -> None:
        with connection, connection.makefile("rb") as commands:
            while line := commands.readline():
                if not line.startswith(b"*"):
                    continue
                words = []
                for _ in range(int(line[1:])):
                    size = int(commands.readline()[1:])
                    words.append(commands.read(size + 2)[:-2].upper())
                if words[0] == b"HELLO":
                    connection.sendall(b"%1\r\n$5\r\nproto\r\n:3\r\n")
                elif words[0] == b"CLIENT":
                    connection.sendall(b"+OK\r\n")
                else:
                    connection.sendall(self.reply)

    def close(self) -> None:
        self.server.close()
