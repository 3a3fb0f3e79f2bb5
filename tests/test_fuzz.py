"""Property-based fuzzing (Hypothesis) of every way in: each webhook receiver (signed with the
shop's secret and unsigned), every API endpoint and the widget endpoints, with generated bodies,
headers and parameters. The properties: never a 5xx, never a hang, and a 4xx leaves the shop's
data byte for byte as it was.

Sized for CI (SHOPRECO_FUZZ_EXAMPLES per test, default 40); `bench/fuzz.py` runs it longer.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.store import keys
from plugin.store.shops import MAX_API_RATE_PER_MINUTE, NewShop, set_api_rate
from tests.conftest import Store
from tests.helpers import auth, order_payload, send_orders, shopify_signature, train
from tests.webhooks.test_adapters import base64_hmac, standard_headers
from tests.webhooks.test_boundary import good_history

EXAMPLES = int(os.environ.get("SHOPRECO_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
TIMEOUT = 10.0  # "never a hang": every answer comes within this

NASTY = st.sampled_from(["\ud800", "\udfff", "1e400", "-5.00", "9" * 60, "NaN", "",
                         "javascript:alert(1)", "=HYPERLINK(\"x\")", "\x00", "a" * 3000,
                         "EUR", "Euro", "//evil.example/x", "<script>", "0"])
LEAF = st.none() | st.booleans() | st.integers(-(2**70), 2**70) \
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20) | NASTY
JSON_VALUE = st.recursive(LEAF, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=12) | NASTY, inner, max_size=4),
                          max_leaves=20)


def mutated(document: Any) -> st.SearchStrategy[Any]:
    """`document` with one value somewhere inside replaced by a generated one."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*path, index))

    walk(document, ())

    def put(path: tuple[Any, ...], value: Any) -> Any:
        copy = json.loads(json.dumps(document))
        if not path:
            return value
        holder = copy
        for step in path[:-1]:
            holder = holder[step]
        holder[path[-1]] = value
        return copy

    return st.builds(put, st.sampled_from(paths), JSON_VALUE)


def encoded(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


BODY = st.one_of(
    st.binary(max_size=300),
    JSON_VALUE.map(encoded),
    mutated(order_payload(1, 11, [101, 102])).map(encoded),
    st.sampled_from([2, 33, 999, 1000, 5000]).map(lambda n: b"[" * n + b"]" * n),
    st.just(b"9" * 5000),
)
EVENTS = {"visitor_id": "v-1234567890", "customer_id": "3", "events": [
    {"id": "ev-123456789", "type": "click", "placement": "bundle", "product_id": "101",
     "at": int(time.time() * 1000), "model_version": "1"}]}
WIDGET_BODY = BODY | mutated(EVENTS).map(encoded)
CART = {"product_ids": ["101", "102"], "limit": 3, "customer_id": "3"}
PRODUCT = {"product_id": "101", "title": "Mug", "price": "9.90", "currency": "EUR",
           "url": "/products/mug", "image_url": "https://cdn.example.com/m.jpg",
           "available": True, "variant_id": "1011"}
BROWSING = {"visitor_id": "v-1234567890", "customer_id": "3", "events": [
    {"type": "product_view", "product_id": "101", "at": "2026-01-01T10:00:00Z"}]}
API_BODY = BODY | mutated(CART).map(encoded) | mutated(PRODUCT).map(encoded) \
    | mutated({"products": [PRODUCT]}).map(encoded) | mutated(BROWSING).map(encoded)
HEADER_NAME = st.sampled_from(["X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-WC-Webhook-Topic",
                               "X-WC-Webhook-Source", "webhook-id", "webhook-timestamp",
                               "X-Ecwid-Webhook-Signature", "Content-Type", "X-Forwarded-For"])
HEADER_VALUE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126),
                       max_size=40).map(str.strip)  # what an HTTP client can send
HEADERS = st.dictionaries(HEADER_NAME, HEADER_VALUE, max_size=4)
PARAMS = st.dictionaries(
    st.sampled_from(["limit", "kind", "exclude_purchased", "product_id", "product_ids",
                     "customer_id", "placement", "as_of", "start", "end", "lookback_days",
                     "stage", "format", "cursor", "products", "days", "key", "email",
                     "order_ids", "wait", "visitor_id"]),
    st.text(max_size=30) | NASTY.filter(lambda v: "\ud800" not in v and "\udfff" not in v),
    max_size=5)


