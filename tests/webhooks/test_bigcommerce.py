"""BigCommerce: Standard Webhooks deliveries over HTTP, orders and products fetched from a local
fake BigCommerce API answering in the documented V2 (orders) and V3 (catalog) shapes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from plugin.config import Secret
from plugin.engine.training import purchases_of
from plugin.store import keys
from plugin.store.order import LineItem, Order, Refund
from plugin.store.shops import Shop
from tests.conftest import Store
from tests.helpers import SHARED_DATA
from tests.platform_server import (
    FakePlatformApi,
    Reply,
    dead_letters,
    drain,
    fast_http,
    register_shop,
    stored_order,
    stored_product,
    stream_length,
)
from tests.webhooks.test_signatures import VECTORS
from webhooks import bigcommerce
from webhooks.backfill import run_backfill
from webhooks.standard_webhooks import sign

BC_DATA = SHARED_DATA / "webhooks" / "bigcommerce"
VECTOR = next(v for v in VECTORS if v["id"] == "standard-webhooks-sign (BigCommerce)")
DOCS_EVENTS = sorted(path.name for path in BC_DATA.glob("store_*.json"))
DOCS_ORDER_ID = 250  # the order every documented order event names
NOV_20_2012 = "Tue, 20 Nov 2012 00:00:00 +0000"
NOV_20_2012_EPOCH = 1353369600.0


@pytest.fixture
def api() -> Iterator[FakePlatformApi]:
    with FakePlatformApi() as fake:
        yield fake


def bc_shop(store: Store, api: FakePlatformApi, **kwargs: Any) -> Shop:
    return register_shop(store, "bigcommerce", "h" + uuid.uuid4().hex[:9], api.url, **kwargs)


def signed_headers(secret: str, body: bytes, stamp: int | None = None) -> dict[str, str]:
    msg_id, stamp = f"msg_{uuid.uuid4().hex}", stamp or int(time.time())
    return {"Content-Type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(stamp), "webhook-signature": sign(secret, msg_id, stamp, body)}


def event(shop: Shop, scope: str, entity_id: int, kind: str = "order") -> dict[str, Any]:
    return {"scope": scope, "store_id": "1025646", "data": {"type": kind, "id": entity_id},
            "hash": hashlib.sha1(uuid.uuid4().bytes).hexdigest(),
            "created_at": int(time.time()), "producer": f"stores/{shop.access.store_ref}"}


def post(http: httpx.Client, shop: Shop, payload: dict[str, Any] | bytes,
         path: str | None = None, **header_options: Any) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = signed_headers(shop.webhook_secrets[0].reveal(), body, **header_options)
    return http.post(path or f"/webhooks/bigcommerce/{shop.shop_id}", content=body,
                     headers=headers)


def v2_order(order_id: int, status_id: int = 11, customer_id: int = 11,
             modified: str = NOV_20_2012) -> dict[str, Any]:
    """An order as GET /v2/orders/{id} documents it (abridged to the commonly present fields)."""
    return {
        "id": order_id, "customer_id": customer_id, "date_created": NOV_20_2012,
        "date_modified": modified, "date_shipped": "", "status_id": status_id,
        "status": "Awaiting Fulfillment", "subtotal_ex_tax": "225.0000",
        "subtotal_inc_tax": "225.0000", "subtotal_tax": "0.0000", "base_shipping_cost": "0.0000",
        "total_ex_tax": "225.0000", "total_inc_tax": "225.0000", "total_tax": "0.0000",
        "items_total": 3, "items_shipped": 0, "payment_method": "Cash",
        "refunded_amount": "0.0000", "currency_id": 1, "currency_code": "USD",
        "currency_exchange_rate": "1.0000000000", "default_currency_id": 1,
        "default_currency_code": "USD", "is_deleted": False, "order_source": "www",
        "products": {"url": f"https://api.bigcommerce.com/stores/abc/v2/orders/{order_id}/products",
                     "resource": f"/orders/{order_id}/products"},
    }


def v2_line(line_id: int, order_id: int, product_id: int, quantity: int = 1,
            refunded: int = 0, price: str = "75.0000") -> dict[str, Any]:
    """One item of GET /v2/orders/{id}/products, as documented."""
    return {
        "id": line_id, "order_id": order_id, "product_id": product_id,
        "variant_id": product_id * 10 + 1, "order_address_id": 1, "name": f"Product {product_id}",
        "sku": f"SKU-{product_id}", "type": "physical", "base_price": price,
        "price_ex_tax": price, "price_inc_tax": price, "price_tax": "0.0000",
        "base_total": price, "total_ex_tax": price, "total_inc_tax": price,
        "quantity": quantity, "quantity_refunded": refunded, "quantity_shipped": 0,
        "refund_amount": "0.0000", "is_refunded": refunded == quantity,
    }


def v2_lines(order_id: int) -> list[dict[str, Any]]:
    return [v2_line(order_id * 10 + 1, order_id, 77, quantity=2),
            v2_line(order_id * 10 + 2, order_id, 80)]


def serve_order(api: FakePlatformApi, order_id: int, *orders: Any,
                lines: list[Any] | None = None) -> str:
    path = f"/v2/orders/{order_id}"
    api.reply(path, *(orders or (v2_order(order_id),)))
    api.reply(f"{path}/products", lines if lines is not None else v2_lines(order_id))
    return path


def v3_product(product_id: int, **changes: Any) -> dict[str, Any]:
    """GET /v3/catalog/products/{id}?include=images, as documented (the fields we read)."""
    return {"data": {
        "id": product_id, "name": "Smith Journal 13", "type": "physical", "sku": "SM-13",
        "price": 25, "sale_price": 0, "calculated_price": 25, "is_visible": True,
        "availability": "available", "inventory_level": 0, "inventory_tracking": "none",
        "custom_url": {"url": "/smith-journal-13/", "is_customized": False},
        "images": [{"id": 1, "product_id": product_id, "is_thumbnail": True,
                    "url_standard": "https://cdn11.bigcommerce.example/standard.jpg",
                    "url_zoom": "https://cdn11.bigcommerce.example/zoom.jpg"}],
        **changes,
    }, "meta": {}}


# Signatures


def test_reference_vector_verifies_through_the_adapter() -> None:
    headers = {"webhook-id": VECTOR["msg_id"], "webhook-timestamp": str(VECTOR["timestamp"]),
               "webhook-signature": VECTOR["expected"]}
    assert bigcommerce.verify((Secret(VECTOR["secret"]),), headers, VECTOR["body"].encode(),
                              now=VECTOR["timestamp"] + 1)


def test_fresh_delivery_signed_with_the_vector_secret_is_accepted(store, http, api) -> None:
    shop = bc_shop(store, api, secret=VECTOR["secret"])
    serve_order(api, DOCS_ORDER_ID)
    response = post(http, shop, (BC_DATA / "store_order_created.json").read_bytes())
    drain(store, shop.shop_id)
    assert response.status_code == 200 and response.json()["status"] == "accepted"


def test_plain_client_secret_signs_deliveries(store, http, api) -> None:
    shop = bc_shop(store, api, secret="bigcommerce-app-client-secret")
    response = post(http, shop, event(shop, "store/customer/created", 32, "customer"))
    assert response.status_code == 200


def test_bad_signature_is_refused_with_401(store, http, api) -> None:
    shop = bc_shop(store, api)
    body = json.dumps(event(shop, "store/order/created", 1)).encode()
    headers = signed_headers("whsec_" + "QUJD" * 8, body)
    response = http.post(f"/webhooks/bigcommerce/{shop.shop_id}", content=body, headers=headers)
    assert response.status_code == 401
    assert stream_length(store, shop.shop_id) == 0


def test_stale_timestamp_is_refused_with_401(store, http, api) -> None:
    shop = bc_shop(store, api)
    response = post(http, shop, event(shop, "store/order/created", 1),
                    stamp=int(time.time()) - 600)
    assert response.status_code == 401


def test_shop_is_found_by_the_producer_store_hash(store, http, api) -> None:
    shop = bc_shop(store, api)
    response = post(http, shop, event(shop, "store/customer/created", 32, "customer"),
                    path="/webhooks/bigcommerce")
    assert response.status_code == 200 and response.json()["shop_id"] == shop.shop_id


def test_unknown_store_hash_is_refused_with_404(store, http, api) -> None:
    shop = bc_shop(store, api)
    payload = {**event(shop, "store/order/created", 1), "producer": "stores/nosuchstore"}
    response = post(http, shop, payload, path="/webhooks/bigcommerce")
    assert response.status_code == 404 and "nosuchstore" in response.json()["detail"]


def test_signed_order_event_without_data_id_is_refused_with_400(store, http, api) -> None:
    shop = bc_shop(store, api)
    payload = event(shop, "store/order/created", 1)
    del payload["data"]["id"]
    response = post(http, shop, payload)
    assert response.status_code == 400 and "data.id" in response.json()["detail"]


def test_redelivery_with_the_same_hash_is_stored_once(store, http, api) -> None:
    shop = bc_shop(store, api)
    serve_order(api, 5)
    payload = event(shop, "store/order/created", 5)
    statuses = [post(http, shop, payload).json()["status"] for _ in range(2)]
    drain(store, shop.shop_id)
    assert statuses == ["accepted", "duplicate"]
    assert stream_length(store, shop.shop_id) == 1


# Every documented event


@pytest.mark.parametrize("name", DOCS_EVENTS)
def test_docs_event_is_accepted_and_processed_without_error(store, http, api, name) -> None:
    shop = bc_shop(store, api)
    serve_order(api, DOCS_ORDER_ID)
    response = post(http, shop, (BC_DATA / name).read_bytes())
    drain(store, shop.shop_id)
    assert response.status_code == 200, response.text
    assert dead_letters(store, shop.shop_id) == []


# Orders


def test_fetched_order_is_stored_with_exact_string_ids(store, http, api) -> None:
    shop = bc_shop(store, api)
    serve_order(api, 101)
    post(http, shop, event(shop, "store/order/created", 101))
    drain(store, shop.shop_id)
    assert stored_order(store, shop.shop_id, "101") == Order(
        order_id="101", customer_id="11", created_at=NOV_20_2012_EPOCH,
        updated_at=NOV_20_2012_EPOCH, cancelled=False, currency="USD", total_price="225.0000",
        lines=(LineItem("77", "771", "Product 77", 2, "75.0000", line_id="1011"),
               LineItem("80", "801", "Product 80", 1, "75.0000", line_id="1012")),
    )


def test_order_is_fetched_with_the_shops_auth_token(store, http, api) -> None:
    shop = bc_shop(store, api, api_token="bc_token_for_this_test")
    path = serve_order(api, 102)
    post(http, shop, event(shop, "store/order/created", 102))
    drain(store, shop.shop_id)
    [seen] = api.requests_to(path)
    assert seen.headers["x-auth-token"] == "bc_token_for_this_test"


@pytest.mark.parametrize(("status_id", "counts"), [
    (0, False), (1, False), (2, True), (3, True), (4, False), (5, False), (6, False), (7, False),
    (8, True), (9, True), (10, True), (11, True), (12, False), (13, False), (14, True),
], ids=["incomplete", "pending", "shipped", "partially-shipped", "refunded", "cancelled",
        "declined", "awaiting-payment", "awaiting-pickup", "awaiting-shipment", "completed",
        "awaiting-fulfillment", "manual-verification", "disputed", "partially-refunded"])
def test_status_decides_whether_the_order_counts(status_id, counts) -> None:
    order = bigcommerce.parse_order(v2_order(1, status_id=status_id), v2_lines(1), "EUR")
    assert bool(purchases_of(order)) is counts


def test_guest_order_has_no_customer() -> None:
    assert bigcommerce.parse_order(v2_order(1, customer_id=0), [], "EUR").customer_id is None


def test_refunded_quantity_stops_counting(store, http, api) -> None:
    shop = bc_shop(store, api)
    refunded = [v2_line(1031, 103, 77, quantity=2, refunded=2), v2_line(1032, 103, 80)]
    serve_order(api, 103, v2_order(103, status_id=14), lines=refunded)
    post(http, shop, event(shop, "store/order/refund/created", 103))
    drain(store, shop.shop_id)
    order = stored_order(store, shop.shop_id, "103")
    assert order.refunds == (Refund("bc-1031", "1031", 2),)
    assert [p.product_id for p in purchases_of(order)] == ["80"]


def test_refund_after_the_order_replaces_its_counted_quantity(store, http, api) -> None:
    shop = bc_shop(store, api)
    later = "Wed, 21 Nov 2012 00:00:00 +0000"
    api.reply("/v2/orders/104", v2_order(104), v2_order(104, status_id=14, modified=later))
    api.reply("/v2/orders/104/products", v2_lines(104),
              [v2_line(1041, 104, 77, quantity=2, refunded=1), v2_line(1042, 104, 80)])
    post(http, shop, event(shop, "store/order/created", 104))
    drain(store, shop.shop_id)
    post(http, shop, event(shop, "store/order/refund/created", 104))
    drain(store, shop.shop_id)
    order = stored_order(store, shop.shop_id, "104")
    assert {p.product_id: p.quantity for p in purchases_of(order)} == {"77": 1, "80": 1}


def test_archived_order_stops_counting(store, http, api) -> None:
    shop = bc_shop(store, api)
    serve_order(api, 105)
    post(http, shop, event(shop, "store/order/created", 105))
    drain(store, shop.shop_id)
    post(http, shop, event(shop, "store/order/archived", 105))
    drain(store, shop.shop_id)
    assert purchases_of(stored_order(store, shop.shop_id, "105")) == []


# Products


def test_product_event_stores_the_fetched_catalog_entry(store, http, api) -> None:
    shop = bc_shop(store, api)
    api.reply("/v3/catalog/products/174", v3_product(174), query={"include": "images"})
    post(http, shop, event(shop, "store/product/updated", 174, "product"))
    drain(store, shop.shop_id)
    assert stored_product(store, shop.shop_id, "174") == {
        "product_id": "174", "title": "Smith Journal 13",
        "url": f"{shop.storefront_url}/smith-journal-13/",
        "image_url": "https://cdn11.bigcommerce.example/standard.jpg", "price": "25",
        "available": True,
    }


@pytest.mark.parametrize("changes", [
    {"is_visible": False}, {"availability": "disabled"},
    {"inventory_tracking": "product", "inventory_level": 0},
], ids=["hidden", "disabled", "sold-out"])
def test_hidden_disabled_or_sold_out_product_is_unavailable(changes) -> None:
    entry = bigcommerce.parse_product(v3_product(5, **changes), "https://shop.example")
    assert entry["available"] is False


def test_deleted_product_becomes_unavailable(store, http, api) -> None:
    shop = bc_shop(store, api)
    api.reply("/v3/catalog/products/175", v3_product(175))
    post(http, shop, event(shop, "store/product/created", 175, "product"))
    drain(store, shop.shop_id)
    post(http, shop, event(shop, "store/product/deleted", 175, "product"))
    drain(store, shop.shop_id)
    assert stored_product(store, shop.shop_id, "175")["available"] is False


# Fetch failures


def test_server_errors_are_retried_until_the_order_is_stored(store, http, api) -> None:
    shop = bc_shop(store, api)
    path = serve_order(api, 106, Reply(500), Reply(500), v2_order(106))
    post(http, shop, event(shop, "store/order/created", 106))
    drain(store, shop.shop_id)
    assert len(api.requests_to(path)) == 3
    assert stored_order(store, shop.shop_id, "106") is not None


def test_order_the_api_does_not_know_is_dead_lettered(store, http, api) -> None:
    shop = bc_shop(store, api)  # no route: the fake API answers 404
    post(http, shop, event(shop, "store/order/created", 404404))
    drain(store, shop.shop_id)
    [letter] = dead_letters(store, shop.shop_id)
    assert b"answered 404" in letter[b"error"]
    assert store.run(lambda r: r.hlen(keys.orders(shop.shop_id))) == 0


def test_rate_limited_fetch_waits_as_long_as_retry_after_says(store, http, api) -> None:
    shop = bc_shop(store, api)
    limited = Reply(429, {"title": "Too many requests"}, {"Retry-After": "1"})
    path = serve_order(api, 107, limited, v2_order(107))
    post(http, shop, event(shop, "store/order/created", 107))
    drain(store, shop.shop_id)
    first, second = api.requests_to(path)
    assert second.at - first.at >= 1.0
    assert stored_order(store, shop.shop_id, "107") is not None


# Backfill


def serve_order_pages(api: FakePlatformApi, ids: list[int], size: int, end: Reply) -> None:
    """GET /v2/orders?page=N answered `size` orders at a time, then `end`; products per order."""
    pages = [ids[start:start + size] for start in range(0, len(ids), size)]
    for number, page in enumerate(pages, start=1):
        api.reply("/v2/orders", [v2_order(order_id) for order_id in page], query={"page": number})
        for order_id in page:
            api.reply(f"/v2/orders/{order_id}/products", v2_lines(order_id))
    api.reply("/v2/orders", end, query={"page": len(pages) + 1})


def backfill(store: Store, shop: Shop) -> Any:
    async def work(redis: Any) -> Any:
        http = fast_http()
        try:
            return await run_backfill(redis, http, shop, bigcommerce.backfill_pages)
        finally:
            await http.aclose()

    return store.run(work)


@pytest.mark.parametrize("end", [Reply(204), Reply(200, [])], ids=["204", "empty-list"])
def test_backfill_stores_every_page(store, api, end) -> None:
    shop = bc_shop(store, api)
    serve_order_pages(api, [201, 202, 203, 204, 205], size=2, end=end)
    result = backfill(store, shop)
    stored = store.run(lambda r: r.hkeys(keys.orders(shop.shop_id)))
    assert result.orders_seen == 5
    assert sorted(stored) == [b"201", b"202", b"203", b"204", b"205"]


def test_backfill_lists_orders_oldest_id_first(store, api) -> None:
    shop = bc_shop(store, api)
    serve_order_pages(api, [211], size=2, end=Reply(204))
    backfill(store, shop)
    first = api.requests_to("/v2/orders")[0]
    assert first.query == {"page": "1", "limit": "250", "sort": "id:asc"}


def test_backfill_resumes_at_the_saved_page(store, api) -> None:
    shop = bc_shop(store, api)
    serve_order_pages(api, [221, 222, 223, 224, 225], size=2, end=Reply(204))
    store.run(lambda r: r.set(keys.backfill_cursor(shop.shop_id), "2"))
    backfill(store, shop)
    assert [seen.query["page"] for seen in api.requests_to("/v2/orders")] == ["2", "3", "4"]


def test_backfill_command_imports_the_history(store, api) -> None:
    shop = bc_shop(store, api)
    serve_order_pages(api, [231, 232, 233], size=2, end=Reply(204))
    env = {**os.environ, "SHOPRECO_DATA_DIR": str(store.settings.data_dir)}
    env.pop("REDIS_URL", None)
    result = subprocess.run([sys.executable, "-m", "plugin.cli", "backfill", shop.shop_id],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["orders_seen"] == 3
    assert store.run(lambda r: r.hlen(keys.orders(shop.shop_id))) == 3
