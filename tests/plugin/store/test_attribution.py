"""Attribution end to end: a widget click, then a signed order webhook through the normal
ingestion, then the stats (API and CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from plugin.store.shops import NewShop, add_shop
from plugin.store.tracking import record_click
from tests.conftest import Store
from tests.webhooks.test_custom import send
from tests.widgets.test_events import batch, event, post, stats
from webhooks.ingest import Ingestor

DAY = 24 * 3600


@pytest.fixture
def custom_shop(store: Store) -> NewShop:
    shop_id = "a-" + uuid.uuid4().hex[:12]
    return store.run(lambda r: add_shop(r, shop_id, "custom", f"{shop_id}.example.com",
                                        "http://testserver", currency="EUR"))


def shopreco(store: Store, *args: str,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a subprocess on the test session's embedded Redis."""
    full_env = {**os.environ, "SHOPRECO_DATA_DIR": str(store.settings.data_dir), **(env or {})}
    full_env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "plugin.cli", *args], env=full_env,
                          capture_output=True, text=True, timeout=120)


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


def order_event(order_id: str, customer_id: str | None, created_at: float,
                kind: str = "order.created", updated_at: float | None = None,
                status: str = "paid", tea_refunded: int = 0) -> dict[str, Any]:
    """2 x tea at 12.90 and 1 pot at 29.00: worth 54.80 (tea lines 25.80)."""
    tea = {"id": "1", "product_id": "tea", "title": "Tea", "quantity": 2, "price": "12.90"}
    if tea_refunded:
        tea["refunded_quantity"] = tea_refunded
    return {"type": kind, "timestamp": iso(time.time()), "data": {
        "id": order_id, "customer_id": customer_id, "created_at": iso(created_at),
        "updated_at": iso(updated_at or created_at), "status": status, "currency": "EUR",
        "total_price": "54.80", "line_items": [
            tea, {"id": "2", "product_id": "pot", "title": "Pot", "quantity": 1,
                  "price": "29.00"}]}}


def deliver(http: httpx.Client, store: Store, shop: NewShop, payload: dict[str, Any],
            msg_id: str | None = None) -> None:
    assert send(http, shop, payload, msg_id=msg_id).status_code in (200, 202, 204)
    store.run(lambda r: Ingestor(r).drain(shop.shop.shop_id))


def click(http: httpx.Client, shop: NewShop, product_id: str = "tea", customer: str = "c1",
          placement: str = "bundle", visitor: str = "v-1") -> None:
    body = batch(event("click", placement, product_id), visitor=visitor, customer=customer)
    assert post(http, shop, body).status_code == 204


def attributed(http: httpx.Client, shop: NewShop) -> dict[str, Any]:
    return stats(http, shop)["total"]  # type: ignore[no-any-return]


def test_order_with_a_clicked_product_is_attributed(http, store, custom_shop) -> None:
    click(http, custom_shop, placement="also_bought")
    deliver(http, store, custom_shop, order_event("o1", "c1", time.time() + DAY))
    row = stats(http, custom_shop)["placements"]["also_bought"]
    assert row["clicks"] == 1 and row["attributed_orders"] == 1
    assert row["attributed_revenue"] == {"EUR": "54.80"}
    assert row["clicked_revenue"] == {"EUR": "25.80"}


def test_redelivery_and_updates_do_not_double_count(http, store, custom_shop) -> None:
    click(http, custom_shop)
    created = time.time() + 60
    first = order_event("o2", "c1", created)
    deliver(http, store, custom_shop, first, msg_id="msg_same")
    deliver(http, store, custom_shop, first, msg_id="msg_same")
    deliver(http, store, custom_shop, first)  # the platform resends under a new id
    refund = order_event("o2", "c1", created, "order.updated", created + 3600, tea_refunded=1)
    deliver(http, store, custom_shop, refund)
    total = attributed(http, custom_shop)
    assert total["attributed_orders"] == 1
    assert total["attributed_revenue"] == {"EUR": "41.90"}  # net of the refunded tea


def test_cancelled_order_leaves_the_attribution(http, store, custom_shop) -> None:
    click(http, custom_shop)
    created = time.time() + 60
    deliver(http, store, custom_shop, order_event("o3", "c1", created))
    assert attributed(http, custom_shop)["attributed_orders"] == 1
    deliver(http, store, custom_shop, order_event("o3", "c1", created, "order.cancelled",
                                                  created + 60, status="cancelled"))
    assert attributed(http, custom_shop)["attributed_orders"] == 0
    assert attributed(http, custom_shop)["attributed_revenue"] == {}


def test_order_more_than_the_window_after_the_click_is_not_attributed(
    http, store, custom_shop
) -> None:
    click(http, custom_shop)
    deliver(http, store, custom_shop, order_event("o4", "c1", time.time() + 8 * DAY))
    assert attributed(http, custom_shop)["attributed_orders"] == 0


def test_order_placed_before_the_click_is_not_attributed(http, store, custom_shop) -> None:
    click(http, custom_shop)
    deliver(http, store, custom_shop, order_event("o5", "c1", time.time() - 3600))
    assert attributed(http, custom_shop)["attributed_orders"] == 0


def test_another_customers_order_is_not_attributed(http, store, custom_shop) -> None:
    click(http, custom_shop, customer="c1")
    deliver(http, store, custom_shop, order_event("o6", "c2", time.time() + 60))
    deliver(http, store, custom_shop, order_event("o7", None, time.time() + 60))
    assert attributed(http, custom_shop)["attributed_orders"] == 0


