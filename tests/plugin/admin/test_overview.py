"""The overview's figures (plugin/admin/overview.py): the last 30 days against the 30 before, in
the shop's main currency, the months' charts; in-process on the embedded Redis and on the page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from plugin.admin.overview import change, overview
from plugin.store.order import LineItem, Order
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from tests.conftest import Store

DAY = 86400.0
NOW = 1_750_000_000.0  # 2025-06-15 15:06 UTC


def test_the_overview_shows_the_shops_own_figures(signed_in) -> None:
    client, shop = signed_in
    page = client.get("/admin/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert shop.shop.domain in page.text
    orders = re.search(r'data-figure="Orders">([^<]+)<', page.text)
    assert orders is not None and orders[1] == "30"  # 40 orders, one a day: 30 in the last 30
    assert "EUR" in page.text and "<svg" in page.text and "Orders per month" in page.text


@pytest.mark.parametrize(("now", "before", "shown"), [
    (12, 10, "+20%"), (9.7, 10, "-3%"), (0, 4, "-100%"), (10, 10, "+0%"), (0.25, 0.2, "+25%"),
    (5, 0, ""), (5, None, ""), (None, 5, ""), (None, None, ""),
])
def test_change_against_the_previous_period(now: float | None, before: float | None,
                                            shown: str) -> None:
    assert change(now, before) == shown


def store_orders(store: Store, shop: NewShop, orders: list[tuple[str, str, float, str, str]]
                 ) -> None:
    """(order id, customer, days before NOW, currency, price) each, of one line."""
    async def work(redis: Any) -> None:
        for order_id, customer, days_ago, currency, price in orders:
            at = NOW - days_ago * DAY
            line = LineItem("p1", None, "One", 1, price, f"{order_id}-1")
            await store_order(redis, shop.shop.shop_id, Order(
                order_id, customer, at, at, False, currency, price, (line,)))

    store.run(work)


def figures_of(answer: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {f["label"]: (f["value"], f["change"]) for f in answer["figures"]}


def test_the_last_30_days_against_the_30_before(store: Store, shop: NewShop) -> None:
    store_orders(store, shop, [
        ("a1", "ann", 2, "EUR", "30.00"), ("a2", "ann", 5, "EUR", "30.00"),
        ("b1", "bob", 10, "EUR", "30.00"), ("u1", "uma", 3, "USD", "99.00"),  # this period
        ("a0", "ann", 40, "EUR", "10.00"), ("c0", "cy", 45, "EUR", "10.00"),  # the one before
        ("old", "dan", 400, "EUR", "500.00"),  # in neither
    ])
    answer = store.run(lambda r: overview(r, shop.shop.shop_id, 7, now=NOW))
    assert answer["currency"] == "EUR" and answer["days"] == 30  # most orders are in EUR
    figures = figures_of(answer)
    assert figures["Orders"] == ("4", "+100%")
    assert figures["Revenue"] == ("90.00 EUR", "+350%")  # the USD order is not added in
    assert figures["Average order value"] == ("30.00 EUR", "+200%")
    # lifetime to each instant: 1 of 5 customers with 2+ orders now, nobody 30 days ago
    assert figures["Repeat-purchase rate"] == ("20.0%", "")
    assert list(figures) == ["Orders", "Revenue", "Average order value", "Repeat-purchase rate",
                             "Retention (30 days)"]


def test_the_months_are_charted_in_the_main_currency(store: Store, shop: NewShop) -> None:
    store_orders(store, shop, [
        ("m1", "ann", 1, "EUR", "1234.50"), ("m2", "bob", 40, "EUR", "10.00"),
        ("m3", "cy", 41, "USD", "7.00"),
    ])
    answer = store.run(lambda r: overview(r, shop.shop.shop_id, 7, now=NOW))
    assert [m["month"] for m in answer["months"]] == ["2025-05", "2025-06"]
    assert "Orders per month" in answer["orders_chart"]
    assert "2025-05: 2" in answer["orders_chart"] and "2025-06: 1" in answer["orders_chart"]
    revenue = answer["revenue_chart"]
    assert "Revenue per month (EUR)" in revenue and "2025-06: 1,234.50" in revenue
    assert "2025-05: 10.00" in revenue  # the USD order is not in the EUR bars


def test_a_shop_without_orders_has_zeros_and_dashes(store: Store, shop: NewShop) -> None:
    answer = store.run(lambda r: overview(r, shop.shop.shop_id, 7, now=NOW))
    figures = figures_of(answer)
    assert answer["currency"] == "" and answer["months"] == []
    assert figures["Orders"] == ("0", "")
    assert figures["Revenue"][0].startswith("0.00") and figures["Revenue"][1] == ""
    assert figures["Repeat-purchase rate"] == ("—", "")
    assert figures["Retention (30 days)"] == ("—", "")
    assert "Revenue per month (no orders)" in answer["revenue_chart"]
    assert answer["placements"] == {} and answer["total"]["impressions"] == 0
