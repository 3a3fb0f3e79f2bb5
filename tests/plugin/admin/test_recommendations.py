"""The admin's Recommendations page: the preview is what the widget answers, excluded
products are saved (CSRF required) and never shown, Retrain now trains."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from plugin.admin import sessions
from plugin.store.shops import NewShop
from tests.browser import DESKTOP_UA, SCREENSHOTS, PageWatch, browser  # noqa: F401
from tests.conftest import Store
from tests.helpers import eventually, order_payload, send_orders, train


def sign_in(store: Store, shop: NewShop, client: httpx.Client) -> str:
    """Sign `client` in to `shop`'s dashboard; the session's CSRF token."""
    link = store.run(lambda r: sessions.login_link(r, str(client.base_url), shop.shop.shop_id))
    client.post("/admin/login", data={"token": link.rpartition("=")[2]})
    page = client.get("/admin/recommendations")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and csrf is not None
    return csrf[1]


@pytest.fixture
def paired(store: Store, http: httpx.Client, shop: NewShop) -> NewShop:
    """101 is always bought with 102; 103..108 in pairs."""
    orders = [order_payload(1000 + n, n, [101, 102]) for n in range(20)]
    orders += [order_payload(2000 + n, n, [103 + n % 6, 103 + (n + 1) % 6]) for n in range(20)]
    send_orders(http, shop, orders)
    assert train(http, shop).status_code == 200
    return shop


def preview_ids(client: httpx.Client, **params: str) -> list[str]:
    page = client.get("/admin/recommendations", params=params)
    assert page.status_code == 200
    table = page.text.split('id="preview-items"')[1].split("</table>")[0]
    return re.findall(r"<small>\(([^)]+)\)</small>", table)


def widget_ids(http: httpx.Client, shop: NewShop, **params: str) -> list[str]:
    answer = http.get("/widgets/v1/recommendations",
                      params={"key": shop.shop.widget_key, "limit": "8", **params})
    return [item["product_id"] for item in answer.json()["items"]]


def test_the_preview_is_what_the_widget_answers(store: Store, http: httpx.Client,
                                                paired: NewShop) -> None:
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        sign_in(store, paired, client)
        shown = preview_ids(client, placement="bundle", product_id="101")
        assert shown[0] == "102"
        assert shown == widget_ids(http, paired, placement="bundle", product_id="101")
        cart = preview_ids(client, placement="cart", product_ids="103,104")
        assert cart == widget_ids(http, paired, placement="cart", product_ids="103,104")
        refused = client.get("/admin/recommendations", params={"placement": "bundle"})
        assert refused.status_code == 200 and "product_id" in refused.text \
            and 'role="alert"' in refused.text


def test_excluded_products_are_saved_and_never_shown(store: Store, http: httpx.Client,
                                                     paired: NewShop) -> None:
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        csrf = sign_in(store, paired, client)
        assert client.post("/admin/recommendations/excluded",
                           data={"product_ids": "102"}).status_code == 403  # no CSRF token
        too_long = client.post("/admin/recommendations/excluded",
                               data={"csrf": csrf, "product_ids": "x" * 500})
        assert too_long.status_code == 400
        saved = client.post("/admin/recommendations/excluded",
                            data={"csrf": csrf, "product_ids": "102\n\n 105 \n102"})
        assert saved.status_code == 303
        page = client.get(saved.headers["location"]).text
        assert "Saved." in page and re.search(r">102\n105</textarea>", page)
        eventually(lambda: _without(widget_ids(http, paired, placement="bundle",
                                               product_id="101"), "102"))
        assert "102" not in preview_ids(client, placement="bundle", product_id="101")


def _without(ids: list[str], product: str) -> None:
    assert ids and product not in ids, ids


def test_retrain_now_trains_a_new_version(store: Store, http: httpx.Client,
                                          paired: NewShop) -> None:
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        csrf = sign_in(store, paired, client)
        before = re.search(r'id="model-version">([^<]+)<',
                           client.get("/admin/recommendations").text)
        assert before is not None
        assert client.post("/admin/recommendations/retrain").status_code == 403
        started = client.post("/admin/recommendations/retrain", data={"csrf": csrf})
        assert started.status_code == 303 and "training=1" in started.headers["location"]

        def new_version() -> str:
            found = re.search(r'id="model-version">([^<]+)<',
                              client.get("/admin/recommendations").text)
            assert found is not None and found[1] != before[1]
            return found[1]

        eventually(new_version, timeout=60)


def test_the_widgets_page_previews_in_the_owners_colours(store: Store, http: httpx.Client,
                                                         paired: NewShop,
                                                         browser: Any) -> None:  # noqa: F811
    base = str(http.base_url).rstrip("/")
    context = browser.new_context(user_agent=DESKTOP_UA, viewport={"width": 390, "height": 900})
    try:
        page = context.new_page()
        watch = PageWatch(page)
        sent: list[str] = []
        page.on("request", lambda r: sent.append(r.url))
        page.goto(store.run(lambda r: sessions.login_link(r, base, paired.shop.shop_id)))
        page.click("#continue")
        page.goto(f"{base}/admin/widgets")
        assert paired.shop.widget_key in page.inner_text("#script-snippet")
        host = "shopreco-recommendations[placement=trending]"
        page.locator(host).scroll_into_view_if_needed()
        page.wait_for_selector(f"{host}[data-shopreco-state=ready]")
        page.fill("#v1", "#aa3300")
        assert "--shopreco-accent: #aa3300;" in page.inner_text("#theme-css")
        accent = page.evaluate("getComputedStyle(document.getElementById('preview-box'))"
                               ".getPropertyValue('--shopreco-accent').trim()")
        assert accent == "#aa3300"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "admin-widgets-390.png"), full_page=True)
        page.wait_for_timeout(1500)  # longer than the script's event batching delay
        assert not [url for url in sent if "/widgets/v1/events" in url]  # a preview counts nothing
        assert watch.errors == []
    finally:
        context.close()
