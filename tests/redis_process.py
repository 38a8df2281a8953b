"""A real redis-server of a test's own, on a free port: for what the shared test Redis
must not be given (a memory bound, a configuration of its own)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.fakes.platform_server import free_port


@contextmanager
def redis_server(folder: Path, *arguments: str) -> Iterator[str]:
    """redis-server started with ``arguments`` (it keeps nothing on disk); yields its
    URL once it answers. Skips the test on a machine without redis-server."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("no redis-server on this machine")
    port = free_port()
    started = subprocess.Popen(  # noqa: S603 - redis-server, with the test's own arguments
        [server, *arguments, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        cwd=folder,
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert started.poll() is None, f"redis-server refused {arguments}"
                assert time.monotonic() < deadline, "redis-server did not answer in 10 s"
                time.sleep(0.05)
        # the port was free a moment ago: make sure it is this server that answers there
        assert client.info("server")["process_id"] == started.pid, "port taken meanwhile"
        client.close()
        yield url
    finally:
        started.terminate()
        started.wait(10)
