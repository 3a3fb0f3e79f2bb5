"""The admin as a whole: every page in Chromium at phone and desktop widths (sign-in by the
one-time link, overview, recommendations preview, customers, a customer's e-mail block,
health, sign-out to the sign-in page with its password form), and
`shopreco admin login-link` (plugin/commands/admin.py) printing that link.

Each page's own behaviour is tested beside its module: test_sessions.py, test_pages.py,
test_routes.py, test_overview.py, test_charts.py, test_customers.py, test_health.py,
test_recommendations.py and test_widgets.py."""

from __future__ import annotations

import re
from typing import Any

import pytest

from plugin.store.shops import NewShop
from tests.browser import DESKTOP_UA, SCREENSHOTS, PageWatch, browser  # noqa: F401
from tests.conftest import Store, shopreco
from tests.helpers import train
from tests.plugin.admin.conftest import fill, link_for


def test_the_cli_prints_a_link(store: Store, shop: NewShop) -> None:
    printed = shopreco(store, "admin", "login-link", shop.shop.shop_id)
    assert printed.returncode == 0, printed.stderr
    assert re.fullmatch(r"https://reco\.example\.com/admin/login\?token=[\w-]{43}\n",
                        printed.stdout)
    unknown = shopreco(store, "admin", "login-link", "t-no-such-shop")
    assert unknown.returncode == 1 and "no shop" in unknown.stderr


@pytest.mark.parametrize("width", [390, 1280])
def test_the_overview_in_chromium(store: Store, make_shop, base_url: str, http: Any,
                                  browser: Any, width: int) -> None:  # noqa: F811
    shop = make_shop()
    fill(store, shop, 60)
    assert train(http, shop).status_code == 200  # the previews show real picks
    context = browser.new_context(user_agent=DESKTOP_UA,
                                  viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        watch = PageWatch(page)
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url)
                if not r.url.startswith(base_url) else None)
        page.goto(link_for(store, shop, base_url))
        page.click("#continue")
        page.wait_for_selector("h1:text('Overview')")
        assert page.inner_text("[data-figure='Orders']") == "40"
        assert page.locator("svg.chart").count() == 2
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no overflow
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"admin-overview-{width}.png"), full_page=True)
        page.click("nav >> text=Recommendations")
        page.wait_for_selector("h1:text('Recommendations')")
        page.select_option("#placement", "trending")
        page.click("#preview button")
        page.wait_for_selector("#preview-items")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(SCREENSHOTS / f"admin-recommendations-{width}.png"),
                        full_page=True)
        page.click("nav >> text=Customers")
        page.wait_for_selector("h1:text('Customers')")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(SCREENSHOTS / f"admin-customers-{width}.png"), full_page=True)
        page.goto(f"{base_url}/admin/customers/email?customer_id=c1")
        page.wait_for_selector("iframe#preview")
        frame = page.frame_locator("iframe#preview")
        assert frame.locator("a").count() >= 1  # the customer's picks, rendered
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(SCREENSHOTS / f"admin-email-{width}.png"), full_page=True)
        page.click("nav >> text=Health")
        page.wait_for_selector("h1:text('Health')")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(SCREENSHOTS / f"admin-health-{width}.png"), full_page=True)
        page.keyboard.press("Tab")  # reachable by keyboard: the sign-out button
        page.focus("#logout")
        page.keyboard.press("Enter")
        page.wait_for_selector("h1:text('Sign in')")
        assert page.locator("label[for='password']").count() == 1  # the password form
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(SCREENSHOTS / f"admin-signin-{width}.png"), full_page=True)
        assert watch.errors == [] and outside == []
    finally:
        context.close()
