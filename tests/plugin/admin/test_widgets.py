"""The admin's Widgets page (plugin/admin/widgets.py): the snippets to paste, with the shop's
widget key and our address, and the theming variables with a live preview in Chromium."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import httpx
import pytest

from plugin.admin import sessions
from plugin.admin.widgets import SNIPPETS, THEME
from plugin.store.shops import NewShop, add_shop
from tests.browser import DESKTOP_UA, SCREENSHOTS, PageWatch, browser  # noqa: F401
from tests.conftest import Store
from tests.plugin.admin.conftest import sign_in


@pytest.mark.parametrize("platform", ["woocommerce", "shopify", "ecwid"])
def test_the_snippets_carry_the_shops_key_and_our_address(store: Store, http: httpx.Client,
                                                          platform: str) -> None:
    shop_id = "t-" + uuid.uuid4().hex[:12]
    shop = store.run(lambda r: add_shop(r, shop_id, platform, f"{shop_id}.myshopify.com",
                                        "http://testserver"))
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        sign_in(store, shop, client)
        page = client.get("/admin/widgets")
    assert page.status_code == 200
    text = html.unescape(page.text)
    script = re.search(r'<pre id="script-snippet"><code>(.*?)</code></pre>', text, re.S)
    assert script is not None
    assert f'src="{store.settings.public_url}/widgets/v1/embed.js"' in script[1]
    assert f'data-key="{shop.shop.widget_key}"' in script[1]
    # a platform the script has no theme for is "custom"
    shown = platform if platform in {"shopify", "woocommerce"} else "custom"
    assert f'data-platform="{shown}"' in script[1]
    for placement, where, attributes in SNIPPETS:
        row = re.search(rf'<th scope="row">{placement}</th><td>{where}</td>\s*<td><code>(.*?)'
                        r"</code></td>", text, re.S)
        assert row is not None, placement
        assert row[1] == (f'<div data-shopreco="{placement}"'
                          f'{" " + attributes if attributes else ""} data-limit="4"></div>')
    assert ("App embeds" in text) is (platform == "shopify")  # Shopify: the theme editor
    for variable, _label, kind, default in THEME:
        assert re.search(rf'<input type="{kind}" id="v\d" data-var="{variable}" '
                         rf'value="{default}">', text), variable
    assert 'data-track="off"' in text  # the preview counts nothing



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
        page.set_viewport_size({"width": 1280, "height": 900})  # and on a desktop
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        page.screenshot(path=str(SCREENSHOTS / "admin-widgets-1280.png"), full_page=True)
        page.wait_for_timeout(1500)  # longer than the script's event batching delay
        assert not [url for url in sent if "/widgets/v1/events" in url]  # a preview counts nothing
        assert watch.errors == []
    finally:
        context.close()
