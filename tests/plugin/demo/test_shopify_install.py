"""The demo's "Install on Shopify" (plugin.demo.shopify_install): the fake Shopify is the app
only when no real Shopify app is configured, and then it is mounted on the demo server holding
the demo's orders and products, its install link signed for our install page. The click-through
in Chromium: test_shopify_install_browser.py."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from plugin.config import Secret, Settings
from plugin.demo.shopify_install import (
    ADMIN_PAGE,
    CLIENT_ID,
    CLIENT_SECRET,
    DOMAIN,
    INSTALL_PAGE,
    MOUNT,
    demo_shopify_routes,
    with_fake_shopify,
)
from plugin.demo.store import DemoStore, generate_store, shopify_product_payload
from plugin.shopify import install as installing
from plugin.shopify.auth import query_hmac
from plugin.store.erasure import erase_shop
from plugin.store.shops import shop_by_domain
from tests.conftest import LiveServer, Store, free_port
from tests.helpers import eventually

REAL_APP = {"shopify_client_id": "a-real-app", "shopify_client_secret": Secret("shpss_real"),
            "shopify_base_url": "https://{shop}"}


@pytest.fixture(scope="module")
def demo() -> DemoStore:
    return generate_store(seed=5, n_orders=120, months=4, n_products=8)


def test_the_fake_is_the_app_only_when_no_real_app_is_configured(store: Store) -> None:
    plain = replace(store.settings, shopify_client_id="")
    faked = with_fake_shopify(plain, "http://127.0.0.1:8000")
    assert (faked.shopify_client_id, faked.shopify_client_secret.reveal()) == (
        CLIENT_ID, CLIENT_SECRET)
    assert faked.shopify_base_url == f"http://127.0.0.1:8000{MOUNT}/{{shop}}"
    assert faked.data_dir == plain.data_dir  # nothing else changes
    real = replace(store.settings, **REAL_APP)
    assert with_fake_shopify(real, "http://127.0.0.1:8000") is real


def test_no_fake_routes_beside_a_real_app(store: Store, demo: DemoStore) -> None:
    real = replace(store.settings, **REAL_APP)
    assert demo_shopify_routes(real, demo, "http://127.0.0.1:8000") == []


@pytest.fixture(scope="module")
def demo_server(store: Store, demo: DemoStore) -> Iterator[tuple[str, Settings]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = with_fake_shopify(replace(store.settings, public_url=url,
                                         shopify_client_id=""), url)
    with LiveServer(settings, demo_shopify_routes(settings, demo, url), port=port):
        yield url, settings


def test_the_install_page_sends_the_newcomer_to_our_install_signed_for_the_demo_shop(
        demo_server: tuple[str, Settings]) -> None:
    url, _settings = demo_server
    with httpx.Client(timeout=30) as browser:
        start = browser.get(f"{url}{INSTALL_PAGE}")
        assert start.status_code == 302
        target = urlsplit(start.headers["location"])
        assert f"{target.scheme}://{target.netloc}{target.path}" == f"{url}/shopify/install"
        pairs = parse_qsl(target.query)
        assert dict(pairs)["shop"] == DOMAIN
        assert dict(pairs)["hmac"] == query_hmac([p for p in pairs if p[0] != "hmac"],
                                                 CLIENT_SECRET)
        consent = browser.get(start.headers["location"], follow_redirects=True)
        assert consent.status_code == 200  # our install sent them on to the mounted fake
        assert str(consent.url).startswith(f"{url}{MOUNT}/{DOMAIN}/admin/oauth/authorize")
        assert f"Install shopreco on {DOMAIN}?" in consent.text


def test_the_mounted_shop_holds_the_demos_orders_and_products(
        demo_server: tuple[str, Settings], demo: DemoStore) -> None:
    url, _settings = demo_server
    base = f"{url}{MOUNT}/{DOMAIN}/admin"
    with httpx.Client(timeout=30) as client:
        page = client.get(f"{base}/oauth/authorize", params={
            "client_id": CLIENT_ID, "redirect_uri": f"{url}/shopify/callback", "state": "s"})
        href = re.search(r'id="approve" href="([^"]+)"', page.text)
        assert href is not None
        code = dict(parse_qsl(urlsplit(html.unescape(href[1])).query))["code"]
        granted = client.post(f"{base}/oauth/access_token", data={
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": code})
        headers = {"X-Shopify-Access-Token": granted.json()["access_token"]}
        counted = client.get(f"{base}/api/2025-01/orders/count.json", headers=headers)
        products = client.get(f"{base}/api/2025-01/products.json",
                              params={"limit": 250}, headers=headers)
        shop = client.post(f"{base}/api/2025-01/graphql.json", headers=headers, json={
            "query": "{ currentAppInstallation { id } shop { currencyCode } }"})
    assert counted.json() == {"count": len(demo.orders)}
    assert products.json()["products"] == [shopify_product_payload(p, url)
                                           for p in demo.products]
    assert shop.json()["data"]["shop"] == {"currencyCode": demo.currency,
                                           "primaryDomain": {"url": f"{url}/demo"}}


def test_opening_the_app_from_the_fake_admin_installs_then_opens_the_dashboard(
        demo_server: tuple[str, Settings], store: Store) -> None:
    """The first opening installs the demo shop by token exchange (the landing page); the next
    one signs in to its dashboard with the session token, framed by that shop's admin."""
    url, _settings = demo_server
    try:
        opened_twice(url)
    finally:  # the demo's install shop is new again for the click-through in Chromium
        found = store.run(lambda r: shop_by_domain(r, "shopify", DOMAIN))
        if found is not None:  # once its import has ended, so nothing writes to it after
            eventually(lambda: progress_done(store, found.shop_id), timeout=60)
            store.run(lambda r: erase_shop(r, found.shop_id))


def progress_done(store: Store, shop_id: str) -> None:
    assert store.run(lambda r: installing.progress(r, shop_id)).get("stage") in {
        "done", "backfill stopped"}


def opened_twice(url: str) -> None:
    with httpx.Client(timeout=60, follow_redirects=True) as browser:
        first = browser.get(f"{url}{ADMIN_PAGE}")
        assert first.status_code == 200, first.text
        assert f"on {DOMAIN}" in first.text and "open shopreco from <em>Apps</em>" in first.text
        again = browser.get(f"{url}{ADMIN_PAGE}")
        assert again.status_code == 200 and str(again.url) == f"{url}/admin/"
        assert again.headers["content-security-policy"] == (
            f"frame-ancestors https://{DOMAIN} https://admin.shopify.com;")
        assert "Sign out" in again.text
