"""POST /webhooks/shopify over real HTTP against the embedded Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from plugin.store import keys
from plugin.store.connection import EmbeddedRedis
from plugin.store.order import Order
from plugin.store.shops import add_shop
from tests.conftest import LiveServer, Store, settings_for
from tests.helpers import SHARED_DATA, body_of, order_payload, shopify_headers, shopify_signature
from tests.webhooks.test_signatures import SHOPIFY, vector_body
from webhooks.shopify import parse_order

PROBLEM = "application/problem+json"


def event_count(store: Store, shop_id: str) -> int:
    return store.run(lambda r: r.xlen(keys.events(shop_id)))


def post(http: httpx.Client, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return http.post("/webhooks/shopify", content=body, headers=headers)


def test_signed_order_is_accepted_and_stored(http, shop, store) -> None:
    body = body_of(order_payload(1, 11, [101, 102]))
    headers = shopify_headers(shop.shop.domain, shop.shop.webhook_secrets[0].reveal(), body)
    response = post(http, body, headers)
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    stored = store.run(lambda r: r.xrange(keys.events(shop.shop.shop_id)))
    assert len(stored) == 1 and stored[0][1][b"body"] == body


def test_the_order_checked_at_the_door_is_stored_beside_the_body(http, shop, store) -> None:
    """The worker stores it from there, without parsing the body a second time."""
    payload = order_payload(2, 12, [101, 103])
    body = body_of(payload)
    headers = shopify_headers(shop.shop.domain, shop.shop.webhook_secrets[0].reveal(), body)
    assert post(http, body, headers).status_code == 200
    stored = store.run(lambda r: r.xrange(keys.events(shop.shop.shop_id)))
    assert Order.from_json(stored[0][1][b"order"]) == parse_order(payload)  # checked on read


def test_an_event_that_is_not_an_order_carries_no_order(http, shop, store) -> None:
    body = body_of({"id": 632910392, "title": "IPod Nano"})
    headers = shopify_headers(shop.shop.domain, shop.shop.webhook_secrets[0].reveal(), body,
                              topic="products/update")
    assert post(http, body, headers).status_code == 200
    stored = store.run(lambda r: r.xrange(keys.events(shop.shop.shop_id)))
    assert b"order" not in stored[0][1]


@pytest.mark.parametrize("vector", SHOPIFY, ids=[v["id"] for v in SHOPIFY])
def test_shared_vector_passes_signature_check_over_http(http, make_shop, store, vector) -> None:
    shop = make_shop(secret=vector["secret"])
    body = vector_body(vector)
    headers = {"X-Shopify-Topic": "shop/update", "X-Shopify-Shop-Domain": shop.shop.domain,
               "X-Shopify-Hmac-Sha256": vector["expected"]}
    assert post(http, body, headers).status_code != 401
    headers["X-Shopify-Hmac-Sha256"] = shopify_signature("wrong", body)
    assert post(http, body, headers).status_code == 401


def test_real_captured_order_notification_is_accepted(http, make_shop, store) -> None:
    vector = next(v for v in SHOPIFY if "body_file" in v)
    shop = make_shop(secret=vector["secret"])
    body = (SHARED_DATA / "webhooks" / vector["body_file"]).read_bytes()
    headers = {"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": shop.shop.domain,
               "X-Shopify-Hmac-Sha256": vector["expected"], "X-Shopify-Webhook-Id": "real-1"}
    response = post(http, body, headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"


def test_new_header_spelling_without_x_prefix_is_accepted(http, shop) -> None:
    body = body_of(order_payload(2, 12, [101]))
    secret = shop.shop.webhook_secrets[0].reveal()
    headers = shopify_headers(shop.shop.domain, secret, body, prefix="shopify-")
    assert post(http, body, headers).json()["status"] == "accepted"


def test_redelivery_with_same_webhook_id_is_stored_once(http, shop, store) -> None:
    body = body_of(order_payload(3, 13, [101]))
    headers = shopify_headers(shop.shop.domain, shop.shop.webhook_secrets[0].reveal(), body,
                              webhook_id="same-delivery")
    first, second = post(http, body, headers), post(http, body, headers)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["status"] == "duplicate"
    assert event_count(store, shop.shop.shop_id) == 1


def test_bad_signature_is_401_and_stores_nothing(http, shop, store) -> None:
    body = body_of(order_payload(4, 14, [101]))
    headers = shopify_headers(shop.shop.domain, "not-the-secret", body)
    response = post(http, body, headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert shop.shop.webhook_secrets[0].reveal() not in response.text
    assert event_count(store, shop.shop.shop_id) == 0


def test_missing_signature_is_401(http, shop, store) -> None:
    body = body_of(order_payload(5, 15, [101]))
    headers = shopify_headers(shop.shop.domain, "x", body)
    del headers["X-Shopify-Hmac-Sha256"]
    assert post(http, body, headers).status_code == 401
    assert event_count(store, shop.shop.shop_id) == 0


def test_unknown_shop_domain_is_404(http) -> None:
    body = body_of(order_payload(6, 16, [101]))
    response = post(http, body, shopify_headers("nobody.myshopify.com", "s", body))
    assert response.status_code == 404
    assert "nobody.myshopify.com" in response.json()["detail"]


def test_signed_invalid_json_is_400_and_stores_nothing(http, shop, store) -> None:
    body = b'{"id": 1, "line_items": ['
    headers = shopify_headers(shop.shop.domain, shop.shop.webhook_secrets[0].reveal(), body)
    response = post(http, body, headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert event_count(store, shop.shop.shop_id) == 0


def test_signed_order_without_line_items_is_400_naming_the_field(http, shop, store) -> None:
    payload = order_payload(7, 17, [101])
    del payload["line_items"]
    body = body_of(payload)
    headers = shopify_headers(shop.shop.domain, shop.shop.webhook_secrets[0].reveal(), body)
    response = post(http, body, headers)
    assert response.status_code == 400
    assert "line_items" in response.json()["detail"]
    assert event_count(store, shop.shop.shop_id) == 0


def test_oversized_body_is_413_and_stores_nothing(http, shop, store) -> None:
    body = b'{"pad": "' + b"x" * (store.settings.max_body_bytes + 1) + b'"}'
    headers = shopify_headers(shop.shop.domain, shop.shop.webhook_secrets[0].reveal(), body)
    response = post(http, body, headers)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert event_count(store, shop.shop.shop_id) == 0


def test_oversized_chunked_body_without_length_is_413(http, shop, store) -> None:
    chunk = b"x" * 8192
    count = store.settings.max_body_bytes // len(chunk) + 2
    headers = {"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": shop.shop.domain,
               "X-Shopify-Hmac-Sha256": "irrelevant"}
    response = http.post("/webhooks/shopify", content=iter([chunk] * count), headers=headers)
    assert response.status_code == 413


def test_other_topics_are_stored_for_later(http, shop, store) -> None:
    body = b'{"id": 9, "name": "Example shop"}'
    headers = shopify_headers(shop.shop.domain, shop.shop.webhook_secrets[0].reveal(), body,
                              topic="shop/update")
    assert post(http, body, headers).json()["status"] == "accepted"
    assert event_count(store, shop.shop.shop_id) == 1


def test_storage_down_is_503_so_the_platform_retries(store) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="shopreco-down-"))
    embedded = EmbeddedRedis(data_dir, fsync_always=False)
    settings = settings_for(store, data_dir=data_dir, run_worker=False)
    try:
        with LiveServer(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
            async def register_then_stop() -> str:
                r = aioredis.Redis(unix_socket_path=embedded.socket_path)
                new = await add_shop(r, "down", "shopify", "down.myshopify.com", url)
                with contextlib.suppress(RedisError):  # it drops the connection as it stops
                    await r.shutdown(nosave=True)
                return new.shop.webhook_secrets[0].reveal()

            secret = asyncio.run(register_then_stop())
            body = body_of(order_payload(8, 18, [101]))
            response = client.post("/webhooks/shopify", content=body,
                                   headers=shopify_headers("down.myshopify.com", secret, body))
            assert response.status_code == 503
            assert response.headers["content-type"] == PROBLEM
            assert "Retry-After" in response.headers
            assert json.loads(response.text)["status"] == 503
    finally:
        embedded.close()
        shutil.rmtree(data_dir, ignore_errors=True)
