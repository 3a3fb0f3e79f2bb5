"""Widget placements (widgets/placements.py): the query string of a widget call parsed and
remembered, and the named query each placement asks the shop's model, over real HTTP against
the API's answer for the same query."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import pytest

from plugin.engine import queries
from plugin.web.params import BadRequest
from tests.browser import DESKTOP_UA
from tests.helpers import auth
from tests.widgets.conftest import PATH, api_ids, ids, widget
from widgets.placements import (
    MAX_LIMIT,
    MAX_PRODUCT_IDS,
    MAX_REMEMBERED_QUERY,
    PLACEMENTS,
    VISITOR_PLACEMENTS,
    WidgetRequest,
    build_query,
    parse_query,
    parse_request,
)

# ---- the query string -------------------------------------------------------------------------


def test_a_bare_call_is_four_trending_products() -> None:
    assert parse_request({}) == WidgetRequest("trending", 4, None, (), None)


def test_the_limit_is_at_most_what_a_widget_shows() -> None:
    assert parse_request({"limit": "7"}).limit == 7
    assert parse_request({"limit": "60"}).limit == MAX_LIMIT
    with pytest.raises(BadRequest, match="limit"):
        parse_request({"limit": "many"})


def test_product_ids_are_split_trimmed_and_kept_once_in_order() -> None:
    request = parse_request({"placement": "cart", "product_ids": " b, a,,b , c"})
    assert request.product_ids == ("b", "a", "c")


def test_too_many_product_ids_are_refused() -> None:
    many = ",".join(str(n) for n in range(MAX_PRODUCT_IDS + 1))
    with pytest.raises(BadRequest, match=f"at most {MAX_PRODUCT_IDS} ids, got "
                                         f"{MAX_PRODUCT_IDS + 1}"):
        parse_request({"placement": "cart", "product_ids": many})


def test_an_empty_customer_id_is_none() -> None:
    assert parse_request({"placement": "home", "customer_id": ""}).customer_id is None
    assert parse_request({"placement": "home", "customer_id": "42"}).customer_id == "42"


def test_an_unknown_placement_is_refused_naming_every_placement() -> None:
    with pytest.raises(BadRequest) as refused:
        parse_request({"placement": "sidebar"})
    assert str(refused.value) == (f"placement must be one of {', '.join(PLACEMENTS)}, "
                                  "got 'sidebar'")


def test_a_query_string_gives_the_key_and_the_request_or_what_is_wrong() -> None:
    key, request = parse_query(b"key=wk_1&placement=bundle&product_id=9&limit=2")
    assert (key, request) == ("wk_1", WidgetRequest("bundle", 2, "9", (), None))
    assert parse_query(b"key=wk_1&placement=sidebar") == (
        "wk_1", f"placement must be one of {', '.join(PLACEMENTS)}, got 'sidebar'")
    assert parse_query(b"") == ("", WidgetRequest("trending", 4, None, (), None))


def test_short_query_strings_are_remembered_long_ones_parsed_each_time() -> None:
    short = b"key=wk_2&placement=cart&product_ids=1,2"
    assert parse_query(short) is parse_query(short)
    long = b"key=wk_2&placement=cart&product_ids=" + b",".join(
        str(n).encode() for n in range(40)) + b"&pad=" + b"x" * MAX_REMEMBERED_QUERY
    first, again = parse_query(long), parse_query(long)
    assert first == again and first is not again
    assert len(first[1].product_ids) == 40  # type: ignore[union-attr]


# ---- the query each placement asks (those that need nothing read) ----------------------------


def query_of(**params: str) -> queries.Query:
    return asyncio.run(build_query(None, "shop", parse_request(params)))  # type: ignore[arg-type]


@pytest.mark.parametrize(("params", "query"), [
    ({"placement": "bundle", "product_id": "7", "limit": "3"}, queries.BoughtTogether("7", 3)),
    ({"placement": "product", "product_id": "7"}, queries.BoughtTogether("7", 4)),
    ({"placement": "also_bought", "product_id": "7"}, queries.Similar("7", 4)),
    ({"placement": "similar", "product_id": "7"}, queries.Similar("7", 4)),
    ({"placement": "cart", "product_ids": "1,2", "customer_id": "c"},
     queries.Cart(("1", "2"), "c", 4)),
    ({"placement": "trending", "limit": "9"}, queries.Trending(9)),
    ({"placement": "home"}, queries.Trending(4)),
], ids=["bundle", "product", "also_bought", "similar", "cart", "trending", "home-guest"])
def test_each_placement_asks_its_query(params, query) -> None:
    assert query_of(**params) == query


@pytest.mark.parametrize(("placement", "named"), [
    ("bundle", "product_id (placement bundle)"), ("also_bought", "product_id (placement "
                                                 "also_bought)"),
    ("buy_again", "customer_id (placement buy_again)"),
    ("customer", "customer_id (placement customer)")])
def test_a_placement_without_its_id_names_it(placement, named) -> None:
    with pytest.raises(BadRequest, match=re.escape(named)):
        query_of(placement=placement)


# ---- every placement over HTTP, against the API's answer ---------------------------------------


def test_bundle_is_the_models_bought_together_list(http, euro_shop) -> None:
    shown = ids(widget(http, euro_shop, "bundle", product_id="103", limit="4"))
    assert shown == api_ids(http, euro_shop, "/recommendations/products/103",
                            kind="bought_together", limit="4")
    assert len(shown) == 4 and "103" not in shown


def test_also_bought_is_the_models_similar_list(http, euro_shop) -> None:
    shown = ids(widget(http, euro_shop, "also_bought", product_id="104", limit="5"))
    assert shown == api_ids(http, euro_shop, "/recommendations/products/104", kind="similar",
                            limit="5")
    assert "104" not in shown


def test_cart_completes_the_order_like_the_cart_api(http, euro_shop) -> None:
    shown = ids(widget(http, euro_shop, "cart", product_ids="101", limit="3"))
    api = http.post(f"/api/v1/shops/{euro_shop.shop.shop_id}/recommendations/cart",
                    json={"product_ids": ["101"], "limit": 3}, headers=auth(euro_shop))
    assert shown == [item["product_id"] for item in api.json()["items"]]
    assert shown[0] == "102"


def test_thank_you_for_a_guest_suggests_what_goes_with_the_order(http, euro_shop) -> None:
    shown = ids(widget(http, euro_shop, "thank_you", product_ids="101", limit="4"))
    assert shown[0] == "102" and "101" not in shown


def test_thank_you_for_a_customer_never_repeats_their_purchases(http, euro_shop) -> None:
    everything_new = ids(widget(http, euro_shop, "thank_you", customer_id="0", limit="6"))
    assert set(everything_new) == {"106", "107", "108"}  # the 8 products 0 never bought
    assert everything_new == api_ids(http, euro_shop, "/recommendations/customers/0",
                                     exclude_purchased="true", limit="6")
    shown = ids(widget(http, euro_shop, "thank_you", customer_id="0", product_ids="106",
                       limit="6"))
    assert set(shown) == {"107", "108"}  # nor what they just ordered


def test_home_without_customer_is_trending(http, euro_shop) -> None:
    body = widget(http, euro_shop, "home", limit="6").json()
    assert body["strategy"] == "trending"
    assert [i["product_id"] for i in body["items"]] == api_ids(
        http, euro_shop, "/recommendations/trending", limit="6")


def test_home_with_customer_is_their_personal_list_of_new_products(http, euro_shop) -> None:
    shown = ids(widget(http, euro_shop, "home", customer_id="0", limit="4"))
    assert shown == api_ids(http, euro_shop, "/recommendations/customers/0", limit="4",
                            exclude_purchased="true")
    again = ids(widget(http, euro_shop, "buy_again", customer_id="0", limit="4"))
    assert not set(shown) & set(again[:1])


def test_trending_placement(http, euro_shop) -> None:
    assert ids(widget(http, euro_shop, "trending", limit="3")) == api_ids(
        http, euro_shop, "/recommendations/trending", limit="3")


def test_buy_again_starts_with_what_the_customer_rebuys(http, euro_shop) -> None:
    body = widget(http, euro_shop, "buy_again", customer_id="0", limit="4").json()
    assert body["items"][0]["product_id"] == "105"  # bought three times
    assert {i["product_id"] for i in body["items"] if i["reason"] == "buy_again"} == {
        "101", "102", "103", "104", "105"} & {i["product_id"] for i in body["items"]}


def test_old_placement_names_keep_working(http, euro_shop) -> None:
    assert ids(widget(http, euro_shop, "product", product_id="101"))[0] == "102"
    assert ids(widget(http, euro_shop, "similar", product_id="101"))


@pytest.mark.parametrize(("placement", "missing"), [
    ("bundle", "product_id"), ("also_bought", "product_id"), ("buy_again", "customer_id")])
def test_placement_without_its_id_is_400(http, euro_shop, placement, missing) -> None:
    response = widget(http, euro_shop, placement)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert missing in response.json()["detail"]


def test_unknown_placement_names_the_placements(http, euro_shop) -> None:
    response = widget(http, euro_shop, "sidebar")
    assert response.status_code == 400 and "thank_you" in response.json()["detail"]


def test_unknown_placement_is_400(http, widget_shop) -> None:
    response = http.get("/widgets/v1/recommendations", params={
        "key": widget_shop.shop.widget_key, "placement": "everything"})
    assert response.status_code == 400


def test_cart_placement_never_returns_cart_items(http, widget_shop) -> None:
    response = http.get("/widgets/v1/recommendations", params={
        "key": widget_shop.shop.widget_key, "placement": "cart", "product_ids": "1,2"})
    assert response.status_code == 200
    assert not {"1", "2"} & {i["product_id"] for i in response.json()["items"]}


# ---- the browsing placements: the visitor's views, read for each call -------------------------


def test_a_visitor_id_counts_only_for_the_browsing_placements() -> None:
    assert parse_request({"placement": "recently_viewed", "visitor_id": "v-1"}).visitor_id \
        == "v-1"
    assert parse_request({"placement": "trending", "visitor_id": "v-1"}).visitor_id is None
    assert parse_request({"placement": "trending", "visitor_id": "a b"}).visitor_id is None
    with pytest.raises(BadRequest, match="visitor_id must be 1 to 128 letters"):
        parse_request({"placement": "inspired_by_browsing", "visitor_id": "a b"})
    for placement in VISITOR_PLACEMENTS:
        with pytest.raises(BadRequest, match=f"visitor_id is missing \\(placement {placement}"):
            query_of(placement=placement)


def beacon(http, shop, visitor: str, *product_ids: str) -> None:
    now = time.time() * 1000
    events = [{"id": uuid.uuid4().hex, "type": "product_view", "product_id": p,
               "at": now - 10 * (len(product_ids) - n)} for n, p in enumerate(product_ids)]
    response = http.post("/widgets/v1/events", params={"key": shop.shop.widget_key},
                         json={"visitor_id": visitor, "customer_id": None, "events": events},
                         headers={"User-Agent": DESKTOP_UA})
    assert response.status_code == 204, response.text


def test_recently_viewed_follows_each_view_and_is_never_cached_by_the_browser(
        http, euro_shop) -> None:
    assert ids(widget(http, euro_shop, "recently_viewed", visitor_id="v-1")) == []
    beacon(http, euro_shop, "v-1", "103", "105")
    first = widget(http, euro_shop, "recently_viewed", visitor_id="v-1", limit="6")
    assert ids(first) == ["105", "103"]
    assert first.headers["cache-control"] == "private, no-cache"
    assert first.json()["items"][0]["reason"] == "recently_viewed"
    assert ids(first) == api_ids(http, euro_shop, "/recommendations/visitors/v-1",
                                 kind="recently_viewed", limit="6")
    unchanged = http.get(PATH, params={"key": euro_shop.shop.widget_key, "limit": "6",
                                       "placement": "recently_viewed", "visitor_id": "v-1"},
                         headers={"If-None-Match": first.headers["etag"]})
    assert unchanged.status_code == 304
    beacon(http, euro_shop, "v-1", "101")
    assert ids(widget(http, euro_shop, "recently_viewed", visitor_id="v-1", limit="6")) == [
        "101", "105", "103"]
    on_its_page = widget(http, euro_shop, "recently_viewed", visitor_id="v-1",
                         product_id="105", limit="6")
    assert ids(on_its_page) == ["101", "103"]  # not the product of the page it is on
    assert ids(widget(http, euro_shop, "recently_viewed", visitor_id="v-2")) == []


def test_inspired_by_browsing_is_the_apis_list_and_never_a_view(http, euro_shop) -> None:
    beacon(http, euro_shop, "v-3", "103", "101")
    shown = ids(widget(http, euro_shop, "inspired_by_browsing", visitor_id="v-3", limit="4"))
    assert shown == api_ids(http, euro_shop, "/recommendations/visitors/v-3",
                            kind="inspired_by_browsing", limit="4")
    assert shown[0] == "102" and not {"101", "103"} & set(shown)
    on_a_page = ids(widget(http, euro_shop, "inspired_by_browsing", visitor_id="v-3",
                           product_id="104", limit="4"))
    assert "104" not in on_a_page and not {"101", "103"} & set(on_a_page)


def test_browsing_placements_without_a_visitor_are_400(http, euro_shop) -> None:
    for placement in VISITOR_PLACEMENTS:
        response = widget(http, euro_shop, placement)
        assert response.status_code == 400 and "visitor_id" in response.json()["detail"]
