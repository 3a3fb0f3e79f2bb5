"""What the admin's tests share: a shop with orders, a signed-in client, a trained shop."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from plugin.admin import sessions
from plugin.store.order import LineItem, Order
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.helpers import order_payload, send_orders, train

DAY = 86400.0


def fill(store: Store, shop: NewShop, orders: int, first_order: int = 0) -> None:
    """`orders` orders, one a day going back from now (50 days, then from now again), of the
    customers c0..c6."""
    now = time.time()

    async def work(redis: Any) -> None:
        for n in range(orders):
            at = now - (n % 50) * DAY - 3600
            lines = (LineItem(f"p{n % 5}", None, f"Product {n % 5}", 1, "20.00", f"{n}-1"),)
            await store_order(redis, shop.shop.shop_id, Order(
                str(first_order + n), f"c{n % 7}", at, at, False, "EUR", "0", lines, ()))

    store.run(work)


def link_for(store: Store, shop: NewShop, url: str) -> str:
    return store.run(lambda r: sessions.login_link(r, url, shop.shop.shop_id))


def sign_in(store: Store, shop: NewShop, client: httpx.Client) -> str:
    """Sign `client` in to `shop`'s dashboard; the session's CSRF token."""
    link = store.run(lambda r: sessions.login_link(r, str(client.base_url), shop.shop.shop_id))
    client.post("/admin/login", data={"token": link.rpartition("=")[2]})
    page = client.get("/admin/recommendations")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and csrf is not None
    return csrf[1]


@pytest.fixture
def signed_in(store: Store, make_shop: Callable[..., NewShop],
              base_url: str) -> Iterator[tuple[httpx.Client, NewShop]]:
    shop = make_shop()
    fill(store, shop, 40)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        page = client.get(link_for(store, shop, base_url))
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert page.status_code == 200 and token is not None
        signed = client.post("/admin/login", data={"token": token[1]})
        assert signed.status_code == 303 and signed.headers["location"] == "/admin/"
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/admin" in cookie
        yield client, shop


@pytest.fixture
def paired(store: Store, http: httpx.Client, shop: NewShop) -> NewShop:
    """101 is always bought with 102; 103..108 in pairs."""
    orders = [order_payload(1000 + n, n, [101, 102]) for n in range(20)]
    orders += [order_payload(2000 + n, n, [103 + n % 6, 103 + (n + 1) % 6]) for n in range(20)]
    send_orders(http, shop, orders)
    assert train(http, shop).status_code == 200
    return shop
