"""/healthz on a real Redis Cluster (plugin/store/health.py): the session's test cluster
(3 masters, 3 replicas) reports ok over HTTP; and in a cluster of its own (tests/cluster.py,
never the shared one), a master's process killed is counted as failing at once, and once its
replica has taken over its slots the cluster serves again with one master left without a
replica."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any, cast

import httpx
import redis.asyncio as aioredis

from plugin.store.connection import open_cluster
from plugin.store.health import CLUSTER, Health, HealthProbe
from tests.cluster import Cluster, running_cluster
from tests.conftest import ClusterStore, LiveServer, run_async, settings_for

FAILOVER_SECONDS = 30.0


def test_healthz_on_the_cluster_reports_three_masters_and_three_replicas(
        cluster_store: ClusterStore) -> None:
    with LiveServer(settings_for(cluster_store, run_worker=False)) as url:
        response = httpx.get(f"{url}/healthz", timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"
    assert response.json()["redis"] == {
        "mode": "cluster", "cluster_state": "ok", "slots_assigned": 16384, "slots_ok": 16384,
        "masters": 3, "replicas": 3, "failing": 0, "masters_without_replica": 0}


def test_a_killed_master_is_seen_failing_then_replaced_by_its_replica() -> None:
    with running_cluster() as cluster:
        seen = run_async(lambda: _kill_a_master_and_watch(cluster))
    failing = [h for h in seen if h.redis.get("failing")]
    assert failing, [h.redis for h in seen]  # seen at once: the node's flag, then the state
    last = seen[-1]
    assert last.ok, last.redis
    assert last.redis == {
        "mode": "cluster", "cluster_state": "ok", "slots_assigned": 16384, "slots_ok": 16384,
        "masters": 4, "replicas": 2, "failing": 1, "masters_without_replica": 1}


async def _kill_a_master_and_watch(cluster: Cluster) -> list[Health]:
    client = cast(aioredis.Redis, open_cluster(cluster.url))
    await cast(Any, client).initialize()
    probe = HealthProbe(client, CLUSTER, keep_seconds=0)
    try:
        assert (await probe.check()).redis["failing"] == 0
        victim = _a_master(cluster)
        cluster.processes[cluster.ports.index(victim)].send_signal(signal.SIGKILL)
        seen: list[Health] = []
        deadline = time.monotonic() + FAILOVER_SECONDS
        while time.monotonic() < deadline:
            health = await probe.check()
            seen.append(health)
            if health.ok and health.redis["masters_without_replica"] == 1:
                break
            await asyncio.sleep(0.2)
        return seen
    finally:
        await client.aclose()


def _a_master(cluster: Cluster) -> int:
    for line in cluster.cli(cluster.ports[0], "cluster", "nodes").splitlines():
        parts = line.split()
        if "master" in parts[2].split(",") and "myself" not in parts[2]:
            return int(parts[1].split(":")[1].split("@")[0])
    raise AssertionError("no master besides the first node")
