"""What the catalog and browsing API tests share: a trained shop whose pairs are known, and a
second server on the same Redis (another process, with a cache of its own)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from plugin.store.shops import NewShop
from tests.conftest import LiveServer, Store, settings_for
from tests.helpers import order_payload, send_orders, train


@pytest.fixture
def trained_shop(http: httpx.Client, shop: NewShop) -> NewShop:
    """101 is always bought with 102; 103..108 sell in pairs (103+104, 104+105, ...)."""
    orders = [order_payload(1000 + n, n, [101, 102]) for n in range(20)]
    orders += [order_payload(2000 + n, n, [103 + n % 6, 103 + (n + 1) % 6]) for n in range(20)]
    send_orders(http, shop, orders)
    assert train(http, shop).status_code == 200
    return shop


@pytest.fixture(scope="session")
def elsewhere_url(store: Store, base_url: str) -> Iterator[str]:
    """Another web process (no worker) on the test session's Redis."""
    with LiveServer(settings_for(store, run_worker=False)) as url:
        yield url


@pytest.fixture
def elsewhere(elsewhere_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=elsewhere_url, timeout=60) as client:
        yield client
