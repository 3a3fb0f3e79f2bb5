"""The widget's script and public endpoint over HTTP."""

from __future__ import annotations

import pytest

from tests.helpers import auth, order_payload, send_orders, train


@pytest.fixture
def widget_shop(http, shop):
    send_orders(http, shop, [order_payload(n, n, [1, 2]) for n in range(10)])
    assert train(http, shop).status_code == 200
    return shop


def test_embed_script_is_served_as_javascript(http) -> None:
    response = http.get("/widgets/v1/embed.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "data-shopreco" in response.text


def test_public_endpoint_answers_with_cors_for_the_widget_key(http, widget_shop) -> None:
    origin = f"https://{widget_shop.shop.domain}"
    response = http.get("/widgets/v1/recommendations", headers={"Origin": origin}, params={
        "key": widget_shop.shop.widget_key, "placement": "product", "product_id": "1"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert response.json()["items"][0]["product_id"] == "2"


def test_public_endpoint_does_not_take_the_api_key(http, widget_shop) -> None:
    response = http.get("/widgets/v1/recommendations", params={
        "key": widget_shop.api_key, "placement": "trending"})
    assert response.status_code == 404


def test_unknown_placement_is_400(http, widget_shop) -> None:
    response = http.get("/widgets/v1/recommendations", params={
        "key": widget_shop.shop.widget_key, "placement": "everything"})
    assert response.status_code == 400


def test_cart_placement_never_returns_cart_items(http, widget_shop) -> None:
    response = http.get("/widgets/v1/recommendations", params={
        "key": widget_shop.shop.widget_key, "placement": "cart", "product_ids": "1,2"})
    assert response.status_code == 200
    assert not {"1", "2"} & {i["product_id"] for i in response.json()["items"]}


def test_widget_answers_only_for_its_own_shop(http, widget_shop, make_shop) -> None:
    other = make_shop()
    response = http.get("/widgets/v1/recommendations", params={
        "key": other.shop.widget_key, "placement": "trending"})
    assert response.json()["items"] == []
    mine = http.get(f"/api/v1/shops/{widget_shop.shop.shop_id}/recommendations/trending",
                    headers=auth(widget_shop))
    assert mine.json()["items"]
