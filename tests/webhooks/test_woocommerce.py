"""WooCommerce: webhooks over real HTTP, the REST v3 order mapping, reconciliation and backfill
against a local fake of the shop's REST API serving the documented payloads."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from plugin.config import Secret
from plugin.engine.training import purchases_of
from plugin.store import keys, records
from plugin.store.connection import text
from plugin.store.events import Event
from plugin.store.fields import PayloadError
from plugin.store.order import Order
from plugin.store.shops import NewShop, PlatformAccess, Shop, add_shop, rotate_webhook_secret
from plugin.worker import running_workers
from recommender.shop_model import ShopModel
from tests.conftest import Store, settings_for, shopreco
from tests.helpers import SHARED_DATA
from tests.woo_server import FakeWooCommerce, docs_orders, docs_payload, order_like
from webhooks import woocommerce
from webhooks.http import FetchError, PlatformHttp
from webhooks.ingest import Ingestor, process_event
from webhooks.signatures import hmac_sha256_base64, verify_base64_hmac

VECTORS = json.loads((SHARED_DATA / "webhooks" / "hmac_vectors.json").read_text())["vectors"]
WC_VECTOR = next(v for v in VECTORS if v["id"] == "woocommerce-generate-signature")
PROBLEM = "application/problem+json"
HOUR = 3600.0


# ---- helpers ------------------------------------------------------------------------------

def signature(secret: str, body: bytes) -> str:
    """What WooCommerce sends: base64(HMAC-SHA256(secret, raw body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def wc_headers(
    shop: Shop, body: bytes, topic: str = "order.created", webhook_id: str = "11",
    secret: str | None = None,
) -> dict[str, str]:
    resource, event = topic.split(".")
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/8.0 Hookshot (WordPress/6.4)",
        "X-WC-Webhook-Source": f"https://{shop.domain}/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": signature(secret or secret_of(shop), body),
        "X-WC-Webhook-ID": webhook_id,
        "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
    }


def secret_of(shop: Shop) -> str:
    return shop.webhook_secrets[0].reveal()


def body_of(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def post(http: httpx.Client, shop: Shop, payload: Any, topic: str = "order.created",
         **kwargs: Any) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else body_of(payload)
    return http.post(f"/webhooks/woocommerce/{shop.shop_id}", content=body,
                     headers=wc_headers(shop, body, topic, **kwargs))


def drained_order(store: Store, shop_id: str, order_id: str) -> Order | None:
    """Process every accepted event of the shop, then the stored order."""
    async def work(redis: Any) -> Order | None:
        await Ingestor(redis).drain(shop_id)
        return await records.get_order(redis, shop_id, order_id)

    return store.run(work)


def apply_in_order(store: Store, shop: Shop, *events: tuple[str, Any]) -> Order | None:
    """Process (topic, payload) events in exactly this order, as the worker does; the stored
    version of the first payload's order."""
    async def work(redis: Any) -> Order | None:
        for topic, payload in events:
            event = Event(woocommerce.PLATFORM, topic, uuid.uuid4().hex, body_of(payload))
            await process_event(redis, shop, event)
        return await records.get_order(redis, shop.shop_id, str(events[0][1]["id"]))

    return store.run(work)


def event_count(store: Store, shop_id: str) -> int:
    return store.run(lambda r: r.xlen(keys.events(shop_id)))


def keep_live_reconciler_off(store: Store, shop_id: str) -> None:
    """The session's live server reconciles every 15 minutes; holding the shop's round lock
    keeps it from touching this test's shop (and its fake API once stopped)."""
    store.run(lambda r: r.set(keys.reconcile_lock(shop_id), "test", ex=86400))


def iso(moment: float) -> str:
    return woocommerce.iso_utc(moment)


@pytest.fixture
def make_woo_shop(store: Store) -> Iterator[Callable[..., Shop]]:
    made: list[str] = []

    def make(api_base: str = "", token: str = "cs_y", hold_lock: bool = True) -> Shop:
        shop_id = "wc-" + uuid.uuid4().hex[:12]
        access = PlatformAccess(api_base=api_base, api_user="ck_x" if api_base else "",
                                api_token=Secret(token if api_base else ""))
        new: NewShop = store.run(lambda r: add_shop(
            r, shop_id, "woocommerce", f"{shop_id}.example", "http://testserver",
            access=access,
        ))
        made.append(shop_id)
        if hold_lock:
            keep_live_reconciler_off(store, shop_id)
        return new.shop

    yield make
    for shop_id in made:
        keep_live_reconciler_off(store, shop_id)


@pytest.fixture
def woo_shop(make_woo_shop: Callable[..., Shop]) -> Shop:
    return make_woo_shop()


# ---- signatures ----------------------------------------------------------------------------

def test_published_vector_matches_the_hmac_function() -> None:
    secret, body = WC_VECTOR["secret"].encode(), WC_VECTOR["body"].encode()
    assert hmac_sha256_base64(secret, body) == WC_VECTOR["expected"]


def test_empty_secret_of_the_vector_verifies_nothing() -> None:
    body = WC_VECTOR["body"].encode()
    assert not verify_base64_hmac([Secret(WC_VECTOR["secret"])], body, WC_VECTOR["expected"])


def test_vector_style_body_with_a_real_secret_passes_the_signature(http, woo_shop) -> None:
    body = WC_VECTOR["body"].encode()  # the vector's body, b"secret": signed, but not JSON
    response = post(http, woo_shop, body)
    assert response.status_code == 400, response.text
    assert "JSON" in response.json()["detail"]


def test_signed_non_json_body_stores_nothing(http, woo_shop, store) -> None:
    post(http, woo_shop, b"{not json")
    assert event_count(store, woo_shop.shop_id) == 0


def test_bad_signature_is_401_and_nothing_is_stored(http, woo_shop, store) -> None:
    payload = docs_payload("order_create_response")
    response = post(http, woo_shop, payload, secret="not-the-secret")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM)
    assert event_count(store, woo_shop.shop_id) == 0


def test_previous_secret_still_verifies_during_a_rotation(http, woo_shop, store) -> None:
    old = secret_of(woo_shop)
    store.run(lambda r: rotate_webhook_secret(r, woo_shop.shop_id, "brand-new-secret"))
    response = post(http, woo_shop, docs_payload("order_create_response"), secret=old)
    assert response.status_code == 200


# ---- ping and shop lookup ------------------------------------------------------------------

def test_creation_ping_is_answered_200_and_nothing_is_stored(http, woo_shop, store) -> None:
    response = http.post(f"/webhooks/woocommerce/{woo_shop.shop_id}", content=b"webhook_id=42",
                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                  "User-Agent": "WooCommerce/8.0 Hookshot (WordPress/6.4)"})
    assert response.status_code == 200
    assert response.json()["status"] == "ping"
    assert event_count(store, woo_shop.shop_id) == 0


