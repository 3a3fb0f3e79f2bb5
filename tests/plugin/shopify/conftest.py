"""What the Shopify install and route tests share: a local fake Shopify that follows the
documented contracts, our server configured as its app, and the owner's steps."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn

from plugin.config import Secret
from plugin.demo.fake_shopify import FakeShopify
from plugin.shopify import install as installing
from plugin.shopify.auth import query_hmac
from plugin.store.shops import Shop, shop_by_domain
from tests.conftest import LiveServer, Store, free_port, settings_for
from tests.helpers import order_payload

CLIENT_ID, SECRET = "5f0e8c1d2b3a49685f0e8c1d2b3a4968", "shpss_" + "9a8b7c6d5e4f3a2b" * 2


FAKE_THREAD = "fake-shopify"


class AppServer:
    """Any ASGI app under uvicorn in a thread, on a free port."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True, name=FAKE_THREAD)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            self.thread.join(0.02)
        return f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeShopify]:
    shopify = FakeShopify(CLIENT_ID, SECRET, throttle_every=7)
    with AppServer(shopify.app) as url:
        shopify.base_url = url
        yield shopify


@pytest.fixture(scope="module")
def ours(store: Store, fake: FakeShopify) -> Iterator[str]:
    port = free_port()
    settings = settings_for(store, shopify_client_id=CLIENT_ID,
                            shopify_client_secret=Secret(SECRET),
                            shopify_base_url=fake.base_url + "/{shop}",
                            public_url=f"http://127.0.0.1:{port}")
    with LiveServer(settings, port=port) as url:
        yield url


def new_domain(fake: FakeShopify, orders: int = 0) -> str:
    domain = f"s{time.monotonic_ns() % 10**9}.myshopify.com"
    shop = fake.shop(domain)
    shop.orders = [order_payload(90_000 + n, 500 + n % 7, [1 + n % 5, 6 + n % 3])
                   for n in range(orders)]
    shop.products = [{"id": p, "title": f"Product {p}", "status": "active", "variants": [
        {"id": p * 10, "price": "9.50", "inventory_quantity": 3}]} for p in range(1, 9)]
    return domain


def registered(store: Store, domain: str) -> Shop | None:
    return store.run(lambda r: shop_by_domain(r, "shopify", domain))


def progress_of(store: Store, shop_id: str) -> dict[str, str]:
    return store.run(lambda r: installing.progress(r, shop_id))


def code_grant(client: httpx.Client, fake: FakeShopify, ours: str, domain: str) -> str:
    """The owner's browser: the signed install link, Shopify's consent page, back to us;
    the callback URL it followed."""
    started = client.get(fake.install_url(ours, domain))
    assert started.status_code == 302, started.text
    consent = client.get(started.headers["location"])
    assert consent.status_code == 200
    href = re.search(r'id="approve" href="([^"]+)"', consent.text)
    assert href is not None
    return html.unescape(href[1])


def _done(found: dict[str, str]) -> dict[str, str]:
    assert found.get("stage") == "done", found
    return found


def signed_query(params: dict[str, str], secret: str = SECRET) -> str:
    pairs = list(params.items())
    return urlencode([*pairs, ("hmac", query_hmac(pairs, secret))])
