"""Shops with trained models for the widget endpoint tests, and how those tests call them."""

from __future__ import annotations

import httpx
import pytest

from plugin.store.shops import NewShop
from tests.helpers import auth, order_payload, send_orders, train

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


@pytest.fixture
def widget_shop(http, shop):
    send_orders(http, shop, [order_payload(n, n, [1, 2]) for n in range(10)])
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
