"""Shopify's refunds/create, app/uninstalled and products/delete over signed HTTP, processed by
the worker into the embedded Redis; and the refund merge racing an order update."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import httpx

from plugin.engine.training import purchases_of
from plugin.store import keys, records
from plugin.store.order import LineItem, Order, Refund
from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.helpers import SHARED_DATA, body_of, shopify_headers
from webhooks import shopify
from webhooks.ingest import Ingestor

SHOPIFY_DATA = SHARED_DATA / "webhooks" / "shopify"
ORDER_ID = "450789469"
REFUNDED_LINES = {"703073504", "466157049"}  # the refund fixture gives back one unit of each


def fixture(name: str) -> dict[str, Any]:
    return json.loads((SHOPIFY_DATA / f"rest_fixture_shopify_python_api_{name}.json").read_text())


def order_body() -> dict[str, Any]:
    return copy.deepcopy(fixture("order")["order"])


def refund_body() -> dict[str, Any]:
    return copy.deepcopy(fixture("refund")["refund"])


def post(http: httpx.Client, shop: NewShop, topic: str, payload: Any) -> httpx.Response:
    body = body_of(payload)
    headers = shopify_headers(shop.shop.domain, shop.shop.webhook_secrets[0].reveal(), body,
                              topic=topic)
    response = http.post("/webhooks/shopify", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response


def drained(store: Store, shop: NewShop) -> Order | None:
    async def work(redis: Any) -> Order | None:
        await Ingestor(redis).drain(shop.shop.shop_id)
        return await records.get_order(redis, shop.shop.shop_id, ORDER_ID)

    return store.run(work)


def kept_lines(order: Order | None) -> set[str | None]:
    """Line ids that still count (all lines of the fixture are the same product)."""
    assert order is not None
    return {line.line_id for line in order.lines if order.net_quantity(line) > 0}


def counted_units(order: Order | None) -> int:
    assert order is not None
    return sum(p.quantity for p in purchases_of(order))


def pending_refunds(store: Store, shop: NewShop) -> dict[bytes, bytes]:
    return store.run(lambda r: r.hgetall(keys.pending_refunds(shop.shop.shop_id)))


# --- refunds/create ------------------------------------------------------------------------


def test_refund_after_the_order_stops_the_refunded_lines_counting(http, store, shop) -> None:
    post(http, shop, "orders/create", order_body())
    assert counted_units(drained(store, shop)) == 3
    post(http, shop, "refunds/create", refund_body())
    order = drained(store, shop)
    assert counted_units(order) == 1  # through plugin.engine.training.purchases_of
    assert kept_lines(order) == {"518995019"}


def test_refund_before_its_order_waits_in_the_pending_hash(http, store, shop) -> None:
    post(http, shop, "refunds/create", refund_body())
    assert drained(store, shop) is None
    waiting = pending_refunds(store, shop)
    assert {r["line_id"] for r in json.loads(waiting[ORDER_ID.encode()])} == REFUNDED_LINES


def test_pending_refund_is_merged_when_the_order_arrives(http, store, shop) -> None:
    post(http, shop, "refunds/create", refund_body())
    drained(store, shop)
    post(http, shop, "orders/create", order_body())
    order = drained(store, shop)
    assert kept_lines(order) == {"518995019"}
    assert pending_refunds(store, shop) == {}


def test_refund_delivered_twice_is_merged_once(http, store, shop) -> None:
    post(http, shop, "orders/create", order_body())
    post(http, shop, "refunds/create", refund_body())
    drained(store, shop)
    changes = store.run(lambda r: r.hget(keys.stats(shop.shop.shop_id), "order_changes"))
    post(http, shop, "refunds/create", refund_body())  # a new delivery id: not deduplicated
    order = drained(store, shop)
    assert order is not None and len(order.refunds) == 2
    assert store.run(lambda r: r.hget(keys.stats(shop.shop.shop_id), "order_changes")) == changes


def test_newer_order_version_without_the_refund_keeps_it(http, store, shop) -> None:
    post(http, shop, "orders/create", order_body())
    post(http, shop, "refunds/create", refund_body())
    drained(store, shop)
    newer = order_body()
    newer["updated_at"] = "2016-06-21T10:00:00-04:00"
    post(http, shop, "orders/updated", newer)
    order = drained(store, shop)
    assert order is not None and order.updated_at > order.created_at
    assert kept_lines(order) == {"518995019"}


def test_order_update_carrying_its_refunds_stops_them_counting(http, store, shop) -> None:
    updated = order_body()
    updated["updated_at"] = "2016-06-20T13:35:06-04:00"
    updated["refunds"] = [refund_body()]
    post(http, shop, "orders/updated", updated)
    assert kept_lines(drained(store, shop)) == {"518995019"}


def test_refund_without_order_id_is_400_naming_it(http, shop) -> None:
    payload = refund_body()
    del payload["order_id"]
    body = body_of(payload)
    headers = shopify_headers(shop.shop.domain, shop.shop.webhook_secrets[0].reveal(), body,
                              topic="refunds/create")
    response = http.post("/webhooks/shopify", content=body, headers=headers)
    assert response.status_code == 400
    assert "order_id" in response.json()["detail"]


def test_refund_with_a_bad_signature_is_401(http, store, shop) -> None:
    body = body_of(refund_body())
    headers = shopify_headers(shop.shop.domain, "not-the-secret", body, topic="refunds/create")
    assert http.post("/webhooks/shopify", content=body, headers=headers).status_code == 401
    assert store.run(lambda r: r.xlen(keys.events(shop.shop.shop_id))) == 0


def test_refund_merge_racing_the_first_order_version_is_never_lost(store, shop) -> None:
    shop_id = shop.shop.shop_id

    def order(order_id: str) -> Order:
        line = LineItem("p1", None, "P", 2, "5.00", line_id=f"{order_id}-l")
        return Order(order_id, "c1", 1.0, 1.0, False, "EUR", "10.00", (line,))

    async def race(redis: Any) -> list[int]:
        counted = []
        for n in range(40):
            order_id = f"race-{n}"
            refund = Refund(f"r{n}", f"{order_id}-l", 1)
            await asyncio.gather(records.store_order(redis, shop_id, order(order_id)),
                                 records.merge_refunds(redis, shop_id, order_id, [refund]))
            stored = await records.get_order(redis, shop_id, order_id)
            assert stored is not None
            counted.append(stored.net_quantity(stored.lines[0]))
        return counted

    assert store.run(race) == [1] * 40


# --- app/uninstalled, products/delete -----------------------------------------------------


def test_app_uninstalled_records_the_time_in_the_shop_config(http, store, shop) -> None:
    post(http, shop, "app/uninstalled", {"id": 690933842, "domain": shop.shop.domain})
    drained(store, shop)
    config = store.run(lambda r: r.hgetall(keys.shop_config(shop.shop.shop_id)))
    assert float(config[b"uninstalled_at"]) > shop.shop.created_at


def test_app_uninstalled_keeps_the_orders(http, store, shop) -> None:
    post(http, shop, "orders/create", order_body())
    post(http, shop, "app/uninstalled", {"id": 690933842, "domain": shop.shop.domain})
    assert counted_units(drained(store, shop)) == 3


def test_products_delete_makes_the_product_unavailable(http, store, shop) -> None:
    product = fixture("product")["product"]
    post(http, shop, "products/create", product)
    post(http, shop, "products/delete", {"id": product["id"]})
    drained(store, shop)
    raw = store.run(lambda r: r.hget(keys.products(shop.shop.shop_id), str(product["id"])))
    entry = json.loads(raw)
    assert (entry["title"], entry["available"], entry["deleted"]) == \
        ("IPod Nano - 8GB", False, True)


def test_parse_order_reads_refund_line_items_of_the_order() -> None:
    payload = order_body()
    payload["refunds"] = [refund_body()]
    order = shopify.parse_order(payload)
    assert {(r.refund_id, r.line_id, r.quantity) for r in order.refunds} == \
        {("509562969", "703073504", 1), ("509562969", "466157049", 1)}
