"""Widget events (widgets/events.py): POST /widgets/v1/events over real HTTP (counting, dedupe,
bots, bad bodies, isolation), and the batch as parsed."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from plugin.store import keys
from plugin.store.browsing import browsed
from plugin.store.shops import NewShop
from plugin.store.tracking import WidgetEvent
from plugin.web.params import BadRequest
from tests.conftest import Store
from tests.helpers import auth
from widgets.events import MAX_EVENT_AGE_SECONDS, MAX_EVENTS, is_bot, parse_batch

EVENTS = "/widgets/v1/events"
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/126.0.0.0 Safari/537.36")


def event(kind: str = "impression", placement: str = "bundle", product_id: str = "p1",
          **changes: Any) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "type": kind, "placement": placement,
            "product_id": product_id, "model_version": "1", "at": time.time() * 1000,
            **changes}


def batch(*events: dict[str, Any], visitor: str = "v-1",
          customer: str | None = None) -> dict[str, Any]:
    return {"visitor_id": visitor, "customer_id": customer, "events": list(events)}


def post(http: httpx.Client, shop: NewShop, body: Any, user_agent: str = CHROME,
         content_type: str = "text/plain;charset=UTF-8",
         origin: str | None = None) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": content_type, "User-Agent": user_agent}
    if origin:
        headers["Origin"] = origin
    return http.post(EVENTS, params={"key": shop.shop.widget_key}, content=raw, headers=headers)


def stats(http: httpx.Client, shop: NewShop) -> dict[str, Any]:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/widgets/stats", headers=auth(shop))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def widget_keys(store: Store, shop: NewShop) -> list[str]:
    """Every tracking key of the shop (rate-limit counters aside)."""
    async def scan(redis: Any) -> list[str]:
        pattern = keys.shop_pattern(shop.shop.shop_id).replace(":*", ":widget:*")
        return [k.decode() async for k in redis.scan_iter(match=pattern)
                if b":widget:rate:" not in k]
    return store.run(scan)


def test_events_are_counted_per_placement(http, shop) -> None:
    answer = post(http, shop, batch(event(), event(), event("click"),
                                    event("add_to_cart", placement="cart")))
    assert answer.status_code == 204
    shown = stats(http, shop)["placements"]
    assert shown["bundle"]["impressions"] == 2 and shown["bundle"]["clicks"] == 1
    assert shown["bundle"]["ctr"] == 0.5
    assert shown["cart"]["add_to_carts"] == 1 and shown["cart"]["ctr"] is None


def test_json_content_type_is_accepted_too(http, store, shop) -> None:
    assert post(http, shop, batch(event()), content_type="application/json").status_code == 204
    assert stats(http, shop)["total"]["impressions"] == 1
    assert widget_keys(store, shop)  # what the "stores nothing" tests look for


def test_a_resent_event_counts_once(http, shop) -> None:
    same = event("click")
    assert post(http, shop, batch(same)).status_code == 204
    assert post(http, shop, batch(same, same)).status_code == 204
    assert stats(http, shop)["placements"]["bundle"]["clicks"] == 1


@pytest.mark.parametrize("agent", [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux) Chrome-Lighthouse", "python-httpx/0.27", ""])
def test_bot_traffic_is_answered_but_not_counted(http, store, shop, agent) -> None:
    assert post(http, shop, batch(event("click")), user_agent=agent).status_code == 204
    assert widget_keys(store, shop) == []


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"visitor_id": "v", "events": []}',
    json.dumps(batch(event(kind="hover"))).encode(),
    json.dumps(batch(event(placement="sidebar"))).encode(),
    json.dumps(batch(event(id="short"))).encode(),
    json.dumps(batch(event(at="yesterday"))).encode(),
    json.dumps(batch(event(product_id=None))).encode(),
    json.dumps(batch(event(), visitor="has spaces")).encode(),
    json.dumps(batch(event(), customer={"id": 1})).encode(),
], ids=["text", "list", "no-events", "type", "placement", "id", "at", "product", "visitor",
        "customer"])
def test_malformed_batch_is_400_and_stores_nothing(http, store, shop, body) -> None:
    response = post(http, shop, body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert widget_keys(store, shop) == []


def test_one_bad_event_refuses_the_whole_batch(http, store, shop) -> None:
    response = post(http, shop, batch(event("click"), event(kind="scroll")))
    assert response.status_code == 400 and "events[1].type" in response.json()["detail"]
    assert widget_keys(store, shop) == []


def test_oversized_batch_is_413_and_stores_nothing(http, store, shop) -> None:
    many = batch(*[event(product_id="x" * 100) for _ in range(150)])
    assert len(json.dumps(many)) > 32 * 1024
    assert post(http, shop, many).status_code == 413
    assert widget_keys(store, shop) == []


def test_unknown_widget_key_is_404(http) -> None:
    response = http.post(EVENTS, params={"key": "wk_unknown"}, content=b"{}",
                         headers={"User-Agent": CHROME})
    assert response.status_code == 404


def test_events_answer_cors_to_the_shops_origin_only(http, shop) -> None:
    mine = f"https://{shop.shop.domain}"
    allowed = post(http, shop, batch(event()), origin=mine)
    assert allowed.headers["access-control-allow-origin"] == mine
    denied = post(http, shop, batch(event()), origin="https://elsewhere.example")
    assert "access-control-allow-origin" not in denied.headers


def test_a_shops_widget_key_only_counts_for_that_shop(http, make_shop) -> None:
    mine, other = make_shop(), make_shop()
    shared = event("click")
    assert post(http, mine, batch(shared)).status_code == 204
    assert stats(http, other)["placements"] == {}
    assert post(http, other, batch(shared)).status_code == 204  # dedupe is per shop
    assert stats(http, other)["placements"]["bundle"]["clicks"] == 1
    assert stats(http, mine)["placements"]["bundle"]["clicks"] == 1


@pytest.mark.parametrize("field", ["type", "placement", "product_id", "id", "at",
                                   "model_version"])
@pytest.mark.parametrize("value", [[], {}, ["bundle"], {"a": 1}, None, 1e300, "\ud800"])
def test_any_json_type_in_any_event_field_is_400_not_500(http, store, shop, field, value):
    response = post(http, shop, json.dumps(batch(event(**{field: value}))).encode(
        "utf-8", "surrogatepass") if isinstance(value, str) else batch(event(**{field: value})))
    if (field == "model_version" and value is None) or (field == "at" and value == 1e300):
        assert response.status_code == 204  # "no model"; a future time is read as now
    else:
        assert response.status_code == 400, (field, value, response.text)


# ---- product views: the visitor's browsing history ---------------------------------------------


def visited(store: Store, shop: NewShop, visitor: str = "v-1") -> tuple[str, ...]:
    return store.run(lambda r: browsed(r, shop.shop.shop_id, visitor))


def view(product_id: str, **changes: Any) -> dict[str, Any]:
    sent = event("product_view", product_id=product_id, **changes)
    del sent["model_version"]  # what the script sends for a page's product: no placement
    if "placement" not in changes:
        del sent["placement"]
    return sent


def test_product_views_and_add_to_carts_join_the_visitors_history_only(
        http, store, shop) -> None:
    now = time.time() * 1000
    answer = post(http, shop, batch(view("p1", at=now - 3000), view("p2", at=now - 2000),
                                    event("product_view", placement="bundle", product_id="p3",
                                          at=now - 1000)))
    assert answer.status_code == 204, answer.text
    assert visited(store, shop) == ("p3", "p2", "p1")
    assert widget_keys(store, shop) == []  # a view is not a widget event: nothing counted
    assert stats(http, shop)["placements"] == {}
    assert post(http, shop, batch(event("add_to_cart", placement="cart", product_id="p1"),
                                  event("click", product_id="p9"))).status_code == 204
    assert visited(store, shop) == ("p1", "p3", "p2")  # a click is not browsing
    assert stats(http, shop)["placements"]["cart"]["add_to_carts"] == 1
    assert visited(store, shop, "v-2") == ()


def test_a_signed_in_visitors_views_link_them_to_the_customer(http, store, shop) -> None:
    assert post(http, shop, batch(view("p1"), customer="c7")).status_code == 204
    linked = store.run(lambda r: r.smembers(keys.widget_customer_visitors(shop.shop.shop_id,
                                                                          "c7")))
    assert linked == {b"v-1"} and visited(store, shop) == ("p1",)


def test_bots_views_are_not_kept_and_a_bad_view_refuses_the_batch(http, store, shop) -> None:
    assert post(http, shop, batch(view("p1")), user_agent="Googlebot/2.1").status_code == 204
    assert visited(store, shop) == ()
    for bad in (view("p1", placement="sidebar"), view(""), view("p1", at="now")):
        assert post(http, shop, batch(view("p2"), bad)).status_code == 400
    assert visited(store, shop) == ()


# ---- the batch as parsed ----------------------------------------------------------------------


def test_a_batch_gives_the_visitor_the_customer_and_each_event() -> None:
    now = time.time()
    sent = event("click", placement="email", at=(now - 5) * 1000)
    visitor, customer, parsed = parse_batch(json.dumps(batch(sent, customer="77")).encode(), now)
    assert (visitor, customer) == ("v-1", "77")
    assert parsed == [WidgetEvent(sent["id"], "click", "email", "p1", pytest.approx(now - 5))]


def test_a_view_needs_no_placement() -> None:
    now = time.time()
    sent = event("product_view", at=now * 1000)
    del sent["placement"]
    _, _, parsed = parse_batch(json.dumps(batch(sent)).encode(), now)
    assert parsed == [WidgetEvent(sent["id"], "product_view", "", "p1", pytest.approx(now))]
    with pytest.raises(BadRequest, match=r"events\[0\].placement must be a widget placement"):
        parse_batch(json.dumps(batch({**sent, "type": "click"})).encode(), now)


def test_stale_events_are_dropped_and_future_ones_count_as_now() -> None:
    now = time.time()
    old = event(at=(now - MAX_EVENT_AGE_SECONDS - 60) * 1000)
    ahead = event(at=(now + 3600) * 1000)
    _, _, parsed = parse_batch(json.dumps(batch(old, ahead)).encode(), now)
    assert [(e.event_id, e.at) for e in parsed] == [(ahead["id"], now)]


@pytest.mark.parametrize("count", [0, MAX_EVENTS + 1])
def test_a_batch_holds_1_to_the_maximum_of_events(count) -> None:
    with pytest.raises(BadRequest, match=f"events must be a list of 1 to {MAX_EVENTS}"):
        parse_batch(json.dumps(batch(*[event() for _ in range(count)])).encode(), time.time())


@pytest.mark.parametrize(("agent", "bot"), [
    (CHROME, False), (None, True), ("", True), ("Mozilla/5.0 (compatible; bingbot/2.0)", True),
    ("curl/8.5.0", True), ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148", False)])
def test_bots_are_told_by_their_user_agent(agent, bot) -> None:
    assert is_bot(agent) is bot
