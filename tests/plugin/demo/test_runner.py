"""The demo's runner (plugin.demo.runner): the demo shop set up once and given a fresh key each
run, the deliveries a live shop would have sent (products, orders, cancellations), their replay
signed as Shopify signs them through the real webhook endpoint, the storefront's checkout
order, and the banner. `run_demo` as a whole: tests/plugin/commands/test_demo.py."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from plugin.demo.runner import (
    DEMO_SHOP,
    banner,
    checkout_order,
    deliveries,
    ensure_demo_shop,
    replay,
)
from plugin.demo.shopify_install import ADMIN_PAGE, INSTALL_PAGE
from plugin.demo.store import DemoStore, generate_store, shopify_product_payload
from plugin.store import keys
from plugin.store.shops import get_shop
from tests.conftest import Store, run_async

NOW = 1_750_000_000.5


@pytest.fixture(scope="module")
def demo() -> DemoStore:
    return generate_store(seed=4, n_orders=400, months=6, n_products=12)


def test_a_checkout_order_is_one_of_each_known_product_paid_by_the_buyer(demo: DemoStore) -> None:
    first, second = demo.products[0], demo.products[1]
    order = checkout_order(demo, "8000000123", [first.product_id, "404404", second.product_id],
                           now=NOW)
    assert order["id"] == int(NOW * 1000)
    assert (order["created_at"], order["updated_at"]) == ("2025-06-15T15:06:40+00:00",) * 2
    assert order["customer"] == {"id": 8000000123}
    assert order["total_price"] == f"{float(first.price) + float(second.price):.2f}"
    assert [(line["product_id"], line["variant_id"], line["price"], line["quantity"])
            for line in order["line_items"]] == [
        (int(first.product_id), int(first.product_id) * 10 + 1, first.price, 1),
        (int(second.product_id), int(second.product_id) * 10 + 1, second.price, 1)]
    assert len({line["id"] for line in order["line_items"]}) == 2
    assert (order["financial_status"], order["cancelled_at"], order["currency"]) == (
        "paid", None, demo.currency)
    assert checkout_order(demo, "guest-7", [], now=NOW)["customer"] == {"id": "guest-7"}


def test_deliveries_are_the_products_then_each_order_and_its_cancellation(
        demo: DemoStore) -> None:
    sent = deliveries(demo, "http://127.0.0.1:8000")
    products, orders = sent[:len(demo.products)], sent[len(demo.products):]
    assert [(topic, body) for topic, _id, body in products] == [
        ("products/create", shopify_product_payload(p, "http://127.0.0.1:8000"))
        for p in demo.products]
    cancelled = [o for o in demo.orders if o["cancelled_at"] is not None]
    assert cancelled and len(orders) == len(demo.orders) + len(cancelled)
    creates = [body for topic, _id, body in orders if topic == "orders/create"]
    assert [body["id"] for body in creates] == [o["id"] for o in demo.orders]
    assert all(body["cancelled_at"] is None and body["financial_status"] == "paid"
               for body in creates)
    for order in cancelled:
        at = next(n for n, (_t, _i, body) in enumerate(orders) if body["id"] == order["id"])
        placed, cancel = orders[at], orders[at + 1]  # placed, then cancelled right after
        assert placed[2]["updated_at"] == order["created_at"]
        assert cancel == ("orders/cancelled", f"demo-cancel-{order['id']}", order)
    assert len({webhook_id for _t, webhook_id, _b in sent}) == len(sent)


def test_product_deliveries_are_new_for_a_new_address_and_orders_are_not(
        demo: DemoStore) -> None:
    """Another run of the demo on another port sends the products again (their image URLs
    changed); an order already accepted stays a duplicate."""
    here, there = deliveries(demo, "http://a.example"), deliveries(demo, "http://b.example")
    assert deliveries(demo, "http://a.example") == here
    count = len(demo.products)
    assert not {i for _t, i, _b in here[:count]} & {i for _t, i, _b in there[:count]}
    assert [i for _t, i, _b in here[count:]] == [i for _t, i, _b in there[count:]]


def test_a_replay_is_signed_like_shopify_and_counted_by_answer(
        store: Store, make_shop: Any, base_url: str, demo: DemoStore) -> None:
    shop = make_shop()
    sent = deliveries(demo, base_url)[:60]

    async def work() -> tuple[dict[str, Any], dict[str, Any]]:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            first = await replay(client, shop.shop, sent, quiet=True)
            again = await replay(client, shop.shop, sent[:10], quiet=True)
        return first, again

    first, again = run_async(work)
    assert first.pop("seconds") >= 0 and again.pop("seconds") >= 0
    assert first == {"accepted": 60} and again == {"duplicate": 10}
    assert store.run(lambda r: r.xlen(keys.events(shop.shop.shop_id))) == 60


def test_a_replay_with_the_wrong_secret_is_counted_as_refused(
        make_shop: Any, base_url: str, demo: DemoStore) -> None:
    shop = make_shop()
    other = make_shop()  # its secret, the first shop's domain
    impostor = type(shop.shop)(**{**vars(shop.shop), "webhook_secrets":
                                  other.shop.webhook_secrets})

    async def work() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            return await replay(client, impostor, deliveries(demo, base_url)[:3], quiet=True)

    counts = run_async(work)
    counts.pop("seconds")
    assert counts == {401: 3}  # a problem+json answer names its status


def test_the_demo_shop_is_made_once_then_gets_a_new_key_and_todays_address(
        store: Store, demo: DemoStore) -> None:
    async def work(redis: Any) -> tuple[Any, ...]:
        made, key = await ensure_demo_shop(redis, demo, "http://127.0.0.1:8001")
        again, new_key = await ensure_demo_shop(redis, demo, "http://127.0.0.1:8002")
        return made, key, again, new_key, await get_shop(redis, DEMO_SHOP)

    made, key, again, new_key, stored = store.run(work)
    assert (made.shop_id, made.domain, made.currency) == (DEMO_SHOP, demo.shop_domain, "EUR")
    assert made.storefront_url == "http://127.0.0.1:8001/demo"
    assert stored.storefront_url == again.storefront_url == "http://127.0.0.1:8002/demo"
    assert stored.widget_key == made.widget_key  # the same shop, kept
    assert stored.accepts_api_key(new_key) and not stored.accepts_api_key(key)


def test_the_banner_points_at_the_storefront_the_dashboard_and_the_api(
        demo: DemoStore) -> None:
    trained = {"model_version": "3", "model": {"orders": 400, "customers": 150,
                                               "products": 12, "train_seconds": 0.4,
                                               "strategy": "als+copurchase"}}
    text = banner("http://127.0.0.1:8000", "sk_abc", demo, trained,
                  admin_link="http://127.0.0.1:8000/admin/login?token=t")
    first = demo.always_together[0]
    assert "Storefront (product and cart pages with the widget):  http://127.0.0.1:8000/demo/" \
        in text
    assert "http://127.0.0.1:8000/admin/login?token=t" in text
    assert f"http://127.0.0.1:8000/demo/products/{demo.products[0].handle}" in text
    assert "Model 3 (als+copurchase): learned from 400 orders" in text
    assert f"(of the {len(demo.orders)} generated: cancelled and fully refunded orders do not " \
        "count)" in text and "150 customers, 12 products" in text
    assert "Authorization: Bearer sk_abc" in text
    assert f"/recommendations/products/{first}?kind=bought_together" in text
    assert "http://127.0.0.1:8000/api/docs" in text and "API keys page" in text
    assert "Ecwid shop in one click" in text and "http://127.0.0.1:8000/demo/connect" in text
    assert INSTALL_PAGE not in text
    with_install = banner("http://127.0.0.1:8000", "sk_abc", demo, trained, True)
    assert f"http://127.0.0.1:8000{INSTALL_PAGE}" in with_install
    assert f"http://127.0.0.1:8000{ADMIN_PAGE}" in with_install


def test_replays_run_concurrently_and_all_finish(make_shop: Any, base_url: str,
                                                 demo: DemoStore) -> None:
    shops = [make_shop() for _ in range(2)]
    sent = deliveries(demo, base_url)[:20]

    async def work() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            return list(await asyncio.gather(*(replay(client, s.shop, sent, quiet=True)
                                               for s in shops)))

    assert [counts["accepted"] for counts in run_async(work)] == [20, 20]
