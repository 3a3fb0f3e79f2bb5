"""Fixtures: a real embedded Redis and the real app served over HTTP on loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import pytest
import redis.asyncio as aioredis
from hypothesis.configuration import set_hypothesis_home_dir
from redis.asyncio.cluster import RedisCluster

from plugin.config import Secret, Settings
from plugin.server import make_server
from plugin.store import sealing
from plugin.store.connection import EmbeddedRedis, open_cluster
from plugin.store.shops import NewShop, add_shop
from tests.cluster import Cluster, running_cluster

T = TypeVar("T")


@dataclass
class Store:
    """The embedded Redis of the test session and a way to run async calls against it."""

    embedded: EmbeddedRedis
    settings: Settings

    def client(self) -> aioredis.Redis:
        return aioredis.Redis(unix_socket_path=self.embedded.socket_path)

    async def ready(self, client: aioredis.Redis) -> None:
        """Prepare a new client before its first command (nothing to do on one Redis)."""

    def run(self, work: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        async def call() -> T:
            client = self.client()
            await self.ready(client)
            try:
                return await work(client)
            finally:
                await client.aclose()

        return run_async(call)


def run_async(work: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion in a thread of its own, so it works even where the
    calling thread already runs an event loop (Playwright's sync API does)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        async def wrapped() -> T:
            return await work()

        try:
            outcome["value"] = asyncio.run(wrapped())
        except BaseException as error:  # re-raised in the calling thread
            outcome["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


_HYPOTHESIS_HOMES: list[Path] = []


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis keeps its caches (the Unicode tables behind text strategies) in a folder of
    this run, not a .hypothesis in the project: a run leaves nothing behind (made here, not
    on import: a run pytest refuses before configuring, a usage error, imports this file and
    never unconfigures)."""
    home = Path(tempfile.mkdtemp(prefix="shopreco-hypothesis-"))
    _HYPOTHESIS_HOMES.append(home)
    set_hypothesis_home_dir(home)


def pytest_unconfigure(config: pytest.Config) -> None:
    while _HYPOTHESIS_HOMES:
        shutil.rmtree(_HYPOTHESIS_HOMES.pop(), ignore_errors=True)


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="shopreco-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def store(data_dir: Path) -> Iterator[Store]:
    embedded = EmbeddedRedis(data_dir, fsync_always=False)
    sealing.use(sealing.Keyring.for_data_dir(data_dir))  # as open_redis does, for CLI children
    settings = Settings(
        data_dir=data_dir, public_url="http://testserver", max_body_bytes=64 * 1024,
        retrain_debounce_seconds=3600, retrain_max_delay_seconds=3600, fsync_always=False,
        # a loaded CI machine can stall the shared server's loop for seconds; the body
        # deadline itself is tested on servers of its own (tests/plugin/web/test_body_timeout.py)
        body_timeout_seconds=60,
    )
    yield Store(embedded, settings)
    embedded.close()


class ClusterStore(Store):
    """The session's test cluster (tests/cluster.py) in the place of the embedded Redis: the
    same fixtures and tests, every command through a RedisCluster client."""

    def __init__(self, cluster: Cluster, settings: Settings) -> None:
        self.cluster = cluster
        self.settings = settings

    def client(self) -> aioredis.Redis:
        return cast(aioredis.Redis, open_cluster(self.cluster.url))

    async def ready(self, client: aioredis.Redis) -> None:
        await cast(RedisCluster, client).initialize()  # as open_redis does


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    """A 3-master, 3-replica Redis Cluster on loopback, started only for tests that ask."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def cluster_store(redis_cluster: Cluster, data_dir: Path) -> ClusterStore:
    sealing.use(sealing.Keyring.for_data_dir(data_dir))
    settings = Settings(
        data_dir=data_dir / "cluster", redis_url=Secret(redis_cluster.url),
        public_url="http://testserver", max_body_bytes=64 * 1024,
        retrain_debounce_seconds=3600, retrain_max_delay_seconds=3600, fsync_always=False,
        body_timeout_seconds=60,
    )
    return ClusterStore(redis_cluster, settings)


class LiveServer:
    """The app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, settings: Settings, extra_routes: Any = (), port: int = 0) -> None:
        # the real server's configuration (proxy trust, timeouts), not uvicorn's defaults
        self.server = make_server(settings, "127.0.0.1", port, extra_routes, log_level="warning")
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("test server failed to start")
            self.thread.join(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def base_url(store: Store) -> Iterator[str]:
    with LiveServer(store.settings) as url:
        yield url


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


@pytest.fixture
def make_shop(store: Store) -> Callable[..., NewShop]:
    def make(secret: str | None = None, domain: str | None = None, **kwargs: Any) -> NewShop:
        shop_id = "t-" + uuid.uuid4().hex[:12]
        return store.run(lambda r: add_shop(
            r, shop_id, "shopify", domain or f"{shop_id}.myshopify.com", "http://testserver",
            webhook_secret=secret, **kwargs,
        ))

    return make


@pytest.fixture
def shop(make_shop: Callable[..., NewShop]) -> NewShop:
    return make_shop()


def settings_for(store: Store, **changes: Any) -> Settings:
    return replace(store.settings, **changes)


def shopreco(store: Store, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run `shopreco ARGS` in a process of its own on the store's embedded Redis; `settings`
    are more SHOPRECO_* variables (SHOPRECO_FSYNC_ALWAYS="false", ...)."""
    env = {**os.environ, "SHOPRECO_DATA_DIR": str(store.settings.data_dir),
           "SHOPRECO_PUBLIC_URL": "https://reco.example.com", **settings}
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "plugin.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)
