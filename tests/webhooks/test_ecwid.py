"""Ecwid: signed event ids over HTTP, orders and products fetched from a local fake Ecwid API."""

from __future__ import annotations

import base64
import hashlib
import hmac
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
from plugin.store.order import LineItem, Order
from plugin.store.shops import Shop, get_shop
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
from webhooks import ecwid
from webhooks.backfill import run_backfill

ECWID_DATA = SHARED_DATA / "webhooks" / "ecwid"
VECTOR = next(v for v in VECTORS if v["id"] == "ecwid-derived")
DOCS_ORDER: dict[str, Any] = json.loads((ECWID_DATA / "order_get_response_docs.json").read_text())
DOCS_EVENTS = sorted(path.name for path in ECWID_DATA.glob("webhook_*_docs.json"))
DOCS_ORDER_ENTITY = 103  # the order the docs' order.created/updated events name
DOCS_PRODUCTS = (667251253, 66722483)  # the products the docs' product events name


@pytest.fixture
def api() -> Iterator[FakePlatformApi]:
    with FakePlatformApi() as fake:
        yield fake


def new_store_id() -> str:
    return str(2_000_000_000 + uuid.uuid4().int % 1_000_000_000)


def ecwid_shop(store: Store, api: FakePlatformApi, **kwargs: Any) -> Shop:
    return register_shop(store, "ecwid", new_store_id(), api.url, **kwargs)


def sign(secret: str, payload: dict[str, Any]) -> str:
    message = f"{payload['eventCreated']}.{payload['eventId']}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def event(shop: Shop, event_type: str, entity_id: Any, **data: Any) -> dict[str, Any]:
    return {"eventId": str(uuid.uuid4()), "eventCreated": int(time.time()),
            "storeId": int(shop.access.store_ref), "entityId": entity_id,
            "eventType": event_type, "data": data}


def post(http: httpx.Client, shop: Shop, payload: dict[str, Any],
         signature: str | None = None) -> httpx.Response:
    secret = shop.webhook_secrets[0].reveal()
    headers = {"Content-Type": "application/json",
               "X-Ecwid-Webhook-Signature": signature or sign(secret, payload)}
    return http.post("/webhooks/ecwid", content=json.dumps(payload).encode(), headers=headers)


def order_path(shop: Shop, order_id: Any) -> str:
    return f"/{shop.access.store_ref}/orders/{order_id}"


def product_path(shop: Shop, product_id: Any) -> str:
    return f"/{shop.access.store_ref}/products/{product_id}"


def ecwid_product(product_id: int, **changes: Any) -> dict[str, Any]:
    """A product as Ecwid's GET /products/{productId} documents it (the fields we read)."""
    return {"id": product_id, "sku": "00004", "quantity": 12, "unlimited": False,
            "inStock": True, "name": "Orange", "price": 15.99, "enabled": True,
            "url": f"https://mdemo.ecwid.com/#!/Orange/p/{product_id}",
            "imageUrl": "https://images.example/orange.jpg",
            "hdThumbnailUrl": "https://images.example/orange-hd.jpg", **changes}


# Signatures


def test_derived_vector_signs_the_docs_event_to_the_expected_value() -> None:
    body = (SHARED_DATA / "webhooks" / VECTOR["body_file"]).read_bytes()
    assert ecwid.signed_message(json.loads(body)) == VECTOR["signed_string"].encode()
    headers = {"x-ecwid-webhook-signature": VECTOR["expected"]}
    assert ecwid.verify((Secret(VECTOR["secret"]),), headers, body)


def test_derived_vector_fails_with_another_event_id() -> None:
    payload = json.loads((SHARED_DATA / "webhooks" / VECTOR["body_file"]).read_bytes())
    payload["eventId"] += "0"
    headers = {"x-ecwid-webhook-signature": VECTOR["expected"]}
    assert not ecwid.verify((Secret(VECTOR["secret"]),), headers, json.dumps(payload).encode())


def test_docs_event_with_the_vector_signature_is_accepted_over_http(store, http, api) -> None:
    body = (SHARED_DATA / "webhooks" / VECTOR["body_file"]).read_bytes()
    store_id = str(json.loads(body)["storeId"])  # 1003: no other test registers it
    shop = register_shop(store, "ecwid", store_id, api.url, secret=VECTOR["secret"])
    api.reply(order_path(shop, DOCS_ORDER_ENTITY), DOCS_ORDER)
    headers = {"Content-Type": "application/json",
               "X-Ecwid-Webhook-Signature": VECTOR["expected"]}
    response = http.post("/webhooks/ecwid", content=body, headers=headers)
    drain(store, shop.shop_id)
    assert response.status_code == 200 and response.json()["status"] == "accepted"


