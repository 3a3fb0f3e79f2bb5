"""GET .../widgets/stats (plugin/api/widget_stats.py) over real HTTP: the shop's widget counts of
the last `days` days per placement, with the orders attributed to them, every answer as the
API reference (GET /api/v1/openapi.json) describes it."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from plugin.store.order import LineItem, Order
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from plugin.store.tracking import WidgetEvent, day_of, record_events
from tests.conftest import Store
from tests.helpers import auth
from tests.openapi_check import reference, schema_errors, undocumented

DAY = 86400.0


def stats(http: httpx.Client, shop: NewShop, **params: str) -> httpx.Response:
    return http.get(f"/api/v1/shops/{shop.shop.shop_id}/widgets/stats", params=params,
                    headers=auth(shop))


def events(store: Store, shop: NewShop, customer: str | None,
           *happened: tuple[str, str, str, float]) -> None:
    """(kind, placement, product id, when) each, from one visitor."""
    made = [WidgetEvent(uuid.uuid4().hex, kind, placement, product, at)
            for kind, placement, product, at in happened]
    store.run(lambda r: record_events(r, shop.shop.shop_id, "v-1", customer, made))


def test_counts_per_placement_over_the_days_asked(http: httpx.Client, store: Store,
                                                  shop: NewShop) -> None:
    now = time.time()
    events(store, shop, None,
           *[("impression", "bundle", "p1", now - 60)] * 3, ("click", "bundle", "p1", now - 50),
           ("impression", "home", "p2", now - 40),
           *[("impression", "bundle", "p1", now - 10 * DAY)] * 5)
    month = stats(http, shop)
    assert month.status_code == 200, month.text
    body = month.json()
    asked = time.time()  # a day may begin between `now` and the server's answer
    assert (body["shop_id"], body["days"]) == (shop.shop.shop_id, 30)
    assert body["since"] in {day_of(now - 29 * DAY), day_of(asked - 29 * DAY)}
    assert body["attribution_days"] == store.settings.attribution_days
    assert set(body["placements"]) == {"bundle", "home"}
    bundle = body["placements"]["bundle"]
    assert (bundle["impressions"], bundle["clicks"], bundle["add_to_carts"], bundle["ctr"]) == (
        8, 1, 0, 0.125)
    assert body["total"]["impressions"] == 9 and body["total"]["clicks"] == 1
    week = stats(http, shop, days="7").json()
    assert week["days"] == 7
    assert week["since"] in {day_of(now - 6 * DAY), day_of(time.time() - 6 * DAY)}
    assert week["placements"]["bundle"]["impressions"] == 3  # not the ones 10 days ago
    assert week["placements"]["bundle"]["ctr"] == 0.3333


def test_an_order_after_a_click_is_attributed_to_its_placement(
        http: httpx.Client, store: Store, shop: NewShop) -> None:
    now = time.time()
    events(store, shop, "ann", ("impression", "cart", "p1", now - 120),
           ("click", "cart", "p1", now - 100))
    lines = (LineItem("p1", None, "One", 2, "10.00", "o1-1"),
             LineItem("p9", None, "Other", 1, "5.00", "o1-2"))
    store.run(lambda r: store_order(r, shop.shop.shop_id, Order(
        "o1", "ann", now - 30, now - 30, False, "EUR", "25.00", lines)))
    cart = stats(http, shop).json()["placements"]["cart"]
    assert cart["attributed_orders"] == 1
    assert cart["attributed_revenue"] == {"EUR": "25.00"}  # the whole order
    assert cart["clicked_revenue"] == {"EUR": "20.00"}  # the clicked product's line


def test_a_shop_without_widget_events_has_empty_stats(http: httpx.Client, shop: NewShop) -> None:
    body = stats(http, shop).json()
    assert body["placements"] == {}
    assert body["total"] == {"impressions": 0, "clicks": 0, "add_to_carts": 0, "ctr": None,
                             "attributed_orders": 0, "attributed_revenue": {},
                             "clicked_revenue": {}}


@pytest.mark.parametrize(("days", "status"), [("1", 200), ("400", 200), ("0", 400),
                                              ("401", 400), ("x", 400), ("-1", 400)])
def test_days_is_1_to_400(http: httpx.Client, shop: NewShop, days: str, status: int) -> None:
    answer = stats(http, shop, days=days)
    assert answer.status_code == status
    if status == 400:
        assert answer.json()["detail"].startswith("days must be an integer from 1 to 400")


def test_stats_are_the_shops_own(http: httpx.Client, store: Store, make_shop: Any) -> None:
    mine, other = make_shop(), make_shop()
    events(store, mine, None, ("impression", "bundle", "p1", time.time()))
    assert stats(http, other).json()["placements"] == {}
    path = f"/api/v1/shops/{mine.shop.shop_id}/widgets/stats"
    assert http.get(path).status_code == 401
    assert http.get(path, headers=auth(other)).status_code == 403


def test_every_answer_is_as_the_reference_describes(http: httpx.Client, store: Store,
                                                    make_shop: Any) -> None:
    doc, path = reference(http), "/api/v1/shops/{shop_id}/widgets/stats"
    busy, idle = make_shop(), make_shop()
    now = time.time()
    events(store, busy, "ann", ("impression", "cart", "p1", now - 120),
           ("click", "cart", "p1", now - 100), ("add_to_cart", "cart", "p1", now - 90),
           ("click", "email", "p9", now - 80))  # a click without impressions: ctr null
    lines = (LineItem("p1", None, "One", 2, "10.00", "o1-1"),
             LineItem("p9", None, "Other", 1, "5.50", "o1-2"))
    store.run(lambda r: store_order(r, busy.shop.shop_id, Order(
        "o1", "ann", now - 30, now - 30, False, "USD", "25.50", lines)))
    answer = stats(http, busy, days="7")
    body = answer.json()
    assert body["placements"]["cart"]["attributed_revenue"] == {}  # the later click won
    assert body["placements"]["email"]["attributed_revenue"] == {"USD": "25.50"}
    assert body["placements"]["cart"]["clicked_revenue"] == {"USD": "20.00"}
    assert body["placements"]["email"]["ctr"] is None and body["total"]["ctr"] == 2.0
    assert schema_errors(doc, "GET", path, answer) == []
    empty = stats(http, idle)
    assert empty.json()["placements"] == {} and schema_errors(doc, "GET", path, empty) == []
    refused = [stats(http, busy, days="0"), stats(http, busy, days="401"),
               http.get(f"/api/v1/shops/{busy.shop.shop_id}/widgets/stats"),
               http.get(f"/api/v1/shops/{busy.shop.shop_id}/widgets/stats", headers=auth(idle)),
               http.get("/api/v1/shops/no-such-shop/widgets/stats", headers=auth(busy))]
    assert [r.status_code for r in refused] == [400, 400, 401, 403, 404]
    for response in refused:
        assert schema_errors(doc, "GET", path, response) == [], response.text


def test_the_reference_documents_every_field_with_a_valid_example(http: httpx.Client) -> None:
    doc, path = reference(http), "/api/v1/shops/{shop_id}/widgets/stats"
    assert undocumented(doc, path) == []
    assert doc["paths"][path]["get"]["security"] == [{"apiKey": ["recommendations:read"]}]
