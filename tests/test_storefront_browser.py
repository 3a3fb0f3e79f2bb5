"""The demo storefront in a real Chromium: the widget fills its placements."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from plugin.demo.runner import deliveries, replay
from plugin.demo.store import DemoStore, generate_store
from plugin.demo.storefront import storefront_routes
from plugin.shops import add_shop
from tests.browser import SCREENSHOTS, browser  # noqa: F401  (fixture)
from tests.conftest import LiveServer, Store, free_port, run_async


@pytest.fixture(scope="module")
def demo() -> DemoStore:
    return generate_store(seed=3, n_orders=1200, months=12)


@pytest.fixture(scope="module")
def storefront(store: Store, demo: DemoStore) -> Iterator[str]:
    """A server with the storefront mounted, its shop replayed and trained; its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    new = store.run(lambda r: add_shop(r, "browser", "shopify", "browser.myshopify.com", url,
                                       storefront_url=f"{url}/demo", currency="EUR"))
    routes = storefront_routes(demo, widget_key=new.shop.widget_key, base=url)
    with LiveServer(store.settings, routes, port=port):

        async def load() -> None:
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                await replay(client, new.shop, deliveries(demo, url))
                trained = await client.post(
                    "/api/v1/shops/browser/model/train?wait=true",
                    headers={"Authorization": f"Bearer {new.api_key}"})
                trained.raise_for_status()

        run_async(load)
        yield url


def open_page(browser, url: str):  # noqa: F811
    page = browser.new_page(viewport={"width": 1200, "height": 1300})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    return page, errors


def test_product_page_shows_bought_together_with_the_partner_first(browser, storefront,  # noqa: F811
                                                                   demo) -> None:
    first, second = demo.always_together
    handle = next(p.handle for p in demo.products if p.product_id == first)
    page, errors = open_page(browser, f"{storefront}/demo/products/{handle}")
    box = page.locator("[data-placement=product][data-shopreco-state=ready]")
    box.wait_for(timeout=15_000)
    items = box.locator(".shopreco-item")
    assert items.count() == 4
    assert items.first.get_attribute("data-product-id") == second
    partner = next(p for p in demo.products if p.product_id == second)
    assert items.first.locator(".shopreco-title").inner_text() == partner.title
    assert "€" in items.first.locator(".shopreco-price").inner_text()
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "demo-product.png"), full_page=True)
    assert errors == []
    page.close()


def test_cart_page_completes_the_order(browser, storefront, demo) -> None:  # noqa: F811
    first, second = demo.always_together
    handle = next(p.handle for p in demo.products if p.product_id == first)
    page, _ = open_page(browser, f"{storefront}/demo/products/{handle}")
    page.click("text=Add to cart")
    box = page.locator("[data-placement=cart][data-shopreco-state=ready]")
    box.wait_for(timeout=15_000)
    ids = [li.get_attribute("data-product-id") for li in box.locator(".shopreco-item").all()]
    assert ids[0] == second and first not in ids
    page.screenshot(path=str(SCREENSHOTS / "demo-cart.png"), full_page=True)
    page.close()


def test_widget_stays_hidden_and_quiet_when_the_api_is_down(browser, storefront) -> None:  # noqa: F811
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route("**/widgets/v1/recommendations*", lambda route: route.abort())
    page.goto(f"{storefront}/demo/")
    box = page.locator("[data-placement=trending]")
    page.wait_for_function(
        "document.querySelector('[data-placement=trending]').dataset.shoprecoState === 'failed'"
    )
    assert box.locator(".shopreco-item").count() == 0
    assert errors == []
    page.close()