@pytest.fixture(scope="module")
def fuzz_shop(store: Store, base_url: str) -> NewShop:
    """A trained Shopify shop the fuzzing may not break (also used for the other platforms'
    receivers: they look the shop up by their own path or header)."""
    from plugin.store.shops import add_shop

    shop_id = "fuzz-" + uuid.uuid4().hex[:10]
    new = store.run(lambda redis: add_shop(redis, shop_id, "shopify",
                                           f"{shop_id}.myshopify.com", "http://testserver",
                                           currency="EUR"))
    # every generated call reaches its handler, however many a minute (no 429 for the key)
    store.run(lambda redis: set_api_rate(redis, shop_id, MAX_API_RATE_PER_MINUTE))
    with httpx.Client(base_url=base_url, timeout=60) as http:
        send_orders(http, new, [order_payload(900 + n, n % 12, [101 + n % 5, 106 + n % 3])
                                for n in range(40)])
        assert train(http, new).status_code == 200
    return new


def snapshot(store: Store, shop_id: str) -> dict[bytes, Any]:
    """Every key of the shop, byte for byte: serialised by Redis itself (DUMP), but a stream
    as its entries and its groups' positions (DUMP also holds when the worker last polled)."""
    async def dump(redis: Any) -> dict[bytes, Any]:
        found: dict[bytes, Any] = {}
        async for key in redis.scan_iter(match=keys.shop_pattern(shop_id), count=500):
            if b":widget:rate:" in key or b":api:rate:" in key:  # the rate limits count
                continue  # every call, by design
            if await redis.type(key) == b"stream":
                groups = [(g["name"], g["pending"], g["last-delivered-id"])
                          for g in await redis.xinfo_groups(key)]
                found[key] = (await redis.xrange(key), groups)
            else:
                found[key] = await redis.dump(key)
        return found

    return store.run(dump)


def settled(store: Store, shops: list[NewShop]) -> None:
    """Wait until the worker has made each shop's event stream and group (it does so by
    itself, in the background: not a change a request made)."""
    deadline = time.monotonic() + 30
    for shop in shops:
        stream = keys.events(shop.shop.shop_id)
        while not store.run(lambda redis, s=stream: redis.exists(s)):
            assert time.monotonic() < deadline, "the worker never created the stream"
            time.sleep(0.05)


def check(store: Store, shop: NewShop, call: Callable[[], httpx.Response]) -> None:
    before = snapshot(store, shop.shop.shop_id)
    started = time.monotonic()
    response = call()
    assert time.monotonic() - started < TIMEOUT
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if 400 <= response.status_code < 500:
        assert snapshot(store, shop.shop.shop_id) == before, response.text[:300]


@pytest.fixture(scope="module")
def platform_shops(store: Store) -> dict[str, NewShop]:
    """One shop per platform, so a signed delivery reaches each adapter's parsing."""
    from plugin.store.shops import PlatformAccess, add_shop

    made = {}
    for platform in ("woocommerce", "ecwid", "bigcommerce", "custom"):
        shop_id = f"fz-{platform[:3]}-{uuid.uuid4().hex[:8]}"
        ref = str(5_000_000_000 + uuid.uuid4().int % 10**9) if platform == "ecwid" else \
            ("h" + uuid.uuid4().hex[:9] if platform == "bigcommerce" else "")
        made[platform] = store.run(lambda redis, p=platform, s=shop_id, r=ref: add_shop(
            redis, s, p, f"{s}.example", "http://testserver", currency="EUR",
            access=PlatformAccess(store_ref=r, api_base="http://127.0.0.1:9")))
    settled(store, list(made.values()))
    for shop in made.values():  # orders of customers 11..17, so every read has data
        good_history(store, shop.shop.shop_id)
    return made


def delivery(platform: str, shop: NewShop, body: bytes, headers: dict[str, str],
             signed: bool) -> tuple[str, dict[str, str]]:
    secret = shop.shop.webhook_secrets[0].reveal()
    sent = dict(headers)
    if platform == "shopify":
        path = "/webhooks/shopify"
        if signed:
            sent.update({"X-Shopify-Shop-Domain": shop.shop.domain,
                         "X-Shopify-Topic": sent.get("X-Shopify-Topic", "orders/create"),
                         "X-Shopify-Hmac-Sha256": shopify_signature(secret, body)})
    elif platform == "ecwid":
        path = "/webhooks/ecwid"  # the body names the store; the signature covers no body
    else:
        path = f"/webhooks/{platform}/{shop.shop.shop_id}"
        if signed and platform == "woocommerce":
            sent.update({"X-WC-Webhook-Topic": sent.get("X-WC-Webhook-Topic", "order.created"),
                         "X-WC-Webhook-Signature": base64_hmac(secret, body)})
        elif signed:
            sent.update(standard_headers(secret, body, 0))
    return path, sent