def test_unknown_shop_in_the_path_is_404_naming_it(http, woo_shop) -> None:
    body = body_of(docs_payload("order_create_response"))
    response = http.post("/webhooks/woocommerce/no-such-shop", content=body,
                         headers=wc_headers(woo_shop, body))
    assert response.status_code == 404
    assert "'no-such-shop'" in response.json()["detail"]


def test_shop_is_found_by_the_source_host_without_a_path(http, woo_shop) -> None:
    body = body_of(docs_payload("order_create_response"))
    response = http.post("/webhooks/woocommerce", content=body, headers=wc_headers(woo_shop, body))
    assert response.status_code == 200, response.text
    assert response.json()["shop_id"] == woo_shop.shop_id


def test_unknown_source_host_is_404_naming_the_header(http, woo_shop) -> None:
    body = body_of(docs_payload("order_create_response"))
    headers = {**wc_headers(woo_shop, body), "X-WC-Webhook-Source": "https://elsewhere.example/"}
    response = http.post("/webhooks/woocommerce", content=body, headers=headers)
    assert response.status_code == 404
    assert "X-WC-Webhook-Source 'https://elsewhere.example/'" in response.json()["detail"]


# ---- orders over HTTP ----------------------------------------------------------------------

def test_signed_docs_order_is_accepted_and_stored(http, woo_shop, store) -> None:
    payload = docs_payload("order_create_response")
    response = post(http, woo_shop, payload)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"
    assert drained_order(store, woo_shop.shop_id, "727") == woocommerce.parse_order(payload)


