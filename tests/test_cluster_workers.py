"""Two `shopreco worker` processes share the ingestion of many shops on a real Redis Cluster
(tests/cluster.py): the web process only appends (no worker of its own), both workers take
entries of the shops' streams (each stream's consumer group lists them), and every order is
stored exactly once. (Killed workers and re-claimed entries: tests/test_cluster_kill.py.)"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import httpx
import redis.asyncio as aioredis
from redis.cluster import RedisCluster

from plugin.store import keys
from plugin.store.shops import NewShop, add_shop
from tests.conftest import ClusterStore, LiveServer
from tests.helpers import eventually, order_payload, send_orders
from tests.test_kill import kill_dir, quiet_env  # noqa: F401  (kill_dir: the fixture)
from webhooks.ingest import GROUP

SHOPS, ORDERS, ROUNDS = 6, 30, 10


def test_two_worker_processes_share_every_shops_stream(
        cluster_store: ClusterStore, kill_dir: Path) -> None:  # noqa: F811
    settings = replace(cluster_store.settings, data_dir=kill_dir, run_worker=False)
    env = quiet_env(kill_dir, REDIS_URL=cluster_store.cluster.url)
    logs = [kill_dir / f"worker-{n}.log" for n in range(2)]
    files = [path.open("ab") for path in logs]
    workers = [subprocess.Popen([sys.executable, "-m", "plugin.cli", "worker"], env=env,
                                stdout=subprocess.DEVNULL, stderr=file) for file in files]
    client = RedisCluster(host="127.0.0.1", port=cluster_store.cluster.ports[0])
    try:
        for path in logs:  # both read the streams from now on
            eventually(partial(_running, path), 60)
        with LiveServer(settings) as url, httpx.Client(base_url=url, timeout=30) as http:
            shops = [cluster_store.run(_adder(url)) for _ in range(SHOPS)]
            per_round = ORDERS // ROUNDS
            for round_ in range(ROUNDS):  # a few at a time, as a shop's day goes
                for shop in shops:
                    send_orders(http, shop, [order_payload(100 * round_ + n, n, [1, 2, 3])
                                             for n in range(per_round)])
                time.sleep(0.25)

            def all_stored() -> bool:
                counts = [client.hlen(keys.orders(s.shop.shop_id)) for s in shops]
                assert counts == [ORDERS] * SHOPS, counts
                return True

            eventually(all_stored, timeout=60)
        readers = set()
        for shop in shops:
            events = keys.events(shop.shop.shop_id)
            stats = client.hgetall(keys.stats(shop.shop.shop_id))
            assert int(stats[b"accepted"]) == int(stats[b"order_changes"]) == ORDERS
            assert client.xpending(events, GROUP)["pending"] == 0
            readers |= {c["name"].decode() for c in client.xinfo_consumers(events, GROUP)}
        pids = {f"-{worker.pid}-" for worker in workers}
        assert all(any(pid in name for name in readers) for pid in pids), (readers, pids)
        assert all(worker.poll() is None for worker in workers)  # neither died meanwhile
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(5)
        for file in files:
            file.close()
        client.close()


def _running(path: Path) -> bool:
    said = path.read_text()
    assert "worker running" in said, f"{path.name} is not running yet: {said[-2000:]}"
    return True


def _adder(url: str) -> Callable[[aioredis.Redis], Awaitable[NewShop]]:
    shop_id = "w-" + uuid.uuid4().hex[:10]
    return lambda r: add_shop(r, shop_id, "shopify", f"{shop_id}.myshopify.com", url)
