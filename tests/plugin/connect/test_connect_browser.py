"""The owner's one-click connect in Chromium, on the demo's stand-ins: the Connect a shop
page, the platform's approval, the landing page whose progress reaches the end of the import,
the dashboard link, and the Connection page with the platform's webhooks live."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from plugin.demo import connect_demo
from tests.browser import DESKTOP_UA, SCREENSHOTS, VIEWPORT, PageWatch, browser  # noqa: F401
from tests.conftest import LiveServer, Store, free_port


def test_an_owner_connects_woocommerce_and_sees_the_connection(
        store: Store, browser: Any) -> None:  # noqa: F811
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = connect_demo.with_fake_platforms(replace(store.settings, public_url=url), url)
    routes = connect_demo.demo_connect_routes(settings, url)
    with LiveServer(settings, routes, port=port):
        context = browser.new_context(user_agent=DESKTOP_UA, viewport=VIEWPORT)
        try:
            page = context.new_page()
            watch = PageWatch(page)
            page.goto(url + connect_demo.PAGE)
            address = page.inner_text("#demo-woocommerce")
            page.click("text=Connect a shop")
            for platform in ("shopify", "woocommerce", "bigcommerce", "ecwid", "custom"):
                assert page.is_visible(f"#connect-{platform}")
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "connect-page.png"), full_page=True)
            page.fill("#woocommerce-store", address)
            page.click("text=Connect WooCommerce")
            page.click("#approve")  # the store's own approval page
            page.wait_for_selector("text=What happens next")
            assert page.inner_text("#api-key").startswith("sk_")
            page.wait_for_function(
                "document.getElementById('stage').textContent === 'done'", timeout=90_000)
            assert page.inner_text("#count").startswith(f"{connect_demo.ORDERS} ")
            assert page.inner_text("#hooks") == "8 created"
            page.screenshot(path=str(SCREENSHOTS / "connect-landing.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
            with context.expect_page() as opened:  # the dashboard opens in a tab of its own
                page.click("#dashboard")
            dashboard = opened.value
            dashboard.click("text=Continue")
            dashboard.goto(url + "/admin/connection")
            assert dashboard.inner_text("h1") == "Connection to WooCommerce"
            rows = dashboard.locator("#hooks tbody tr")
            assert rows.count() == 8
            assert all(rows.nth(n).locator("td").inner_text() == "live" for n in range(8))
            dashboard.screenshot(path=str(SCREENSHOTS / "admin-connection.png"), full_page=True)
            dashboard.click("#disconnect")
            assert "revoke it under" in dashboard.inner_text("#disconnected")
            assert "None: the shop is not connected." in dashboard.inner_text("main")
            assert dashboard.locator("#disconnect").count() == 0
            assert watch.errors == []
        finally:
            context.close()