def test_redelivery_of_the_same_version_is_a_duplicate(http, woo_shop) -> None:
    payload = docs_payload("order_create_response")
    first = post(http, woo_shop, payload, webhook_id="5")
    again = post(http, woo_shop, payload, webhook_id="5")  # new X-WC-Webhook-Delivery-ID
    assert first.json()["status"] == "accepted"
    assert again.json()["status"] == "duplicate"


def test_new_date_modified_is_a_new_delivery(http, woo_shop) -> None:
    created, updated = docs_payload("order_create_response"), docs_payload(
        "order_update_response")
    assert post(http, woo_shop, created, webhook_id="5").json()["status"] == "accepted"
    assert post(http, woo_shop, updated, webhook_id="5").json()["status"] == "accepted"


def test_signed_malformed_order_is_400_naming_the_field(http, woo_shop, store) -> None:
    payload = docs_payload("order_create_response")
    payload["line_items"][1]["quantity"] = -1
    response = post(http, woo_shop, payload)
    assert response.status_code == 400
    assert "line_items[1].quantity" in response.json()["detail"]
    assert event_count(store, woo_shop.shop_id) == 0


def test_missing_topic_header_is_400(http, woo_shop) -> None:
    body = body_of(docs_payload("order_create_response"))
    headers = {k: v for k, v in wc_headers(woo_shop, body).items()
               if k not in ("X-WC-Webhook-Topic", "X-WC-Webhook-Resource")}
    response = http.post(f"/webhooks/woocommerce/{woo_shop.shop_id}", content=body,
                         headers=headers)
    assert response.status_code == 400
    assert "X-WC-Webhook-Topic" in response.json()["detail"]


def test_deleted_order_stops_counting(http, woo_shop, store) -> None:
    post(http, woo_shop, docs_payload("order_create_response"))
    assert purchases_of(drained_order(store, woo_shop.shop_id, "727"))
    response = post(http, woo_shop, {"id": 727}, topic="order.deleted", webhook_id="12")
    assert response.json()["status"] == "accepted"
    deleted = drained_order(store, woo_shop.shop_id, "727")
    assert deleted is not None and deleted.cancelled and purchases_of(deleted) == []


def test_second_deletion_of_an_order_is_not_a_duplicate(http, woo_shop) -> None:
    first = post(http, woo_shop, {"id": 727}, topic="order.deleted", webhook_id="12")
    second = post(http, woo_shop, {"id": 727}, topic="order.deleted", webhook_id="12")
    assert [first.json()["status"], second.json()["status"]] == ["accepted", "accepted"]


# ---- the order model -----------------------------------------------------------------------

@pytest.mark.parametrize("payload", docs_orders(),
                         ids=lambda o: f"order-{o['id']}-{o['status']}-{o['date_modified_gmt']}")
def test_every_docs_order_parses_through_the_adapter(payload: dict[str, Any]) -> None:
    woocommerce.ADAPTER.check("order.updated", payload)
    order = woocommerce.parse_order(payload)
    assert order.order_id == str(payload["id"])
    assert [line.product_id for line in order.lines] == [
        str(item["product_id"]) for item in payload["line_items"]]


def test_docs_order_maps_field_by_field() -> None:
    order = woocommerce.parse_order(docs_payload("order_create_response"))
    assert (order.order_id, order.customer_id, order.currency, order.total_price) == (
        "727", None, "USD", "29.35")
    assert order.created_at == 1490210882.0  # 2017-03-22T19:28:02 read as UTC
    assert order.updated_at == 1490210888.0
    assert not order.cancelled
    first, second = order.lines
    assert (first.product_id, first.variant_id, first.quantity, first.price, first.line_id) == (
        "93", None, 2, "3", "315")
    assert (second.product_id, second.variant_id, second.quantity, second.price) == (
        "22", "23", 1, "12")
    assert second.title == "Ship Your Idea \u2013 Color: Black, Size: M Test"


def test_registered_customer_id_is_a_string() -> None:
    order = woocommerce.parse_order(docs_payload("orders_list_response")[1])
    assert order.customer_id == "26"


@pytest.mark.parametrize(("status", "counts"), [
    ("processing", True), ("completed", True), ("paid", True),
    ("pending", False), ("on-hold", False), ("failed", False), ("cancelled", False),
    ("refunded", False), ("trash", False), ("checkout-draft", False),
])
def test_status_decides_whether_an_order_counts(status: str, counts: bool) -> None:
    payload = {**docs_payload("order_create_response"), "status": status}
    order = woocommerce.parse_order(payload)
    assert order.cancelled is not counts
    assert bool(purchases_of(order)) is counts