def test_bad_signature_is_refused_with_401(store, http, api) -> None:
    shop = ecwid_shop(store, api)
    payload = event(shop, "order.created", 1)
    response = post(http, shop, payload, signature=sign("not-the-secret", payload))
    assert response.status_code == 401
    assert stream_length(store, shop.shop_id) == 0


def test_unknown_store_id_is_refused_with_404(store, http, api) -> None:
    shop = ecwid_shop(store, api)
    payload = {**event(shop, "order.created", 1), "storeId": int(new_store_id())}
    response = post(http, shop, payload)
    assert response.status_code == 404
    assert f"storeId '{payload['storeId']}'" in response.json()["detail"]


def test_signed_event_without_event_type_is_refused_with_400_naming_it(store, http, api) -> None:
    shop = ecwid_shop(store, api)
    payload = event(shop, "order.created", 1)
    del payload["eventType"]
    response = post(http, shop, payload)
    assert response.status_code == 400 and "eventType" in response.json()["detail"]


def test_redelivered_event_id_is_stored_once(store, http, api) -> None:
    shop = ecwid_shop(store, api)
    api.reply(order_path(shop, 7), DOCS_ORDER)
    payload = event(shop, "order.created", 7)
    statuses = [post(http, shop, payload).json()["status"] for _ in range(2)]
    drain(store, shop.shop_id)
    assert statuses == ["accepted", "duplicate"]
    assert stream_length(store, shop.shop_id) == 1


# Every documented event


@pytest.mark.parametrize("name", DOCS_EVENTS)
def test_docs_event_is_accepted_and_processed_without_error(store, http, api, name) -> None:
    shop = ecwid_shop(store, api)
    api.reply(order_path(shop, DOCS_ORDER_ENTITY), DOCS_ORDER)
    for product_id in DOCS_PRODUCTS:
        api.reply(product_path(shop, product_id), ecwid_product(product_id))
    payload = {**json.loads((ECWID_DATA / name).read_text()),
               "storeId": int(shop.access.store_ref)}
    response = post(http, shop, payload)
    drain(store, shop.shop_id)
    assert response.status_code == 200, response.text
    assert dead_letters(store, shop.shop_id) == []


# Orders


def test_fetched_order_is_stored_with_exact_string_ids(store, http, api) -> None:
    shop = ecwid_shop(store, api)
    api.reply(order_path(shop, DOCS_ORDER_ENTITY), DOCS_ORDER)
    post(http, shop, event(shop, "order.created", DOCS_ORDER_ENTITY))
    drain(store, shop.shop_id)
    assert stored_order(store, shop.shop_id, "1028") == Order(
        order_id="1028", customer_id="40201284", created_at=1527779316.0,
        updated_at=1527779375.0, cancelled=False, currency="EUR", total_price="2014.97",
        lines=(LineItem("66722487", None, "iMac", 1, "1060", line_id="140273658"),
               LineItem("66821181", None, "Mug", 1, "16.64", line_id="140273659")),
    )


def test_order_is_fetched_with_the_shops_bearer_token(store, http, api) -> None:
    shop = ecwid_shop(store, api, api_token="secret_token_for_this_test")
    api.reply(order_path(shop, DOCS_ORDER_ENTITY), DOCS_ORDER)
    post(http, shop, event(shop, "order.created", DOCS_ORDER_ENTITY))
    drain(store, shop.shop_id)
    [seen] = api.requests_to(order_path(shop, DOCS_ORDER_ENTITY))
    assert seen.headers["authorization"] == "Bearer secret_token_for_this_test"


def test_order_named_by_data_order_id_is_fetched_by_it(store, http, api) -> None:
    shop = ecwid_shop(store, api)
    api.reply(order_path(shop, "XJ12H"), {**DOCS_ORDER, "id": "XJ12H"})
    post(http, shop, event(shop, "order.updated", 4_000_000_123, orderId="XJ12H"))
    drain(store, shop.shop_id)
    assert stored_order(store, shop.shop_id, "XJ12H") is not None


