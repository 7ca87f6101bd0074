"""A throwaway redis-server on 127.0.0.1 for tests that need shared counters."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time

from tests.postgres import free_port


class RedisUnavailable(RuntimeError):
    """No redis-server is installed here."""


class RedisServer:
    """redis-server without persistence on a free port; `stop()` ends it."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RedisUnavailable("redis-server is not installed")
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="tessera-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        """Start and wait until it answers PING."""
        import redis
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.directory],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RedisUnavailable("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)