@pytest.mark.parametrize(("change", "field"), [
    ({"status": None}, "status"),
    ({"line_items": {}}, "line_items"),
    ({"date_created_gmt": "yesterday"}, "date_created_gmt"),
    ({"id": None}, "id"),
    ({"customer_id": 1.5}, "customer_id"),
])
def test_malformed_order_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    payload = {**docs_payload("order_create_response"), **change}
    with pytest.raises(PayloadError, match=field):
        woocommerce.parse_order(payload)


def test_guest_order_is_kept_as_an_anonymous_basket() -> None:
    order = woocommerce.parse_order(docs_payload("order_create_response"))  # customer_id 0
    purchases = purchases_of(order)
    assert order.customer_id is None
    assert [(p.customer_id, p.product_id) for p in purchases] == [(None, "93"), (None, "22")]


def test_guest_baskets_feed_bought_together() -> None:
    baskets = [(93, 22), (93, 22), (93, 22), (93, 50)]
    purchases = [
        purchase
        for number, products in enumerate(baskets)
        for purchase in purchases_of(woocommerce.parse_order(
            order_like(900 + number, "2025-01-02T10:00:00", product_ids=products)))
    ]
    model = ShopModel.train(purchases)
    assert len(model.user_ids) == 0
    assert [r.product_id for r in model.bought_together("93", 2).items] == ["22", "50"]


# ---- order lifecycle in the worker ---------------------------------------------------------

def test_later_status_change_wins(store, woo_shop) -> None:
    paid = order_like(501, "2025-02-01T10:00:00")
    refunded = order_like(501, "2025-02-02T10:00:00", "2025-02-01T10:00:00", status="refunded")
    stored = apply_in_order(store, woo_shop, ("order.created", paid),
                            ("order.updated", refunded))
    assert stored is not None and stored.cancelled


def test_older_version_arriving_late_changes_nothing(store, woo_shop) -> None:
    paid = order_like(502, "2025-02-01T10:00:00")
    refunded = order_like(502, "2025-02-02T10:00:00", "2025-02-01T10:00:00", status="refunded")
    stored = apply_in_order(store, woo_shop, ("order.updated", refunded),
                            ("order.created", paid))
    assert stored is not None and stored.cancelled


def test_deleting_an_unknown_order_keeps_a_late_older_version_out(store, woo_shop) -> None:
    late = order_like(503, "2025-02-01T10:00:00")
    stored = apply_in_order(store, woo_shop, ("order.deleted", {"id": 503}),
                            ("order.created", late))
    assert stored is not None and stored.cancelled and stored.lines == ()


def test_restored_order_counts_again(store, woo_shop) -> None:
    order = order_like(504, "2025-02-01T10:00:00")
    stored = apply_in_order(store, woo_shop, ("order.created", order),
                            ("order.deleted", {"id": 504}), ("order.restored", order))
    assert stored is not None and not stored.cancelled and len(purchases_of(stored)) == 2


def test_cancel_order_never_moves_a_stored_version_back_in_time(store, woo_shop) -> None:
    order = woocommerce.parse_order(order_like(505, "2025-02-01T10:00:00"))

    async def work(redis: Any) -> Order | None:
        await records.store_order(redis, woo_shop.shop_id, order)
        await records.cancel_order(redis, woo_shop.shop_id, "505", order.updated_at - HOUR)
        return await records.get_order(redis, woo_shop.shop_id, "505")

    stored = store.run(work)
    assert stored is not None and stored.cancelled and stored.updated_at == order.updated_at


PRODUCT = {  # the shape of GET /wp-json/wc/v3/products/{id} in the REST API docs
    "id": 794, "name": "Premium Quality &amp; More", "slug": "premium-quality-19",
    "permalink": "https://example.com/product/premium-quality-19/",
    "date_modified_gmt": "2017-03-23T20:01:14", "type": "simple", "status": "publish",
    "price": "21.99", "regular_price": "21.99", "sale_price": "", "stock_status": "instock",
    "images": [{"id": 792, "src": "https://example.com/wp-content/uploads/2017/03/T_2_front.jpg",
                "name": "", "alt": ""}],
}