@pytest.mark.parametrize(("status", "counts"), [
    ("PAID", True), ("PARTIALLY_REFUNDED", True), ("AWAITING_PAYMENT", False),
    ("CANCELLED", False), ("REFUNDED", False), ("INCOMPLETE", False),
])
def test_payment_status_decides_whether_the_order_counts(status, counts) -> None:
    order = ecwid.parse_order({**DOCS_ORDER, "paymentStatus": status}, "EUR")
    assert bool(purchases_of(order)) is counts


@pytest.mark.parametrize("customer_id", [0, None], ids=["zero", "missing"])
def test_guest_order_has_no_customer(customer_id) -> None:
    assert ecwid.parse_order({**DOCS_ORDER, "customerId": customer_id}, "EUR").customer_id is None


def test_timestamps_alone_are_accepted_when_dates_are_missing() -> None:
    raw = {k: v for k, v in DOCS_ORDER.items() if k not in ("createDate", "updateDate")}
    order = ecwid.parse_order(raw, "EUR")
    assert (order.created_at, order.updated_at) == (1527779316.0, 1527779375.0)


def test_deleted_order_stops_counting(store, http, api) -> None:
    shop = ecwid_shop(store, api)
    api.reply(order_path(shop, "XJ12H"), {**DOCS_ORDER, "id": "XJ12H"}, Reply(404))
    post(http, shop, event(shop, "order.created", 1, orderId="XJ12H"))
    drain(store, shop.shop_id)
    post(http, shop, event(shop, "order.deleted", 1, orderId="XJ12H"))
    drain(store, shop.shop_id)
    assert purchases_of(stored_order(store, shop.shop_id, "XJ12H")) == []


def test_deletion_the_api_does_not_confirm_leaves_the_order_counting(store, http, api) -> None:
    shop = ecwid_shop(store, api)  # the body is not signed: a forged event.deleted is ignored
    api.reply(order_path(shop, "XJ12H"), {**DOCS_ORDER, "id": "XJ12H"})
    post(http, shop, event(shop, "order.created", 1, orderId="XJ12H"))
    post(http, shop, event(shop, "order.deleted", 1, orderId="XJ12H"))
    drain(store, shop.shop_id)
    assert purchases_of(stored_order(store, shop.shop_id, "XJ12H")) != []


# Products


def test_product_event_stores_the_fetched_catalog_entry(store, http, api) -> None:
    shop = ecwid_shop(store, api)
    api.reply(product_path(shop, 66722483), ecwid_product(66722483))
    post(http, shop, event(shop, "product.updated", 66722483))
    drain(store, shop.shop_id)
    assert stored_product(store, shop.shop_id, "66722483") == {
        "product_id": "66722483", "title": "Orange",
        "url": "https://mdemo.ecwid.com/#!/Orange/p/66722483",
        "image_url": "https://images.example/orange.jpg", "price": "15.99", "available": True,
    }


@pytest.mark.parametrize("changes", [{"enabled": False}, {"inStock": False},
                                     {"inStock": None, "quantity": 0}],
                         ids=["disabled", "out-of-stock", "no-quantity"])
def test_disabled_or_sold_out_product_is_unavailable(changes) -> None:
    assert ecwid.parse_product(ecwid_product(5, **changes))["available"] is False


def test_deleted_product_becomes_unavailable(store, http, api) -> None:
    shop = ecwid_shop(store, api)
    api.reply(product_path(shop, 66722483), ecwid_product(66722483), Reply(404))
    post(http, shop, event(shop, "product.created", 66722483))
    drain(store, shop.shop_id)
    post(http, shop, event(shop, "product.deleted", 66722483))
    drain(store, shop.shop_id)
    assert stored_product(store, shop.shop_id, "66722483")["available"] is False


def test_application_uninstalled_stops_work_and_drops_the_token(store, http, api) -> None:
    shop = ecwid_shop(store, api)  # entityId: the store that removed the app
    assert post(http, shop, event(shop, "application.uninstalled",
                                  shop.access.store_ref)).status_code == 200
    drain(store, shop.shop_id)
    after = store.run(lambda r: get_shop(r, shop.shop_id))
    assert after is not None and after.uninstalled_at is not None
    assert not after.access.api_token.reveal() and dead_letters(store, shop.shop_id) == []


# Fetch failures


