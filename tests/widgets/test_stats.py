"""Widget stats (widgets/stats.py) on the embedded Redis: counts per placement over the last N
UTC days, CTR, orders attributed to the placement of the latest click within the attribution
window, each clicked product's line to its own placement; the `days` rule, and the endpoint's
refusals over HTTP. (The endpoint's answers: tests/plugin/api/test_widget_stats.py.)"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from plugin.store.order import LineItem, Order
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from plugin.store.tracking import WidgetEvent, day_of, record_click, record_events
from plugin.web.params import BadRequest
from tests.conftest import Store
from tests.helpers import auth
from widgets.stats import MAX_DAYS, PlacementStats, parse_days, widget_stats

DAY = 86400.0


def seen(store: Store, shop: NewShop, *happened: tuple[str, str, float]) -> None:
    """(kind, placement, when) each: one product's events from one visitor."""
    made = [WidgetEvent(uuid.uuid4().hex, kind, placement, "p1", at)
            for kind, placement, at in happened]
    store.run(lambda r: record_events(r, shop.shop.shop_id, "v-1", None, made))


def stats_of(store: Store, shop: NewShop, days: int = 30, attribution_days: int = 7,
             now: float | None = None) -> dict[str, Any]:
    return store.run(lambda r: widget_stats(r, shop.shop.shop_id, days, attribution_days, now))


def midnight(at: float) -> float:
    """The start of at's UTC day."""
    return datetime.fromisoformat(day_of(at)).replace(tzinfo=UTC).timestamp()


def test_counts_are_per_placement_and_kind_with_ctr(store, shop) -> None:
    now = time.time()
    seen(store, shop, *[("impression", "bundle", now - 5)] * 3, ("click", "bundle", now - 4),
         ("add_to_cart", "bundle", now - 3), ("click", "email", now - 2))
    found = stats_of(store, shop, now=now)
    assert found["placements"] == {
        "bundle": {"impressions": 3, "clicks": 1, "add_to_carts": 1, "ctr": 0.3333,
                   "attributed_orders": 0, "attributed_revenue": {}, "clicked_revenue": {}},
        "email": {"impressions": 0, "clicks": 1, "add_to_carts": 0, "ctr": None,
                  "attributed_orders": 0, "attributed_revenue": {}, "clicked_revenue": {}}}
    assert (found["total"]["impressions"], found["total"]["clicks"]) == (3, 2)


def test_the_last_n_utc_days_include_today(store, shop) -> None:
    now = time.time()
    first_day = midnight(now) - 6 * DAY
    seen(store, shop, ("impression", "home", first_day + 60), ("impression", "home", now),
         ("impression", "home", first_day - 60))
    week = stats_of(store, shop, days=7, now=now)
    assert (week["days"], week["since"]) == (7, day_of(first_day))
    assert week["placements"]["home"]["impressions"] == 2
    assert stats_of(store, shop, days=8, now=now)["placements"]["home"]["impressions"] == 3
    assert stats_of(store, shop, days=1, now=now)["placements"]["home"]["impressions"] == 1


def order_after_clicks(store: Store, shop: NewShop, clicks: list[tuple[str, str, float]],
                       placed: float) -> None:
    """Customer ann clicks (placement, product, when) each, then orders two of p1 at 10.00 and
    one p2 at 5.00."""
    async def work(redis: Any) -> None:
        for placement, product, at in clicks:
            await record_click(redis, shop.shop.shop_id, placement=placement,
                               product_id=product, customer_id="ann", visitor_id=None, at=at)
        lines = (LineItem("p1", None, "One", 2, "10.00", "o1-1"),
                 LineItem("p2", None, "Two", 1, "5.00", "o1-2"))
        await store_order(redis, shop.shop.shop_id,
                          Order("o1", "ann", placed, placed, False, "EUR", "25.00", lines))

    store.run(work)


def test_an_order_counts_once_for_the_placement_of_the_latest_click(store, shop) -> None:
    now = time.time()
    order_after_clicks(store, shop, [("bundle", "p1", now - 3 * DAY),
                                     ("cart", "p2", now - 2 * DAY)], now - DAY)
    rows = stats_of(store, shop, now=now)["placements"]
    assert (rows["cart"]["attributed_orders"], rows["bundle"]["attributed_orders"]) == (1, 0)
    assert rows["cart"]["attributed_revenue"] == {"EUR": "25.00"}  # the whole order
    assert rows["bundle"]["clicked_revenue"] == {"EUR": "20.00"}  # each clicked line
    assert rows["cart"]["clicked_revenue"] == {"EUR": "5.00"}


def test_a_click_before_the_attribution_window_is_not_counted(store, shop) -> None:
    now = time.time()
    order_after_clicks(store, shop, [("home", "p1", now - 11 * DAY)], now - DAY)
    assert stats_of(store, shop, attribution_days=7, now=now)["placements"]["home"][
        "attributed_orders"] == 0
    assert stats_of(store, shop, attribution_days=30, now=now)["placements"]["home"][
        "attributed_orders"] == 1


def test_placement_stats_add_up() -> None:
    one = PlacementStats(impressions=4, clicks=1)
    one.attributed_revenue["USD"] += Decimal("2.50")
    other = PlacementStats(impressions=2, clicks=2, add_to_carts=1, attributed_orders=1)
    other.attributed_revenue["EUR"] += Decimal("10.00")
    other.clicked_revenue["EUR"] += Decimal("7.5")
    one.add(other)
    assert one.as_json() == {
        "impressions": 6, "clicks": 3, "add_to_carts": 1, "ctr": 0.5, "attributed_orders": 1,
        "attributed_revenue": {"EUR": "10.00", "USD": "2.50"}, "clicked_revenue": {"EUR": "7.5"}}


def test_days_default_to_30_and_run_from_1_to_the_maximum() -> None:
    assert (parse_days(None), parse_days("1"), parse_days(str(MAX_DAYS))) == (30, 1, MAX_DAYS)
    for raw in ("0", str(MAX_DAYS + 1), "-1", " 7", "7.0", ""):
        with pytest.raises(BadRequest, match=f"days must be an integer from 1 to {MAX_DAYS}"):
            parse_days(raw)


# ---- the endpoint's refusals over HTTP --------------------------------------------------------


def test_stats_need_the_shops_api_key(http, make_shop) -> None:
    mine, other = make_shop(), make_shop()
    path = f"/api/v1/shops/{mine.shop.shop_id}/widgets/stats"
    assert http.get(path).status_code == 401
    assert http.get(path, headers=auth(other)).status_code == 403


@pytest.mark.parametrize("days", ["0", "x", "401"])
def test_stats_with_bad_days_is_400(http, shop, days) -> None:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/widgets/stats",
                        params={"days": days}, headers=auth(shop))
    assert response.status_code == 400 and "days" in response.json()["detail"]
