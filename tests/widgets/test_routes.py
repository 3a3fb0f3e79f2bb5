"""The public widget endpoints over real HTTP: placements, caching, CORS and rate limiting."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from plugin.store.shops import NewShop
from tests.conftest import LiveServer, settings_for
from tests.helpers import auth, eventually, order_payload, send_orders, train

PATH = "/widgets/v1/recommendations"


@pytest.fixture
def euro_shop(http: httpx.Client, make_shop) -> NewShop:
    """Customers 0..39 buy 101+102 together and 103..108 in rotating pairs; customer 0 also
    bought 105 twice more."""
    shop = make_shop(currency="eur", locale="de-de", origins=["http://localhost:8080"])
    orders = []
    for n in range(40):
        orders.append(order_payload(1000 + n, n, [101, 102]))
        orders.append(order_payload(2000 + n, n, [103 + n % 6, 103 + (n + 1) % 6]))
    orders += [order_payload(3000 + n, 0, [105]) for n in range(2)]
    send_orders(http, shop, orders)
    assert train(http, shop).status_code == 200
    return shop


def widget(http: httpx.Client, shop: NewShop, placement: str, **params: str) -> httpx.Response:
    return http.get(PATH, params={"key": shop.shop.widget_key, "placement": placement, **params})


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["product_id"] for item in response.json()["items"]]


def api_ids(http: httpx.Client, shop: NewShop, path: str, **params: str) -> list[str]:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}{path}", params=params,
                        headers=auth(shop))
    assert response.status_code == 200, response.text
    return [item["product_id"] for item in response.json()["items"]]


def test_answer_carries_the_shops_currency_and_locale(http, euro_shop) -> None:
    body = widget(http, euro_shop, "bundle", product_id="101").json()
    assert body["currency"] == "EUR" and body["locale"] == "de-DE"
    assert body["placement"] == "bundle" and body["strategy"] == "copurchase"
    assert body["model_version"] is not None
    first = body["items"][0]
    assert first["product_id"] == "102" and first["price"] == "10.00"
    assert first["currency"] == "EUR" and first["title"] == "Product 102"
    assert {"score", "reason", "url", "image_url"} <= set(first)


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


def test_unknown_key_is_404(http) -> None:
    response = http.get(PATH, params={"key": "wk_nope", "placement": "trending"})
    assert response.status_code == 404


# --- caching -------------------------------------------------------------------------------

def test_etag_and_304(http, euro_shop) -> None:
    first = widget(http, euro_shop, "bundle", product_id="101")
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["cache-control"] == "public, max-age=60"
    again = http.get(PATH, headers={"If-None-Match": etag}, params={
        "key": euro_shop.shop.widget_key, "placement": "bundle", "product_id": "101"})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag


def test_changed_answer_gets_a_new_etag(http, euro_shop) -> None:
    one = widget(http, euro_shop, "bundle", product_id="101").headers["etag"]
    other = http.get(PATH, headers={"If-None-Match": one}, params={
        "key": euro_shop.shop.widget_key, "placement": "bundle", "product_id": "103"})
    assert other.status_code == 200 and other.headers["etag"] != one


def test_personal_answers_are_private(http, euro_shop) -> None:
    response = widget(http, euro_shop, "home", customer_id="0")
    assert response.headers["cache-control"] == "private, max-age=60"


# --- CORS ----------------------------------------------------------------------------------

@pytest.mark.parametrize("origin", ["https://{domain}", "http://localhost:8080"])
def test_registered_origins_are_allowed(http, euro_shop, origin) -> None:
    origin = origin.format(domain=euro_shop.shop.domain)
    response = http.get(PATH, headers={"Origin": origin}, params={
        "key": euro_shop.shop.widget_key, "placement": "trending"})
    assert response.headers["access-control-allow-origin"] == origin
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:8081", "null"])
def test_other_origins_get_no_cors_header(http, euro_shop, origin) -> None:
    response = http.get(PATH, headers={"Origin": origin}, params={
        "key": euro_shop.shop.widget_key, "placement": "trending"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_another_shops_origin_is_not_allowed(http, euro_shop, make_shop) -> None:
    other = make_shop()
    response = http.get(PATH, headers={"Origin": f"https://{other.shop.domain}"}, params={
        "key": euro_shop.shop.widget_key, "placement": "trending"})
    assert "access-control-allow-origin" not in response.headers


def test_preflight_for_a_registered_origin(http, euro_shop) -> None:
    response = http.options("/widgets/v1/events", params={"key": euro_shop.shop.widget_key},
                            headers={"Origin": "http://localhost:8080",
                                     "Access-Control-Request-Method": "POST",
                                     "Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "http://localhost:8080"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()


def test_preflight_for_another_origin_is_not_allowed(http, euro_shop) -> None:
    response = http.options(PATH, params={"key": euro_shop.shop.widget_key},
                            headers={"Origin": "https://evil.example",
                                     "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-methods" not in response.headers


def test_origin_added_later_is_allowed(http, store, shop) -> None:
    from plugin.store.shops import change_origins

    params = {"key": shop.shop.widget_key, "placement": "trending"}
    headers = {"Origin": "https://www.example.org"}
    assert "access-control-allow-origin" not in http.get(PATH, params=params,
                                                         headers=headers).headers
    store.run(lambda r: change_origins(r, shop.shop.shop_id, add=["https://www.example.org/"]))

    def allowed() -> None:  # the server's cache reads the change note within a refresh
        answer = http.get(PATH, params=params, headers=headers)
        assert answer.headers.get("access-control-allow-origin") == "https://www.example.org"

    eventually(allowed)


# --- rate limiting -------------------------------------------------------------------------

@pytest.fixture
def strict_server(store) -> Iterator[str]:
    with LiveServer(settings_for(store, widget_rate_per_minute=3, run_worker=False)) as url:
        yield url


def test_requests_over_the_limit_get_429_with_retry_after(strict_server, shop) -> None:
    params = {"key": shop.shop.widget_key, "placement": "trending"}
    with httpx.Client(base_url=strict_server, timeout=30) as client:
        # 7 requests over 3 per window: even across a minute boundary one window gets 4
        answers = [client.get(PATH, params=params) for _ in range(7)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    limited = next(a for a in answers if a.status_code != 200)
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert 1 <= int(limited.headers["retry-after"]) <= 61


def test_rate_limit_is_per_widget_key(strict_server, make_shop) -> None:
    busy, quiet = make_shop(), make_shop()
    with httpx.Client(base_url=strict_server, timeout=30) as client:
        for _ in range(7):
            client.get(PATH, params={"key": busy.shop.widget_key, "placement": "trending"})
        other = client.get(PATH, params={"key": quiet.shop.widget_key, "placement": "trending"})
    assert other.status_code == 200
