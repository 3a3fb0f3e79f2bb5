"""Shopify (webhooks/shopify.py): POST /webhooks/shopify over real HTTP against the embedded
Redis; refunds/create, app/uninstalled and products/delete processed by the worker, and the
refund merge racing an order update; backfill against a local stand-in of the Admin REST API
serving the shared fixtures page by page with `Link` headers; and the bulk-operation JSONL
parser."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from plugin.config import Secret
from plugin.engine.training import purchases_of
from plugin.store import keys, records
from plugin.store.connection import EmbeddedRedis
from plugin.store.fields import PayloadError
from plugin.store.order import LineItem, Order, Refund
from plugin.store.shops import NewShop, PlatformAccess, add_shop
from tests.conftest import LiveServer, Store, settings_for, shopreco
from tests.helpers import SHARED_DATA, body_of, order_payload, shopify_headers, shopify_signature
from tests.platform_server import FakePlatformApi, Reply
from tests.webhooks.test_signatures import SHOPIFY, vector_body
from webhooks import shopify
from webhooks.backfill import BackfillError, BackfillResult, run_backfill
from webhooks.http import PlatformHttp
from webhooks.ingest import Ingestor
from webhooks.shopify import parse_order

SHOPIFY_DATA = SHARED_DATA / "webhooks" / "shopify"
PROBLEM = "application/problem+json"


def event_count(store: Store, shop_id: str) -> int:
    return store.run(lambda r: r.xlen(keys.events(shop_id)))


def post(http: httpx.Client, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return http.post("/webhooks/shopify", content=body, headers=headers)


# --- the door: signature, shop, shape, dedupe, an event stored for the worker -------------


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
    assert response.json()["type"] == "/api/docs/problems#invalid-signature"
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


# --- topics the worker acts on: their fixtures and helpers ------------------------------


ORDER_ID = "450789469"
REFUNDED_LINES = {"703073504", "466157049"}  # the refund fixture gives back one unit of each


def rest_fixture(name: str) -> dict[str, Any]:
    """A Shopify REST fixture of the shared data by its resource name."""
    return json.loads((SHOPIFY_DATA / f"rest_fixture_shopify_python_api_{name}.json").read_text())


def order_body() -> dict[str, Any]:
    return copy.deepcopy(rest_fixture("order")["order"])


def refund_body() -> dict[str, Any]:
    return copy.deepcopy(rest_fixture("refund")["refund"])


def deliver(http: httpx.Client, shop: NewShop, topic: str, payload: Any) -> httpx.Response:
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
    deliver(http, shop, "orders/create", order_body())
    assert counted_units(drained(store, shop)) == 3
    deliver(http, shop, "refunds/create", refund_body())
    order = drained(store, shop)
    assert counted_units(order) == 1  # through plugin.engine.training.purchases_of
    assert kept_lines(order) == {"518995019"}


def test_refund_before_its_order_waits_in_the_pending_hash(http, store, shop) -> None:
    deliver(http, shop, "refunds/create", refund_body())
    assert drained(store, shop) is None
    waiting = pending_refunds(store, shop)
    assert {r["line_id"] for r in json.loads(waiting[ORDER_ID.encode()])} == REFUNDED_LINES


def test_pending_refund_is_merged_when_the_order_arrives(http, store, shop) -> None:
    deliver(http, shop, "refunds/create", refund_body())
    drained(store, shop)
    deliver(http, shop, "orders/create", order_body())
    order = drained(store, shop)
    assert kept_lines(order) == {"518995019"}
    assert pending_refunds(store, shop) == {}


def test_refund_delivered_twice_is_merged_once(http, store, shop) -> None:
    deliver(http, shop, "orders/create", order_body())
    deliver(http, shop, "refunds/create", refund_body())
    drained(store, shop)
    changes = store.run(lambda r: r.hget(keys.stats(shop.shop.shop_id), "order_changes"))
    deliver(http, shop, "refunds/create", refund_body())  # a new delivery id: not deduplicated
    order = drained(store, shop)
    assert order is not None and len(order.refunds) == 2
    assert store.run(lambda r: r.hget(keys.stats(shop.shop.shop_id), "order_changes")) == changes


def test_newer_order_version_without_the_refund_keeps_it(http, store, shop) -> None:
    deliver(http, shop, "orders/create", order_body())
    deliver(http, shop, "refunds/create", refund_body())
    drained(store, shop)
    newer = order_body()
    newer["updated_at"] = "2016-06-21T10:00:00-04:00"
    deliver(http, shop, "orders/updated", newer)
    order = drained(store, shop)
    assert order is not None and order.updated_at > order.created_at
    assert kept_lines(order) == {"518995019"}


def test_order_update_carrying_its_refunds_stops_them_counting(http, store, shop) -> None:
    updated = order_body()
    updated["updated_at"] = "2016-06-20T13:35:06-04:00"
    updated["refunds"] = [refund_body()]
    deliver(http, shop, "orders/updated", updated)
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
    deliver(http, shop, "app/uninstalled", {"id": 690933842, "domain": shop.shop.domain})
    drained(store, shop)
    config = store.run(lambda r: r.hgetall(keys.shop_config(shop.shop.shop_id)))
    assert float(config[b"uninstalled_at"]) > shop.shop.created_at


def test_app_uninstalled_keeps_the_orders(http, store, shop) -> None:
    deliver(http, shop, "orders/create", order_body())
    deliver(http, shop, "app/uninstalled", {"id": 690933842, "domain": shop.shop.domain})
    assert counted_units(drained(store, shop)) == 3


def test_products_delete_makes_the_product_unavailable(http, store, shop) -> None:
    product = rest_fixture("product")["product"]
    deliver(http, shop, "products/create", product)
    deliver(http, shop, "products/delete", {"id": product["id"]})
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


@pytest.mark.parametrize(("line", "message"), [
    ("x", "line_items[1] must be an object"),
    ({"product_id": True}, "line_items[1].product_id must be an integer or string id"),
    ({"product_id": 7, "variant_id": [1]}, "line_items[1].variant_id must be an integer"),
    ({"product_id": 7, "title": {}}, "line_items[1].title must be text"),
    ({"product_id": 7, "quantity": -1}, "line_items[1].quantity must be a whole number"),
    ({"product_id": 7, "quantity": 1, "price": "-1"}, "line_items[1].price must not be"),
    ({"product_id": 7, "quantity": 1, "id": 1.5}, "line_items[1].id must be an integer"),
])
def test_parse_order_names_the_field_of_a_refused_line(line, message) -> None:
    payload = order_payload(1, 2, [101])
    payload["line_items"].append(line)
    with pytest.raises(PayloadError) as refused:
        shopify.parse_order(payload)
    assert str(refused.value).startswith(message), refused.value


def test_parse_order_keeps_each_line_as_the_field_rules_give_it() -> None:
    payload = order_payload(1, 2, [101, 102])
    payload["line_items"].insert(1, {"title": "Tip", "quantity": 1, "price": "2.00"})
    order = shopify.parse_order(payload)
    assert order.lines == (LineItem("101", "1011", "Product 101", 1, "10.00", "100"),
                           LineItem("102", "1021", "Product 102", 1, "10.00", "101"))


# --- backfill through the Admin REST API, page by page with `Link` headers -------------


ADMIN = "/admin/api/2025-01"
TOKEN = "shpat_" + "5" * 32
PAGE_2 = "eyJsYXN0X2lkIjo0NTA3ODk0Njl9"  # opaque, like Shopify's


def fixture(name: str) -> Any:
    return json.loads((SHOPIFY_DATA / name).read_text())


def history() -> list[dict[str, Any]]:
    """The orders fixture's order (its line items are in the single-order fixture: the list
    fixture omits them) and the captured test notification (ids beyond 2^53, cancelled)."""
    listed = copy.deepcopy(fixture("rest_fixture_shopify_python_api_orders.json")["orders"][0])
    listed["line_items"] = fixture("rest_fixture_shopify_python_api_order.json")["order"][
        "line_items"]
    return [listed, fixture("orders_test_notification_raw_2022-05.json")]


def link(api: FakePlatformApi, page_info: str, rel: str) -> str:
    return f'<{api.url}{ADMIN}/orders.json?limit=250&page_info={page_info}>; rel="{rel}"'


def serve_history(api: FakePlatformApi, *page_2_failures: Reply) -> None:
    first, second = history()
    api.reply(f"{ADMIN}/orders/count.json", {"count": 2}, query={"status": "any"})
    api.reply(f"{ADMIN}/orders.json",
              Reply(200, {"orders": [first]}, {"Link": link(api, PAGE_2, "next")}),
              query={"status": "any", "limit": 250})
    api.reply(f"{ADMIN}/orders.json", *page_2_failures,
              Reply(200, {"orders": [second]}, {"Link": link(api, "cHJldg", "previous")}),
              query={"page_info": PAGE_2, "limit": 250})
    product = fixture("rest_fixture_shopify_python_api_product.json")["product"]
    api.reply(f"{ADMIN}/products.json", {"products": [product]}, query={"limit": 250})


@pytest.fixture
def api() -> Iterator[FakePlatformApi]:
    with FakePlatformApi() as fake:
        yield fake


def admin_shop(store: Store, api: FakePlatformApi, token: str = TOKEN) -> NewShop:
    shop_id = "b-" + uuid.uuid4().hex[:12]
    access = PlatformAccess(api_base=f"{api.url}{ADMIN}", api_token=Secret(token))
    return store.run(lambda r: add_shop(r, shop_id, "shopify", f"{shop_id}.myshopify.com",
                                        "http://testserver", access=access))


def backfill(store: Store, shop: NewShop, max_attempts: int = 3) -> BackfillResult:
    async def work(redis: Any) -> BackfillResult:
        http = PlatformHttp(max_attempts=max_attempts, backoff_base=0.01, rate_per_second=100)
        try:
            return await run_backfill(redis, http, shop.shop, shopify.backfill_pages)
        finally:
            await http.aclose()

    return store.run(work)


def stored_order_ids(store: Store, shop: NewShop) -> set[str]:
    return {k.decode() for k in store.run(lambda r: r.hkeys(keys.orders(shop.shop.shop_id)))}


EVERY_ORDER = {"450789469", "820982911946154508"}


def test_backfill_stores_every_order_of_every_page(store, api) -> None:
    serve_history(api)
    shop = admin_shop(store, api)
    result = backfill(store, shop)
    assert stored_order_ids(store, shop) == EVERY_ORDER
    assert (result.pages, result.orders_seen, result.orders_changed) == (3, 2, 2)


def test_backfill_stores_the_catalog(store, api) -> None:
    serve_history(api)
    shop = admin_shop(store, api)
    backfill(store, shop)
    entry = store.run(lambda r: r.hget(keys.products(shop.shop.shop_id), "632910392"))
    assert json.loads(entry)["title"] == "IPod Nano - 8GB"


def test_backfill_asks_for_every_status_and_sends_the_access_token(store, api) -> None:
    serve_history(api)
    backfill(store, admin_shop(store, api))
    first, *later = api.requests_to(f"{ADMIN}/orders.json")
    assert first.query == {"status": "any", "limit": "250"}
    assert [seen.query for seen in later] == [{"limit": "250", "page_info": PAGE_2}]
    assert {seen.headers["x-shopify-access-token"] for seen in api.seen} == {TOKEN}


def test_backfill_reports_the_total_from_the_count_endpoint(store, api) -> None:
    serve_history(api)
    shop = admin_shop(store, api)

    async def totals(redis: Any) -> list[int | None]:
        http = PlatformHttp()
        try:
            return [page.total async for page in shopify.backfill_pages(http, shop.shop, None)]
        finally:
            await http.aclose()

    assert store.run(totals) == [2, 2, 2]


def test_failed_backfill_keeps_the_checkpoint_of_the_last_stored_page(store, api) -> None:
    serve_history(api, Reply(503))
    shop = admin_shop(store, api)
    with pytest.raises(BackfillError, match="run it again"):
        backfill(store, shop, max_attempts=1)
    assert stored_order_ids(store, shop) == {"450789469"}
    checkpoint = store.run(lambda r: r.get(keys.backfill_cursor(shop.shop.shop_id)))
    assert checkpoint == f"orders:{PAGE_2}".encode()


def test_backfill_resumes_after_a_failure_without_refetching_stored_pages(store, api) -> None:
    serve_history(api, Reply(503))
    shop = admin_shop(store, api)
    with pytest.raises(BackfillError):
        backfill(store, shop, max_attempts=1)
    backfill(store, shop, max_attempts=1)
    assert stored_order_ids(store, shop) == EVERY_ORDER
    first_pages = [s for s in api.requests_to(f"{ADMIN}/orders.json") if "page_info" not in s.query]
    assert len(first_pages) == 1
    assert store.run(lambda r: r.get(keys.backfill_cursor(shop.shop.shop_id))) is None


def test_refused_token_stops_the_backfill_without_showing_the_token(store, api) -> None:
    api.reply(f"{ADMIN}/orders/count.json", Reply(401, {"errors": "Invalid API key"}))
    shop = admin_shop(store, api)
    with pytest.raises(BackfillError, match="401") as refused:
        backfill(store, shop)
    assert TOKEN not in str(refused.value)


def test_shop_without_token_cannot_be_backfilled(store, api) -> None:
    shop = admin_shop(store, api, token="")
    with pytest.raises(BackfillError, match="--api-token"):
        backfill(store, shop)
    assert api.seen == []


def test_backfill_command_imports_the_history(store, api) -> None:
    serve_history(api)
    shop = admin_shop(store, api)
    result = shopreco(store, "backfill", shop.shop.shop_id)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert (shown["orders_seen"], shown["products"]) == (2, 1)
    assert stored_order_ids(store, shop) == EVERY_ORDER
    assert TOKEN not in result.stdout + result.stderr


# --- bulk operations: JSONL with children linked by __parentId --------------------------


def gid(kind: str, number: Any) -> str:
    return f"gid://shopify/{kind}/{number}"


def money(amount: str) -> dict[str, Any]:
    return {"shopMoney": {"amount": amount, "currencyCode": "USD"}}


def bulk_lines(order: dict[str, Any]) -> list[str]:
    """The order fixture as a bulk operation of BULK_ORDERS_QUERY writes it."""
    parent = {
        "id": gid("Order", order["id"]), "createdAt": order["created_at"],
        "updatedAt": order["updated_at"], "cancelledAt": order["cancelled_at"],
        "displayFinancialStatus": order["financial_status"].upper(),
        "currencyCode": order["currency"], "totalPriceSet": money(order["total_price"]),
        "customer": {"id": gid("Customer", order["customer"]["id"])},
    }
    children = [
        {"id": gid("LineItem", item["id"]), "title": item["title"],
         "quantity": item["quantity"], "product": {"id": gid("Product", item["product_id"])},
         "variant": {"id": gid("ProductVariant", item["variant_id"])},
         "originalUnitPriceSet": money(item["price"]), "__parentId": parent["id"]}
        for item in order["line_items"]
    ]
    return [json.dumps(node) for node in (parent, *children)]


ORDER = fixture("rest_fixture_shopify_python_api_order.json")["order"]


def test_bulk_jsonl_gives_the_same_order_as_the_rest_resource() -> None:
    assert shopify.parse_bulk_jsonl(bulk_lines(ORDER)) == [shopify.parse_order(ORDER)]


def test_bulk_jsonl_children_before_their_parent_are_linked() -> None:
    lines = bulk_lines(ORDER)
    reordered = [*lines[1:], lines[0]]
    assert shopify.parse_bulk_jsonl(reordered) == [shopify.parse_order(ORDER)]


def test_bulk_jsonl_refunded_order_counts_for_nothing() -> None:
    parent, *children = (json.loads(line) for line in bulk_lines(ORDER))
    parent["displayFinancialStatus"] = "REFUNDED"
    (order,) = shopify.parse_bulk_jsonl(json.dumps(n) for n in (parent, *children))
    assert order.cancelled


def test_bulk_jsonl_line_without_product_is_left_out() -> None:
    parent, first, *rest = (json.loads(line) for line in bulk_lines(ORDER))
    first["product"] = None
    (order,) = shopify.parse_bulk_jsonl(json.dumps(n) for n in (parent, first, *rest))
    assert len(order.lines) == len(ORDER["line_items"]) - 1


def test_bulk_jsonl_child_of_an_unknown_order_names_its_line() -> None:
    child = bulk_lines(ORDER)[1]
    with pytest.raises(PayloadError, match="line 1: __parentId"):
        shopify.parse_bulk_jsonl([child.replace("450789469", "1")])