def test_product_webhook_fills_the_catalog(http, woo_shop, store) -> None:
    assert post(http, woo_shop, PRODUCT, topic="product.created").status_code == 200
    store.run(lambda r: Ingestor(r).drain(woo_shop.shop_id))
    raw = store.run(lambda r: r.hget(keys.products(woo_shop.shop_id), "794"))
    assert json.loads(raw) == {
        "product_id": "794", "title": "Premium Quality & More",
        "url": "https://example.com/product/premium-quality-19/",
        "image_url": "https://example.com/wp-content/uploads/2017/03/T_2_front.jpg",
        "price": "21.99", "available": True,
    }


@pytest.mark.parametrize("change", [{"stock_status": "outofstock"}, {"status": "draft"}])
def test_out_of_stock_or_unpublished_product_is_unavailable(change: dict[str, str]) -> None:
    assert woocommerce.parse_product({**PRODUCT, **change})["available"] is False


def test_deleted_product_is_unavailable(store, woo_shop) -> None:
    apply_in_order(store, woo_shop, ("product.created", PRODUCT),
                   ("product.deleted", {"id": 794}))
    raw = store.run(lambda r: r.hget(keys.products(woo_shop.shop_id), "794"))
    assert json.loads(raw)["available"] is False


# ---- reconciliation through the REST API ---------------------------------------------------

def reconcile(store: Store, shop: Shop) -> int:
    async def work(redis: Any) -> int:
        http = PlatformHttp(max_attempts=1)
        try:
            return await woocommerce.reconcile_shop(redis, http, shop)
        finally:
            await http.aclose()

    return store.run(work)


def checkpoint(store: Store, shop_id: str) -> str:
    return text(store.run(lambda r: r.get(keys.reconcile_cursor(shop_id))))


def test_reconciliation_stores_an_order_no_webhook_brought(store, make_woo_shop) -> None:
    missed = order_like(601, iso(time.time() - HOUR))
    with FakeWooCommerce([missed]) as shop_api:
        shop = make_woo_shop(shop_api.api_base)
        assert reconcile(store, shop) == 1
    assert drained_order(store, shop.shop_id, "601") == woocommerce.parse_order(missed)
    assert checkpoint(store, shop.shop_id) == missed["date_modified_gmt"]


def test_reconciliation_asks_for_changes_since_its_checkpoint(store, make_woo_shop) -> None:
    now = time.time()
    old, newer = order_like(611, iso(now - 3 * HOUR)), order_like(612, iso(now - 2 * HOUR))
    with FakeWooCommerce([old, newer]) as shop_api:
        shop = make_woo_shop(shop_api.api_base)
        reconcile(store, shop)
        newest = order_like(613, iso(now - HOUR))
        shop_api.orders.append(newest)
        shop_api.fetches.clear()
        changed = reconcile(store, shop)
    served = [i for fetch in shop_api.fetches for i in fetch.order_ids]
    assert changed == 1 and 613 in served and 611 not in served
    assert checkpoint(store, shop.shop_id) == newest["date_modified_gmt"]


def test_first_reconciliation_leaves_older_history_to_backfill(store, make_woo_shop) -> None:
    ancient = order_like(621, iso(time.time() - 30 * 24 * HOUR))
    with FakeWooCommerce([ancient]) as shop_api:
        shop = make_woo_shop(shop_api.api_base)
        assert reconcile(store, shop) == 0
    assert store.run(lambda r: r.hexists(keys.orders(shop.shop_id), "621")) == 0


def test_reconciliation_follows_every_page(store, make_woo_shop) -> None:
    start = time.time() - 5 * HOUR
    orders = [order_like(1000 + n, iso(start + n)) for n in range(230)]
    with FakeWooCommerce(orders) as shop_api:
        shop = make_woo_shop(shop_api.api_base)
        assert reconcile(store, shop) == 230
    assert [f.page for f in shop_api.fetches] == [1, 2, 3]
    assert {f.params["orderby"] for f in shop_api.fetches} == {"modified"}
    assert store.run(lambda r: r.hlen(keys.orders(shop.shop_id))) == 230


