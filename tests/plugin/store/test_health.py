"""The store's state for /healthz (plugin/store/health.py): on the embedded Redis, on a real
redis-server (a password in REDIS_URL never shown; a replica unhealthy; the server stopped: a
503 through the app), and the cluster view parsed from real-shaped replies. On the real test
cluster (3 masters, 3 replicas; a master killed): tests/test_cluster_health.py."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from plugin.config import Secret
from plugin.store.health import (
    CLUSTER,
    EMBEDDED,
    SERVER,
    Health,
    HealthProbe,
    cluster_health,
    mode_of,
)
from tests.cluster import binary
from tests.conftest import LiveServer, Store, free_port, run_async, settings_for
from tests.helpers import eventually

PASSWORD = "s3cret-Pa55word-xyz"


@contextlib.contextmanager
def redis_server(*args: str) -> Iterator[int]:
    """A redis-server of its own on a free loopback port (stopped on leaving)."""
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="shopreco-health-"))
    server = subprocess.Popen(
        [binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--dir",
         str(folder), "--save", "", "--appendonly", "yes", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: _answers(port, args), 15)
        yield port
    finally:
        server.kill()
        server.wait(10)
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def _answers(port: int, args: tuple[str, ...]) -> None:
    password = ["-a", PASSWORD, "--no-auth-warning"] if "--requirepass" in args else []
    done = subprocess.run([binary("redis-cli"), "-p", str(port), *password, "ping"],
                          capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "PONG"


def check(redis: aioredis.Redis, mode: str) -> Health:
    async def look() -> Health:
        try:
            return await HealthProbe(redis, mode).check()
        finally:
            await redis.aclose()

    return run_async(look)


def test_the_mode_follows_redis_url(store: Store) -> None:
    assert mode_of(store.settings) == EMBEDDED
    assert mode_of(replace(store.settings, redis_url=Secret("redis://r:6379/0"))) == SERVER
    assert mode_of(replace(store.settings, redis_url=Secret(
        "redis+cluster://10.0.0.1:6379,10.0.0.2:6379"))) == CLUSTER


def test_the_embedded_redis_is_a_master_with_its_append_only_file(store: Store) -> None:
    health = check(store.client(), EMBEDDED)
    assert health.ok and health.reason is None
    assert health.redis == {"mode": "embedded", "role": "master", "aof_enabled": True,
                            "aof_last_write_status": "ok", "rdb_last_bgsave_status": "ok"}


def test_a_report_is_kept_for_a_second(store: Store) -> None:
    async def twice() -> tuple[Health, Health, Health]:
        redis = store.client()
        probe = HealthProbe(redis, EMBEDDED, keep_seconds=0.3)
        try:
            first, again = await probe.check(), await probe.check()
            await asyncio.sleep(0.35)
            return first, again, await probe.check()
        finally:
            await redis.aclose()

    first, again, later = run_async(twice)
    assert again is first  # no round trip
    assert later is not first and later == first


def test_calls_arriving_together_share_one_look(store: Store) -> None:
    async def together() -> list[Health]:
        redis = store.client()
        probe = HealthProbe(redis, EMBEDDED)
        try:
            return list(await asyncio.gather(*(probe.check() for _ in range(20))))
        finally:
            await redis.aclose()

    found = run_async(together)
    assert all(health is found[0] for health in found)  # one look, not 20


def test_a_server_that_never_answers_fails_within_the_look_limit() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        redis = aioredis.Redis(port=silent.getsockname()[1], socket_timeout=30)

        async def look() -> tuple[Health, float]:
            started = time.monotonic()
            try:
                health = await HealthProbe(redis, SERVER, look_seconds=0.5).check()
                return health, time.monotonic() - started
            finally:
                await redis.aclose()

        health, took = run_async(look)
    assert health.reason == "Redis did not answer within 0.5 s"
    assert took < 5


def test_an_unreachable_server_is_unhealthy_and_its_password_never_shown() -> None:
    redis = aioredis.Redis.from_url(f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0",
                                    socket_connect_timeout=1)
    health = check(redis, SERVER)
    assert not health.ok
    assert health.redis == {"mode": "server"}
    assert health.reason == "Redis is unreachable (ConnectionError)"
    assert PASSWORD not in repr(health)


def test_a_replica_refuses_writes_so_it_is_unhealthy() -> None:
    with redis_server("--replicaof", "127.0.0.1", str(free_port())) as port:
        health = check(aioredis.Redis(port=port), SERVER)
    assert not health.ok
    assert health.redis["role"] == "slave"
    assert health.reason == "the Redis server is a slave, not a master: it refuses writes"


def test_healthz_reports_the_server_and_answers_503_once_it_is_gone(store: Store) -> None:
    with redis_server("--requirepass", PASSWORD) as port:
        settings = settings_for(store, run_worker=False, redis_url=Secret(
            f"redis://:{PASSWORD}@127.0.0.1:{port}/0"))
        with LiveServer(settings) as url:
            up = httpx.get(f"{url}/healthz", timeout=30)
            assert up.status_code == 200
            assert up.json()["redis"] == {
                "mode": "server", "role": "master", "aof_enabled": True,
                "aof_last_write_status": "ok", "rdb_last_bgsave_status": "ok"}
            subprocess.run([binary("redis-cli"), "-p", str(port), "-a", PASSWORD,
                            "--no-auth-warning", "shutdown", "nosave"], check=False,
                           capture_output=True)
            down = eventually(lambda: _unhealthy(url), 15)
    assert down.json() == {"status": "fail", "process": up.json()["process"],
                           "redis": {"mode": "server"},
                           "reason": "Redis is unreachable (ConnectionError)"}
    assert PASSWORD not in up.text + down.text


def _unhealthy(url: str) -> httpx.Response:
    response = httpx.get(f"{url}/healthz", timeout=30)
    assert response.status_code == 503
    return response


NODES = """\
a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460
a2 127.0.0.1:7002@17002 master - 0 1700000000000 2 connected 5461-10922
a3 127.0.0.1:7003@17003 master,fail - 1699999990000 1699999980000 3 disconnected
b1 127.0.0.1:7004@17004 slave a1 0 1700000000000 1 connected
b2 127.0.0.1:7005@17005 slave a2 0 1700000000000 2 connected
b3 127.0.0.1:7006@17006 master - 0 1700000000000 7 connected 10923-16383
"""
INFO = ("cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\n"
        "cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:6\r\n")


def test_the_cluster_view_counts_masters_replicas_and_failing_nodes() -> None:
    # a3 died and its replica b3 took over its slots: the cluster serves, one node fails and
    # one master has no replica left
    health = cluster_health(INFO, NODES)
    assert health.ok
    assert health.redis == {"mode": "cluster", "cluster_state": "ok", "slots_assigned": 16384,
                            "slots_ok": 16384, "masters": 4, "replicas": 2, "failing": 1,
                            "masters_without_replica": 1}


@pytest.mark.parametrize("flag", ["fail?", "fail"])
def test_a_cluster_whose_state_is_not_ok_is_unhealthy(flag: str) -> None:
    info = INFO.replace("cluster_state:ok", "cluster_state:fail").replace(
        "slots_ok:16384", "slots_ok:10923")
    nodes = NODES.replace("master,fail", f"master,{flag}").replace("b3 127.0.0.1:7006@17006 "
                                                                  "master -", "b3 x slave a3")
    health = cluster_health(info, nodes)
    assert not health.ok
    assert health.reason == "the cluster state is 'fail': some slots have no master that answers"
    assert (health.redis["cluster_state"], health.redis["slots_ok"]) == ("fail", 10923)
    assert (health.redis["masters"], health.redis["replicas"], health.redis["failing"]) == (
        3, 3, 1)
