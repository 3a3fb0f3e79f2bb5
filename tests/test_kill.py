"""Nothing lost, nothing twice: a worker killed with SIGKILL mid-replay loses no order and counts
none twice.

Thousands of signed Shopify order webhooks (redeliveries of the same webhook id, updated versions
out of order, cancellations) go over HTTP to the real app while a separate `shopreco worker`
process ingests them; the worker is killed with SIGKILL several times while it holds unacknowledged
entries and is restarted each time. A last worker re-claims what the killed ones left pending.
The stored orders must then be exactly the newest accepted version of every order.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from plugin.config import Settings
from plugin.engine.training import load_purchases
from plugin.store import keys
from plugin.store.connection import EmbeddedRedis
from plugin.store.shops import add_shop
from recommender.matrix import Purchase
from tests.conftest import LiveServer, Store
from tests.helpers import body_of, order_payload, shopify_headers
from webhooks.ingest import GROUP
from webhooks.shopify import parse_order

SHOP_ID, DOMAIN = "kill", "kill.myshopify.com"
ORDERS = 1400
KILLS = 3
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


def plan(seed: int = 20250301) -> tuple[list[Version], list[Version]]:
    """(every distinct webhook, the sends: shuffled, with ~15 % of webhooks delivered twice)."""
    rng = random.Random(seed)
    webhooks = [version for n in range(ORDERS) for version in versions_of(n, rng)]
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
    """Posts webhooks like Shopify: signed, retried on anything but a 200."""

    def __init__(self, base_url: str, secret: str) -> None:
        self.secret = secret
        self.client = httpx.Client(base_url=base_url, timeout=60,
                                   limits=httpx.Limits(max_connections=8))
        self.answers: list[tuple[str, str]] = []  # (webhook id, "accepted" | "duplicate")

    def send(self, version: Version) -> None:
        body = body_of(version.payload())
        headers = shopify_headers(DOMAIN, self.secret, body, version.topic, version.webhook_id)
        for _ in range(20):
            try:
                response = self.client.post("/webhooks/shopify", content=body, headers=headers)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            if response.status_code == 200:
                self.answers.append((version.webhook_id, response.json()["status"]))
                return
            time.sleep(0.1)
        raise AssertionError(f"webhook {version.webhook_id} was never answered 200")


class Workers:
    """`shopreco worker` processes on the data dir, one at a time."""

    def __init__(self, data_dir: Path) -> None:
        self.env = {**os.environ, "SHOPRECO_DATA_DIR": str(data_dir),
                    "SHOPRECO_FSYNC_ALWAYS": "false", "SHOPRECO_CLAIM_IDLE_SECONDS": "1",
                    "SHOPRECO_RETRAIN_DEBOUNCE_SECONDS": "3600",
                    "SHOPRECO_RETRAIN_MAX_DELAY_SECONDS": "3600", "SHOPRECO_LOG_LEVEL": "WARNING"}
        self.env.pop("REDIS_URL", None)
        self.log_path = data_dir / "workers.log"
        self.log = self.log_path.open("ab")
        self.current: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        self.current = subprocess.Popen([sys.executable, "-m", "plugin.cli", "worker"],
                                        env=self.env, stdout=self.log, stderr=self.log)
        return self.current

    def running(self) -> bool:
        """True while the current worker runs; an AssertionError with its log if it died."""
        assert self.current is not None and self.current.poll() is None, \
            "the worker exited by itself:\n" + self.log_path.read_text()[-3000:]
        return True

    def kill(self) -> None:
        if self.current is not None and self.current.poll() is None:
            self.current.send_signal(signal.SIGKILL)
            self.current.wait(10)

    def close(self) -> None:
        self.kill()
        self.log.close()


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


def kill_when_busy(workers: Workers, client: redis.Redis, progress: int) -> int:
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
    webhooks, sends = plan()
    newest = newest_versions(webhooks)
    first_sent: dict[str, int] = {}
    for position, version in enumerate(sends):
        first_sent.setdefault(version.webhook_id, position)
    assert any(  # the plan does send newer versions before older ones
        first_sent[newest[str(v.order_id)].webhook_id] < first_sent[v.webhook_id]
        for v in webhooks
    )
    embedded = EmbeddedRedis(kill_dir, fsync_always=False)
    settings = Settings(data_dir=kill_dir, run_worker=False, fsync_always=False)
    store = Store(embedded, settings)
    client = redis.Redis(unix_socket_path=embedded.socket_path)
    workers = Workers(kill_dir)
    left_pending: list[int] = []
    try:
        with LiveServer(settings) as url:
            shop = store.run(lambda r: add_shop(r, SHOP_ID, "shopify", DOMAIN, url))
            sender = Sender(url, shop.shop.webhook_secrets[0].reveal())
            size = -(-len(sends) // (KILLS + 1))
            chunks = [sends[start:start + size] for start in range(0, len(sends), size)]
            with sender.client, ThreadPoolExecutor(4) as pool:
                for number, chunk in enumerate(chunks):
                    sent = [pool.submit(sender.send, version) for version in chunk]
                    if number < KILLS:
                        left_pending.append(kill_when_busy(workers, client, 1 + 60 * number))
                    else:
                        workers.start()
                    for future in wait(sent).done:
                        future.result()
            wait_for(lambda: workers.running() and fully_ingested(client), 60,
                     "the last worker drained the stream")
        orders = client.hgetall(keys.orders(SHOP_ID))
        purchases, counted = store.run(lambda r: load_purchases(r, SHOP_ID))
        stats = client.hgetall(keys.stats(SHOP_ID))
        dead = client.xlen(keys.dead_letters(SHOP_ID))
        pending: Any = client.xpending(keys.events(SHOP_ID), GROUP)
    finally:
        workers.close()
        client.close()
        embedded.close()

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

