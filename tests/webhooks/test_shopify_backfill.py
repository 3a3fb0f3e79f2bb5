"""Shopify backfill against a local stand-in of the Admin REST API serving the shared fixtures
page by page with `Link` headers; and the bulk-operation JSONL parser."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from plugin.config import Secret
from plugin.store import keys
from plugin.store.fields import PayloadError
from plugin.store.shops import NewShop, PlatformAccess, add_shop
from tests.conftest import Store, shopreco
from tests.helpers import SHARED_DATA
from tests.platform_server import FakePlatformApi, Reply
from webhooks import shopify
from webhooks.backfill import BackfillError, BackfillResult, run_backfill
from webhooks.http import PlatformHttp

SHOPIFY_DATA = SHARED_DATA / "webhooks" / "shopify"
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
