"""The input boundary end to end: every poisoned value the attackers' report names, sent through
every platform, is refused (400 at the door where the body carries the order, a dead letter with
its reason where the worker fetches it) and nothing of it is stored; afterwards every read
endpoint of the shop answers 2xx."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from plugin.store import keys
from plugin.store.order import LineItem, Order
from plugin.store.records import store_order
from plugin.store.shops import Shop, issue_api_key
from tests.conftest import Store
from tests.helpers import body_of, order_payload, shopify_headers
from tests.platform_server import FakePlatformApi, dead_letters, drain, register_shop
from tests.webhooks.test_adapters import base64_hmac, standard_headers
from tests.woo_server import order_like

HUGE = "__a 4,301-digit number__"  # json.dumps cannot write one: put in by raw()
HUGE_LITERAL = b"9" * 4301


def raw(doc: dict[str, Any]) -> bytes:
    """The body of `doc`, with the HUGE marker written as a bare 4,301-digit number."""
    return body_of(doc).replace(b'"' + HUGE.encode() + b'"', HUGE_LITERAL)
# kind of field -> the poisoned value (the report's table, rows 2-4 and 9)
POISON: dict[str, tuple[str, Any]] = {
    "title-surrogate": ("title", "\ud800"),
    "product-surrogate": ("product_id", "\ud800"),
    "currency-surrogate": ("currency", "\ud800"),
    "currency-not-iso": ("currency", "Euro dollars"),
    "price-1e400": ("price", "1e400"),
    "price-negative": ("price", "-5.00"),
    "price-huge-number": ("price", HUGE),
    "quantity-huge": ("quantity", 10**12),
    "order-id-control": ("order_id", "12\n34"),
}
FETCHED = frozenset({"ecwid", "bigcommerce"})


# ---- one order document per platform, with its field names ---------------------------------

def shopify_order(order_id: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    doc = order_payload(order_id, 11, [101, 102])
    return doc, doc["line_items"][0], {"title": "title", "product_id": "product_id",
                                       "price": "price", "quantity": "quantity", "order_id": "id"}


def woo_order(order_id: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    doc = order_like(order_id, "2025-03-01T10:00:00", customer_id=11, product_ids=(101, 102))
    return doc, doc["line_items"][0], {"title": "name", "product_id": "product_id",
                                       "price": "price", "quantity": "quantity", "order_id": "id"}


def custom_order(order_id: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    at = "2025-03-01T10:00:00Z"
    data = {"id": str(order_id), "customer_id": "11", "created_at": at, "updated_at": at,
            "status": "paid", "currency": "EUR", "total_price": "20.00",
            "line_items": [{"id": str(i), "product_id": str(p), "quantity": 1,
                            "title": f"Product {p}", "price": "10.00"}
                           for i, p in enumerate((101, 102))]}
    return ({"type": "order.created", "timestamp": at, "data": data}, data["line_items"][0],
            {"title": "title", "product_id": "product_id", "price": "price",
             "quantity": "quantity", "order_id": "id"})


def ecwid_order(order_id: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    doc = {"id": order_id, "createTimestamp": 1740823200, "paymentStatus": "PAID",
           "customerId": 11, "currency": "EUR", "total": 20,
           "items": [{"id": order_id * 10 + i, "productId": p, "quantity": 1, "price": 10,
                      "name": f"Product {p}"} for i, p in enumerate((101, 102))]}
    return doc, doc["items"][0], {"title": "name", "product_id": "productId", "price": "price",
                                  "quantity": "quantity", "order_id": "id"}


def bigcommerce_order(order_id: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    products = [{"id": order_id * 10 + i, "product_id": p, "variant_id": 0, "quantity": 1,
                 "name": f"Product {p}", "price_inc_tax": "10.0000", "quantity_refunded": 0}
                for i, p in enumerate((101, 102))]
    doc = {"id": order_id, "customer_id": 11, "status_id": 11,
           "date_created": "Sat, 01 Mar 2025 10:00:00 +0000", "currency_code": "EUR",
           "total_inc_tax": "20.00", "is_deleted": False, "products": products}
    return doc, products[0], {"title": "name", "product_id": "product_id",
                              "price": "price_inc_tax", "quantity": "quantity", "order_id": "id"}


ORDERS: dict[str, Callable[[int], tuple[dict[str, Any], dict[str, Any], dict[str, str]]]] = {
    "shopify": shopify_order, "woocommerce": woo_order, "custom": custom_order,
    "ecwid": ecwid_order, "bigcommerce": bigcommerce_order,
}
CURRENCY_FIELD = {"bigcommerce": "currency_code"}


def poisoned(platform: str, order_id: int, kind: str) -> dict[str, Any]:
    doc, line, names = ORDERS[platform](order_id)
    field, value = POISON[kind]
    if field == "currency":
        holder = doc["data"] if platform == "custom" else doc
        holder[CURRENCY_FIELD.get(platform, "currency")] = value
    elif field == "order_id":
        (doc["data"] if platform == "custom" else doc)[names["order_id"]] = value
    else:
        line[names[field]] = value
    return doc


# ---- sending it -----------------------------------------------------------------------------

def send(http: httpx.Client, api: FakePlatformApi, shop: Shop, platform: str, order_id: int,
         doc: dict[str, Any]) -> httpx.Response:
    secret = shop.webhook_secrets[0].reveal()
    if platform == "shopify":
        body = raw(doc)
        return http.post("/webhooks/shopify", content=body,
                         headers=shopify_headers(shop.domain, secret, body))
    if platform == "woocommerce":
        body = raw(doc)
        return http.post(f"/webhooks/woocommerce/{shop.shop_id}", content=body, headers={
            "Content-Type": "application/json", "X-WC-Webhook-Source": f"https://{shop.domain}/",
            "X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-ID": "11",
            "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
            "X-WC-Webhook-Signature": base64_hmac(secret, body)})
    if platform == "custom":
        body = raw(doc)
        return http.post(f"/webhooks/custom/{shop.shop_id}", content=body,
                         headers=standard_headers(secret, body, 0))
    if platform == "ecwid":
        api.reply(f"/{shop.access.store_ref}/orders/{order_id}", doc)
        event = {"eventId": uuid.uuid4().hex, "eventCreated": int(time.time()),
                 "storeId": int(shop.access.store_ref), "entityId": order_id,
                 "eventType": "order.created", "data": {"orderId": order_id}}
        message = f"{event['eventCreated']}.{event['eventId']}".encode()
        return http.post("/webhooks/ecwid", content=body_of(event), headers={
            "Content-Type": "application/json",
            "X-Ecwid-Webhook-Signature": base64_hmac(secret, message)})
    products = doc.pop("products")
    api.reply(f"/v2/orders/{order_id}", doc)
    api.reply(f"/v2/orders/{order_id}/products", products)
    body = body_of({"scope": "store/order/created", "store_id": "1025646",
                    "data": {"type": "order", "id": order_id}, "hash": uuid.uuid4().hex,
                    "created_at": int(time.time()), "producer": f"stores/{shop.access.store_ref}"})
    return http.post(f"/webhooks/bigcommerce/{shop.shop_id}", content=body,
                     headers=standard_headers(secret, body, 0))


# ---- what a shop must still answer --------------------------------------------------------

def read_endpoints(shop: Shop) -> list[tuple[str, dict[str, Any]]]:
    base = f"/api/v1/shops/{shop.shop_id}"
    return [
        (f"{base}/recommendations/products/101", {"kind": "bought_together"}),
        (f"{base}/recommendations/products/101", {"kind": "similar"}),
        (f"{base}/recommendations/customers/11", {}),
        (f"{base}/recommendations/customers/11", {"exclude_purchased": "true"}),
        (f"{base}/recommendations/trending", {}),
        (f"{base}/model", {}),
        (f"{base}/exclusions", {}),
        (f"{base}/lifecycle/metrics", {}),
        (f"{base}/lifecycle/cohorts", {}),
        (f"{base}/lifecycle/stages", {}),
        (f"{base}/lifecycle/customers/11", {}),
        (f"{base}/lifecycle/feed", {}),
        (f"{base}/lifecycle/feed", {"format": "csv"}),
        (f"{base}/customers/11/data", {}),
        (f"{base}/widgets/stats", {}),
        *(("/widgets/v1/recommendations", {"key": shop.widget_key, "placement": placement,
                                            "product_id": "101", "product_ids": "101,102",
                                            "customer_id": "11"})
          for placement in ("bundle", "also_bought", "cart", "thank_you", "home", "trending",
                            "buy_again")),
    ]


def assert_every_read_answers(http: httpx.Client, store: Store, shop: Shop) -> None:
    api_key = store.run(lambda redis: issue_api_key(redis, shop.shop_id))
    failed = []
    for path, params in read_endpoints(shop):
        response = http.get(path, params=params, headers={"Authorization": f"Bearer {api_key}"})
        if not 200 <= response.status_code < 300:
            failed.append((path, params.get("placement") or params, response.status_code))
    cart = http.post(f"/api/v1/shops/{shop.shop_id}/recommendations/cart",
                     json={"product_ids": ["101"]}, headers={"Authorization": f"Bearer {api_key}"})
    assert not failed and cart.status_code == 200, failed or cart.text


def good_history(store: Store, shop_id: str) -> None:
    """Orders that count, stored as the worker stores them, so every read has data to show."""
    for n in range(30):
        lines = tuple(LineItem(str(p), None, f"Product {p}", 1, "10.00", f"{n}-{p}")
                      for p in (101 + n % 3, 104 + n % 2))
        order = Order(f"good-{n}", str(11 + n % 7), 1_740_000_000.0 + n * 3600,
                      1_740_000_000.0 + n * 3600, False, "EUR", "20.00", lines)
        store.run(lambda redis, o=order: store_order(redis, shop_id, o))


@pytest.fixture
def api() -> Iterator[FakePlatformApi]:
    with FakePlatformApi() as fake:
        yield fake


@pytest.fixture(params=sorted(ORDERS))
def platform_shop(request: pytest.FixtureRequest, store: Store, api: FakePlatformApi,
                  http: httpx.Client) -> tuple[str, Shop]:
    platform = str(request.param)
    store_ref = {"ecwid": str(3_000_000_000 + uuid.uuid4().int % 1_000_000_000),
                 "bigcommerce": "h" + uuid.uuid4().hex[:9]}.get(platform, "")
    shop = register_shop(store, platform, store_ref, api.url)
    good_history(store, shop.shop_id)
    api_key = store.run(lambda redis: issue_api_key(redis, shop.shop_id))
    trained = http.post(f"/api/v1/shops/{shop.shop_id}/model/train", params={"wait": "true"},
                        headers={"Authorization": f"Bearer {api_key}"})
    assert trained.status_code == 200, trained.text
    return platform, shop


def orders_hash(store: Store, shop_id: str) -> dict[bytes, bytes]:
    return dict(store.run(lambda redis: redis.hgetall(keys.orders(shop_id))))


def test_every_poisoned_value_is_refused_and_the_shop_still_answers(
    http, store, api, platform_shop
) -> None:
    platform, shop = platform_shop
    before = orders_hash(store, shop.shop_id)
    answers = {}
    for number, kind in enumerate(POISON):
        order_id = 700_000 + number
        response = send(http, api, shop, platform, order_id, poisoned(platform, order_id, kind))
        answers[kind] = response.status_code
    if platform in FETCHED:  # the delivery names the order; the fetched order is refused
        assert set(answers.values()) == {200}, answers
        drain(store, shop.shop_id)
        reasons = [fields[b"error"].decode() for fields in dead_letters(store, shop.shop_id)]
        assert len(reasons) == len(POISON), reasons
        assert all("PayloadError" in r or "InvalidJson" in r for r in reasons), reasons
    else:
        assert set(answers.values()) == {400}, answers
    assert orders_hash(store, shop.shop_id) == before
    assert_every_read_answers(http, store, shop)


def test_a_deeply_nested_body_is_refused_by_every_platform(http, store, api, platform_shop):
    """1,000 nested arrays, signed with the shop's secret where the platform signs the body:
    a 4xx naming the nesting where the body is parsed, never a 500."""
    platform, shop = platform_shop
    body = b"[" * 1000 + b"]" * 1000
    secret = shop.webhook_secrets[0].reveal()
    headers = {"Content-Type": "application/json"}
    if platform == "shopify":
        path = "/webhooks/shopify"
        headers.update(shopify_headers(shop.domain, secret, body))
    elif platform == "ecwid":
        path = "/webhooks/ecwid"  # the body names the store: it is parsed before anything else
    else:
        path = f"/webhooks/{platform}/{shop.shop_id}"
        headers.update({"X-WC-Webhook-Topic": "order.created",
                        "X-WC-Webhook-Signature": base64_hmac(secret, body)}
                       if platform == "woocommerce" else standard_headers(secret, body, 0))
    response = http.post(path, content=body, headers=headers)
    if platform == "ecwid":  # no shop can be found in it
        assert response.status_code == 404, response.text
    else:
        assert response.status_code == 400, response.text
        assert "nested more than 32 levels" in response.json()["detail"]
