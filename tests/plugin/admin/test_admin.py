"""The owner's admin: one-time login links, sessions, CSRF, one shop per session, the
overview's figures; in Chromium at phone and desktop widths."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from plugin.admin import sessions
from plugin.store import keys
from plugin.store.order import LineItem, Order
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from tests.browser import DESKTOP_UA, SCREENSHOTS, PageWatch, browser  # noqa: F401
from tests.conftest import Store, shopreco

DAY = 86400.0


def fill(store: Store, shop: NewShop, orders: int, first_order: int = 0) -> None:
    now = time.time()

    async def work(redis: Any) -> None:
        for n in range(orders):
            at = now - (n % 50) * DAY - 3600
            lines = (LineItem(f"p{n % 5}", None, f"Product {n % 5}", 1, "20.00", f"{n}-1"),)
            await store_order(redis, shop.shop.shop_id, Order(
                str(first_order + n), f"c{n % 7}", at, at, False, "EUR", "0", lines, ()))

    store.run(work)


def link_for(store: Store, shop: NewShop, url: str) -> str:
    return store.run(lambda r: sessions.login_link(r, url, shop.shop.shop_id))


@pytest.fixture
def signed_in(store: Store, make_shop: Callable[..., NewShop],
              base_url: str) -> Iterator[tuple[httpx.Client, NewShop]]:
    shop = make_shop()
    fill(store, shop, 40)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        page = client.get(link_for(store, shop, base_url))
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert page.status_code == 200 and token is not None
        signed = client.post("/admin/login", data={"token": token[1]})
        assert signed.status_code == 303 and signed.headers["location"] == "/admin/"
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/admin" in cookie
        yield client, shop


def test_the_overview_shows_the_shops_own_figures(signed_in) -> None:
    client, shop = signed_in
    page = client.get("/admin/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert shop.shop.domain in page.text
    orders = re.search(r'data-figure="Orders">([^<]+)<', page.text)
    assert orders is not None and orders[1] == "30"  # 40 orders, one a day: 30 in the last 30
    assert "EUR" in page.text and "<svg" in page.text and "Orders per month" in page.text


def test_a_login_link_works_once_and_not_when_made_up(store: Store, shop: NewShop,
                                                      base_url: str) -> None:
    link = link_for(store, shop, base_url)
    token = link.rpartition("=")[2]
    with httpx.Client(base_url=base_url, timeout=30) as client:
        assert client.post("/admin/login", data={"token": token}).status_code == 303
    with httpx.Client(base_url=base_url, timeout=30) as other:
        again = other.post("/admin/login", data={"token": token})
        assert again.status_code == 400 and "not valid" in again.text
        assert other.get("/admin/login?token=made-up").status_code == 400
        assert other.get("/admin/").status_code == 303  # no session


def test_the_cli_prints_a_link(store: Store, shop: NewShop) -> None:
    printed = shopreco(store, "admin", "login-link", shop.shop.shop_id)
    assert printed.returncode == 0, printed.stderr
    assert re.fullmatch(r"https://reco\.example\.com/admin/login\?token=[\w-]{43}\n",
                        printed.stdout)
    unknown = shopreco(store, "admin", "login-link", "t-no-such-shop")
    assert unknown.returncode == 1 and "no shop" in unknown.stderr


def test_forms_need_the_sessions_csrf_token(signed_in) -> None:
    client, _ = signed_in
    assert client.post("/admin/logout").status_code == 403
    assert client.post("/admin/logout", data={"csrf": "forged"}).status_code == 403
    assert client.get("/admin/").status_code == 200  # still signed in
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/").text)
    assert csrf is not None
    out = client.post("/admin/logout", data={"csrf": csrf[1]})
    assert out.status_code == 303 and out.headers["location"] == "/admin/signin"
    assert client.get("/admin/").status_code == 303


def test_an_ended_session_goes_back_to_sign_in(store: Store, signed_in) -> None:
    client, _ = signed_in
    for key in store.run(lambda r: r.keys(keys.admin_session("*"))):
        store.run(lambda r, k=key: r.delete(k))
    answer = client.get("/admin/")
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/signin?expired=1"
    assert "session has ended" in client.get(answer.headers["location"]).text


def test_a_session_shows_only_its_own_shop(store: Store, make_shop, base_url: str) -> None:
    mine, theirs = make_shop(), make_shop()
    fill(store, mine, 3)
    fill(store, theirs, 30, first_order=1000)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        page = client.get(link_for(store, mine, base_url))
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert token is not None
        client.post("/admin/login", data={"token": token[1]})
        overview = client.get("/admin/", params={"shop": theirs.shop.shop_id}).text
    assert mine.shop.domain in overview and theirs.shop.domain not in overview
    orders = re.search(r'data-figure="Orders">([^<]+)<', overview)
    assert orders is not None and orders[1] == "3"


@pytest.mark.parametrize("width", [390, 1280])
def test_the_overview_in_chromium(store: Store, make_shop, base_url: str, browser: Any,  # noqa: F811
                                  width: int) -> None:
    shop = make_shop()
    fill(store, shop, 60)
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
        page.click("nav >> text=Health")
        page.wait_for_selector("h1:text('Health')")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(SCREENSHOTS / f"admin-health-{width}.png"), full_page=True)
        page.keyboard.press("Tab")  # reachable by keyboard: the sign-out button
        page.focus("#logout")
        page.keyboard.press("Enter")
        page.wait_for_selector("h1:text('Sign in')")
        assert watch.errors == [] and outside == []
    finally:
        context.close()
