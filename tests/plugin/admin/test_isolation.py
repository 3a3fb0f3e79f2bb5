"""One shop's owner never sees or changes another shop's data: signed in to one shop, every
page of the dashboard (asked with the other shop's ids in every parameter) shows none of the
other shop's products, customers, pins or dead letters, and every form sent with the other
shop's ids leaves the other shop's stored data byte for byte as it was."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from plugin.admin import routes
from plugin.store.events import Event, append
from plugin.store.order import LineItem, Order
from plugin.store.pins import Pin, replace_pins
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.plugin.admin.conftest import fill, sign_in
from tests.test_fuzz import snapshot
from webhooks.deadletters import list_dead
from webhooks.ingest import Ingestor

SECRET = "zz-theirs"  # every id of the other shop starts with this: none may show


def theirs_with_everything(store: Store, shop: NewShop) -> str:
    """Orders, a customer, a pin and a dead letter, all named SECRET...; the dead letter's
    event id."""
    shop_id = shop.shop.shop_id

    async def work(redis: Any) -> str:
        for n in range(6):
            lines = (LineItem(f"{SECRET}-product-{n % 3}", None, f"{SECRET} title", 1, "9.00",
                              f"{SECRET}-{n}"),)
            await store_order(redis, shop_id, Order(f"{SECRET}-order-{n}",
                                                    f"{SECRET}-customer", 1.7e9 + n * 86400,
                                                    1.7e9 + n * 86400, False, "EUR", "0",
                                                    lines, ()))
        await replace_pins(redis, shop_id, [Pin(f"{SECRET}-product-0", None, None, 1.0)])
        await append(redis, shop_id, Event("shopify", "orders/create", uuid.uuid4().hex, b"[]"))
        await Ingestor(redis).drain(shop_id)  # the poisoned body becomes a dead letter
        dead = await list_dead(redis, shop_id)
        return str(dead[0]["event_id"])

    return store.run(work)


@pytest.fixture
def two_shops(store: Store, make_shop) -> tuple[NewShop, NewShop, str]:
    mine, theirs = make_shop(), make_shop()
    fill(store, mine, 20)
    return mine, theirs, theirs_with_everything(store, theirs)


def pages() -> list[str]:
    return sorted({r.path for r in routes.routes if "GET" in (r.methods or ())
                   and r.path not in {"/admin/signin", "/admin/login", "/admin/shopify"}})


def forms() -> list[str]:
    return sorted({r.path for r in routes.routes if "POST" in (r.methods or ())
                   and r.path not in {"/admin/login", "/admin/password", "/admin/logout"}})


def test_no_page_shows_another_shops_data(store: Store, base_url: str, two_shops) -> None:
    mine, theirs, dead_id = two_shops
    asked = {"shop": theirs.shop.shop_id, "shop_id": theirs.shop.shop_id,
             "customer_id": f"{SECRET}-customer", "product_id": f"{SECRET}-product-1",
             "product_ids": f"{SECRET}-product-1,{SECRET}-product-2", "event_id": dead_id}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        sign_in(store, mine, client)
        for path in pages():
            for params in ({}, asked, {**asked, "placement": "bundle"},
                           {**asked, "placement": "cart"}, {**asked, "stage": "lost"}):
                page = client.get(path, params=params)
                assert page.status_code in (200, 400, 404), (path, params, page.status_code)
                assert SECRET not in page.text.replace(f"{SECRET}-product-1", "") \
                    .replace(f"{SECRET}-product-2", "").replace(f"{SECRET}-customer", ""), \
                    (path, params)  # only what was asked may be echoed back
                assert theirs.shop.shop_id not in page.text and dead_id not in page.text \
                    and theirs.shop.domain not in page.text, (path, params)
        email = client.get("/admin/customers/email", params={"customer_id": f"{SECRET}-customer"})
        assert email.status_code == 404


def test_no_form_changes_another_shops_data(store: Store, base_url: str, two_shops) -> None:
    mine, theirs, dead_id = two_shops
    before = snapshot(store, theirs.shop.shop_id)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        csrf = sign_in(store, mine, client)
        for path in forms():
            sent = client.post(path, data={
                "csrf": csrf, "shop_id": theirs.shop.shop_id, "event_id": dead_id,
                "product_ids": f"{SECRET}-product-1", "product_id": f"{SECRET}-product-0",
                "for_product_id": "", "until": ""})
            assert sent.status_code in (303, 400, 404), (path, sent.status_code)
            page = client.get("/admin/recommendations").text + \
                client.get("/admin/health").text
            assert dead_id not in page and theirs.shop.shop_id not in page
    replay = [p for p in forms() if p.endswith("/replay")]
    assert replay, "the health page's replay form is among the forms"
    assert snapshot(store, theirs.shop.shop_id) == before
    assert re.fullmatch(r"[0-9a-f]{32}|[\w.:-]+", dead_id)
