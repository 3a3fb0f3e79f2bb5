"""The receiver (webhooks/receiver.py) over real HTTP: the platform from the path, the checks
in their order (size, shop, ping, signature, shape), the answer, the event it stores for the
worker, the headers it reads. (What every adapter decides at the door:
tests/webhooks/test_adapters.py.)"""

from __future__ import annotations

import uuid

import httpx

from plugin.store import keys
from tests.conftest import LiveServer, settings_for
from tests.helpers import body_of, order_payload, shopify_headers
from tests.webhooks.test_shopify import PROBLEM, event_count, post
from webhooks.receiver import webhook_params


def secret_of(shop) -> str:
    return shop.shop.webhook_secrets[0].reveal()


def test_an_unknown_platform_is_404_naming_the_known_ones(http) -> None:
    response = http.post("/webhooks/magento", content=b"{}")
    assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == (
        "no webhook receiver for platform 'magento'; "
        "known: bigcommerce, custom, ecwid, shopify, woocommerce")


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


def test_the_size_is_checked_before_the_shop(http, store) -> None:
    body = b"x" * (store.settings.max_body_bytes + 1)
    response = post(http, body, shopify_headers("nobody.myshopify.com", "s", body))
    assert response.status_code == 413


def test_the_signature_is_checked_before_the_body(http, shop, store) -> None:
    body = body_of({**order_payload(43, 7, [101]), "line_items": 5})
    response = post(http, body, shopify_headers(shop.shop.domain, "not-the-secret", body))
    assert response.status_code == 401  # an unsigned caller learns nothing of the field rules
    assert "line_items" not in response.json()["detail"]
    signed = post(http, body, shopify_headers(shop.shop.domain, secret_of(shop), body))
    assert signed.status_code == 400 and "line_items" in signed.json()["detail"]
    assert event_count(store, shop.shop.shop_id) == 0


def test_an_accepted_delivery_is_answered_with_the_event_it_stored(http, shop, store) -> None:
    body = body_of(order_payload(41, 7, [101]))
    delivery = uuid.uuid4().hex
    headers = {**shopify_headers(shop.shop.domain, secret_of(shop), body, webhook_id=delivery),
               "X-Shopify-Triggered-At": "2025-03-01T10:00:00Z"}
    answer = post(http, body, headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == {"status": "accepted", "shop_id": shop.shop.shop_id,
                             "event_id": answer.json()["event_id"]}
    [(event_id, fields)] = store.run(lambda r: r.xrange(keys.events(shop.shop.shop_id)))
    assert event_id.decode() == answer.json()["event_id"]
    assert {name: fields[name.encode()].decode() for name in (
        "platform", "topic", "delivery_id", "triggered_at", "api_version")} == {
        "platform": "shopify", "topic": "orders/create", "delivery_id": delivery,
        "triggered_at": "2025-03-01T10:00:00Z", "api_version": "2025-01"}


def test_a_repeated_header_counts_with_its_first_value(http, shop, store) -> None:
    body = body_of(order_payload(42, 7, [101]))
    signed = shopify_headers(shop.shop.domain, secret_of(shop), body)
    others = [(name, value) for name, value in signed.items()
              if name != "X-Shopify-Shop-Domain"]
    mine, stranger = shop.shop.domain, "stranger.myshopify.com"
    first_mine = http.post("/webhooks/shopify", content=body, headers=[
        *others, ("X-Shopify-Shop-Domain", mine), ("X-Shopify-Shop-Domain", stranger)])
    assert first_mine.status_code == 200, first_mine.text
    first_stranger = http.post("/webhooks/shopify", content=body, headers=[
        *others, ("X-Shopify-Shop-Domain", stranger), ("X-Shopify-Shop-Domain", mine)])
    assert first_stranger.status_code == 404 and stranger in first_stranger.json()["detail"]


# ---- SHOPRECO_REDIS_WAIT_REPLICAS: answered only once replicas have the event ---------------


def test_without_the_replicas_asked_for_a_webhook_is_503_stored_once_and_retried_safely(
        store, shop) -> None:
    """The embedded Redis has no replica: with one asked for, the webhook is answered 503 with
    Retry-After (the platform retries), stored once; the retry is not counted twice; with the
    setting off (the default) the same delivery is answered at once, as a duplicate."""
    body = body_of(order_payload(43, 7, [101]))
    headers = shopify_headers(shop.shop.domain, secret_of(shop), body,
                              webhook_id=uuid.uuid4().hex)
    waiting = settings_for(store, run_worker=False, redis_wait_replicas=1, redis_wait_ms=50)
    with LiveServer(waiting) as url, httpx.Client(base_url=url, timeout=60) as client:
        refused = [post(client, body, headers) for _ in range(2)]
    for answer in refused:
        assert answer.status_code == 503 and answer.headers["content-type"] == PROBLEM
        assert answer.headers["retry-after"] == "5"
        assert "0 of 1 replica(s) acknowledged" in answer.json()["detail"]
    with LiveServer(settings_for(store, run_worker=False)) as url, \
            httpx.Client(base_url=url, timeout=60) as client:
        answered = post(client, body, headers)
    assert answered.status_code == 200 and answered.json()["status"] == "duplicate"
    assert event_count(store, shop.shop.shop_id) == 1
    stats = store.run(lambda r: r.hgetall(keys.stats(shop.shop.shop_id)))
    assert (stats[b"accepted"], stats[b"duplicates"]) == (b"1", b"2")


def test_webhook_params_match_the_receiver_routes_only() -> None:
    assert webhook_params("/webhooks/shopify") == {"platform": "shopify"}
    assert webhook_params("/webhooks/custom/shop-1") == {"platform": "custom",
                                                         "shop_id": "shop-1"}
    for other in ("/webhooks", "/webhooks/", "/webhooks/shopify/", "/webhooks//x",
                  "/webhooks/a/b/c", "/api/v1/webhooks/shopify", "/webhooksx/shopify"):
        assert webhook_params(other) is None, other
