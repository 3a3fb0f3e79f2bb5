"""Failover without loss: a Redis Cluster master is killed with SIGKILL during a replay of signed
webhooks, its replica is promoted, and every webhook that was answered 2xx is counted exactly
once.

The plugin runs as `shopreco serve` (its ingestion worker in the same process) with
SHOPRECO_REDIS_WAIT_REPLICAS=1: a webhook is answered 200 only once the replica of the master
that holds its shop's stream has it too (Redis WAIT on the append's connection). The cluster is
one of this module's own (tests/cluster.py, cluster-node-timeout 1 s), not the session's: a
killed master would disturb the other cluster tests. Six Shopify shops, three of them on the
master that is killed, get their orders/create webhooks (some delivered twice) from eight
senders that retry anything but a 2xx, as a platform does. A third of the way in, that master is
SIGKILLed (no CLUSTER FAILOVER: its replica takes over once the others mark it failed), then
started again on its files, when it rejoins as the new master's replica. Meanwhile webhooks are
answered 503 (no master, or no replica to acknowledge) and retried. Afterwards every shop's
stream holds each webhook exactly once, and its orders are exactly the webhooks' orders.

First, on the same cluster, the WAIT itself: with the shop's replica paused (SIGSTOP), an
append is refused for want of an acknowledgement, and its retry is counted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from redis.asyncio.cluster import ClusterNode
from redis.cluster import RedisCluster

from plugin.config import Secret, Settings
from plugin.store import keys
from plugin.store.events import Event, NotReplicated, Replication, append
from plugin.store.shops import add_shop
from tests.cluster import Cluster, running_cluster
from tests.conftest import ClusterStore, free_port
from tests.helpers import body_of, order_payload, shopify_headers
from tests.test_kill import Restartable, healthy, quiet_env, wait_for
from webhooks.ingest import GROUP
from webhooks.shopify import parse_order

SHOPS_PER_SIDE = 3  # on the master that is killed, and on the others
ORDERS_PER_SHOP = 120
SENDERS = 8
KILL_AFTER = 250  # webhooks answered before the master is killed
FIRST_ORDER_ID = 7_000_000


@dataclass(frozen=True)
class Webhook:
    shop_id: str
    domain: str
    secret: str
    webhook_id: str
    order_id: int

    def payload(self) -> dict[str, Any]:
        return order_payload(self.order_id, self.order_id % 50, [1 + self.order_id % 40, 41])


class Senders:
    """Posts signed webhooks like Shopify: each retried on anything but a 2xx until answered."""

    def __init__(self, base_url: str, patience: float = 120) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30,
                                   limits=httpx.Limits(max_connections=SENDERS))
        self.patience = patience
        self.lock = threading.Lock()
        self.answered: list[tuple[Webhook, str]] = []  # (webhook, "accepted" | "duplicate")
        self.refusals: Counter[str] = Counter()  # status code or transport error -> times
        self.stopped = threading.Event()

    def send(self, webhook: Webhook) -> None:
        body = body_of(webhook.payload())
        headers = shopify_headers(webhook.domain, webhook.secret, body, "orders/create",
                                  webhook.webhook_id)
        deadline = time.monotonic() + self.patience
        while time.monotonic() < deadline and not self.stopped.is_set():
            try:
                response = self.client.post("/webhooks/shopify", content=body, headers=headers)
            except httpx.TransportError as error:
                refusal = type(error).__name__
            else:
                if response.is_success:
                    with self.lock:
                        self.answered.append((webhook, response.json()["status"]))
                    return
                refusal = str(response.status_code)
            with self.lock:
                self.refusals[refusal] += 1
            time.sleep(0.1)
        raise AssertionError(f"webhook {webhook.webhook_id} was never answered 2xx")


@pytest.fixture(scope="module")
def failover_cluster() -> Iterator[Cluster]:
    with running_cluster(node_timeout_ms=1000) as cluster:
        yield cluster


@pytest.fixture
def work_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="shopreco-failover-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def shop_ids(cluster: Cluster) -> tuple[int, list[str], list[str]]:
    """The master to kill, the shops whose streams it holds, and shops on other masters."""
    victim = cluster.master_of(keys.events("failover-0"))
    on_victim: list[str] = []
    elsewhere: list[str] = []
    n = 0
    while len(on_victim) < SHOPS_PER_SIDE or len(elsewhere) < SHOPS_PER_SIDE:
        shop_id = f"failover-{n}"
        side = on_victim if cluster.master_of(keys.events(shop_id)) == victim else elsewhere
        if len(side) < SHOPS_PER_SIDE:
            side.append(shop_id)
        n += 1
    return victim, on_victim, elsewhere


def register(cluster: Cluster, data_dir: Path, url: str, shops: list[str]) -> dict[str, str]:
    """Register the Shopify shops; each one's webhook secret."""
    store = ClusterStore(cluster, Settings(data_dir=data_dir, redis_url=Secret(cluster.url)))

    async def add_all(client: Any) -> dict[str, str]:
        return {shop_id: (await add_shop(client, shop_id, "shopify", f"{shop_id}.myshopify.com",
                                         url)).shop.webhook_secrets[0].reveal()
                for shop_id in shops}

    return store.run(add_all)


