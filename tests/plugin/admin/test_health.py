"""The admin's Health page: webhooks per topic per day, dead letters with replay (CSRF), the
model's freshness."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import httpx

from plugin.store.events import Event, append
from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.helpers import eventually, order_payload, send_orders
from tests.plugin.admin.test_recommendations_page import sign_in
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
