"""The admin's Health page (plugin/admin/health.py): webhooks per topic per day, dead letters
with replay (CSRF), the model's freshness."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from plugin.admin.health import DAYS, PAGE, topics_per_day
from plugin.store import keys
from plugin.store.events import Event, append
from plugin.store.order import LineItem, Order
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.helpers import eventually, order_payload, send_orders
from tests.plugin.admin.conftest import sign_in
from webhooks.deadletters import count_dead
from webhooks.ingest import Ingestor


def test_the_health_page_counts_webhooks_and_replays_dead_letters(
        store: Store, http: httpx.Client, shop: NewShop) -> None:
    send_orders(http, shop, [order_payload(5000 + n, n, [1, 2]) for n in range(3)])
    shop_id = shop.shop.shop_id

    async def poison(redis: object) -> None:  # a body the worker refuses for good
        await append(redis, shop_id, Event("shopify", "orders/create", uuid.uuid4().hex, b"[]"))
        await Ingestor(redis).drain(shop_id)

    store.run(poison)
    assert store.run(lambda r: count_dead(r, shop_id)) == 1
    today = datetime.now(UTC).date().isoformat()[5:]
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        csrf = sign_in(store, shop, client)
        page = client.get("/admin/health").text
        header = re.findall(r'<th scope="col" class="num">([^<]+)</th>',
                            page.split('id="topics"')[1].split("</thead>")[0])
        assert header[-1] == today and len(header) == 7
        row = re.search(r'<th scope="row">orders/create</th>(.*?)</tr>', page, re.S)
        assert row is not None and re.findall(r">(\d+)<", row[1])[-1] == "4"  # 3 + the poison
        assert "Dead letters (1)" in page and "Every stored order is in it" not in page
        event_id = re.search(r'name="event_id" value="([^"a][^"]*)"', page)
        assert event_id is not None
        assert client.post("/admin/health/replay",
                           data={"event_id": event_id[1]}).status_code == 403  # no CSRF
        unknown = client.post("/admin/health/replay", data={"csrf": csrf, "event_id": "1-1"})
        assert unknown.status_code == 404
        replayed = client.post("/admin/health/replay",
                               data={"csrf": csrf, "event_id": event_id[1]})
        assert replayed.status_code == 303 and replayed.headers["location"].endswith("=1")
        assert "1 event(s) sent back" in client.get(replayed.headers["location"]).text
        # the worker tries it again and it fails again: back among the dead letters
        eventually(lambda: _dead(store, shop_id, 1), timeout=60)


def _dead(store: Store, shop_id: str, expected: int) -> None:
    assert store.run(lambda r: count_dead(r, shop_id)) == expected


# ---- the page's parts ----------------------------------------------------------------------------

NOW = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC
MS = 1000


def add_events(store: Store, shop_id: str, entries: list[tuple[float, str | None]]) -> None:
    """Stream entries at the given times (epoch seconds), with the given topic (None: none)."""
    async def work(redis: Any) -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for n, (at, topic) in enumerate(entries):
                fields = {"platform": "shopify"} if topic is None else {"topic": topic}
                pipe.xadd(keys.events(shop_id), fields, id=f"{int(at * MS)}-{n}")
            await pipe.execute()

    store.run(work)


@pytest.fixture
def stream_shop(store: Store) -> Iterator[str]:
    """A stream of a shop no worker reads (not registered): only what the test writes."""
    shop_id = "t-health-" + uuid.uuid4().hex[:8]
    yield shop_id
    store.run(lambda r: r.delete(keys.events(shop_id)))


def test_topics_per_day_counts_the_last_seven_utc_days(store: Store, stream_shop: str) -> None:
    first = datetime(2025, 6, 9, tzinfo=UTC).timestamp()  # six days before NOW's day
    add_events(store, stream_shop, [
        (first - 0.001, "orders/create"),  # the day before the window
        (first, "orders/create"),
        (NOW - 3600, "orders/create"), (NOW - 60, "orders/create"),
        (NOW - 30, "products/update"), (NOW - 1, None),
    ])
    days, counts, capped = store.run(lambda r: topics_per_day(r, stream_shop, NOW))
    assert days == [f"2025-06-{d:02d}" for d in range(9, 16)]
    assert counts == {"orders/create": {"2025-06-09": 1, "2025-06-15": 2},
                      "products/update": {"2025-06-15": 1}, "?": {"2025-06-15": 1}}
    assert capped is False


def test_topics_per_day_reads_every_page(store: Store, stream_shop: str) -> None:
    burst = [(NOW - 7200 + n / 1000, "orders/updated") for n in range(2 * PAGE + 1)]
    add_events(store, stream_shop, burst)
    _, counts, capped = store.run(lambda r: topics_per_day(r, stream_shop, NOW))
    assert counts == {"orders/updated": {"2025-06-15": 2 * PAGE + 1}} and capped is False


def test_a_shop_without_webhooks_has_an_empty_table(store: Store, stream_shop: str) -> None:
    days, counts, capped = store.run(lambda r: topics_per_day(r, stream_shop, NOW))
    assert len(days) == DAYS and counts == {} and capped is False


def test_the_import_and_the_models_freshness(store: Store, http: httpx.Client,
                                             shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        sign_in(store, shop, client)
        fresh = client.get("/admin/health").text
        assert "No webhook in these days." in fresh and "Dead letters (0)" in fresh
        assert "No import has run." in fresh
        assert "No model yet." in fresh and "Every stored order is in it." in fresh

        line = (LineItem("p1", None, "One", 1, "5.00", "h1-1"),)
        store.run(lambda r: store_order(r, shop_id, Order(
            "h1", "c1", NOW, NOW, False, "EUR", "5.00", line)))
        first = float(store.run(lambda r: r.hget(keys.train_dirty(shop_id), "first")))
        store.run(lambda r: r.hset(keys.stats(shop_id), "backfilled_at", int(NOW)))
        store.run(lambda r: r.hset(keys.shopify_install(shop_id), mapping={
            "stage": "backfilling", "orders": "12", "total": "40"}))
        page = client.get("/admin/health").text
        assert "Install: backfilling, 12 orders of 40." in page
        assert "Last import finished 2025-06-15 15:06 UTC." in page
        since = datetime.fromtimestamp(first, UTC).strftime("%Y-%m-%d %H:%M UTC")
        assert f"Orders changed since {since} are not in it yet" in page

        store.run(lambda r: r.set(keys.backfill_cursor(shop_id), "page-2"))
        assert "An import is in progress" in client.get("/admin/health").text