def test_order_without_the_clicked_product_is_not_attributed(http, store, custom_shop) -> None:
    click(http, custom_shop, product_id="kettle")
    deliver(http, store, custom_shop, order_event("o8", "c1", time.time() + 60))
    assert attributed(http, custom_shop)["attributed_orders"] == 0


def test_anonymous_click_counts_once_the_visitor_is_linked(http, store, custom_shop) -> None:
    click(http, custom_shop, customer=None, visitor="v-anon")  # type: ignore[arg-type]
    deliver(http, store, custom_shop, order_event("o9", "c9", time.time() + 60))
    assert attributed(http, custom_shop)["attributed_orders"] == 0
    linked = batch(event("impression", "home", "pot"), visitor="v-anon", customer="c9")
    assert post(http, custom_shop, linked).status_code == 204
    deliver(http, store, custom_shop, order_event("o10", "c9", time.time() + 120))
    assert attributed(http, custom_shop)["attributed_orders"] == 1


def test_last_click_wins_the_order(http, store, custom_shop) -> None:
    shop_id = custom_shop.shop.shop_id
    now = time.time()
    store.run(lambda r: record_click(r, shop_id, placement="email", product_id="pot",
                                     customer_id="c1", visitor_id=None, at=now - 2 * DAY))
    click(http, custom_shop, placement="cart")
    deliver(http, store, custom_shop, order_event("o11", "c1", now + 60))
    rows = stats(http, custom_shop)["placements"]
    assert rows["cart"]["attributed_orders"] == 1 and "attributed_revenue" in rows["cart"]
    assert rows["email"]["attributed_orders"] == 0
    assert rows["email"]["clicked_revenue"] == {"EUR": "29.00"}
    assert rows["cart"]["clicked_revenue"] == {"EUR": "25.80"}


def test_shops_never_attribute_each_others_clicks(http, store, custom_shop) -> None:
    other = store.run(lambda r: add_shop(r, "a-" + uuid.uuid4().hex[:12], "custom",
                                         f"other-{uuid.uuid4().hex[:8]}.example.com",
                                         "http://testserver"))
    click(http, other, customer="c1")
    deliver(http, store, custom_shop, order_event("o12", "c1", time.time() + 60))
    assert attributed(http, custom_shop)["attributed_orders"] == 0
    assert stats(http, custom_shop)["placements"] == {}


def test_cli_prints_the_stats_table_with_the_configured_window(http, store,
                                                                custom_shop) -> None:
    shop_id = custom_shop.shop.shop_id
    now = time.time()
    store.run(lambda r: record_click(r, shop_id, placement="email", product_id="tea",
                                     customer_id="c1", visitor_id=None, at=now - 8 * DAY))
    deliver(http, store, custom_shop, order_event("o13", "c1", now))
    assert attributed(http, custom_shop)["attributed_orders"] == 0  # 8 days > the 7 default
    table = shopreco(store, "widgets", "stats", shop_id, "--days", "30")
    assert table.returncode == 0, table.stderr
    assert "email" in table.stdout and "54.80 EUR" not in table.stdout
    wider = shopreco(store, "widgets", "stats", shop_id, "--json",
                     env={"SHOPRECO_ATTRIBUTION_DAYS": "10"})
    assert json.loads(wider.stdout)["placements"]["email"]["attributed_revenue"] == {
        "EUR": "54.80"}
    shown = shopreco(store, "widgets", "stats", shop_id, env={"SHOPRECO_ATTRIBUTION_DAYS": "10"})
    email_line = next(line for line in shown.stdout.splitlines() if line.startswith("email"))
    assert email_line.split()[-2:] == ["54.80", "EUR"]


def test_cli_stats_of_an_unknown_shop_fails_clearly(store) -> None:
    result = shopreco(store, "widgets", "stats", "no-such-shop")
    assert result.returncode == 1 and "no-such-shop" in result.stderr


def test_erasing_a_customer_removes_their_clicks_and_attributions(http, store,
                                                                   custom_shop) -> None:
    from plugin.store.erasure import erase_customer

    shop_id = custom_shop.shop.shop_id
    click(http, custom_shop, customer="c-gone", visitor="v-gone")
    click(http, custom_shop, customer="c-stays", visitor="v-stays")
    deliver(http, store, custom_shop, order_event("o14", "c-gone", time.time() + 60))
    deliver(http, store, custom_shop, order_event("o15", "c-stays", time.time() + 60))
    assert attributed(http, custom_shop)["attributed_orders"] == 2
    store.run(lambda r: erase_customer(r, shop_id, "c-gone"))

    async def names(redis: Any) -> list[bytes]:
        found = []
        async for key in redis.scan_iter(match=f"shopreco:{{{shop_id}}}:widget:*"):
            if b"gone" in key:
                found.append(key)
        return found

    assert store.run(names) == []
    assert attributed(http, custom_shop)["attributed_orders"] == 1


def test_a_click_in_the_orders_own_second_attributes_it(http, store, custom_shop) -> None:
    """Order times come in whole seconds: a checkout within a second of the click counts."""
    click(http, custom_shop)
    deliver(http, store, custom_shop, order_event("o9", "c1", float(int(time.time()))))
    assert attributed(http, custom_shop)["attributed_orders"] == 1