def test_server_errors_are_retried_until_the_order_is_stored(store, http, api) -> None:
    shop = ecwid_shop(store, api)
    path = order_path(shop, DOCS_ORDER_ENTITY)
    api.reply(path, Reply(500), Reply(500), DOCS_ORDER)
    post(http, shop, event(shop, "order.created", DOCS_ORDER_ENTITY))
    drain(store, shop.shop_id)
    assert len(api.requests_to(path)) == 3
    assert stored_order(store, shop.shop_id, "1028") is not None


def test_order_the_api_does_not_know_is_dead_lettered(store, http, api) -> None:
    shop = ecwid_shop(store, api)  # no route: the fake API answers 404
    post(http, shop, event(shop, "order.created", 404404))
    drain(store, shop.shop_id)
    [letter] = dead_letters(store, shop.shop_id)
    assert b"answered 404" in letter[b"error"]
    assert store.run(lambda r: r.hlen(keys.orders(shop.shop_id))) == 0


def test_api_token_never_appears_in_a_dead_letter(store, http, api) -> None:
    shop = ecwid_shop(store, api, api_token="secret_do_not_leak_me")
    post(http, shop, event(shop, "order.created", 404404))
    drain(store, shop.shop_id)
    assert b"secret_do_not_leak_me" not in b"".join(
        value for letter in dead_letters(store, shop.shop_id) for value in letter.values())


def test_rate_limited_fetch_waits_as_long_as_retry_after_says(store, http, api) -> None:
    shop = ecwid_shop(store, api)
    path = order_path(shop, DOCS_ORDER_ENTITY)
    api.reply(path, Reply(429, {"errorMessage": "Too many requests"}, {"Retry-After": "1"}),
              DOCS_ORDER)
    post(http, shop, event(shop, "order.created", DOCS_ORDER_ENTITY))
    drain(store, shop.shop_id)
    first, second = api.requests_to(path)
    assert second.at - first.at >= 1.0
    assert stored_order(store, shop.shop_id, "1028") is not None


# Backfill


def serve_order_pages(api: FakePlatformApi, shop: Shop, numbers: list[int], size: int) -> None:
    """GET /{storeId}/orders?offset=N answered `size` orders at a time, as Ecwid pages."""
    orders = [{**DOCS_ORDER, "orderNumber": number} for number in numbers]
    for offset in range(0, len(orders), size):
        items = orders[offset:offset + size]
        api.reply(f"/{shop.access.store_ref}/orders", {
            "total": len(orders), "count": len(items), "offset": offset, "limit": size,
            "items": items,
        }, query={"offset": offset})


def test_backfill_stores_every_page(store, api) -> None:
    shop = ecwid_shop(store, api)
    serve_order_pages(api, shop, [501, 502, 503, 504, 505], size=2)

    async def backfill(redis: Any) -> Any:
        http = fast_http()
        try:
            return await run_backfill(redis, http, shop, ecwid.backfill_pages)
        finally:
            await http.aclose()

    result = store.run(backfill)
    stored = store.run(lambda r: r.hkeys(keys.orders(shop.shop_id)))
    assert (result.pages, result.orders_seen) == (3, 5)
    assert sorted(stored) == [b"501", b"502", b"503", b"504", b"505"]


def test_backfill_resumes_at_the_saved_offset(store, api) -> None:
    shop = ecwid_shop(store, api)
    serve_order_pages(api, shop, [601, 602, 603, 604, 605], size=2)
    store.run(lambda r: r.set(keys.backfill_cursor(shop.shop_id), "2"))

    async def backfill(redis: Any) -> Any:
        http = fast_http()
        try:
            return await run_backfill(redis, http, shop, ecwid.backfill_pages)
        finally:
            await http.aclose()

    store.run(backfill)
    offsets = [seen.query["offset"] for seen in api.requests_to(f"/{shop.access.store_ref}/orders")]
    assert offsets == ["2", "4"]


def test_backfill_command_imports_the_history(store, api) -> None:
    shop = ecwid_shop(store, api)
    serve_order_pages(api, shop, [701, 702, 703], size=2)
    env = {**os.environ, "SHOPRECO_DATA_DIR": str(store.settings.data_dir)}
    env.pop("REDIS_URL", None)
    result = subprocess.run([sys.executable, "-m", "plugin.cli", "backfill", shop.shop_id],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["orders_seen"] == 3
    assert store.run(lambda r: r.hlen(keys.orders(shop.shop_id))) == 3
