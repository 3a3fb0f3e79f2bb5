"""The demo's "Install on Shopify", clicked through in Chromium: the local Shopify's consent
page, our callback, the landing page whose progress reaches the end of the import."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from plugin.demo.shopify_install import (
    DOMAIN,
    INSTALL_PAGE,
    demo_shopify_routes,
    with_fake_shopify,
)
from plugin.demo.store import generate_store
from plugin.store import keys
from plugin.store.shops import shop_by_domain
from tests.browser import DESKTOP_UA, SCREENSHOTS, VIEWPORT, PageWatch, browser  # noqa: F401
from tests.conftest import LiveServer, Store, free_port


def test_a_newcomer_installs_the_demo_shop_on_shopify(store: Store, browser: Any) -> None:  # noqa: F811
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = with_fake_shopify(replace(store.settings, public_url=url), url)
    demo = generate_store(seed=5, n_orders=600, months=6)
    routes = demo_shopify_routes(settings, demo, url)
    with LiveServer(settings, routes, port=port):
        context = browser.new_context(user_agent=DESKTOP_UA, viewport=VIEWPORT)
        try:
            page = context.new_page()
            watch = PageWatch(page)
            page.goto(f"{url}{INSTALL_PAGE}")
            assert DOMAIN in page.inner_text("h1")  # Shopify's consent page
            page.click("#approve")
            page.wait_for_selector("text=What happens next")
            assert page.inner_text("#api-key").startswith("sk_")
            page.wait_for_function(
                "document.getElementById('stage').textContent === 'done'", timeout=90_000)
            counted = page.inner_text("#count")
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "shopify-install.png"), full_page=True)
            assert watch.errors == []
        finally:
            context.close()
    shop = store.run(lambda r: shop_by_domain(r, "shopify", DOMAIN))
    assert shop is not None
    orders = store.run(lambda r: r.hlen(keys.orders(shop.shop_id)))
    assert orders == len(demo.orders) and counted.startswith(f"{orders} ")
