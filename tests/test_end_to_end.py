"""Signed orders in over HTTP, train, and the pair that is always bought together comes back."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from plugin.demo.runner import deliveries, replay
from plugin.demo.store import DemoStore, generate_store
from plugin.store.shops import NewShop, add_shop
from tests.conftest import Store


@pytest.fixture(scope="module")
def demo_store() -> DemoStore:
    return generate_store(seed=11, n_orders=1500, months=12)


@pytest.fixture(scope="module")
def replayed_shop(base_url: str, store: Store, demo_store: DemoStore) -> NewShop:
    shop = store.run(lambda r: add_shop(r, "e2e", "shopify", "e2e.myshopify.com", base_url,
                                        currency=demo_store.currency))

    async def send() -> dict[str, int]:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            return await replay(client, shop.shop, deliveries(demo_store, base_url))

    counts = asyncio.run(send())
    assert counts.get("accepted") == len(deliveries(demo_store, base_url))
    return shop


def test_always_bought_together_pair_comes_back_first(http, replayed_shop, demo_store) -> None:
    headers = {"Authorization": f"Bearer {replayed_shop.api_key}"}
    shop_id = replayed_shop.shop.shop_id
    trained = http.post(f"/api/v1/shops/{shop_id}/model/train?wait=true", headers=headers)
    assert trained.status_code == 200, trained.text
    assert trained.json()["model"]["orders"] >= 1400
    first, second = demo_store.always_together
    for product, partner in ((first, second), (second, first)):
        response = http.get(f"/api/v1/shops/{shop_id}/recommendations/products/{product}",
                            params={"kind": "bought_together", "limit": 5}, headers=headers)
        assert response.json()["items"][0]["product_id"] == partner
    cart = http.post(f"/api/v1/shops/{shop_id}/recommendations/cart",
                     json={"product_ids": [first], "limit": 3}, headers=headers)
    assert cart.json()["items"][0]["product_id"] == second


def test_catalog_from_product_webhooks_fills_display_fields(http, replayed_shop,
                                                            demo_store) -> None:
    headers = {"Authorization": f"Bearer {replayed_shop.api_key}"}
    shop_id = replayed_shop.shop.shop_id
    assert http.post(f"/api/v1/shops/{shop_id}/model/train?wait=true",
                     headers=headers).status_code == 200
    first, second = demo_store.always_together
    item = http.get(f"/api/v1/shops/{shop_id}/recommendations/products/{first}",
                    headers=headers).json()["items"][0]
    product = next(p for p in demo_store.products if p.product_id == second)
    assert item["title"] == product.title and item["price"] == product.price
    assert item["url"].endswith(f"/products/{product.handle}")
    assert item["image_url"].endswith(f"/demo/images/{second}.svg")
    assert item["currency"] == demo_store.currency
