"""What the engine's tests share: a trained shop whose bought-together pairs are known."""

from __future__ import annotations

import httpx
import pytest

from plugin.store.shops import NewShop
from tests.helpers import order_payload, send_orders, train


@pytest.fixture
def paired_shop(http: httpx.Client, shop: NewShop) -> NewShop:
    """101 is always bought with 102; 103..108 sell in pairs."""
    orders = [order_payload(1000 + n, n, [101, 102]) for n in range(20)]
    orders += [order_payload(2000 + n, n, [103 + n % 6, 103 + (n + 1) % 6]) for n in range(20)]
    send_orders(http, shop, orders)
    assert train(http, shop).status_code == 200
    return shop
