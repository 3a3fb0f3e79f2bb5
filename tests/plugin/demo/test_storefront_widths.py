"""The demo storefront's pages fit a 390 px phone: nothing wider than the screen."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from plugin.demo.store import generate_store
from plugin.demo.storefront import storefront_routes
from tests.browser import DESKTOP_UA, browser  # noqa: F401
from tests.conftest import LiveServer, Store, free_port


def test_no_demo_page_overflows_a_phone(store: Store, browser: Any) -> None:  # noqa: F811
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    demo = generate_store(seed=3, n_orders=300, months=6)
    routes = storefront_routes(demo, "wk_not_a_shop", url)
    with LiveServer(replace(store.settings, public_url=url), routes, port=port):
        context = browser.new_context(user_agent=DESKTOP_UA,
                                      viewport={"width": 390, "height": 800})
        try:
            page = context.new_page()
            for path in ("/demo/", f"/demo/products/{demo.products[0].handle}", "/demo/cart"):
                page.goto(url + path)
                wide = page.evaluate("""[...document.querySelectorAll('body *')]
                    .filter(e => e.getBoundingClientRect().right > 391).map(e => e.tagName)""")
                assert page.evaluate("document.documentElement.scrollWidth") <= 390, (path, wide)
        finally:
            context.close()
