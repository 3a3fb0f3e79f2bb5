"""The demo storefront's "Place order" sends a real signed order webhook: a new visitor's click
in a widget followed by an order shows up as attributed revenue, in the owner's dashboard."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from plugin.admin.sessions import login_link
from plugin.demo.runner import checkout_order, deliveries, replay
from plugin.demo.store import generate_store
from plugin.demo.storefront import storefront_routes
from plugin.store.shops import add_shop
from tests.browser import DESKTOP_UA, VIEWPORT, PageWatch, browser  # noqa: F401
from tests.conftest import LiveServer, Store, free_port, run_async


def test_a_widget_click_then_an_order_is_attributed_in_the_dashboard(
        store: Store, browser: Any) -> None:  # noqa: F811
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    demo = generate_store(seed=11, n_orders=700, months=8)
    shop_id = f"checkout-{port}"
    new = store.run(lambda r: add_shop(r, shop_id, "shopify", f"{shop_id}.myshopify.com", url,
                                       storefront_url=f"{url}/demo", currency=demo.currency))
    placed: list[dict[str, Any]] = []

    async def place_order(customer_id: str, product_ids: list[str]) -> None:
        order = checkout_order(demo, customer_id, product_ids)
        placed.append(order)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await replay(client, new.shop, [("orders/create", f"t-{order['id']}", order)],
                         quiet=True)

    routes = storefront_routes(demo, new.shop.widget_key, url, place_order)
    with LiveServer(store.settings, routes, port=port):
        async def load() -> None:
            async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                await replay(client, new.shop, deliveries(demo, url), quiet=True)
                trained = await client.post(f"/api/v1/shops/{shop_id}/model/train",
                                            params={"wait": "true"},
                                            headers={"Authorization": f"Bearer {new.api_key}"})
                trained.raise_for_status()

        run_async(load)
        context = browser.new_context(user_agent=DESKTOP_UA, viewport=VIEWPORT)
        try:
            page = context.new_page()
            watch = PageWatch(page)
            page.goto(f"{url}/demo/products/{demo.products[0].handle}")
            host = "shopreco-recommendations[placement=also_bought]"
            carousel = page.locator(host)
            carousel.scroll_into_view_if_needed()
            page.wait_for_selector(f"{host}[data-shopreco-state=ready]")
            with page.expect_navigation():
                carousel.locator("li a").first.click()  # a widget click, as a new visitor
            deadline = time.monotonic() + 30
            while _clicks(url, new) < 1:  # the click's beacon is stored before the order
                assert time.monotonic() < deadline, "the click never reached the server"
                page.wait_for_timeout(200)
            page.get_by_role("link", name="Add to cart").click()
            page.goto(f"{url}/demo/cart")
            with page.expect_navigation():
                page.click("text=Place order")
            assert "Thank you" in page.inner_text("h1") and len(placed) == 1
            assert watch.errors == []
            buyer = placed[0]["customer"]["id"]
            assert any(c["name"] == "demo_shopper" and c["value"] == str(buyer)
                       for c in page.context.cookies())  # the new visitor's own id

            page.goto(store.run(lambda r: login_link(r, url, shop_id)))  # the owner now
            page.click("#continue")
            deadline = time.monotonic() + 30
            while True:  # attributed within seconds of the order
                page.goto(f"{url}/admin/")
                row = page.locator("tr", has=page.locator("th", has_text="also_bought"))
                cells = row.locator("td").all_inner_texts() if row.count() else []
                if cells and cells[4] == "1":  # attributed orders
                    break
                assert time.monotonic() < deadline, f"not attributed: {cells}"
                page.wait_for_timeout(500)
            amount = re.fullmatch(rf"([\d.]+) {demo.currency}\s*", cells[5])
            assert amount is not None and float(amount[1]) == float(placed[0]["total_price"])
            every_page_with_the_demos_data(page, url, buyer)
            assert watch.errors == []
        finally:
            context.close()



def every_page_with_the_demos_data(page: Any, url: str, customer: Any) -> None:
    """Every dashboard page renders the demo shop's data; a form whose CSRF token is taken out
    is refused; a session that is gone sends the owner back to sign-in."""
    for path, heading in [("/admin/", "Overview"), ("/admin/customers", "Customers"),
                          ("/admin/recommendations", "Recommendations"),
                          ("/admin/widgets", "Widgets"), ("/admin/health", "Health"),
                          (f"/admin/customers/email?customer_id={customer}", "E-mail block")]:
        page.goto(f"{url}{path}")
        assert page.inner_text("h1").startswith(heading), path
        assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
        if path == "/admin/customers":  # the demo's customers, per stage
            assert page.locator("svg.chart").count() == 1
            assert int(page.inner_text("[data-stage=new]")) > 0
    page.goto(f"{url}/admin/recommendations")
    page.locator("form[action$='/excluded'] input[name=csrf]").evaluate("e => e.remove()")
    page.click("form[action$='/excluded'] button")
    assert "did not come from your dashboard" in page.inner_text("main")
    page.context.clear_cookies()
    page.goto(f"{url}/admin/health")
    assert page.url.endswith("/admin/signin?expired=1") and "session has ended" in \
        page.inner_text("main")


def _clicks(url: str, shop: Any) -> int:
    answer = httpx.get(f"{url}/api/v1/shops/{shop.shop.shop_id}/widgets/stats",
                       params={"days": "2"}, headers={"Authorization": f"Bearer {shop.api_key}"},
                       timeout=30)
    answer.raise_for_status()
    return int(answer.json()["placements"].get("also_bought", {}).get("clicks", 0))