def test_reconciliation_authenticates_with_the_rest_key_pair(store, make_woo_shop) -> None:
    with FakeWooCommerce([]) as shop_api:
        shop = make_woo_shop(shop_api.api_base, token="cs_wrong_secret")
        with pytest.raises(FetchError, match="401") as failure:
            reconcile(store, shop)
    assert "cs_wrong_secret" not in str(failure.value)


def test_reconciler_round_skips_shops_without_credentials(store, make_woo_shop, caplog) -> None:
    order = order_like(631, iso(time.time() - HOUR))
    with FakeWooCommerce([order]) as shop_api:
        without = make_woo_shop(hold_lock=False)
        with_api = make_woo_shop(shop_api.api_base, hold_lock=False)

        async def work(redis: Any) -> int:
            http = PlatformHttp(max_attempts=1)
            try:
                return await woocommerce.Reconciler(redis, http, 60).run_once()
            finally:
                await http.aclose()

        assert store.run(work) >= 1
    assert store.run(lambda r: r.hexists(keys.orders(with_api.shop_id), "631")) == 1
    assert store.run(lambda r: r.exists(keys.reconcile_cursor(without.shop_id))) == 0
    assert without.shop_id not in caplog.text  # skipped silently, not tried and failed


def test_worker_reconciles_woocommerce_shops(store, make_woo_shop) -> None:
    order = order_like(641, iso(time.time() - HOUR))
    with FakeWooCommerce([order]) as shop_api:
        shop = make_woo_shop(shop_api.api_base, hold_lock=False)

        async def work(redis: Any) -> bool:
            async with running_workers(redis, settings_for(store, reconcile_minutes=60)):
                for _ in range(600):  # the first round starts at once
                    if await records.get_order(redis, shop.shop_id, "641"):
                        return True
                    await asyncio.sleep(0.05)
            return False

        assert store.run(work)


# ---- backfill through the CLI --------------------------------------------------------------

def history(count: int) -> list[dict[str, Any]]:
    return [order_like(2000 + n, f"2024-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}")
            for n in range(count)]


def register_by_cli(store: Store, api_base: str) -> str:
    shop_id = "wc-" + uuid.uuid4().hex[:12]
    added = shopreco(store, "shops", "add", shop_id, "--platform", "woocommerce",
                     "--domain", f"{shop_id}.example", "--api-base", api_base,
                     "--api-user", "ck_x", "--api-token", "cs_y")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["webhook_url"].endswith(f"/webhooks/woocommerce/{shop_id}")
    keep_live_reconciler_off(store, shop_id)
    return shop_id


def stored_count(store: Store, shop_id: str) -> int:
    return store.run(lambda r: r.hlen(keys.orders(shop_id)))


def test_cli_backfill_imports_every_page(store) -> None:
    with FakeWooCommerce(history(250)) as shop_api:
        shop_id = register_by_cli(store, shop_api.api_base)
        result = shopreco(store, "backfill", shop_id)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["pages"], summary["orders_seen"]) == (3, 250)
    assert [(f.page, f.params["orderby"], f.params["per_page"]) for f in shop_api.fetches] == [
        (1, "id", "100"), (2, "id", "100"), (3, "id", "100")]
    assert stored_count(store, shop_id) == 250


def test_interrupted_cli_backfill_fails(store) -> None:
    with FakeWooCommerce(history(250)) as shop_api:
        shop_id = register_by_cli(store, shop_api.api_base)
        shop_api.fail_once[2] = 404
        result = shopreco(store, "backfill", shop_id)
    assert result.returncode != 0
    assert "404" in result.stderr and "cs_y" not in result.stderr
    assert stored_count(store, shop_id) == 100


def test_rerun_continues_from_the_checkpoint(store) -> None:
    with FakeWooCommerce(history(250)) as shop_api:
        shop_id = register_by_cli(store, shop_api.api_base)
        shop_api.fail_once[2] = 404
        shopreco(store, "backfill", shop_id)
        shop_api.fetches.clear()
        result = shopreco(store, "backfill", shop_id)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["resumed_from"] == "2"
    assert [f.page for f in shop_api.fetches] == [2, 3]
    assert stored_count(store, shop_id) == 250


def test_backfill_without_api_access_says_what_is_missing(store, woo_shop) -> None:
    result = shopreco(store, "backfill", woo_shop.shop_id)
    assert result.returncode == 1
    assert "--api-base" in result.stderr and "Traceback" not in result.stderr