@FUZZ
@given(body=BODY, headers=HEADERS, signed=st.booleans(),
       platform=st.sampled_from(["shopify", "woocommerce", "ecwid", "bigcommerce", "custom"]))
def test_webhook_receivers(http, store, fuzz_shop, platform_shops, body, headers, signed,
                           platform) -> None:
    shop = fuzz_shop if platform == "shopify" else platform_shops[platform]
    path, sent = delivery(platform, shop, body, headers, signed)
    check(store, shop, lambda: http.post(path, content=body, headers=sent, timeout=TIMEOUT))


@FUZZ
@given(body=API_BODY, params=PARAMS,
       endpoint=st.sampled_from(["recommendations/cart", "exclusions", "catalog/products",
                                 "catalog/products/101", "events"]))
def test_api_bodies(http, store, fuzz_shop, body, params, endpoint) -> None:
    shop_id = fuzz_shop.shop.shop_id
    method = "PUT" if endpoint in ("exclusions", "catalog/products/101") else "POST"
    check(store, fuzz_shop, lambda: http.request(
        method, f"/api/v1/shops/{shop_id}/{endpoint}", content=body, params=params,
        headers=auth(fuzz_shop), timeout=TIMEOUT))


READS = ["recommendations/products/101", "recommendations/products/%F0%9F%92%A5",
         "recommendations/customers/3", "recommendations/customers/%00", "recommendations/trending",
         "model", "exclusions", "lifecycle/metrics", "lifecycle/cohorts", "lifecycle/stages",
         "lifecycle/customers/3", "lifecycle/feed", "customers/3/data", "widgets/stats",
         "lifecycle/customers/3/email-block-url", "privacy/requests/x",
         "catalog/products/101", "recommendations/visitors/v-1234567890",
         "recommendations/visitors/%F0%9F%92%A5"]


@FUZZ
@given(params=PARAMS, endpoint=st.sampled_from(READS), with_key=st.booleans())
def test_api_reads(http, store, fuzz_shop, params, endpoint, with_key) -> None:
    shop_id = fuzz_shop.shop.shop_id
    check(store, fuzz_shop, lambda: http.get(
        f"/api/v1/shops/{shop_id}/{endpoint}", params=params,
        headers=auth(fuzz_shop) if with_key else {}, timeout=TIMEOUT))


@FUZZ
@given(params=PARAMS, body=WIDGET_BODY, events=st.booleans())
def test_widget_endpoints(http, store, fuzz_shop, params, body, events) -> None:
    query = {**params, "key": fuzz_shop.shop.widget_key}
    if events:
        check(store, fuzz_shop, lambda: http.post("/widgets/v1/events", params=query,
                                                  content=body, timeout=TIMEOUT))
    else:
        check(store, fuzz_shop, lambda: http.get("/widgets/v1/recommendations", params=query,
                                                 timeout=TIMEOUT))


@FUZZ
@given(params=PARAMS, path=st.sampled_from(["/email/v1/click", "/email/v1/blocks/x/y"]))
def test_signed_email_links(http, store, fuzz_shop, params, path) -> None:
    check(store, fuzz_shop, lambda: http.get(path, params=params, timeout=TIMEOUT,
                                             follow_redirects=False))


def test_after_the_fuzzing_every_read_of_every_fuzzed_shop_answers(
    http, store, fuzz_shop, platform_shops
) -> None:
    """Whatever the fuzzing got accepted can be served (this runs after the tests above)."""
    from plugin.store.shops import get_shop
    from tests.platform_server import drain
    from tests.webhooks.test_boundary import assert_every_read_answers

    for shop in [fuzz_shop, *platform_shops.values()]:
        drain(store, shop.shop.shop_id)
        found = store.run(lambda redis, s=shop.shop.shop_id: get_shop(redis, s))
        assert found is not None
        assert_every_read_answers(http, store, found)