def plan(secrets: dict[str, str], seed: int = 20) -> tuple[list[Webhook], list[Webhook]]:
    """(every distinct webhook, the sends: shuffled, ~15 % of the webhooks delivered twice)."""
    rng = random.Random(seed)
    webhooks = [Webhook(shop_id, f"{shop_id}.myshopify.com", secret, f"{shop_id}-wh-{n}",
                        FIRST_ORDER_ID + number * ORDERS_PER_SHOP + n)
                for number, (shop_id, secret) in enumerate(sorted(secrets.items()))
                for n in range(ORDERS_PER_SHOP)]
    sends = webhooks + rng.sample(webhooks, len(webhooks) * 15 // 100)
    rng.shuffle(sends)
    return webhooks, sends


def stream_state(client: RedisCluster, shop_id: str) -> str:
    """What a failure message shows of a shop's stream: its last id, its group and the first
    pending entries (who holds them, how long idle), the orders stored."""
    try:
        stream: Any = client.xinfo_stream(keys.events(shop_id))
        return (f"{shop_id}: last id {stream['last-generated-id']!r}, "
                f"groups {client.xinfo_groups(keys.events(shop_id))}, "
                f"pending {client.xpending_range(keys.events(shop_id), GROUP, '-', '+', 3)}, "
                f"orders {client.hlen(keys.orders(shop_id))}")
    except redis.RedisError as error:
        return f"{shop_id}: {error!r}"


def drained(client: RedisCluster, shop_id: str) -> bool:
    try:
        stream: Any = client.xinfo_stream(keys.events(shop_id))
        groups: Any = client.xinfo_groups(keys.events(shop_id))
    except redis.RedisError:  # the client is still learning the new map
        return False
    group = next((g for g in groups if g["name"] == GROUP.encode()), None)
    return (group is not None and group["pending"] == 0
            and group["last-delivered-id"] == stream["last-generated-id"]
            and client.hlen(keys.orders(shop_id)) == ORDERS_PER_SHOP)


def replica_of(cluster: Cluster, master: int) -> int:
    """The port of the replica of the master on `master`."""
    nodes = cluster.nodes()
    master_id = next(f[0] for f in nodes if f[1].startswith(f"127.0.0.1:{master}@"))
    return next(int(f[1].split("@")[0].rsplit(":", 1)[1]) for f in nodes if f[3] == master_id)


def test_an_append_its_replica_did_not_acknowledge_is_refused_and_its_retry_counted_once(
        failover_cluster: Cluster, work_dir: Path) -> None:
    """The replica of the shop's master stopped (SIGSTOP): WAIT on the append's own connection
    times out, the append is refused (the receiver's 503) though stored on the master; once
    the replica runs again, the platform's retry is a duplicate, acknowledged, not counted
    twice."""
    cluster = failover_cluster
    shop_id = "paused-replica"
    replica = cluster.processes[cluster.ports.index(
        replica_of(cluster, cluster.master_of(keys.events(shop_id))))]
    store = ClusterStore(cluster, Settings(data_dir=work_dir, redis_url=Secret(cluster.url)))
    wanted = Replication(1, 300)

    async def work(client: Any) -> tuple[Any, Any, Any, int]:
        event = Event("shopify", "orders/create", "paused-1", b"{}")
        before = await append(client, shop_id, Event("shopify", "orders/create", "d-0", b"{}"),
                              wanted)
        replica.send_signal(signal.SIGSTOP)
        try:
            refused = await asyncio.gather(append(client, shop_id, event, wanted),
                                           return_exceptions=True)
        finally:
            replica.send_signal(signal.SIGCONT)
        retried = None
        for _ in range(50):  # until the replica has caught up
            try:
                retried = await append(client, shop_id, event, wanted)
                break
            except NotReplicated:
                await asyncio.sleep(0.1)
        return before, refused[0], retried, await client.xlen(keys.events(shop_id))

    before, refused, retried, length = store.run(work)
    assert isinstance(before, str)
    assert isinstance(refused, NotReplicated) and refused.acknowledged == 0
    assert retried is None and length == 2  # a duplicate: stored once


def test_a_connection_closed_under_the_batch_is_a_refused_append(
        failover_cluster: Cluster, work_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """redis-py's cluster client closes every connection, those in use too, when a failover
    makes it learn the map anew: a batch caught that way fails with AttributeError. The
    append is refused as Redis being away (the receiver's 503, the platform retries), never
    another error (a 500), and the retry is stored."""
    store = ClusterStore(failover_cluster, Settings(data_dir=work_dir,
                                                    redis_url=Secret(failover_cluster.url)))
    shop_id = "closed-under"
    execute_pipeline = ClusterNode.execute_pipeline
    calls = {"n": 0}

    async def closed_once(self: ClusterNode, commands: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise AttributeError("'NoneType' object has no attribute 'writelines'")
        return await execute_pipeline(self, commands)

    monkeypatch.setattr(ClusterNode, "execute_pipeline", closed_once)

    async def work(client: Any) -> tuple[Any, Any, int]:
        event = Event("shopify", "orders/create", "closed-1", b"{}")
        refused = await asyncio.gather(append(client, shop_id, event, Replication(1, 1000)),
                                       return_exceptions=True)
        retried = await append(client, shop_id, event, Replication(1, 1000))
        return refused[0], retried, await client.xlen(keys.events(shop_id))

    refused, retried, length = store.run(work)
    assert isinstance(refused, redis.exceptions.ConnectionError), refused
    assert isinstance(retried, str) and length == 1


def test_a_killed_master_loses_no_webhook_answered_2xx_and_counts_none_twice(
        failover_cluster: Cluster, work_dir: Path) -> None:
    cluster = failover_cluster
    victim, on_victim, elsewhere = shop_ids(cluster)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    secrets = register(cluster, work_dir / "data", url, on_victim + elsewhere)
    webhooks, sends = plan(secrets)
    server = Restartable(["serve", "--port", str(port)], quiet_env(
        work_dir / "data", REDIS_URL=cluster.url, SHOPRECO_PUBLIC_URL=url,
        SHOPRECO_REDIS_WAIT_REPLICAS="1", SHOPRECO_REDIS_WAIT_MS="1000"),
        work_dir / "serve.log")
    senders = Senders(url)
    pool = ThreadPoolExecutor(SENDERS)
    answered_on_victim_before_kill = 0
    try:
        server.start()
        wait_for(lambda: server.running() and healthy(url), 60, "serve answers /healthz")
        with senders.client:
            sent = [pool.submit(senders.send, webhook) for webhook in sends]
            wait_for(lambda: len(senders.answered) >= KILL_AFTER or any(
                f.done() and f.exception() for f in sent), 120, f"{KILL_AFTER} answers")
            cluster.kill(victim)
            with senders.lock:
                answered_on_victim_before_kill = sum(
                    webhook.shop_id in on_victim for webhook, _ in senders.answered)
            promoted = cluster.wait_promoted(keys.events(on_victim[0]), victim)
            cluster.restart(victim)  # it rejoins as the replica of the promoted one
            cluster.wait_replicated()
            for future in wait(sent, return_when=FIRST_EXCEPTION).done:
                future.result()  # the first failure ends the replay
            assert len(senders.answered) == len(sends)
        client = RedisCluster(host="127.0.0.1", port=promoted)
        try:
            wait_for(lambda: server.running() and all(
                drained(client, shop_id) for shop_id in secrets), 120, "every stream drained")
            streams: dict[str, Any] = {shop_id: client.xrange(keys.events(shop_id))
                                       for shop_id in secrets}
            orders = {shop_id: client.hgetall(keys.orders(shop_id)) for shop_id in secrets}
            stats = {shop_id: client.hgetall(keys.stats(shop_id)) for shop_id in secrets}
            dead = sum(client.xlen(keys.dead_letters(shop_id)) for shop_id in secrets)
        finally:
            client.close()
    except AssertionError as error:
        log = (work_dir / "serve.log").read_text()[-8000:]
        with contextlib.suppress(redis.RedisError), RedisCluster(
                host="127.0.0.1", port=cluster.ports[0]) as look:
            log += "\nstreams:\n" + "\n".join(stream_state(look, s) for s in secrets)
        raise AssertionError(f"{error}\nserve's log:\n{log}\nrefusals: {senders.refusals}"
                             ) from error
    finally:
        senders.stopped.set()
        pool.shutdown(cancel_futures=True)
        if server.current is not None and server.current.poll() is None:
            server.current.send_signal(signal.SIGTERM)
            try:
                server.current.wait(30)
            finally:
                server.close()
        server.log.close()

    # the kill was felt, and the killed master held webhooks that had been answered 200
    assert answered_on_victim_before_kill > 0
    assert senders.refusals["503"] + sum(
        n for refusal, n in senders.refusals.items() if not refusal.isdigit()) > 0, \
        senders.refusals
    # every webhook answered 2xx, in its shop's stream exactly once
    assert {webhook for webhook, _ in senders.answered} == set(webhooks)
    for shop_id in secrets:
        delivered = Counter(fields[b"delivery_id"].decode() for _, fields in streams[shop_id])
        assert set(delivered) == {w.webhook_id for w in webhooks if w.shop_id == shop_id}
        assert max(delivered.values()) == 1, [d for d, n in delivered.items() if n > 1]
        assert int(stats[shop_id][b"accepted"]) == len(streams[shop_id])
        # and counted once: the shop's orders are exactly its webhooks' orders
        assert orders[shop_id] == {
            str(w.order_id).encode(): parse_order(w.payload()).to_json().encode()
            for w in webhooks if w.shop_id == shop_id}
    assert dead == 0
