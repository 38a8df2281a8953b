"""A TCP proxy whose connections freeze, as a server that accepts and never answers."""

from __future__ import annotations

import contextlib
import socket
from typing import Any


class _Link:
    """One connection through the proxy: frozen, it passes nothing on, either way."""

    def __init__(self, client: Any, server: Any) -> None:
        self.ends = (client, server)
        self.frozen = False


class FreezingProxy:
    """A TCP proxy in front of a server (PostgreSQL, Redis) whose connections can freeze:
    one frozen takes what the tool sends and passes nothing on, either way, as a server
    that stopped answering (a hung host behind a load balancer). ``frozen`` freezes every
    connection, new ones too; ``freeze_open`` those open now; ``freeze_on`` each whose
    client sends those bytes (a statement), from then on. ``thaw`` drops the frozen
    connections (as TCP gives up on them at last) and passes new ones again.
    ``break_on``: the first connection whose client sends those bytes is closed, the
    command not passed on (a server restarted under it)."""

    def __init__(self, host: str, port: int) -> None:
        import threading

        self.upstream = (host, port)
        self.frozen = threading.Event()
        self.freeze_on: bytes | None = None
        self.break_on: bytes | None = None
        #: What clients sent that a freeze kept from the server (pieces of it, as read).
        self.swallowed = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.links: list[_Link] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            link = _Link(client, socket.create_connection(self.upstream))
            self.links.append(link)
            for source, target in (link.ends, link.ends[::-1]):
                threading.Thread(
                    target=self._pump, args=(link, source, target), daemon=True
                ).start()

    def _pump(self, link: _Link, source: Any, target: Any) -> None:
        try:
            while data := source.recv(65536):
                if source is link.ends[0] and self.freeze_on and self.freeze_on in data:
                    link.frozen = True
                if source is link.ends[0] and self.break_on and self.break_on in data:
                    self.break_on = None  # once
                    break
                if not (link.frozen or self.frozen.is_set()):
                    target.sendall(data)
                elif source is link.ends[0]:
                    self.swallowed += 1
        except OSError:
            pass
        for end in link.ends:
            end.close()

    def freeze_open(self) -> None:
        for link in self.links:
            link.frozen = True

    def drop_open(self) -> None:
        """Close the connections open now, as a database restart does."""
        for link in self.links:
            for end in link.ends:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
        self.links = []

    def thaw(self) -> None:
        for link in self.links:
            if link.frozen or self.frozen.is_set():
                for end in link.ends:
                    with contextlib.suppress(OSError):
                        end.shutdown(socket.SHUT_RDWR)
        self.links = [link for link in self.links if not link.frozen]
        self.frozen.clear()
        self.freeze_on = None

    def close(self) -> None:
        self.frozen.set()
        self.thaw()
        self.server.close()
